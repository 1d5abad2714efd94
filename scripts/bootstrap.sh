#!/usr/bin/env bash
# Installs what the local stack and the tests need that cargo does not: a Python venv with the
# pinned moto server and cfn-lint. Idempotent: reinstalls only when the requirements change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.local/venv"
req="$root/infra/local/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: installing the local emulator into .local/venv (pinned, ~30 s)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
