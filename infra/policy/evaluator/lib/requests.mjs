// The requests to authorize, as AWS would see them in the deployment:
// * recorded: what the functions, the operator CLI and SP-API's stand-in sent during the tests
//   (shared/src/aws/record.rs), mapped from the emulator's names to the deployment's ARNs;
// * implied: what DynamoDB, SQS and Secrets Manager ask KMS on the caller's behalf for a
//   resource encrypted with a customer key (the caller's own permission is checked);
// * platform: what AWS does with the template's roles and permissions outside our code -
//   Lambda writing the function's logs and managing its VPC network interfaces, the Scheduler
//   invoking the sweep, API Gateway invoking the callback, CloudWatch Logs using the log
//   groups' key, VPC flow logs, and SP-API reading the notifications queue's attributes.

import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const SP_API_ACCOUNT = '437568002678';
/** SP-API's sender, as an IAM principal of Amazon's account (its name is Amazon's business). */
export const SP_API_PRINCIPAL = `arn:aws:iam::${SP_API_ACCOUNT}:role/selling-partner-api-notifications`;

/** Recorded principal names that are not roles of the template. */
const EXTERNAL = { SellingPartnerApi: SP_API_PRINCIPAL };

/** Read the recordings of a test run: requests and the names each test stack used. */
export function loadRecordings(dir) {
  if (!existsSync(dir)) throw new Error(`no recorded requests in ${dir}: run the tests with ORDERSEAL_RECORD_REQUESTS=${dir}`);
  const stacks = [];
  const stacksDir = join(dir, 'stacks');
  if (existsSync(stacksDir)) {
    for (const f of readdirSync(stacksDir)) {
      if (f.endsWith('.json')) stacks.push(JSON.parse(readFileSync(join(stacksDir, f), 'utf8')));
    }
  }
  const recorded = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.jsonl')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line.trim()) recorded.push(JSON.parse(line));
    }
  }
  return { stacks, recorded };
}

/** physical name → logical id, over every test stack. */
function physicalNames(stacks) {
  const names = { table: new Map(), queue: new Map(), key: new Map(), secret: new Map(), sellerSecretPrefixes: [] };
  for (const s of stacks) {
    if (s.seller_secret_prefix) names.sellerSecretPrefixes.push(s.seller_secret_prefix);
    for (const [id, name] of Object.entries(s.tables ?? {})) names.table.set(name, id);
    for (const [id, q] of Object.entries(s.queues ?? {})) names.queue.set(q.url, id);
    for (const [id, arn] of Object.entries(s.keys ?? {})) names.key.set(arn, id);
    for (const [id, arn] of Object.entries(s.secrets ?? {})) names.secret.set(arn, id);
  }
  return names;
}

export class Requests {
  /** @param {import('./template.mjs').Deployment} d */
  constructor(d) {
    this.d = d;
    this.all = new Map();
    this.problemSet = new Set();
  }

  get problems() {
    return [...this.problemSet];
  }

  base(principal) {
    const account = principal.split(':')[4] || this.d.account;
    return {
      'aws:PrincipalArn': principal,
      'aws:PrincipalAccount': account,
      'aws:SecureTransport': 'true',
    };
  }

  add(r) {
    const context = Object.fromEntries(Object.entries(r.context).sort(([a], [b]) => a.localeCompare(b)));
    const req = { account: this.d.account, ...r, context };
    const key = JSON.stringify([req.principal, req.action, req.resource, req.context, req.facts ?? {}]);
    if (!this.all.has(key)) this.all.set(key, req);
    return req;
  }

  list() {
    return [...this.all.values()];
  }

  /** The KMS key ARN a resource property names (a key id, ARN or alias of the template). */
  keyArn(value) {
    if (value === undefined) return undefined;
    for (const id of this.d.ofType('AWS::KMS::Key')) {
      if (value === this.d.ref(id) || value === this.d.getAtt(id, 'Arn')) return this.d.getAtt(id, 'Arn');
    }
    throw new Error(`KMS key ${value} is not a key of the template`);
  }

  /** A KMS request a service makes for `caller`. */
  viaService(caller, service, keyArn, actions, context, origin) {
    for (const action of actions) {
      this.add({
        principal: caller.principal,
        principalId: caller.principalId,
        action,
        resource: keyArn,
        context: {
          ...this.base(caller.principal),
          'kms:CallerAccount': caller.principal.split(':')[4],
          'kms:ViaService': `${service}.${this.d.region}.amazonaws.com`,
          ...context,
        },
        origin,
        via: caller.via,
      });
    }
  }

  ec(pairs) {
    const ctx = {};
    for (const [k, v] of Object.entries(pairs)) ctx[`kms:EncryptionContext:${k}`] = v;
    ctx['kms:EncryptionContextKeys'] = Object.keys(pairs).sort();
    return ctx;
  }

  /** The recorded requests, in the deployment's names. */
  addRecorded({ stacks, recorded }) {
    const names = physicalNames(stacks);
    const d = this.d;
    for (const r of recorded) {
      const principal = EXTERNAL[r.principal] ?? (d.resources[r.principal]?.Type === 'AWS::IAM::Role' ? d.roleArn(r.principal) : undefined);
      if (!principal) {
        this.problemSet.add(`recorded principal ${r.principal} is not a role of the template`);
        continue;
      }
      const [[kind, res]] = Object.entries(r.resource);
      // A seller's refresh-token secret: created at run time (`orderseal seller add`), named
      // `<stack>/sellers/<sellerId>` and encrypted with the storage key.
      const sellerPrefix = kind === 'secret' && names.sellerSecretPrefixes.find((p) => res.id.startsWith(p));
      if (sellerPrefix) {
        this.addSellerSecret(r, principal, res.id.slice(sellerPrefix.length));
        continue;
      }
      // An API is named by its logical id (the local API Gateway stand-in has no physical one).
      const logical = { table: names.table.get(res.name), queue: names.queue.get(res.url), key: names.key.get(res.id), secret: names.secret.get(res.id), api: res.id }[kind];
      if (!logical || !d.resources[logical]) {
        this.problemSet.add(`${r.call} by ${r.principal}: ${kind} ${JSON.stringify(res)} is not a resource of the template`);
        continue;
      }
      if (r.facts?.UnresolvedName) this.problemSet.add(`${r.call} by ${r.principal}: an expression names ${r.facts.UnresolvedName} without defining it`);
      let resource = kind === 'api' ? d.arn('execute-api', `${d.ref(logical)}/${res.stage}/${res.method}${res.path}`) : d.getAtt(logical, 'Arn');
      if (kind === 'secret') resource = d.ref(logical);
      if (kind === 'table' && res.index) resource = `${resource}/index/${res.index}`;
      const context = { ...this.base(principal) };
      for (const [k, v] of Object.entries(r.context)) {
        if (!k.startsWith('orderseal:')) context[k] = v;
      }
      if (r.action.startsWith('kms:')) context['kms:CallerAccount'] = principal.split(':')[4];
      const caller = { principal, principalId: r.principal, via: r.call };
      const recorded = { principal, principalId: r.principal, action: r.action, resource, context, origin: 'recorded', via: r.call, facts: r.facts ?? {}, item: (r.context['dynamodb:LeadingKeys'] ?? [])[0] };
      this.add(recorded);
      // A value the recorder filled in by the documented default (Select on reads, ReturnValues
      // on writes) may be absent on AWS when the request does not send it: allowed both ways.
      const implied = (r.facts?.Implied ?? '').split(',').filter(Boolean);
      if (implied.length) {
        const without = { ...context };
        for (const k of implied) delete without[k];
        this.add({ ...recorded, context: without, via: `${r.call}, if AWS leaves ${implied.join(' and ')} out` });
      }
      // What the service asks KMS on the caller's behalf.
      const p = d.properties(logical);
      if (kind === 'table') {
        const key = this.keyArn(p.SSESpecification?.SSEEnabled ? p.SSESpecification.KMSMasterKeyId : undefined);
        if (key) {
          this.viaService(caller, 'dynamodb', key, ['kms:Decrypt'], this.ec({ 'aws:dynamodb:tableName': d.physicalName(logical), 'aws:dynamodb:subscriberId': d.account }), 'implied');
        }
      } else if (kind === 'queue') {
        const key = this.keyArn(p.KmsMasterKeyId);
        if (key) {
          const actions = r.action === 'sqs:SendMessage' ? ['kms:GenerateDataKey', 'kms:Decrypt'] : r.action === 'sqs:ReceiveMessage' ? ['kms:Decrypt'] : [];
          this.viaService(caller, 'sqs', key, actions, {}, 'implied');
        }
      } else if (kind === 'secret') {
        const key = this.keyArn(p.KmsKeyId);
        if (key && r.action === 'secretsmanager:GetSecretValue') {
          this.viaService(caller, 'secretsmanager', key, ['kms:Decrypt'], this.ec({ SecretARN: resource, SecretVersionId: '00000000-0000-4000-8000-000000000001' }), 'implied');
        }
      }
    }
  }

  /** A recorded request on a seller's token secret, and what Secrets Manager asks KMS for it. */
  addSellerSecret(r, principal, sellerId) {
    const d = this.d;
    const resource = d.arn('secretsmanager', `secret:${d.stack}/sellers/${sellerId}-AbCdEf`);
    const context = { ...this.base(principal) };
    for (const [k, v] of Object.entries(r.context)) {
      if (!k.startsWith('orderseal:')) context[k] = v;
    }
    if (r.action === 'secretsmanager:CreateSecret') context['secretsmanager:KmsKeyArn'] = d.getAtt('StorageKey', 'Arn');
    this.add({ principal, principalId: r.principal, action: r.action, resource, context, origin: 'recorded', via: r.call, facts: r.facts ?? {} });
    const caller = { principal, principalId: r.principal, via: r.call };
    const kms = {
      'secretsmanager:GetSecretValue': ['kms:Decrypt'],
      'secretsmanager:CreateSecret': ['kms:GenerateDataKey', 'kms:Decrypt'],
      'secretsmanager:PutSecretValue': ['kms:GenerateDataKey', 'kms:Decrypt'],
    }[r.action] ?? [];
    this.viaService(caller, 'secretsmanager', d.getAtt('StorageKey', 'Arn'), kms, this.ec({ SecretARN: resource, SecretVersionId: '00000000-0000-4000-8000-000000000001' }), 'implied');
  }

  /** What AWS does with the template's roles and permissions outside our code. */
  addPlatform() {
    const d = this.d;
    const platform = (principal, action, resource, context = {}, why) =>
      this.add({ principal, principalId: d.ofType('AWS::IAM::Role').find((id) => d.roleArn(id) === principal) ?? principal, action, resource, context: { ...this.base(principal), ...context }, origin: 'platform', via: why });
    for (const fn of d.ofType('AWS::Lambda::Function')) {
      const p = d.properties(fn);
      const group = p.LoggingConfig?.LogGroup ?? `/aws/lambda/${d.physicalName(fn)}`;
      const stream = d.arn('logs', `log-group:${group}:log-stream:2026/12/01/[$LATEST]0123456789abcdef`);
      for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
        platform(p.Role, action, stream, {}, `Lambda writes ${fn}'s logs`);
      }
      if (p.VpcConfig) {
        const eni = d.arn('ec2', 'network-interface/eni-0123456789abcdef0');
        for (const action of ['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses']) {
          platform(p.Role, action, eni, {}, `Lambda manages ${fn}'s network interfaces`);
        }
        // These take no resource: IAM checks them on "*".
        for (const action of ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets']) {
          platform(p.Role, action, '*', {}, `Lambda manages ${fn}'s network interfaces`);
        }
      }
    }
    // Lambda reads a table's stream for a function with the function's role, and sends what
    // still fails after the retries to the on-failure destination with it too.
    for (const id of d.ofType('AWS::Lambda::EventSourceMapping')) {
      const m = d.properties(id);
      const table = d.ofType('AWS::DynamoDB::Table').find((t) => d.getAtt(t, 'StreamArn') === m.EventSourceArn);
      if (!table) continue;
      const fn = d.ofType('AWS::Lambda::Function').find((f) => d.ref(f) === m.FunctionName || d.getAtt(f, 'Arn') === m.FunctionName);
      const role = d.properties(fn).Role;
      const why = `Lambda reads ${table}'s stream for ${fn}`;
      for (const action of ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator']) platform(role, action, m.EventSourceArn, {}, why);
      // ListStreams takes no resource: IAM checks it on "*".
      platform(role, 'dynamodb:ListStreams', '*', {}, why);
      const tp = d.properties(table);
      const key = this.keyArn(tp.SSESpecification?.SSEEnabled ? tp.SSESpecification.KMSMasterKeyId : undefined);
      const caller = { principal: role, principalId: d.ofType('AWS::IAM::Role').find((r) => d.roleArn(r) === role) ?? role, via: why };
      if (key) this.viaService(caller, 'dynamodb', key, ['kms:Decrypt'], this.ec({ 'aws:dynamodb:tableName': d.physicalName(table), 'aws:dynamodb:subscriberId': d.account }), 'platform');
      const dlq = m.DestinationConfig?.OnFailure?.Destination;
      const queue = dlq && d.ofType('AWS::SQS::Queue').find((q) => d.getAtt(q, 'Arn') === dlq);
      if (queue) {
        const failed = { ...caller, via: `Lambda sends ${fn}'s failed stream batches to ${queue}` };
        platform(role, 'sqs:SendMessage', dlq, {}, failed.via);
        const qkey = this.keyArn(d.properties(queue).KmsMasterKeyId);
        if (qkey) this.viaService(failed, 'sqs', qkey, ['kms:GenerateDataKey', 'kms:Decrypt'], {}, 'platform');
      }
    }
    for (const id of d.ofType('AWS::Scheduler::Schedule')) {
      const t = d.properties(id).Target;
      platform(t.RoleArn, 'lambda:InvokeFunction', t.Arn, {}, `the Scheduler runs ${id}`);
    }
    for (const id of d.ofType('AWS::Lambda::Permission')) {
      const p = d.properties(id);
      const fn = d.ofType('AWS::Lambda::Function').find((f) => d.ref(f) === p.FunctionName || d.getAtt(f, 'Arn') === p.FunctionName);
      const context = {};
      if (p.SourceArn) context['aws:SourceArn'] = p.SourceArn.replaceAll('*', 'x');
      if (p.SourceAccount) context['aws:SourceAccount'] = p.SourceAccount;
      this.add({ principal: p.Principal, principalId: p.Principal, action: p.Action, resource: d.getAtt(fn, 'Arn'), context: { 'aws:SecureTransport': 'true', ...context }, origin: 'platform', via: `${p.Principal} invokes ${fn}` });
    }
    for (const id of d.ofType('AWS::Logs::LogGroup')) {
      const p = d.properties(id);
      const key = this.keyArn(p.KmsKeyId);
      if (!key) continue;
      const groupArn = d.getAtt(id, 'Arn').replace(/:\*$/, '');
      for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey']) {
        const context = { 'aws:SecureTransport': 'true', ...this.ec({ 'aws:logs:arn': groupArn }) };
        this.add({ principal: `logs.${d.region}.amazonaws.com`, principalId: 'CloudWatchLogs', action, resource: key, context, origin: 'platform', via: `CloudWatch Logs encrypts ${id}` });
      }
    }
    for (const id of d.ofType('AWS::EC2::FlowLog')) {
      const p = d.properties(id);
      const group = d.ofType('AWS::Logs::LogGroup').find((g) => d.ref(g) === p.LogGroupName);
      const streams = d.arn('logs', `log-group:${d.physicalName(group)}:log-stream:eni-0123456789abcdef0-all`);
      for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams']) {
        platform(p.DeliverLogsPermissionArn, action, streams, {}, `VPC flow logs of ${p.ResourceId}`);
      }
    }
    // Amazon reads the notifications queue's attributes before it sends (W-SQS, D-NOTIF21).
    for (const id of d.ofType('AWS::SQS::QueuePolicy')) {
      const p = d.properties(id);
      for (const s of p.PolicyDocument.Statement) {
        const principals = [s.Principal?.AWS].flat();
        if (s.Effect === 'Allow' && principals.some((x) => String(x).includes(SP_API_ACCOUNT))) {
          this.add({ principal: SP_API_PRINCIPAL, principalId: 'SellingPartnerApi', action: 'sqs:GetQueueAttributes', resource: s.Resource, context: this.base(SP_API_PRINCIPAL), origin: 'platform', via: 'SP-API checks the destination queue' });
        }
      }
    }
  }
}
