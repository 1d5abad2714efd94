// What must never be allowed, whatever the code does: the DPP controls as requests the
// policies must deny (and a few positive controls, so a policy that denies everything fails).
// Principals are the template's roles, plus one administrator-like role that is a named key
// administrator and holds `kms:*` (and every data action) in its own IAM policy.

export const PII_ATTRIBUTES = ['pii_shipping', 'pii_contact', 'pii_gift'];
export const PII_CLASSES = ['shipping', 'contact', 'gift'];

/** Item kinds whose failed conditional writes must not return the item (sealed PII in it). */
export const FACT_RULES = [{ itemPrefix: 'PII#', mayReadWholeItem: [] }];

const ORDER = 'ORDER#A3TH9S8BH6GOGM#113-0000001-0000001';
/** The order's sealed-PII item: the only item holding PII (shared/src/layout.rs). */
const PII = 'PII#A3TH9S8BH6GOGM#113-0000001-0000001';

/** The administrator-like principal: the first key administrator, with IAM `*` on data. */
export function adminLike(d) {
  const arn = [d.parameters.KeyAdministratorArns].flat()[0] ?? `arn:aws:iam::${d.account}:role/KeyAdministrator`;
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'EverythingKms', Effect: 'Allow', Action: 'kms:*', Resource: '*' },
      { Sid: 'EverythingData', Effect: 'Allow', Action: ['dynamodb:*', 'sqs:*', 'secretsmanager:*'], Resource: '*' },
    ],
  };
  return { arn, identity: [{ name: 'admin-like', policy }] };
}

export function cases(d) {
  // A role the template lacks still gets its cases: with no policy at all they would pass for
  // the wrong reason, so they name a principal that makes them fail.
  const role = (id) => (d.resources[id] ? d.roleArn(id) : `missing:${id}`);
  const key = (id) => d.getAtt(id, 'Arn');
  const table = d.getAtt('OrdersTable', 'Arn');
  const base = (principal) => ({
    'aws:PrincipalArn': principal,
    'aws:PrincipalAccount': principal.split(':')[4],
    'aws:SecureTransport': 'true',
  });
  const decrypt = (name, principal, cls, expect = 'Denied', action = 'kms:Decrypt') => ({
    name,
    principal,
    action,
    resource: key('PiiSealKey'),
    account: d.account,
    context: {
      ...base(principal),
      'kms:CallerAccount': principal.split(':')[4],
      ...(cls
        ? {
            'kms:EncryptionContext:app': 'orderseal',
            'kms:EncryptionContext:class': cls,
            'kms:EncryptionContext:seller': 'A3TH9S8BH6GOGM',
            'kms:EncryptionContext:order': '113-0000001-0000001',
            'kms:EncryptionContextKeys': ['app', 'class', 'order', 'seller'],
          }
        : {}),
    },
    expect,
  });
  const item = (name, principal, action, { leading = [ORDER], attributes, select, returnValues, resource = table }, expect = 'Denied') => ({
    name,
    principal,
    action,
    resource,
    account: d.account,
    context: {
      ...base(principal),
      ...(leading.length ? { 'dynamodb:LeadingKeys': leading } : {}),
      ...(attributes ? { 'dynamodb:Attributes': attributes } : {}),
      ...(select ? { 'dynamodb:Select': select } : {}),
      ...(returnValues ? { 'dynamodb:ReturnValues': returnValues } : {}),
    },
    expect,
  });
  const admin = adminLike(d).arn;
  const breakGlass = d.parameters.BreakGlassRoleArn ?? 'missing:BreakGlassRoleArn';
  const out = [];

  // The PII key against an administrator: no data use, no grant, no policy change.
  for (const cls of PII_CLASSES) out.push(decrypt(`key administrator with kms:* cannot decrypt ${cls}`, admin, cls));
  out.push(decrypt('key administrator cannot create a grant', admin, null, 'Denied', 'kms:CreateGrant'));
  out.push(decrypt('key administrator cannot rewrite the key policy', admin, null, 'Denied', 'kms:PutKeyPolicy'));
  out.push(decrypt('key administrator cannot re-encrypt under another key', admin, null, 'Denied', 'kms:ReEncryptFrom'));
  out.push(decrypt('key administrator cannot generate data keys', admin, 'shipping', 'Denied', 'kms:GenerateDataKey'));
  out.push(decrypt('key administrator can still administer the key (rotation)', admin, null, 'Allowed', 'kms:EnableKeyRotation'));
  out.push(decrypt('break-glass role can change the key policy', breakGlass, null, 'Allowed', 'kms:PutKeyPolicy'));
  out.push(decrypt('break-glass role cannot decrypt', breakGlass, 'shipping'));
  // Who may open which class.
  out.push(decrypt('dispatch opens shipping', role('DispatchFunctionRole'), 'shipping', 'Allowed'));
  out.push(decrypt('dispatch cannot open contact', role('DispatchFunctionRole'), 'contact'));
  out.push(decrypt('dispatch cannot open gift (no packing slip is printed)', role('DispatchFunctionRole'), 'gift'));
  out.push(decrypt('dispatch cannot decrypt without a class', role('DispatchFunctionRole'), null));
  for (const cls of PII_CLASSES) {
    out.push(decrypt(`ingest cannot open ${cls}`, role('IngestFunctionRole'), cls));
    for (const r of ['CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'OperatorRole']) {
      out.push(decrypt(`${r} cannot open ${cls}`, role(r), cls));
      out.push(decrypt(`${r} cannot seal ${cls}`, role(r), cls, 'Denied', 'kms:GenerateDataKey'));
    }
  }
  out.push(decrypt('ingest seals shipping', role('IngestFunctionRole'), 'shipping', 'Allowed', 'kms:GenerateDataKey'));

  // People's lookups: each purpose's function opens exactly its purpose's classes and writes
  // nothing but audit events; the people's roles only invoke their own purpose's path.
  const purposeFunctions = [
    ['customer-service', role('PiiAccessCustomerServiceFunctionRole'), ['shipping', 'contact']],
    ['returns', role('PiiAccessReturnsFunctionRole'), ['shipping', 'contact']],
    ['fraud-review', role('PiiAccessFraudReviewFunctionRole'), ['shipping']],
  ];
  for (const [n, r, classes] of purposeFunctions) {
    for (const cls of PII_CLASSES) out.push(decrypt(`${n} function ${classes.includes(cls) ? 'opens' : 'cannot open'} ${cls}`, r, cls, classes.includes(cls) ? 'Allowed' : 'Denied'));
    out.push(decrypt(`${n} function cannot decrypt without a class`, r, null));
    out.push(decrypt(`${n} function cannot seal`, r, 'shipping', 'Denied', 'kms:GenerateDataKey'));
    out.push(item(`${n} function cannot read a sealed-PII item whole`, r, 'dynamodb:GetItem', { leading: [PII], select: 'ALL_ATTRIBUTES' }));
    for (const a of PII_ATTRIBUTES) {
      const mine = classes.includes(a.slice(4));
      out.push(item(`${n} function ${mine ? 'reads' : 'cannot read'} ${a}`, r, 'dynamodb:GetItem', { leading: [PII], attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }, mine ? 'Allowed' : 'Denied'));
    }
    out.push(item(`${n} function cannot change an order`, r, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'hold_until'], returnValues: 'NONE' }));
    out.push(item(`${n} function cannot write the hold registry`, r, 'dynamodb:PutItem', { leading: ['HOLDS'], attributes: ['pk', 'sk'] }));
    out.push(item(`${n} function writes an audit event`, r, 'dynamodb:PutItem', { leading: ['AUDIT#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'at', 'who', 'action', 'outcome', 'ttl'] }, 'Allowed'));
    out.push(item(`${n} function cannot put sealed PII into an audit item`, r, 'dynamodb:PutItem', { leading: ['AUDIT#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'pii_shipping'] }));
  }
  const people = { CustomerServiceAgentRole: 'customer_service', ReturnsClerkRole: 'returns', FraudReviewerRole: 'fraud_review' };
  const lookup = (purpose) => d.arn('execute-api', `${d.resources.PiiAccessApi ? d.ref('PiiAccessApi') : 'missing'}/$default/GET/${purpose}/orders/A3TH9S8BH6GOGM/113-0000001-0000001`);
  const invoke = (name, principal, purpose, expect = 'Denied') => ({ name, principal, action: 'execute-api:Invoke', resource: lookup(purpose), account: d.account, context: base(principal), expect });
  for (const [r, own] of Object.entries(people)) {
    for (const p of Object.values(people)) out.push(invoke(`${r} ${p === own ? 'looks orders up' : 'cannot look orders up'} for ${p}`, role(r), p, p === own ? 'Allowed' : 'Denied'));
    for (const cls of PII_CLASSES) out.push(decrypt(`${r} cannot decrypt ${cls} itself`, role(r), cls));
    out.push(item(`${r} cannot read a sealed blob itself`, role(r), 'dynamodb:GetItem', { leading: [PII], attributes: ['pk', 'sk', 'pii_shipping'], select: 'SPECIFIC_ATTRIBUTES' }));
  }
  // Return records: only the returns clerk's role posts them; the returns function writes them
  // beside the business record and the order's open pickups, and nothing else of an order.
  const recordReturn = d.arn('execute-api', `${d.resources.PiiAccessApi ? d.ref('PiiAccessApi') : 'missing'}/$default/POST/returns/orders/A3TH9S8BH6GOGM/113-0000001-0000001/returns`);
  for (const r of Object.keys(people)) out.push({ name: `${r} ${r === 'ReturnsClerkRole' ? 'records' : 'cannot record'} returns`, principal: role(r), action: 'execute-api:Invoke', resource: recordReturn, account: d.account, context: base(role(r)), expect: r === 'ReturnsClerkRole' ? 'Allowed' : 'Denied' });
  out.push({ name: 'ReturnsClerkRole cannot post other return paths', principal: role('ReturnsClerkRole'), action: 'execute-api:Invoke', resource: d.arn('execute-api', `${d.resources.PiiAccessApi ? d.ref('PiiAccessApi') : 'missing'}/$default/POST/returns/orders/A3TH9S8BH6GOGM/113-0000001-0000001/release`), account: d.account, context: base(role('ReturnsClerkRole')), expect: 'Denied' });
  const returnsFn = role('PiiAccessReturnsFunctionRole');
  out.push(item('returns function writes a return record', returnsFn, 'dynamodb:PutItem', { leading: ['RETURN#2026-11'], attributes: ['pk', 'sk', 'kind', 'seller_id', 'order_id', 'rma_id', 'record', 'version', 'ttl'] }, 'Allowed'));
  out.push(item('returns function cannot overwrite a business record, even with a return\'s attributes', returnsFn, 'dynamodb:PutItem', { leading: ['BUSINESS#2026-11'], attributes: ['pk', 'sk', 'seller_id', 'order_id', 'record', 'ttl'] }));
  out.push(item('returns function cannot read business records', returnsFn, 'dynamodb:Query', { leading: ['BUSINESS#2026-11'], attributes: ['pk', 'sk', 'kind', 'record', 'version'], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('returns function cannot put sealed PII into a return record', returnsFn, 'dynamodb:PutItem', { leading: ['RETURN#2026-11'], attributes: ['pk', 'sk', 'record', 'pii_shipping'] }));
  out.push(item('returns function opens a pickup on the order', returnsFn, 'dynamodb:UpdateItem', { leading: ['ORDER#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'returns_rev', 'pickup_rmas'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('returns function cannot move an order\'s expiry', returnsFn, 'dynamodb:UpdateItem', { leading: ['ORDER#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'pickup_rmas', 'pii_expires_at'], returnValues: 'NONE' }));
  for (const r of ['PiiAccessCustomerServiceFunctionRole', 'PiiAccessFraudReviewFunctionRole', 'OperatorRole']) {
    out.push(item(`${r} cannot open a pickup`, role(r), 'dynamodb:UpdateItem', { leading: ['ORDER#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'pickup_rmas'], returnValues: 'NONE' }));
  }
  // The table's stream carries every new item image (PII only sealed): only the audit-log
  // function's role reads it, and that role reads nothing else of the table.
  const stream = d.getAtt('OrdersTable', 'StreamArn');
  for (const r of ['IngestFunctionRole', 'DispatchFunctionRole', 'CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'OperatorRole', 'PiiAccessCustomerServiceFunctionRole', 'PiiAccessReturnsFunctionRole', 'PiiAccessFraudReviewFunctionRole', 'CustomerServiceAgentRole']) {
    out.push({ name: `${r} cannot read the table's stream`, principal: role(r), action: 'dynamodb:GetRecords', resource: stream, account: d.account, context: base(role(r)), expect: 'Denied' });
  }
  out.push({ name: 'audit-log function reads the table\'s stream', principal: role('AuditLogFunctionRole'), action: 'dynamodb:GetRecords', resource: stream, account: d.account, context: base(role('AuditLogFunctionRole')), expect: 'Allowed' });
  out.push(item('audit-log function cannot read an order', role('AuditLogFunctionRole'), 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(decrypt('audit-log function cannot open shipping', role('AuditLogFunctionRole'), 'shipping'));
  for (const p of Object.values(people)) {
    out.push(invoke(`operator cannot look orders up for ${p}`, role('OperatorRole'), p));
    out.push(invoke(`key administrator with every data action cannot look orders up for ${p} (no execute-api grant)`, admin, p));
  }

  // Nobody but dispatch reads a sealed-PII item, and dispatch only its shipping blob; only
  // ingest writes blobs; the TTL backstop is moved by those that fix the expiry or a hold.
  const op0 = () => role('OperatorRole');
  const reads = (r) => [
    item(`${r} cannot read a sealed-PII item whole`, role(r), 'dynamodb:GetItem', { leading: [PII], select: 'ALL_ATTRIBUTES' }),
    item(`${r} cannot batch-read sealed-PII items`, role(r), 'dynamodb:BatchGetItem', { leading: [PII], select: 'ALL_ATTRIBUTES' }),
    item(`${r} cannot query a sealed-PII partition`, role(r), 'dynamodb:Query', { leading: [PII], select: 'ALL_ATTRIBUTES' }),
  ];
  for (const r of ['IngestFunctionRole', 'CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'OperatorRole', 'DispatchFunctionRole']) out.push(...reads(r));
  for (const r of ['IngestFunctionRole', 'CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'OperatorRole']) {
    for (const a of PII_ATTRIBUTES) out.push(item(`${r} cannot read ${a} from a sealed-PII item`, role(r), 'dynamodb:GetItem', { leading: [PII], attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }));
  }
  for (const r of ['CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'OperatorRole', 'DispatchFunctionRole']) {
    for (const a of PII_ATTRIBUTES) {
      out.push(item(`${r} cannot write ${a} into a sealed-PII item`, role(r), 'dynamodb:UpdateItem', { leading: [PII], attributes: ['pk', 'sk', a], returnValues: 'NONE' }));
      out.push(item(`${r} cannot put a sealed-PII item`, role(r), 'dynamodb:PutItem', { leading: [PII], attributes: ['pk', 'sk', a] }));
    }
  }
  out.push(item('ingest writes the sealed-PII item', role('IngestFunctionRole'), 'dynamodb:PutItem', { leading: [PII], attributes: ['pk', 'sk', 'ttl', 'pii_shipping'] }, 'Allowed'));
  out.push(item('ingest cannot read a sealed-PII item back on a write', role('IngestFunctionRole'), 'dynamodb:PutItem', { leading: [PII], attributes: ['pk', 'sk', 'pii_shipping'], returnValues: 'ALL_OLD' }));
  out.push(item('dispatch reads the shipping blob', role('DispatchFunctionRole'), 'dynamodb:GetItem', { leading: [PII], attributes: ['pk', 'sk', 'pii_shipping'], select: 'SPECIFIC_ATTRIBUTES' }, 'Allowed'));
  for (const a of ['pii_contact', 'pii_gift']) out.push(item(`dispatch cannot read ${a} from a sealed-PII item`, role('DispatchFunctionRole'), 'dynamodb:GetItem', { leading: [PII], attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }));
  for (const r of ['DispatchFunctionRole', 'CarrierCallbackFunctionRole', 'OperatorRole', 'RetentionFunctionRole']) {
    out.push(item(`${r} moves the sealed-PII item's TTL`, role(r), 'dynamodb:UpdateItem', { leading: [PII], attributes: ['pk', 'sk', 'ttl'] }, 'Allowed'));
  }
  out.push(item('retention deletes a sealed-PII item unread', role('RetentionFunctionRole'), 'dynamodb:DeleteItem', { leading: [PII], attributes: ['pk', 'sk', 'ttl'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('retention cannot read a sealed-PII item back on delete', role('RetentionFunctionRole'), 'dynamodb:DeleteItem', { leading: [PII], attributes: ['pk', 'sk'], returnValues: 'ALL_OLD' }));
  for (const r of ['CarrierCallbackFunctionRole', 'DispatchFunctionRole']) out.push(item(`${r} cannot delete a sealed-PII item`, role(r), 'dynamodb:DeleteItem', { leading: [PII], attributes: ['pk', 'sk'] }));
  out.push(item('operator deletes an orphaned sealed-PII item unread', op0(), 'dynamodb:DeleteItem', { leading: [PII], attributes: ['pk', 'sk'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('operator cannot read a sealed-PII item back on delete', op0(), 'dynamodb:DeleteItem', { leading: [PII], attributes: ['pk', 'sk'], returnValues: 'ALL_OLD' }));

  // The public callback writes tracking state only.
  const cb = role('CarrierCallbackFunctionRole');
  out.push(item('callback updates tracking state', cb, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'tracking_status'], returnValues: 'NONE' }, 'Allowed'));
  for (const a of PII_ATTRIBUTES) out.push(item(`callback cannot write ${a}`, cb, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', a], returnValues: 'NONE' }));
  for (const a of ['hold', 'hold_until']) out.push(item(`callback cannot write the legal hold (${a})`, cb, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', a], returnValues: 'NONE' }));
  out.push(item('callback cannot read an order back on update', cb, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'tracking_status'], returnValues: 'ALL_OLD' }));
  out.push(item('callback cannot read an order', cb, 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('callback cannot replace an order', cb, 'dynamodb:PutItem', { attributes: ['pk', 'sk'] }));
  out.push(item('callback cannot write an audit item', cb, 'dynamodb:PutItem', { leading: ['AUDIT#A3TH9S8BH6GOGM#113-0000001-0000001'], attributes: ['pk', 'sk', 'action'] }));
  out.push(item('callback cannot write the hold registry', cb, 'dynamodb:PutItem', { leading: ['HOLDS'], attributes: ['pk', 'sk'] }));
  out.push(item('callback cannot write a business record', cb, 'dynamodb:BatchWriteItem', { leading: ['BUSINESS#2026-11'] }));
  out.push(item('callback cannot move a tracking number to another order', cb, 'dynamodb:PutItem', { leading: ['TRACKING#1Z999'], attributes: ['pk', 'sk', 'order_id'] }));
  out.push(item('callback cannot scan the table', cb, 'dynamodb:Scan', { leading: [], select: 'ALL_ATTRIBUTES' }));

  // The retention sweep removes the sealed blobs but never reads them.
  const ret = role('RetentionFunctionRole');
  out.push(item('retention writes the tombstone with ReturnValues NONE', ret, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'pii_shard', 'pii_erased_at'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('retention cannot read an order back on the tombstone write', ret, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'pii_erased_at'], returnValues: 'ALL_OLD' }));
  for (const a of PII_ATTRIBUTES) out.push(item(`retention cannot read ${a}`, ret, 'dynamodb:BatchGetItem', { attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('retention cannot read whole orders', ret, 'dynamodb:BatchGetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('retention cannot read an order item by item', ret, 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('retention cannot write sealed PII into an order', ret, 'dynamodb:PutItem', { attributes: ['pk', 'sk', 'pii_shipping'] }));

  // The operators' role reads no PII attribute, in any way.
  const op = role('OperatorRole');
  out.push(item('operator reads retention state', op, 'dynamodb:GetItem', { attributes: ['pk', 'sk', 'pii_expires_at'], select: 'SPECIFIC_ATTRIBUTES' }, 'Allowed'));
  for (const a of PII_ATTRIBUTES) {
    out.push(item(`operator cannot read ${a}`, op, 'dynamodb:GetItem', { attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }));
    out.push(item(`operator cannot write ${a}`, op, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', a], returnValues: 'NONE' }));
  }
  out.push(item('operator cannot read a whole order', op, 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('operator cannot read an order back on update', op, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'hold'], returnValues: 'ALL_NEW' }));
  out.push(item('operator cannot query the orders', op, 'dynamodb:Query', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('operator cannot scan the table', op, 'dynamodb:Scan', { leading: [], select: 'ALL_ATTRIBUTES' }));
  out.push(item('operator audits the index by keys and retention attributes', op, 'dynamodb:Scan', { leading: [], attributes: ['pk', 'sk', 'pii_shard', 'ttl'], select: 'SPECIFIC_ATTRIBUTES' }, 'Allowed'));
  for (const a of PII_ATTRIBUTES) out.push(item(`operator cannot scan ${a}`, op, 'dynamodb:Scan', { leading: [], attributes: ['pk', 'sk', a], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('operator cannot scan the table without a projection', op, 'dynamodb:Scan', { leading: [], attributes: ['pk', 'sk'], select: 'ALL_ATTRIBUTES' }));
  out.push(item('operator cannot batch-read orders', op, 'dynamodb:BatchGetItem', { select: 'ALL_ATTRIBUTES' }));

  // Dispatch reads the shipping blob, never the contact one.
  const dis = role('DispatchFunctionRole');
  out.push(item('dispatch cannot read pii_contact', dis, 'dynamodb:GetItem', { attributes: ['pk', 'sk', 'pii_contact'], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('dispatch cannot read a whole order', dis, 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));

  // Queues: TLS only, and only SP-API's account from outside.
  const notifications = d.getAtt('NotificationsQueue', 'Arn');
  const stranger = 'arn:aws:iam::999988887777:role/someone';
  out.push({ name: 'another account cannot send notifications', principal: stranger, action: 'sqs:SendMessage', resource: notifications, account: d.account, context: base(stranger), expect: 'Denied' });
  for (const q of ['NotificationsQueue', 'NotificationsDlq', 'ShipmentsQueue', 'ShipmentsDlq']) {
    const arn = d.getAtt(q, 'Arn');
    const send = (tls, expect) => ({ name: `${q}: the administrator's SendMessage ${tls ? 'over TLS is allowed' : 'without TLS is refused'}`, principal: admin, action: 'sqs:SendMessage', resource: arn, account: d.account, context: { ...base(admin), 'aws:SecureTransport': String(tls) }, expect });
    out.push(send(true, 'Allowed'), send(false, 'Denied'));
  }
  // `orderseal dlq replay`: the operator empties the DLQs and sends back to their sources, and
  // nothing else - it never consumes a live queue nor feeds a DLQ, and re-arming a shipment
  // writes `ship_req` alone (never the dispatch state).
  const sqs = (name, action, q, expect = 'Denied') => ({ name, principal: op, action, resource: d.getAtt(q, 'Arn'), account: d.account, context: base(op), expect });
  out.push(sqs('operator reads the notifications DLQ', 'sqs:ReceiveMessage', 'NotificationsDlq', 'Allowed'));
  out.push(sqs('operator sends a parked shipment request back', 'sqs:SendMessage', 'ShipmentsQueue', 'Allowed'));
  for (const q of ['NotificationsQueue', 'ShipmentsQueue']) {
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage']) out.push(sqs(`operator cannot ${a.slice(4)} on the live ${q}`, a, q));
  }
  for (const q of ['NotificationsDlq', 'ShipmentsDlq', 'AuditLogDlq']) out.push(sqs(`operator cannot SendMessage into ${q}`, 'sqs:SendMessage', q));
  out.push(sqs('operator cannot read the audit-log DLQ', 'sqs:ReceiveMessage', 'AuditLogDlq'));
  out.push(item('operator re-arms a shipment request', op, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'ship_req'], returnValues: 'NONE' }, 'Allowed'));
  for (const a of ['dispatch_state', 'label', 'confirmed_at', 'fulfillment_status']) {
    out.push(item(`operator cannot write ${a} with ship_req`, op, 'dynamodb:UpdateItem', { attributes: ['pk', 'sk', 'ship_req', a], returnValues: 'NONE' }));
  }
  // Sellers' refresh tokens: the operator writes and deletes them, on the storage key, and can
  // never read one back; the functions that call SP-API read them and change nothing.
  const sellerSecret = d.arn('secretsmanager', `secret:${d.stack}/sellers/A3TH9S8BH6GOGM-AbCdEf`);
  const secret = (name, principal, action, resource, context = {}, expect = 'Denied') => ({ name, principal, action, resource, account: d.account, context: { ...base(principal), ...context }, expect });
  const storageKey = { 'secretsmanager:KmsKeyArn': d.getAtt('StorageKey', 'Arn') };
  out.push(secret('operator stores a seller token on the storage key', op, 'secretsmanager:CreateSecret', sellerSecret, storageKey, 'Allowed'));
  out.push(secret('operator cannot store a seller token on another key', op, 'secretsmanager:CreateSecret', sellerSecret, { 'secretsmanager:KmsKeyArn': d.arn('kms', 'key/00000000-0000-0000-0000-000000000000') }));
  out.push(secret('operator cannot read a seller token back', op, 'secretsmanager:GetSecretValue', sellerSecret));
  out.push(secret('operator cannot create a secret outside the sellers prefix', op, 'secretsmanager:CreateSecret', d.arn('secretsmanager', `secret:${d.stack}/other/x-AbCdEf`), storageKey));
  out.push(secret('operator cannot overwrite the LWA app secret', op, 'secretsmanager:PutSecretValue', d.ref('LwaCredentialsSecret')));
  out.push(secret('operator cannot read the LWA app secret', op, 'secretsmanager:GetSecretValue', d.ref('LwaCredentialsSecret')));
  for (const r of ['IngestFunctionRole', 'DispatchFunctionRole']) {
    out.push(secret(`${r} reads a seller token`, role(r), 'secretsmanager:GetSecretValue', sellerSecret, {}, 'Allowed'));
    for (const a of ['secretsmanager:PutSecretValue', 'secretsmanager:DeleteSecret', 'secretsmanager:CreateSecret']) {
      out.push(secret(`${r} cannot ${a.slice(15)} a seller token`, role(r), a, sellerSecret, a.endsWith('CreateSecret') ? storageKey : {}));
    }
  }
  for (const r of ['CarrierCallbackFunctionRole', 'RetentionFunctionRole', 'PiiAccessCustomerServiceFunctionRole', 'CustomerServiceAgentRole']) {
    out.push(secret(`${r} cannot read a seller token`, role(r), 'secretsmanager:GetSecretValue', sellerSecret));
  }
  out.push(item('ingest cannot add a seller', role('IngestFunctionRole'), 'dynamodb:PutItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'seller_id'], returnValues: 'NONE' }));
  out.push(item('ingest notes a seller notification', role('IngestFunctionRole'), 'dynamodb:UpdateItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'last_notification_at'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('ingest cannot change a seller entry beyond its last notification', role('IngestFunctionRole'), 'dynamodb:UpdateItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'authorized_on'], returnValues: 'NONE' }));
  out.push(item('ingest cannot read a seller entry back through its registry write', role('IngestFunctionRole'), 'dynamodb:UpdateItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'last_notification_at'], returnValues: 'ALL_OLD' }));
  out.push(item('retention cannot change a seller', role('RetentionFunctionRole'), 'dynamodb:PutItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'authorized_on'], returnValues: 'NONE' }));
  out.push(item('operator cannot read an order through the seller registry grant', op, 'dynamodb:Query', { select: 'ALL_ATTRIBUTES' }));
  // The reconcile run (ingest, scheduled): versions of orders, never their PII; its own
  // watermarks, nothing else of the table.
  const ing = role('IngestFunctionRole');
  out.push(item('ingest reads the versions of a searchOrders page', ing, 'dynamodb:BatchGetItem', { attributes: ['pk', 'sk', 'order_id', 'last_updated_ms'], select: 'SPECIFIC_ATTRIBUTES' }, 'Allowed'));
  out.push(item('ingest cannot batch-read sealed PII', ing, 'dynamodb:BatchGetItem', { leading: [PII], attributes: ['pk', 'sk', 'pii_shipping'], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('ingest cannot batch-read whole orders', ing, 'dynamodb:BatchGetItem', { select: 'ALL_ATTRIBUTES' }));
  out.push(item('ingest cannot batch-read an order beyond its version', ing, 'dynamodb:BatchGetItem', { attributes: ['pk', 'sk', 'order_id', 'tracking_number'], select: 'SPECIFIC_ATTRIBUTES' }));
  out.push(item('ingest moves a reconcile watermark', ing, 'dynamodb:PutItem', { leading: ['RECONCILE'], attributes: ['pk', 'sk', 'watermark', 'window_secs', 'run_at'], returnValues: 'NONE' }, 'Allowed'));
  out.push(item('ingest cannot put other data under the watermarks', ing, 'dynamodb:PutItem', { leading: ['RECONCILE'], attributes: ['pk', 'sk', 'watermark', 'pii_shipping'], returnValues: 'NONE' }));
  for (const r of ['RetentionFunctionRole', 'DispatchFunctionRole', 'SubscriptionsFunctionRole']) {
    out.push(item(`${r} cannot move a reconcile watermark`, role(r), 'dynamodb:PutItem', { leading: ['RECONCILE'], attributes: ['pk', 'sk', 'watermark'], returnValues: 'NONE' }));
  }
  // Subscriptions: only the operators' role reaches the routes; the function reads the tokens
  // and the registry and writes nothing of ours.
  const api = d.resources.PiiAccessApi ? d.ref('PiiAccessApi') : 'missing';
  const opsRoute = (method, path) => d.arn('execute-api', `${api}/$default/${method}${path}`);
  const opsInvoke = (name, principal, method, path, expect = 'Denied') => ({ name, principal, action: 'execute-api:Invoke', resource: opsRoute(method, path), account: d.account, context: base(principal), expect });
  out.push(opsInvoke('operator subscribes the sellers', op, 'POST', '/ops/subscriptions', 'Allowed'));
  out.push(opsInvoke('operator deletes a seller subscription', op, 'DELETE', '/ops/subscriptions/A3TH9S8BH6GOGM', 'Allowed'));
  out.push(opsInvoke('operator cannot reach another ops path', op, 'POST', '/ops/sellers'));
  for (const r of ['CustomerServiceAgentRole', 'ReturnsClerkRole', 'FraudReviewerRole']) {
    out.push(opsInvoke(`${r} cannot subscribe sellers`, role(r), 'POST', '/ops/subscriptions'));
    out.push(opsInvoke(`${r} cannot delete a seller subscription`, role(r), 'DELETE', '/ops/subscriptions/A3TH9S8BH6GOGM'));
  }
  out.push(opsInvoke('key administrator with every data action cannot subscribe sellers (no execute-api grant)', admin, 'POST', '/ops/subscriptions'));
  const subs = role('SubscriptionsFunctionRole');
  out.push(secret('subscriptions function reads a seller token', subs, 'secretsmanager:GetSecretValue', sellerSecret, {}, 'Allowed'));
  for (const a of ['secretsmanager:PutSecretValue', 'secretsmanager:DeleteSecret']) {
    out.push(secret(`subscriptions function cannot ${a.slice(15)} a seller token`, subs, a, sellerSecret));
  }
  out.push(secret('subscriptions function cannot read the fraud index key', subs, 'secretsmanager:GetSecretValue', d.ref('FraudIndexKeySecret')));
  out.push(item('subscriptions function cannot change a seller', subs, 'dynamodb:PutItem', { leading: ['SELLERS'], attributes: ['pk', 'sk', 'seller_id'], returnValues: 'NONE' }));
  out.push(item('subscriptions function cannot read an order', subs, 'dynamodb:GetItem', { select: 'ALL_ATTRIBUTES' }));
  for (const cls of PII_CLASSES) out.push(decrypt(`subscriptions function cannot decrypt ${cls}`, subs, cls));
  out.push({ name: 'operator reads the storage key policy (doctor)', principal: op, action: 'kms:GetKeyPolicy', resource: d.getAtt('StorageKey', 'Arn'), account: d.account, context: base(op), expect: 'Allowed' });
  out.push({ name: 'operator cannot read the PII key policy', principal: op, action: 'kms:GetKeyPolicy', resource: key('PiiSealKey'), account: d.account, context: base(op), expect: 'Denied' });
  out.push({ name: 'operator cannot change the storage key policy', principal: op, action: 'kms:PutKeyPolicy', resource: d.getAtt('StorageKey', 'Arn'), account: d.account, context: base(op), expect: 'Denied' });
  return out;
}
