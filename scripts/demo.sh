#!/usr/bin/env bash
# The run command: start the local stack, feed one ORDER_CHANGE notification per sandbox order
# (plus a few other notification types and a malformed one), run ingest until the queue is
# drained, and print every order with its status and sealed PII classes. The stack stays up so
# you can `send` your own notifications; `target/debug/orderseal-local down` stops it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
cargo build --quiet -p orderseal-local -p spapi-sandbox
target/debug/orderseal-local demo
