// The engine and the EncryptionContext workaround, with answers taken from AWS's documented
// semantics (condition operators on a present, absent or different value).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { evaluate, renamePolicy } from '../lib/engine.mjs';

const ACCOUNT = '111122223333';
const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/k`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/dispatch`;

/** A key policy naming the role, with `condition` on its Decrypt (and optional deny). */
function decrypt(context, condition, { deny } = {}) {
  const statements = [{ Sid: 'Open', Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:Decrypt', Resource: '*', Condition: condition }];
  if (deny) statements.push({ Sid: 'Deny', Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: deny });
  return {
    request: { principal: ROLE, action: 'kms:Decrypt', resource: KEY, account: ACCOUNT, context: { 'aws:PrincipalArn': ROLE, ...context } },
    policies: { identity: [], resource: { Version: '2012-10-17', Statement: statements } },
  };
}

const CLASS = 'kms:EncryptionContext:class';

test('the engine on its own drops kms:EncryptionContext keys (the reason for the workaround)', async () => {
  const { request, policies } = decrypt({ [CLASS]: 'shipping' }, { StringEquals: { [CLASS]: ['shipping', 'gift'] } });
  const r = await evaluate(request, policies, { rename: false });
  // AWS allows this request; the engine ignores the key and denies it. When a new version of
  // the engine evaluates it, this test fails: then drop the renaming.
  assert.deepEqual(r.ignored, [CLASS]);
  assert.equal(r.decision, 'ImplicitlyDenied');
});

test('renamed, the engine gives AWS answers for each operator the templates use', async () => {
  const cases = [
    // [name, context, condition, deny, expected]
    ['StringEquals, value in the list', { [CLASS]: 'gift' }, { StringEquals: { [CLASS]: ['shipping', 'gift'] } }, null, 'Allowed'],
    ['StringEquals, value not in the list', { [CLASS]: 'contact' }, { StringEquals: { [CLASS]: ['shipping', 'gift'] } }, null, 'ImplicitlyDenied'],
    ['StringEquals, key absent', {}, { StringEquals: { [CLASS]: 'shipping' } }, null, 'ImplicitlyDenied'],
    ['StringEquals is case sensitive in the value', { [CLASS]: 'Shipping' }, { StringEquals: { [CLASS]: 'shipping' } }, null, 'ImplicitlyDenied'],
    ['two keys must both match', { [CLASS]: 'shipping', 'kms:EncryptionContext:app': 'other' }, { StringEquals: { [CLASS]: 'shipping', 'kms:EncryptionContext:app': 'orderseal' } }, null, 'ImplicitlyDenied'],
    ['Null deny fires when the key is absent', { 'kms:EncryptionContext:app': 'orderseal' }, { StringEquals: { 'kms:EncryptionContext:app': 'orderseal' } }, { Null: { [CLASS]: 'true' } }, 'ExplicitlyDenied'],
    ['Null deny holds off when the key is present', { [CLASS]: 'shipping' }, { StringEquals: { [CLASS]: 'shipping' } }, { Null: { [CLASS]: 'true' } }, 'Allowed'],
    ['ArnLike on an ARN-valued key (CloudWatch Logs)', { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/x` }, { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:*` } }, null, 'Allowed'],
    ['a key with colons (DynamoDB table name), other value', { 'kms:EncryptionContext:aws:dynamodb:tableName': 'other' }, { StringEquals: { 'kms:EncryptionContext:aws:dynamodb:tableName': 'orders' } }, null, 'ImplicitlyDenied'],
    ['StringNotEquals deny on a different value', { [CLASS]: 'contact' }, { StringLike: { [CLASS]: '*' } }, { StringNotEquals: { [CLASS]: ['shipping', 'gift'] } }, 'ExplicitlyDenied'],
  ];
  for (const [name, context, condition, deny, expected] of cases) {
    const { request, policies } = decrypt(context, condition, { deny: deny ?? undefined });
    const r = await evaluate(request, policies);
    assert.deepEqual(r.ignored, [], name);
    assert.equal(r.decision, expected, name);
  }
});

test('the renaming refuses principal tags, so it cannot collide with real ones', () => {
  assert.throws(() =>
    renamePolicy({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/team': 'x' } } }] }),
  );
});

test('a key policy that does not name the account root ignores an administrator\'s kms:*', async () => {
  const admin = `arn:aws:iam::${ACCOUNT}:role/admin`;
  const request = { principal: admin, action: 'kms:CreateGrant', resource: KEY, account: ACCOUNT, context: {} };
  const identity = [{ name: 'admin', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }] } }];
  const closed = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:Decrypt', Resource: '*' }] };
  const delegating = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:Create*', Resource: '*' }] };
  assert.equal((await evaluate(request, { identity, resource: closed })).decision, 'ImplicitlyDenied');
  assert.equal((await evaluate(request, { identity, resource: delegating })).decision, 'Allowed');
});
