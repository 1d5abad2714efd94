// The evidence generator refuses to present a control whose proof did not hold.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, '..', 'evidence.mjs');

function run(control, results, tests = { ok: true, command: 'cargo test' }) {
  const dir = mkdtempSync(join(tmpdir(), 'orderseal-evidence-'));
  writeFileSync(join(dir, 'controls.json'), JSON.stringify({ controls: [control], organisational: [], open: [] }));
  writeFileSync(join(dir, 'results.jsonl'), results.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(dir, 'tests.json'), JSON.stringify(tests));
  const out = join(dir, 'EVIDENCE.md');
  const p = spawnSync(process.execPath, [script, '--controls', join(dir, 'controls.json'), '--results', join(dir, 'results.jsonl'), '--tests', join(dir, 'tests.json'), '--out', out], { encoding: 'utf8' });
  return { status: p.status, stderr: p.stderr, doc: readFileSync(out, 'utf8') };
}

const control = (extra) => ({ id: 'c', dpp: '1.5', control: 'TLS only', implementation: ['x'], checks: ['guard:tls_only'], ...extra });
const passed = { check: 'guard:tls_only', ok: true, exit: 0, seconds: 0, tail: [] };

test('a control whose checks passed is presented', () => {
  const r = run(control(), [passed]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.doc, /`guard:tls_only` pass/);
});

test('a failed check fails the run and shows as FAIL', () => {
  const r = run(control(), [{ ...passed, ok: false, exit: 19 }]);
  assert.equal(r.status, 1);
  assert.match(r.doc, /`guard:tls_only` FAIL/);
  assert.match(r.stderr, /check guard:tls_only failed/);
});

test('a check that did not run fails the run', () => {
  const r = run(control(), []);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /was not run/);
});

test('a named test that does not exist fails the run', () => {
  const r = run(control({ tests: ['tests/tests/template.rs::no_such_test'] }), [passed]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does not exist/);
});

test('a named test counts only if the test run passed', () => {
  const ok = run(control({ tests: ['tests/tests/template.rs::ingest_quarantines_into_the_notifications_dlq'] }), [passed]);
  assert.equal(ok.status, 0, ok.stderr);
  const failedRun = run(control({ tests: ['tests/tests/template.rs::ingest_quarantines_into_the_notifications_dlq'] }), [passed], { ok: false, command: 'cargo test' });
  assert.equal(failedRun.status, 1);
});
