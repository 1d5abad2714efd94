#!/usr/bin/env bash
# The run command: start the local stack, feed one ORDER_CHANGE notification per sandbox order
# of both demo sellers (plus a few other notification types and a malformed one), run ingest until the queue is
# drained, and print every order with its status and sealed PII classes; then run the retention
# sweep once, audit the expiry index and print the retention report. The stack stays up so you can `send` your own
# notifications; `target/debug/orderseal-local down` stops it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh
cargo build --quiet -p orderseal-local -p spapi-sandbox -p orderseal-ops
target/debug/orderseal-local demo
# One notification was lost on purpose. The reconcile run (ingest on a 15-minute schedule) finds
# the order with searchOrders and stores it through the notification's own path (a getOrder for
# its buyer data, sealed, a shipment request); dispatch then ships it. A second run finds
# nothing to do: every order is current.
target/debug/orderseal-local reconcile
target/debug/orderseal-local drain
target/debug/orderseal-local reconcile
# The hourly retention function, run once now: erases whatever PII is already past its expiry.
target/debug/orderseal-local sweep
# The operator's view of the demo's orders: sealed PII the expiry index misses (target 0; exits 3
# otherwise), then counts by state, overdue records (target 0), holds, the policy.
eval "$(target/debug/orderseal-local env)"
target/debug/orderseal retention audit
target/debug/orderseal retention report --check
# The sellers served here (the demo's two, added at provisioning like `orderseal seller add`).
target/debug/orderseal seller list
# Amazon's side of notifications: the app's destination for the queue (once) and an ORDER_CHANGE
# subscription per seller, made by the subscriptions function with the sellers' own tokens
# (through the API, signed as the operator, who never reads a token). Run twice: the second run
# finds Amazon's 409s and reports what exists. Then the doctor checks the path end to end.
target/debug/orderseal subscribe
target/debug/orderseal subscribe
target/debug/orderseal subscriptions
target/debug/orderseal doctor
# What ingest could not process waits in the notifications DLQ with its reason (the demo's
# malformed notification); `orderseal dlq replay notifications` would send it back once fixed.
target/debug/orderseal dlq list notifications
# A fraud rule held an order for review: nothing was bought for it. The fraud reviewer looks
# at its address (fraud_review: shipping only); its trail shows the hold and the lookup. (Release
# it with `orderseal fraud release <order> --purpose fraud_review`, then `orderseal-local drain`.)
held="$(target/debug/orderseal-local orders --held --seller "$ORDERSEAL_SELLER" | head -n 1)"
if [ -z "$held" ]; then
  echo "the demo's fraud rules held no order" >&2
  exit 1
fi
eval "$(target/debug/orderseal-local env --as fraud_review)"
target/debug/orderseal order show "$held" --purpose fraud_review
eval "$(target/debug/orderseal-local env)"
target/debug/orderseal order audit "$held"
# People's side: a customer-service agent looks one order up for that purpose through the
# pii-access API (SigV4-signed with the agent's own credentials; only shipping and contact come
# back), then the operator sees the lookup in the order's audit trail and in the access review.
order="$(target/debug/orderseal-local orders --ids-with-pii --seller "$ORDERSEAL_SELLER" | grep -vx "$held" | head -n 1)"
eval "$(target/debug/orderseal-local env --as customer_service)"
target/debug/orderseal order show "$order" --purpose customer_service
eval "$(target/debug/orderseal-local env)"
target/debug/orderseal order audit "$order"
target/debug/orderseal audit report --since 1d
# The audit log group (CloudWatch Logs on AWS; the table's stream through the audit-log function
# here): the fraud hold and the lookups above, one line each, with who, why and which classes.
target/debug/orderseal-local audit-log --order "$held"
target/debug/orderseal-local audit-log --order "$order"
