#!/usr/bin/env node
// Evaluate every AWS request the tests recorded against the SAM-transformed template.
//
//   node evaluate.mjs --template T.json --records DIR --settings deployment.json [--report R.json]
//
// Fails (exit 1) when a request is denied, a grant is not needed by any request and not
// justified in place, a fact rule is broken, or a negative case is allowed.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

import { Deployment } from './lib/template.mjs';
import { Policies } from './lib/policies.mjs';
import { Requests, loadRecordings } from './lib/requests.mjs';
import { checkAllowed, checkUnused, checkFacts, checkCases } from './lib/check.mjs';
import { cases, adminLike, FACT_RULES } from './cases.mjs';

const { values: args } = parseArgs({
  options: {
    template: { type: 'string' },
    records: { type: 'string' },
    settings: { type: 'string' },
    report: { type: 'string' },
  },
});
for (const k of ['template', 'records', 'settings']) {
  if (!args[k]) {
    console.error(`--${k} is required`);
    process.exit(2);
  }
}

const cfn = JSON.parse(readFileSync(args.template, 'utf8'));
const d = new Deployment(cfn, JSON.parse(readFileSync(args.settings, 'utf8')));
const policies = new Policies(d);
const requests = new Requests(d);
requests.addRecorded(loadRecordings(args.records));
requests.addPlatform();
// Requests the code refused itself because IAM must refuse them too (the pii-access function
// refusing a caller without the purpose): recorded so that the policies are shown to agree.
const refusedByCode = requests.list().filter((r) => r.facts?.Expect === 'Denied');
const all = requests.list().filter((r) => r.facts?.Expect !== 'Denied');

const byOrigin = {};
for (const r of all) byOrigin[r.origin] = (byOrigin[r.origin] ?? 0) + 1;
console.log(`requests: ${all.length} distinct (${Object.entries(byOrigin).map(([k, v]) => `${v} ${k}`).join(', ')})`);

const { allowed, denied } = await checkAllowed(policies, all);
const { unused, needed } = await checkUnused(policies, allowed);
const facts = checkFacts(all, FACT_RULES);
const admin = adminLike(d);
const recordedCases = refusedByCode.map((r) => ({ name: `recorded, refused by the code, so IAM must refuse it: ${r.principalId} ${r.action} ${r.resource}`, principal: r.principal, action: r.action, resource: r.resource, account: r.account, context: r.context, expect: 'Denied' }));
const negative = await checkCases(policies, [...cases(d), ...recordedCases], new Map([[admin.arn, admin.identity]]));

const describe = (r) => `${r.principalId ?? r.principal} ${r.action} ${r.resource}${r.via ? ` (${r.origin}: ${r.via})` : ''}`;
const grantName = (g) =>
  `${g.owner} ${g.sid}: ${g.part === 'Action' ? g.value : g.part === 'Resource' ? `Resource ${g.value}` : `${g.conditionKey} = ${g.value}`}`;
let failed = false;
const section = (title, items, show) => {
  console.log(`${title}: ${items.length}`);
  for (const x of items) console.log(`  - ${show(x)}`);
};
for (const p of requests.problems) {
  console.log(`RECORDING: ${p}`);
  failed = true;
}
// Requests that differ only in item keys or context values are one line, with a count.
const grouped = (items, key) => {
  const m = new Map();
  for (const x of items) {
    const k = key(x);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].map(([k, n]) => (n > 1 ? `${k} (${n} requests)` : k));
};
section('DENIED requests', grouped(denied, (x) => `${describe(x.request)} -> ${x.decision} by ${x.blockedBy?.join('+') || 'no allow'}`), (x) => x);
section('UNUSED grants (no request needs them, none justified)', unused, (x) => grantName(x.grant) + (x.note ? ` - ${x.note}` : ''));
section('FACT violations', facts, (x) => x);
section('NEGATIVE cases failing', negative.failures, (x) => `${x.name}: expected ${x.expect}, got ${x.decision}`);
console.log(`grants: ${needed.length} needed (${needed.filter((n) => n.justification).length} of them justified, not recorded); negative cases: ${negative.results.length}`);
failed ||= denied.length > 0 || unused.length > 0 || facts.length > 0 || negative.failures.length > 0;

if (args.report) {
  mkdirSync(dirname(args.report), { recursive: true });
  writeFileSync(
    args.report,
    JSON.stringify(
      {
        ok: !failed,
        requests: byOrigin,
        principals: [...new Set(all.map((r) => r.principalId ?? r.principal))].sort(),
        denied: denied.map((x) => ({ request: describe(x.request), decision: x.decision })),
        unused: unused.map((x) => grantName(x.grant)),
        facts,
        grants: needed.map((n) => ({ grant: grantName(n.grant), requestsNeedingIt: n.lost, justification: n.justification, example: n.example && describe(n.example) })),
        negative: negative.results,
        problems: requests.problems,
      },
      null,
      2,
    ),
  );
}
console.log(failed ? 'IAM evaluation: FAILED' : 'IAM evaluation: passed');
process.exit(failed ? 1 : 0);
