#!/usr/bin/env bash
# The test command: formatting, lints, the template lint, every test - unit tests and the
# integration tests against the local stack (moto on 127.0.0.1, started here if it is not up) -
# and then the policy checks (scripts/policy.sh): the AWS requests the tests made are recorded
# and evaluated against the template's IAM, key and queue policies, the DPP rules run on the
# template, and docs/DPP-EVIDENCE.md is regenerated.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

scripts/bootstrap.sh

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cfn-lint infra/template.yaml"
.local/venv/bin/cfn-lint --regions us-east-1 -- infra/template.yaml

echo "== local stack"
# One build for the tests and the local tools: same feature set, so `cargo test` reuses it.
cargo build --quiet --workspace --all-targets
started=0
if ! target/debug/orderseal-local queues >/dev/null 2>&1; then
  target/debug/orderseal-local up >/dev/null
  started=1
fi
cleanup() { if [ "$started" = 1 ]; then target/debug/orderseal-local down >/dev/null || true; fi; }
trap cleanup EXIT

echo "== cargo test (recording every AWS request for the IAM evaluation)"
export ORDERSEAL_RECORD_REQUESTS="$root/target/authz"
rm -rf "$ORDERSEAL_RECORD_REQUESTS" target/policy/tests.json
mkdir -p target/policy
ORDERSEAL_MOTO_URL="$(python3 -c 'import json;print(json.load(open(".local/stack.json"))["moto_url"])')" \
  cargo test --workspace 2>&1 | tee target/policy/cargo-test.log
passed="$(awk '/^test result: ok\./ {n += $4} END {print n + 0}' target/policy/cargo-test.log)"
printf '{"ok": true, "command": "cargo test --workspace", "summary": "%s tests passed"}\n' "$passed" \
  > target/policy/tests.json

echo "== policy checks"
scripts/policy.sh
