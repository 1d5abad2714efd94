// The checks over a deployment's policies:
// 1. every request (recorded, implied, platform) is allowed;
// 2. every grant is needed: removing it denies some request - or it is justified in place
//    (`Metadata.orderseal.UnrecordedGrants.<Sid>` of the resource that holds it);
// 3. facts IAM cannot see hold (no role but ingest has a failed write return the whole order
//    item, sealed blobs included);
// 4. the negative cases are denied (and the positive controls among them allowed).

import { evaluate } from './engine.mjs';
import { SP_API_PRINCIPAL } from './requests.mjs';

const ALLOW_ALL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

function policiesFor(policies, request, extraIdentity) {
  const p = policies.for(request);
  if (request.principal === SP_API_PRINCIPAL) {
    // Amazon's own side of the cross-account call is not ours to prove: allow it all there.
    p.identity = [{ name: 'amazon-side', policy: ALLOW_ALL }];
  }
  if (extraIdentity?.has(request.principal)) p.identity = extraIdentity.get(request.principal);
  return p;
}

async function decide(policies, request, extraIdentity) {
  const r = await evaluate(request, policiesFor(policies, request, extraIdentity));
  if (r.ignored.length) {
    throw new Error(`${request.action} on ${request.resource}: the engine ignored context keys ${r.ignored.join(', ')}`);
  }
  return r;
}

export async function checkAllowed(policies, requests) {
  const denied = [];
  const allowed = [];
  for (const req of requests) {
    const r = await decide(policies, req);
    if (r.decision === 'Allowed') allowed.push(req);
    else denied.push({ request: req, decision: r.decision, blockedBy: r.analysis.blockedBy });
  }
  return { allowed, denied };
}

export async function checkUnused(policies, allowed) {
  const unused = [];
  const needed = [];
  // A justified statement must still have something no request needs, or it is stale.
  const justifiedUse = new Map();
  for (const grant of policies.grants()) {
    const relevant = allowed.filter((req) => policies.governs(grant, req));
    const reduced = policies.without(grant);
    let lost = 0;
    let example;
    for (const req of relevant) {
      const r = await decide(reduced, req);
      if (r.decision !== 'Allowed') {
        lost += 1;
        example ??= req;
      }
    }
    const justification = policies.justification(grant);
    if (justification) {
      const key = `${grant.owner} ${grant.sid}`;
      justifiedUse.set(key, (justifiedUse.get(key) ?? false) || lost === 0);
    }
    if (lost === 0) {
      if (justification) needed.push({ grant, lost, justification });
      else unused.push({ grant });
    } else {
      needed.push({ grant, lost, example });
    }
  }
  for (const [key, hasUnrecorded] of justifiedUse) {
    if (!hasUnrecorded) {
      unused.push({ grant: { owner: key, sid: '', part: 'Action', value: '(all of it)' }, note: 'justified as unrecorded, but recorded requests need all of it: drop the justification' });
    }
  }
  return { unused, needed };
}

/** Facts IAM has no condition key for. */
export function checkFacts(requests, rules) {
  const violations = [];
  for (const req of requests) {
    if (req.origin !== 'recorded') continue;
    const rvoccf = req.facts?.ReturnValuesOnConditionCheckFailure;
    const item = req.item ?? '';
    for (const rule of rules) {
      if (!item.startsWith(rule.itemPrefix)) continue;
      if (rule.mayReadWholeItem.includes(req.principalId)) continue;
      if (rvoccf && rvoccf !== 'NONE') {
        violations.push(`${req.principalId} ${req.via} on ${rule.itemPrefix} items asks a failed condition to return ${rvoccf}: the whole item, sealed PII included, comes back`);
      }
    }
  }
  return [...new Set(violations)];
}

/**
 * @param cases [{name, principal, action, resource, context, expect}] with `principal` and
 *   `resource` already in the deployment's ARNs
 * @param extraIdentity principal ARN → identity policies of principals that are not roles of
 *   the template (e.g. an administrator-like role)
 */
export async function checkCases(policies, cases, extraIdentity) {
  const failures = [];
  const results = [];
  for (const c of cases) {
    if (c.principal.startsWith('missing:')) {
      failures.push({ name: c.name, expect: c.expect, decision: `no ${c.principal.slice(8)} in the template` });
      results.push({ name: c.name, expect: c.expect, decision: 'missing principal', ok: false });
      continue;
    }
    const r = await decide(policies, c, extraIdentity);
    const ok = c.expect === 'Allowed' ? r.decision === 'Allowed' : r.decision !== 'Allowed';
    results.push({ name: c.name, expect: c.expect, decision: r.decision, ok });
    if (!ok) failures.push({ name: c.name, expect: c.expect, decision: r.decision });
  }
  return { results, failures };
}
