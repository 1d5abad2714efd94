// One authorization, as AWS evaluates it, by @cloud-copilot/iam-simulate.
//
// The engine drops `kms:EncryptionContext:<key>` context values as unknown (0.1.173: its
// variable-key matcher only knows `/`-separated keys such as `aws:RequestTag/${TagKey}`), so a
// class-conditioned Decrypt would read as denied. We rename those keys, in every policy and in
// every request alike, to `aws:PrincipalTag/__kmsec__<key>` - a single-valued string key the
// engine does evaluate, with the same operators - and refuse any input that already uses
// principal tags, so the renaming cannot collide. test/engine.test.mjs shows the engine's own
// behaviour (the bug) and that the renamed evaluation gives AWS's answers.

import { runSimulation } from '@cloud-copilot/iam-simulate';

const EC_PREFIX = 'kms:encryptioncontext:';
const RENAMED = 'aws:PrincipalTag/__kmsec__';

function renameKey(key) {
  if (key.toLowerCase().startsWith('aws:principaltag/')) {
    throw new Error(`aws:PrincipalTag is reserved for the EncryptionContext workaround: ${key}`);
  }
  return key.toLowerCase().startsWith(EC_PREFIX) ? RENAMED + key.slice(EC_PREFIX.length) : key;
}

/** The policy with every `kms:EncryptionContext:<key>` condition key renamed. */
export function renamePolicy(policy) {
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  return {
    ...policy,
    Statement: statements.map((s) => {
      if (!s.Condition) return s;
      const condition = {};
      for (const [op, block] of Object.entries(s.Condition)) {
        condition[op] = Object.fromEntries(Object.entries(block).map(([k, v]) => [renameKey(k), v]));
      }
      return { ...s, Condition: condition };
    }),
  };
}

export function renameContext(context) {
  return Object.fromEntries(Object.entries(context).map(([k, v]) => [renameKey(k), v]));
}

/**
 * Evaluate one request.
 * @param {{principal: string, action: string, resource: string, account: string,
 *          context: Record<string, string|string[]>}} request
 * @param {{identity: {name: string, policy: object}[], resource?: object}} policies
 * @param {{rename?: boolean}} options (rename: false shows the engine's own behaviour)
 * @returns {Promise<{decision: string, ignored: string[], analysis: object}>}
 */
export async function evaluate(request, policies, { rename = true } = {}) {
  const policy = (p) => (rename ? renamePolicy(p) : p);
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: rename ? renameContext(request.context) : request.context,
    },
    identityPolicies: policies.identity.map(({ name, policy: p }) => ({ name, policy: policy(p) })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (policies.resource) simulation.resourcePolicy = policy(policies.resource);
  const r = await runSimulation(simulation, { simulationMode: 'Strict' });
  if (r.resultType === 'error') {
    throw new Error(`the engine refused ${request.action} on ${request.resource}: ${JSON.stringify(r.errors)}`);
  }
  if (r.resultType !== 'single') {
    throw new Error(`${request.action} on ${request.resource}: expected one resource, got ${r.resultType}`);
  }
  return {
    decision: r.result.analysis.result,
    ignored: r.result.ignoredContextKeys ?? [],
    analysis: r.result.analysis,
  };
}
