// The evaluator on a small template: each check fails on the defect it exists for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Deployment } from '../lib/template.mjs';
import { Policies } from '../lib/policies.mjs';
import { Requests, loadRecordings } from '../lib/requests.mjs';
import { checkAllowed, checkUnused, checkFacts } from '../lib/check.mjs';

const SETTINGS = { account: '111122223333', region: 'us-east-1', partition: 'aws', stack: 's', parameters: {} };
const TABLE = 't1-OrdersTable';

/** A template with a table encrypted by a key and one role with `statements`. */
function template(statements, { metadata } = {}) {
  return {
    Resources: {
      Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: { Version: '2012-10-17', Statement: [
        { Sid: 'Iam', Effect: 'Allow', Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } }, Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' } } },
      ] } }, Metadata: { orderseal: { UnrecordedGrants: {} } } },
      OrdersTable: { Type: 'AWS::DynamoDB::Table', Properties: { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { Ref: 'Key' } } } },
      DispatchFunctionRole: {
        Type: 'AWS::IAM::Role',
        Metadata: metadata,
        Properties: { Policies: [{ PolicyName: 'p', PolicyDocument: { Version: '2012-10-17', Statement: statements } }] },
      },
    },
  };
}

const tableKey = { Sid: 'TableKey', Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': ['Key', 'Arn'] }, Condition: { StringEquals: { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' } } };
const table = { 'Fn::GetAtt': ['OrdersTable', 'Arn'] };

/** The label-purchased transaction as the recorder writes it. */
function recordings(extraFacts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'orderseal-eval-'));
  mkdirSync(join(dir, 'stacks'));
  writeFileSync(join(dir, 'stacks', 't1.json'), JSON.stringify({ tables: { OrdersTable: TABLE }, queues: {}, keys: {}, secrets: {} }));
  const line = (action, pk, attributes, facts = {}) =>
    JSON.stringify({ principal: 'DispatchFunctionRole', call: 'DynamoDB.TransactWriteItems', action, resource: { table: { name: TABLE } }, context: { 'dynamodb:LeadingKeys': [pk], 'dynamodb:Attributes': attributes }, facts });
  writeFileSync(
    join(dir, '1.jsonl'),
    [
      line('dynamodb:UpdateItem', 'ORDER#S#1', ['label', 'pk', 'sk'], extraFacts),
      line('dynamodb:PutItem', 'TRACKING#9', ['order_id', 'pk', 'sk']),
    ].join('\n') + '\n',
  );
  return loadRecordings(dir);
}

function evaluator(statements, options) {
  const d = new Deployment(template(statements, options), SETTINGS);
  const requests = new Requests(d);
  requests.addRecorded(recordings(options?.facts));
  return { policies: new Policies(d), requests };
}

const update = { Sid: 'State', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: table };
const put = { Sid: 'Lookup', Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['TRACKING#*'] } } };

test('a transaction Put needs dynamodb:PutItem: the old dispatch role is denied', async () => {
  const { policies, requests } = evaluator([update, tableKey]);
  const { denied } = await checkAllowed(policies, requests.list());
  assert.deepEqual(denied.map((x) => [x.request.action, x.request.via]), [['dynamodb:PutItem', 'DynamoDB.TransactWriteItems']]);

  const fixed = evaluator([update, put, tableKey]);
  assert.equal((await checkAllowed(fixed.policies, fixed.requests.list())).denied.length, 0);
});

test('the table key is asked on the caller\'s behalf: without it every request is denied', async () => {
  const { policies, requests } = evaluator([update, put]);
  const { denied } = await checkAllowed(policies, requests.list());
  assert.ok(denied.length > 0);
  assert.ok(denied.every((x) => x.request.action === 'kms:Decrypt' && x.request.origin === 'implied'));
});

test('a grant no request needs is reported, unless justified in place', async () => {
  const { policies, requests } = evaluator([update, put, tableKey]);
  const { allowed } = await checkAllowed(policies, requests.list());
  const { unused, needed } = await checkUnused(policies, allowed);
  // GetItem is granted but never asked for. (The key policy's delegation to IAM is needed: a
  // key policy must allow the account before a role's own Decrypt counts.)
  assert.deepEqual(unused.map((u) => `${u.grant.sid} ${u.grant.value}`), ['State dynamodb:GetItem']);
  // Removing what the transaction needs loses requests: each of these is needed.
  const lost = Object.fromEntries(needed.map((n) => [`${n.grant.sid} ${n.grant.value}`, n.lost]));
  assert.ok(lost['State dynamodb:UpdateItem'] >= 1);
  assert.ok(lost['Lookup dynamodb:PutItem'] >= 1);

  const justified = evaluator([update, put, tableKey], { metadata: { orderseal: { UnrecordedGrants: { State: 'a later read' } } } });
  const again = await checkUnused(justified.policies, (await checkAllowed(justified.policies, justified.requests.list())).allowed);
  assert.deepEqual(again.unused, []);
});

test('the unused-grant check tries a grant only on requests its statement can allow', async () => {
  const wide = { ...put, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['TRACKING#*', 'NOTIF#*'] } } };
  const { policies, requests } = evaluator([update, wide, tableKey]);
  const { allowed } = await checkAllowed(policies, requests.list());
  const grant = policies.grants().find((g) => g.sid === 'Lookup' && g.value === 'NOTIF#*');
  assert.deepEqual(allowed.filter((r) => policies.governs(grant, r)).map((r) => r.action), ['dynamodb:PutItem']);
  const getItem = policies.grants().find((g) => g.sid === 'State' && g.value === 'dynamodb:GetItem');
  assert.deepEqual(allowed.filter((r) => policies.governs(getItem, r)), []);
  const { unused } = await checkUnused(policies, allowed);
  assert.deepEqual(unused.map((u) => `${u.grant.sid} ${u.grant.value}`).sort(), ['Lookup NOTIF#*', 'State dynamodb:GetItem']);
});

test('a failed condition that returns the whole order item is a violation', async () => {
  const { requests } = evaluator([update, put, tableKey], { facts: { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } });
  const rules = [{ itemPrefix: 'ORDER#', mayReadWholeItem: ['IngestFunctionRole'] }];
  assert.equal(checkFacts(requests.list(), rules).length, 1);
  assert.equal(checkFacts(requests.list(), [{ itemPrefix: 'ORDER#', mayReadWholeItem: ['DispatchFunctionRole'] }]).length, 0);
});

test('a recorded resource the template does not have is a problem, not a silent pass', () => {
  const d = new Deployment(template([update]), SETTINGS);
  const requests = new Requests(d);
  const rec = recordings();
  rec.recorded.push({ principal: 'DispatchFunctionRole', call: 'SQS.SendMessage', action: 'sqs:SendMessage', resource: { queue: { url: 'http://x/1/elsewhere' } }, context: {} });
  requests.addRecorded(rec);
  assert.equal(requests.problems.length, 1);
});

/** A recorded projected GetItem, as the recorder writes it (Select filled in by default). */
function getRecording(facts) {
  const dir = mkdtempSync(join(tmpdir(), 'orderseal-eval-'));
  mkdirSync(join(dir, 'stacks'));
  writeFileSync(join(dir, 'stacks', 't1.json'), JSON.stringify({ tables: { OrdersTable: TABLE }, queues: {}, keys: {}, secrets: {} }));
  const line = (f) =>
    JSON.stringify({ principal: 'DispatchFunctionRole', call: 'DynamoDB.GetItem', action: 'dynamodb:GetItem', resource: { table: { name: TABLE } }, context: { 'dynamodb:LeadingKeys': ['ORDER#S#1'], 'dynamodb:Attributes': ['pk', 'sk'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, facts: f });
  writeFileSync(join(dir, '1.jsonl'), facts.map(line).join('\n') + '\n');
  return loadRecordings(dir);
}

const projectedRead = (op) => ({ Sid: 'Read', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: table, Condition: { [op]: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' } } });

test('a Select the request did not send must not be what allows it', async () => {
  for (const [op, denied] of [['StringEquals', 1], ['StringEqualsIfExists', 0]]) {
    const d = new Deployment(template([projectedRead(op), tableKey]), SETTINGS);
    const requests = new Requests(d);
    requests.addRecorded(getRecording([{ Implied: 'dynamodb:Select' }]));
    const r = await checkAllowed(new Policies(d), requests.list());
    assert.equal(r.denied.length, denied, op);
  }
});

test('requests that differ only in their facts are all kept, in any order', () => {
  for (const order of [[{}, { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }], [{ ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }, {}]]) {
    const d = new Deployment(template([projectedRead('StringEquals')]), SETTINGS);
    const requests = new Requests(d);
    const rec = getRecording(order);
    for (const r of rec.recorded) r.context['dynamodb:LeadingKeys'] = ['ORDER#S#1'];
    requests.addRecorded(rec);
    const rules = [{ itemPrefix: 'ORDER#', mayReadWholeItem: ['IngestFunctionRole'] }];
    assert.equal(checkFacts(requests.list(), rules).length, 1, JSON.stringify(order));
  }
});
