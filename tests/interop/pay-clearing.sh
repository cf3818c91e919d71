#!/usr/bin/env bash
# Pays a URL with Clearing's own x402 client, `clearing pay --json`, under the payer interface of pay-v2.mjs:
# AGENT_KEY (the payer's key, handed over as CLEARING_PAYER_KEY, the only way `clearing pay` takes a key),
# MAX_AMOUNT (atomic cap), the URL as the first argument; one JSON line with status, body and paymentResponse.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLEARING_PAYER_KEY="${AGENT_KEY:?AGENT_KEY is required}" exec "$root/target/debug/clearing" \
  --config /nonexistent/clearing.toml pay --json --max-amount "${MAX_AMOUNT:-1000000}" "${1:?usage: $0 URL}"
