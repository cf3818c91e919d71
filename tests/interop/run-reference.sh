#!/usr/bin/env bash
# Runs the third-party x402 clients end to end against a facilitator:
#   FACILITATOR=reference (default): anvil (from the root toolchain) on a free loopback port -> MockUSDC deployed
#     and minted to a fresh agent -> reference-facilitator.mjs (the npm reference implementation);
#   FACILITATOR=clearing: `clearing dev` (anvil, MockUSDC and the Clearing contracts, a private PostgreSQL, the
#     facilitator with its batcher) -> a fresh agent minted from another dev account;
#   then the case's resource server -> its payer -> assertions (chain.mjs check; with Clearing also: the payment
#     response's transaction is a BatchSettler transaction).
# Usage: tests/interop/run-reference.sh [CASE|all]   (default all: v2 v1, plus v2-rust py-server py-client
#   conformance rust-client rust-client-express market market-purchase py-market balance-deposit with Clearing)
#   v2: anvil --chain-id 31337, network eip155:31337, @x402/express + @x402/fetch 2.27
#   v1: anvil --chain-id 84532, network base-sepolia, x402-express + x402-fetch 1.2.0
#   v2-rust: as v2, but the resource server is Rust: crates/paywall/examples/weather.rs (clearing-paywall's axum
#     layer), built here with cargo; @x402/fetch 2.27 pays it
#   py-server: as v2, but the resource server is Python: python/resource_server_v2.py (Flask and the PyPI x402
#     2.25 middleware); @x402/fetch 2.27 pays it
#   py-client: the Rust resource server of v2-rust, paid by the PyPI x402 2.25 client (python/pay_v2.py)
#   conformance: x402-conformance 1.6.0 (PyPI), `x402conf live` on the facilitator's GET /supported and
#     `x402conf resource` on the Rust resource server's paid route (one unpaid GET), both --fail-on-error
#   rust-client: the Rust resource server of v2-rust, paid by `clearing pay --json` (clearing-client)
#   rust-client-express: the @x402/express 2.27 server of v2, paid by `clearing pay --json`
#   market: no resource server of the case's own: @x402/fetch 2.27 pays `POST /v1/register` of the marketplace that
#     `clearing dev` serves (paid in-process through its facilitator's queue to the fee recipient, anvil account 0)
#     and must get 201 with the new participant as the payer's wallet
#   market-purchase (Clearing only): market-purchase.mjs, a Node provider and a Node agent (fresh wallets), trade an
#     automated_service on that marketplace with @x402/fetch 2.27: register with a webhook URL on loopback (paid), list
#     the service, buy it (402, then a paid 201 whose funding transaction moved exactly the price from the agent to the
#     Escrow), job_dispatch verified with the npm `standardwebhooks` and an independent HMAC of the402's
#     X-Webhook-Signature, complete, release, claim (the provider's balance rises by exactly price minus the fee);
#     then `clearing audit verify` checks the release's anchored audit record against the chain. `clearing dev` runs
#     with [audit] anchor_every_records = 1 so that record is anchored within the case
#   py-market (Clearing only): a fresh agent wallet with no registration buys from that marketplace with the PyPI x402
#     2.25 client (python/pay_v2.py, METHOD=POST BODY={"brief":...} EXPECT_STATUS=201): the demo provider's data_api
#     and automated_service (seeded by `clearing dev`), found in the free catalog, each brief made from the service's
#     input_schema. Each purchase: 201 with the job, a successful PAYMENT-RESPONSE whose transaction (a call to the
#     Escrow) moved exactly the price from the agent to the Escrow, once. Then the agent reads the automated job
#     (GET /v1/jobs/{id}) with the same client until it is dispatched, each read an x402 payment of [market]
#     job_read_price to the fee recipient (no API key), checked the same way; the agent's balance fell by exactly the
#     two prices plus the reads
#   balance-deposit (Clearing only): balance-deposit.mjs, a fresh Node agent wallet registers (paid) and deposits
#     1.00 USDC into its prepaid balance with @x402/fetch 2.27 (POST /v1/balance/deposit: 402 to the BalanceVault,
#     then a paid 201 whose transaction moved exactly the amount from the agent to the vault, with Deposited), waits
#     for GET /v1/balance to show it confirmed, makes a balance credential and buys the demo data_api service 5 times
#     with X-BALANCE-AUTH through the same client (each an unpaid 201 paid_by balance; a retry of one Idempotency-Key
#     is a 200 naming the same purchase); spent and available to the unit, then every debit applied on chain
#     (Debited) and the vault's balance of the agent equal to available
# The Python cases use tests/interop/.venv, made on first use from python/requirements.txt (pinned, with hashes).
# Asserts, per case: HTTP 200 with the resource; the payer's token balance fell by exactly PRICE, once; the payee's
# rose by PRICE; the payment response names a mined transaction doing exactly that transfer. Every process it
# starts is stopped on exit (trap), whatever happens; every wait is bounded.
# Env (optional): PRICE (atomic, default 10000), MINT (atomic, default 5000000), SERVICE_PRICE (market-purchase: the
# service's price in USDC, default 0.50), INTEROP_KEEP_LOGS=1 keeps the work directory.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/script/lib.sh"
INTEROP="$CLEARING_ROOT/tests/interop"
cd "$CLEARING_ROOT"

# Each case runs in a child invocation (`run-reference.sh --case vN`) so that `set -e` holds inside it and its own
# exit trap stops its processes; the parent prepares the toolchain once and totals the results.
if [ "${1:-}" = --case ]; then
  mode=case; cases=("${2:?--case v1|v2}")
else
  mode=main; cases=("${1:-all}")
fi
for c in "${cases[@]}"; do
  case "$c" in v1|v2|v2-rust|py-server|py-client|conformance|rust-client|rust-client-express|market|market-purchase|py-market|balance-deposit|all) ;;
    *) echo "usage: $0 [v2|v1|v2-rust|py-server|py-client|conformance|rust-client|rust-client-express|market|market-purchase|py-market|balance-deposit|all]" >&2; exit 2 ;; esac
done

FACILITATOR="${FACILITATOR:-reference}"
case "$FACILITATOR" in reference|clearing) ;; *) echo "FACILITATOR must be reference or clearing" >&2; exit 2 ;; esac
if [ "${cases[0]}" = all ]; then
  cases=(v2 v1)
  [ "$FACILITATOR" = clearing ] && cases+=(v2-rust py-server py-client conformance rust-client rust-client-express market
    market-purchase py-market balance-deposit)
fi
for c in market-purchase py-market balance-deposit; do
  case " ${cases[*]} " in *" $c "*) [ "$FACILITATOR" = clearing ] ||
    { echo "$c runs against Clearing's marketplace only: FACILITATOR=clearing" >&2; exit 2; } ;; esac
done
PRICE="${PRICE:-10000}"
MINT="${MINT:-5000000}"
# anvil's first two well-known dev accounts: the token deployer and the facilitator's gas-paying signer.
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
FACILITATOR_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
MINTER_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
STARTUP_TIMEOUT=30   # seconds for anvil or a server to announce itself
PAY_TIMEOUT=90       # seconds for the payer, whole exchange
CHORE_TIMEOUT=60     # seconds for a chain.mjs command or the token build
MARKET_WAIT=60       # market-purchase, py-market, balance-deposit: seconds for each wait (a webhook, a job status,
                     # an anchor, a confirmed deposit, applied debits)
MARKET_TIMEOUT=300   # market-purchase, balance-deposit: seconds for the whole of the case's .mjs

# ---------------------------------------------------------------- processes

if [ "$mode" = main ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/clearing-interop.XXXXXX")"
  if [ "${INTEROP_KEEP_LOGS:-0}" = 1 ]; then at_exit 'echo "logs kept in $work" >&2'; else at_exit 'rm -rf "$work"'; fi
else
  work="$INTEROP_WORK/${cases[0]}"
  mkdir -p "$work"
fi
PIDS=()
stop_all() {
  local pid i
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
at_exit stop_all
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, stdout to $work/NAME.out, stderr to $work/NAME.err.
start() {
  local name="$1"; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  PIDS+=($!)
  LAST_PID=$!
}

# wait_for NAME PID REGEX: waits until $work/NAME.out matches REGEX (extended) or the process dies or time runs out.
wait_for() {
  local name="$1" pid="$2" regex="$3" deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ! grep -qE "$regex" "$work/$name.out" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before it was ready:" >&2; dump "$name"; return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$name not ready within ${STARTUP_TIMEOUT}s:" >&2; dump "$name"; return 1
    fi
    sleep 0.1
  done
}

# The port of a `{"ready":true,"port":N}` line.
ready_port() { sed -nE 's/^\{"ready":true,"port":([0-9]+).*/\1/p' "$work/$1.out" | head -n1; }

dump() {
  local f
  for f in "$work/$1.out" "$work/$1.err"; do
    [ -s "$f" ] && { echo "--- ${f##*/} (last 40 lines)" >&2; tail -n 40 "$f" >&2; }
  done
  return 0
}

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s.trim().split("\n").pop())[process.argv[1]];process.stdout.write(typeof v==="string"?v:JSON.stringify(v))})' "$1"; }
chore() { timeout --foreground "$CHORE_TIMEOUT" node "$INTEROP/chain.mjs" "$@"; }

# start_server CASE FACILITATOR_URL TOKEN PAY_TO: starts the case's resource server and waits for its ready line.
# vN runs resource-server-vN.mjs; v2-rust, py-client and conformance run the Rust example built in the toolchain
# step; py-server runs the Python one.
start_server() {
  local v="$1" facilitator_url="$2" token="$3" pay_to="$4" server
  case "$v" in
    v2-rust|py-client|conformance|rust-client) server=("$CLEARING_ROOT/target/debug/examples/weather") ;;
    rust-client-express) server=(node "$INTEROP/resource-server-v2.mjs") ;;
    py-server) server=("$PYTHON" "$INTEROP/python/resource_server_v2.py") ;;
    *) server=(node "$INTEROP/resource-server-$v.mjs") ;;
  esac
  start "server-$v" env PORT=0 FACILITATOR_URL="$facilitator_url" TOKEN_ADDRESS="$token" PAY_TO="$pay_to" PRICE="$PRICE" \
    TOKEN_NAME=USDC TOKEN_VERSION=2 RUST_LOG="${RUST_LOG:-info}" "${server[@]}"
  wait_for "server-$v" "$LAST_PID" '^\{"ready":true'
}

run_case() {
  local v="$1" chain_id=31337 network="eip155:31337"
  if [ "$v" = v1 ]; then chain_id=84532; network=base-sepolia; fi
  step "$v: chain id $chain_id, network $network, facilitator: $FACILITATOR"
  if [ "$FACILITATOR" = clearing ]; then run_clearing_case "$v" "$chain_id" "$network"; return; fi

  start "anvil-$v" anvil --host 127.0.0.1 --port 0 --chain-id "$chain_id"
  wait_for "anvil-$v" "$LAST_PID" '^Listening on 127\.0\.0\.1:[0-9]+'
  local rpc_port
  rpc_port="$(sed -nE 's/^Listening on 127\.0\.0\.1:([0-9]+).*/\1/p' "$work/anvil-$v.out" | head -n1)"
  export RPC_URL="http://127.0.0.1:$rpc_port" CHAIN_ID="$chain_id"

  DEPLOYER_KEY="$DEPLOYER_KEY" chore multicall3 >/dev/null   # as on Base; the reference's diagnostics use it

  local agent agent_key pay_to token
  chore new-key >"$work/agent.json"
  agent_key="$(json_field key <"$work/agent.json")"
  agent="$(json_field address <"$work/agent.json")"
  pay_to="$(chore new-key | json_field address)"
  token="$(DEPLOYER_KEY="$DEPLOYER_KEY" TOKEN_NAME=USDC chore deploy-token "$ARTIFACT" | tee "$work/deploy-$v.json" | json_field token)"
  DEPLOYER_KEY="$DEPLOYER_KEY" chore mint "$token" "$agent" "$MINT" >/dev/null
  echo "MockUSDC $token; agent $agent (no ETH) minted $MINT; payTo $pay_to; price $PRICE"

  start "facilitator-$v" env PORT=0 FACILITATOR_KEY="$FACILITATOR_KEY" node "$INTEROP/reference-facilitator.mjs"
  wait_for "facilitator-$v" "$LAST_PID" '^\{"ready":true' || return 1
  local facilitator_url="http://127.0.0.1:$(ready_port "facilitator-$v")"
  echo "reference facilitator $facilitator_url: $(json_field kinds < "$work/facilitator-$v.out")"

  pay_and_check "$v" "$network" "$facilitator_url" "$token" "$agent" "$agent_key" "$pay_to" "facilitator-$v" || return 1
  stop_all
}

# pay_and_check CASE NETWORK FACILITATOR_URL TOKEN AGENT AGENT_KEY PAY_TO FACILITATOR_LOG: starts the case's
# resource server, pays it with the case's client (pay-v1.mjs for v1, python/pay_v2.py for py-client, else
# pay-v2.mjs), and asserts the payment (chain.mjs check). The conformance case checks instead of paying.
pay_and_check() {
  local v="$1" network="$2" facilitator_url="$3" token="$4" agent="$5" agent_key="$6" pay_to="$7" log="$8"
  # The market case pays `clearing dev`'s own route: register the payer as a provider (201, the wallet its own).
  local url request=() expected=(EXPECTED_BODY="$EXPECTED_BODY")
  if [ "$v" = market ]; then
    url="$facilitator_url/v1/register"
    request=(METHOD=POST BODY='{"type":"provider","name":"Interop provider"}' EXPECT_STATUS=201)
    expected=(EXPECTED_STATUS=201
      EXPECTED_BODY_SUBSET="{\"type\":\"provider\",\"name\":\"Interop provider\",\"wallet\":\"$agent\",\"created\":true}")
  else
    start_server "$v" "$facilitator_url" "$token" "$pay_to" || return 1
    url="http://127.0.0.1:$(ready_port "server-$v")/weather"
  fi
  if [ "$v" = conformance ]; then conformance "$facilitator_url" "$url"; return; fi
  local payer
  case "$v" in
    v1) payer=(node "$INTEROP/pay-v1.mjs") ;;
    py-client) payer=("$PYTHON" "$INTEROP/python/pay_v2.py") ;;
    rust-client|rust-client-express) payer=("$INTEROP/pay-clearing.sh") ;;
    *) payer=(node "$INTEROP/pay-v2.mjs") ;;
  esac

  local agent_before pay_to_before
  agent_before="$(chore balance "$token" "$agent" | json_field balance)"
  pay_to_before="$(chore balance "$token" "$pay_to" | json_field balance)"

  echo "paying $url with ${payer[*]##*/}"
  if ! env AGENT_KEY="$agent_key" TOKEN_ADDRESS="$token" MAX_AMOUNT="$PRICE" PAY_TIMEOUT_MS=$((PAY_TIMEOUT * 1000)) \
      "${request[@]}" timeout --foreground "$((PAY_TIMEOUT + 5))" "${payer[@]}" "$url" \
      >"$work/pay-$v.out" 2>"$work/pay-$v.err"; then
    echo "${payer[*]##*/} failed:" >&2
    dump "pay-$v"; dump "server-$v"; dump "$log"
    return 1
  fi
  echo "payer: $(cat "$work/pay-$v.out")"

  if ! env TOKEN_ADDRESS="$token" AGENT="$agent" PAY_TO="$pay_to" PRICE="$PRICE" AGENT_BEFORE="$agent_before" \
      PAY_TO_BEFORE="$pay_to_before" NETWORK="$network" "${expected[@]}" \
      timeout --foreground "$CHORE_TIMEOUT" node "$INTEROP/chain.mjs" check "$work/pay-$v.out" \
      >"$work/check-$v.out" 2>"$work/check-$v.err"; then
    echo "assertions failed:" >&2
    dump "check-$v"; dump "$log"
    return 1
  fi
  echo "verdict: $(cat "$work/check-$v.out")"
}

# conformance FACILITATOR_URL PAID_URL: x402-conformance's read-only checks, `live` (S0-S4 on GET /supported) on the
# facilitator and `resource` (P1-P7 on one unpaid GET) on the paid route. Each check's verdict is printed; a failed
# error-severity check fails the case (--fail-on-error), and so does a run that checked nothing.
conformance() {
  local facilitator_url="$1" url="$2" mode target rc
  for mode in live resource; do
    if [ "$mode" = live ]; then target="$facilitator_url"; else target="$url"; fi
    rc=0
    timeout --foreground "$CHORE_TIMEOUT" "$PYTHON" -m x402conf "$mode" --fail-on-error "$target" \
      >"$work/conformance-$mode.json" 2>"$work/conformance-$mode.err" || rc=$?
    "$PYTHON" - "$work/conformance-$mode.json" "$mode" "$target" <<'PY' || rc=1
import json, sys
path, mode, target = sys.argv[1:]
try:
    runs = json.load(open(path))["results"]
except (OSError, ValueError, KeyError) as error:
    sys.exit(f"x402conf {mode}: no results ({error})")
checks = [c for r in runs for c in r.get("checks", [])]
for c in checks:
    verdict = "pass" if c["pass"] else ("FAIL" if c.get("severity", "error") == "error" else c.get("severity"))
    print(f"x402conf {mode} {target}: {verdict:7} {c['check']}")
    if not c["pass"]:
        print(f"    detail: {json.dumps(c.get('detail'))}")
sys.exit(0 if checks else f"x402conf {mode}: no checks ran")
PY
    if [ "$rc" != 0 ]; then
      echo "x402conf $mode failed (exit $rc):" >&2
      dump "conformance-$mode"
      return 1
    fi
  done
}

# The same case with `clearing dev` as chain, contracts, database and facilitator.
run_clearing_case() {
  local v="$1" chain_id="$2" network="$3"
  # `clearing dev` needs longer than a bare server: it deploys, mints and starts PostgreSQL.
  local STARTUP_TIMEOUT=120 config="$work/none.toml"
  if [ "$v" = market-purchase ]; then
    # The release's audit record is to be anchored within the case: anchor as soon as one record waits (the
    # default waits for 100 records or 60 s), and look every 250 ms.
    config="$work/clearing-$v.toml"
    printf '[audit]\nanchor_every_records = 1\npoll_ms = 250\n' >"$config"
  fi
  start "clearing-$v" "$CLEARING_ROOT/target/debug/clearing" --config "$config" dev --port 0 \
    --facilitator-port 0 --chain-id "$chain_id" --private-postgres --write-config "$work/dev-$v.toml"
  wait_for "clearing-$v" "$LAST_PID" '^Ready\.' || return 1
  local out="$work/clearing-$v.out"
  local rpc facilitator_url token settler
  rpc="$(sed -nE 's/^  chain +(http:[^ ]+) .*/\1/p' "$out" | head -n1)"
  facilitator_url="$(sed -nE 's/^  facilitator +(http:[^ ]+) .*/\1/p' "$out" | head -n1)"
  token="$(sed -nE 's/^ +USDC \(MockUSDC\) +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  settler="$(sed -nE 's/^ +BatchSettler +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  export RPC_URL="$rpc" CHAIN_ID="$chain_id"
  echo "clearing dev: rpc $rpc, facilitator $facilitator_url, MockUSDC $token, BatchSettler $settler"
  if [ "$v" = market-purchase ]; then market_purchase "$facilitator_url" "$token" "$out"; return; fi
  if [ "$v" = py-market ]; then py_market "$facilitator_url" "$token" "$out"; return; fi
  if [ "$v" = balance-deposit ]; then balance_deposit "$facilitator_url" "$token" "$out"; return; fi

  local agent agent_key pay_to
  chore new-key >"$work/agent.json"
  agent_key="$(json_field key <"$work/agent.json")"
  agent="$(json_field address <"$work/agent.json")"
  pay_to="$(chore new-key | json_field address)"
  # The market's paid routes pay the fee recipient (the Escrow's: anvil account 0 under `clearing dev`).
  [ "$v" = market ] && pay_to="$(sed -nE 's/^  relayer, operator and fee recipient: (0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  # Minted from anvil account 2: account 0 is Clearing's relayer, whose nonces the batcher owns.
  DEPLOYER_KEY="$MINTER_KEY" chore mint "$token" "$agent" "$MINT" >/dev/null
  echo "agent $agent (no ETH) minted $MINT; payTo $pay_to; price $PRICE"

  pay_and_check "$v" "$network" "$facilitator_url" "$token" "$agent" "$agent_key" "$pay_to" "clearing-$v" || return 1
  if [ "$v" = conformance ]; then stop_all; return; fi

  # The payment went through Clearing's batch: the transaction the client was told is a BatchSettler call.
  local tx to
  tx="$(json_field paymentResponse <"$work/pay-$v.out" | json_field transaction)"
  to="$(timeout "$CHORE_TIMEOUT" cast tx "$tx" to --rpc-url "$RPC_URL")"
  if [ "${to,,}" != "${settler,,}" ]; then
    echo "transaction $tx went to $to, not the BatchSettler $settler" >&2
    return 1
  fi
  echo "transaction $tx is a BatchSettler batch"
  stop_all
}

# market_purchase MARKET_URL TOKEN DEV_OUT: a Node provider and a Node agent, fresh wallets minted from anvil account
# 2, trade an automated_service on the marketplace of the `clearing dev` whose summary is DEV_OUT
# (market-purchase.mjs: register, list, buy, webhooks, complete, release, claim, and the release's anchored audit
# record); then `clearing audit verify` checks that record against the chain with no database.
market_purchase() {
  local market_url="$1" token="$2" out="$3" escrow registry settler provider provider_key agent agent_key
  escrow="$(sed -nE 's/^ +Escrow +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  registry="$(sed -nE 's/^ +AnchorRegistry +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  settler="$(sed -nE 's/^ +BatchSettler +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  chore new-key >"$work/provider.json"
  provider_key="$(json_field key <"$work/provider.json")"
  provider="$(json_field address <"$work/provider.json")"
  chore new-key >"$work/agent.json"
  agent_key="$(json_field key <"$work/agent.json")"
  agent="$(json_field address <"$work/agent.json")"
  DEPLOYER_KEY="$MINTER_KEY" chore mint "$token" "$provider" "$MINT" >/dev/null
  DEPLOYER_KEY="$MINTER_KEY" chore mint "$token" "$agent" "$MINT" >/dev/null
  echo "Escrow $escrow, AnchorRegistry $registry; provider $provider and agent $agent (no ETH) minted $MINT each"

  if ! env MARKET_URL="$market_url" TOKEN_ADDRESS="$token" ESCROW_ADDRESS="$escrow" PROVIDER_KEY="$provider_key" \
      AGENT_KEY="$agent_key" RECORD_FILE="$work/release-record.json" WAIT_MS=$((MARKET_WAIT * 1000)) \
      timeout --foreground "$MARKET_TIMEOUT" node "$INTEROP/market-purchase.mjs" \
      >"$work/market-purchase.out" 2>"$work/market-purchase.err"; then
    echo "market-purchase.mjs failed:" >&2
    dump market-purchase; dump "clearing-market-purchase"
    return 1
  fi
  cat "$work/market-purchase.err"
  echo "verdict: $(cat "$work/market-purchase.out")"

  # The anchored record, checked by the CLI against the chain alone: leaf, proof, registry, root on chain, and the
  # record's own log from the deployment's contracts.
  local verified rc=0
  verified="$(timeout --foreground "$CHORE_TIMEOUT" "$CLEARING_ROOT/target/debug/clearing" --config "$work/none.toml" \
    audit verify "$work/release-record.json" --rpc "$RPC_URL" --registry "$registry" --settler "$settler" \
    --escrow "$escrow" --token "$token" 2>&1)" || rc=$?
  echo "clearing audit verify: $verified"
  if [ "$rc" != 0 ] || [[ "$verified" != OK:* ]]; then
    echo "clearing audit verify failed (exit $rc)" >&2
    return 1
  fi
  stop_all
}

# balance_deposit MARKET_URL TOKEN DEV_OUT: a fresh agent wallet minted from anvil account 2 registers, fills its
# prepaid balance in the BalanceVault of the `clearing dev` whose summary is DEV_OUT with @x402/fetch, and buys the
# demo provider's data_api service from that balance with a balance credential (balance-deposit.mjs, which makes
# every assertion and prints the verdict).
balance_deposit() {
  local market_url="$1" token="$2" out="$3" vault demo agent agent_key
  vault="$(sed -nE 's/^ +BalanceVault +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  demo="$(sed -nE 's/.* as the demo provider \(wallet (0x[0-9a-fA-F]{40}),.*/\1/p' "$out" | head -n1)"
  if [ -z "$vault" ] || [ -z "$demo" ]; then
    echo "no BalanceVault or demo provider in clearing dev's summary" >&2
    dump "clearing-balance-deposit"
    return 1
  fi
  chore new-key >"$work/agent.json"
  agent_key="$(json_field key <"$work/agent.json")"
  agent="$(json_field address <"$work/agent.json")"
  DEPLOYER_KEY="$MINTER_KEY" chore mint "$token" "$agent" "$MINT" >/dev/null
  echo "BalanceVault $vault, demo provider $demo; agent $agent (no ETH) minted $MINT"

  if ! env MARKET_URL="$market_url" TOKEN_ADDRESS="$token" VAULT_ADDRESS="$vault" DEMO_PROVIDER="$demo" \
      AGENT_KEY="$agent_key" WAIT_MS=$((MARKET_WAIT * 1000)) \
      timeout --foreground "$MARKET_TIMEOUT" node "$INTEROP/balance-deposit.mjs" \
      >"$work/balance-deposit.out" 2>"$work/balance-deposit.err"; then
    echo "balance-deposit.mjs failed:" >&2
    dump balance-deposit; dump "clearing-balance-deposit"
    return 1
  fi
  cat "$work/balance-deposit.err"
  echo "verdict: $(cat "$work/balance-deposit.out")"
  stop_all
}

# py_market MARKET_URL TOKEN DEV_OUT: a fresh agent wallet, never registered, buys the demo provider's data_api and
# automated_service on the marketplace of the `clearing dev` whose summary is DEV_OUT, with the PyPI x402 client
# (python/pay_v2.py), then reads the automated job until it is dispatched, each read paid with x402 from the same
# wallet (`[market] job_read_price` to the fee recipient: the agent has no API key). Each payment is checked on chain
# (chain.mjs check): exactly its price, in one Transfer, from the agent to the Escrow (a purchase) or to the fee
# recipient (a read); at the end the agent's balance fell by exactly the sum, and the Escrow's rose by the two prices.
py_market() {
  local market_url="$1" token="$2" out="$3"
  local escrow settler fee_recipient demo read_price
  escrow="$(sed -nE 's/^ +Escrow +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  settler="$(sed -nE 's/^ +BatchSettler +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  fee_recipient="$(sed -nE 's/^  relayer, operator and fee recipient: (0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  demo="$(sed -nE 's/.* as the demo provider \(wallet (0x[0-9a-fA-F]{40}),.*/\1/p' "$out" | head -n1)"
  read_price="$(sed -nE 's/^job_read_price = "([0-9.]+)"$/\1/p' "$work/dev-py-market.toml" | head -n1)"
  if [ -z "$escrow" ] || [ -z "$settler" ] || [ -z "$fee_recipient" ] || [ -z "$demo" ] || [ -z "$read_price" ]; then
    echo "no Escrow, BatchSettler, fee recipient or demo provider in clearing dev's summary, or no job_read_price" \
      "in its config" >&2
    dump "clearing-py-market"
    return 1
  fi
  read_price="$(usdc_atomic "$read_price")"

  # py_pay reads agent, agent_key and token, and counts agent_transfers.
  local agent agent_key agent_transfers=0 agent_start escrow_start
  chore new-key >"$work/agent.json"
  agent_key="$(json_field key <"$work/agent.json")"
  agent="$(json_field address <"$work/agent.json")"
  DEPLOYER_KEY="$MINTER_KEY" chore mint "$token" "$agent" "$MINT" >/dev/null
  agent_start="$(chore balance "$token" "$agent" | json_field balance)"
  escrow_start="$(chore balance "$token" "$escrow" | json_field balance)"
  echo "Escrow $escrow, fee recipient $fee_recipient, demo provider $demo, job_read_price $read_price;" \
    "agent $agent (no ETH, no registration) minted $MINT"

  # 1-2. Each demo service from the free catalog, bought with a brief made from its input_schema.
  local type service id price brief subset job purchased=0 started
  local -A jobs=() ms=()
  for type in data_api automated_service; do
    started="$(now_ms)"
    service="$(demo_service "$market_url" "$type" "$demo")" || { dump "clearing-py-market"; return 1; }
    id="$(json_expr 'j["id"]' <<<"$service")"
    price="$(json_expr 'j["atomic"]' <<<"$service")"
    brief="$(json_expr 'j["brief"]' <<<"$service")"
    subset="$(json_expr '{"service_id": j["id"], "service_type": j["service_type"], "payer": sys.argv[2],
      "price": j["agent_price"]}' "$agent" <<<"$service")"
    echo "$type: service $id, $(json_expr 'j["agent_price"]' <<<"$service") USDC ($price), brief $brief"
    py_pay "purchase-$type" "$market_url/v1/services/$id/purchase" "$escrow" "$price" "$escrow" \
      METHOD=POST BODY="{\"brief\":$brief}" EXPECT_STATUS=201 EXPECTED_STATUS=201 EXPECTED_BODY_SUBSET="$subset" \
      || return 1
    job="$(purchased_job "$work/purchase-$type.out" "$type" "$escrow" "$brief")" || return 1
    jobs[$type]="$job"
    purchased=$((purchased + price))
    ms[purchase_$type]=$(( $(now_ms) - started ))
    echo "$type: job $job, $(json_expr 'j["body"]["status"]' <"$work/purchase-$type.out")"
  done

  # 3. The automated job, read until dispatched. The agent has no API key, so each read is an x402 payment of
  # job_read_price from the wallet that bought the job, to the fee recipient, through the batcher. Nothing free tells
  # when the indexer has confirmed the funding (the funding is mined before the 201 answers; `dispatched` waits for
  # the indexer and the reactor), so the agent polls as any agent would, a second apart, within MARKET_WAIT; each read
  # is checked as a purchase is, and the final balance counts every one.
  local reads=0 status deadline=$((SECONDS + MARKET_WAIT))
  job="${jobs[automated_service]}"
  started="$(now_ms)"
  while :; do
    reads=$((reads + 1))
    py_pay "read-$reads" "$market_url/v1/jobs/$job" "$fee_recipient" "$read_price" "$settler" \
      EXPECTED_BODY_SUBSET="{\"job_id\":\"$job\",\"service_type\":\"automated_service\",\"payer\":\"$agent\"}" \
      || return 1
    status="$(json_expr 'j["body"]["status"]' <"$work/read-$reads.out")"
    echo "read $reads: job $job is $status"
    [ "$status" = dispatched ] && break
    if [ "$status" != funding ]; then echo "job $job is $status, expected funding, then dispatched" >&2; return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "job $job not dispatched within ${MARKET_WAIT}s" >&2; dump "clearing-py-market"; return 1
    fi
    sleep 1
  done
  ms[reads_until_dispatched]=$(( $(now_ms) - started ))

  # 4. In all, the agent paid the two prices and each read, nothing else; the Escrow holds the two prices.
  local agent_end escrow_end spent verdict
  agent_end="$(chore balance "$token" "$agent" | json_field balance)"
  escrow_end="$(chore balance "$token" "$escrow" | json_field balance)"
  spent=$((purchased + reads * read_price))
  verdict="$("$PYTHON" -c '
import json, sys
(agent, data_job, automated_job, purchased, reads, read_price, spent, agent_start, agent_end, escrow_start,
 escrow_end, transfers, timings) = sys.argv[1:]
failures = []
if int(agent_start) - int(agent_end) != int(spent):
    failures.append(f"agent balance {agent_start} -> {agent_end}, expected -{spent} (purchases {purchased}, "
                    f"{reads} reads of {read_price})")
if int(escrow_end) - int(escrow_start) != int(purchased):
    failures.append(f"Escrow balance {escrow_start} -> {escrow_end}, expected +{purchased}")
if int(transfers) != 2 + int(reads):
    failures.append(f"{transfers} payments checked, expected {2 + int(reads)}")
print(json.dumps({"ok": not failures, "failures": failures, "agent": agent,
    "jobs": {"data_api": data_job, "automated_service": automated_job}, "purchased": purchased,
    "reads": int(reads), "read_price": read_price, "spent": spent,
    "agent_balance": {"before": agent_start, "after": agent_end},
    "escrow_balance": {"before": escrow_start, "after": escrow_end},
    "timings_ms": {k: int(v) for k, v in (t.split("=") for t in timings.split())}}, separators=(",", ":")))
' "$agent" "${jobs[data_api]}" "$job" "$purchased" "$reads" "$read_price" "$spent" "$agent_start" "$agent_end" \
    "$escrow_start" "$escrow_end" "$agent_transfers" "$(for k in "${!ms[@]}"; do echo "$k=${ms[$k]}"; done)")"
  echo "verdict: $verdict"
  [ "$(json_field ok <<<"$verdict")" = true ] || return 1
  stop_all
}

# py_pay NAME URL PAY_TO PRICE TX_TO [VAR=VALUE...]: the agent (agent, agent_key and token of the caller) pays URL
# with python/pay_v2.py, its cap per payment PRICE; then chain.mjs check asserts the answer (EXPECTED_STATUS,
# EXPECTED_BODY_SUBSET among the VARs), a successful payment response, and that this payment, the agent's
# agent_transfers+1st, moved exactly PRICE from the agent to PAY_TO in one Transfer, in a transaction sent to TX_TO.
# The VARs go to both (METHOD, BODY and EXPECT_STATUS are the payer's).
py_pay() {
  local name="$1" url="$2" pay_to="$3" price="$4" tx_to="$5"; shift 5
  local agent_before pay_to_before tx to
  agent_before="$(chore balance "$token" "$agent" | json_field balance)"
  pay_to_before="$(chore balance "$token" "$pay_to" | json_field balance)"
  if ! env AGENT_KEY="$agent_key" TOKEN_ADDRESS="$token" MAX_AMOUNT="$price" PAY_TIMEOUT_MS=$((PAY_TIMEOUT * 1000)) \
      "$@" timeout --foreground "$((PAY_TIMEOUT + 5))" "$PYTHON" "$INTEROP/python/pay_v2.py" "$url" \
      >"$work/$name.out" 2>"$work/$name.err"; then
    echo "pay_v2.py ($name) failed:" >&2
    dump "$name"; dump "clearing-py-market"
    return 1
  fi
  if ! env TOKEN_ADDRESS="$token" AGENT="$agent" PAY_TO="$pay_to" PRICE="$price" AGENT_BEFORE="$agent_before" \
      PAY_TO_BEFORE="$pay_to_before" NETWORK="eip155:$CHAIN_ID" PAYER_EARLIER_TRANSFERS="$agent_transfers" "$@" \
      timeout --foreground "$CHORE_TIMEOUT" node "$INTEROP/chain.mjs" check "$work/$name.out" \
      >"$work/check-$name.out" 2>"$work/check-$name.err"; then
    echo "assertions failed ($name):" >&2
    dump "$name"; dump "check-$name"; dump "clearing-py-market"
    return 1
  fi
  agent_transfers=$((agent_transfers + 1))
  tx="$(json_field paymentResponse <"$work/$name.out" | json_field transaction)"
  to="$(timeout "$CHORE_TIMEOUT" cast tx "$tx" to --rpc-url "$RPC_URL")"
  if [ "${to,,}" != "${tx_to,,}" ]; then
    echo "$name: transaction $tx went to $to, not $tx_to" >&2
    return 1
  fi
  echo "$name: $price from the agent to $pay_to in $tx (to $to)"
}

# demo_service MARKET_URL TYPE DEMO_WALLET: the demo provider's one service of TYPE, from the free catalog
# (GET /v1/services/catalog?service_type=TYPE&provider=DEMO_WALLET) and its detail (GET /v1/services/{id}), as one
# JSON line {id, service_type, agent_price, atomic, brief}, brief an instance of its input_schema.
demo_service() {
  timeout --foreground "$CHORE_TIMEOUT" "$PYTHON" - "$@" <<'PY'
import json, sys, urllib.request
from decimal import Decimal

market, kind, demo = sys.argv[1:]

def get(path):
    with urllib.request.urlopen(market + path, timeout=10) as response:
        return json.load(response)

def instance(schema, where):
    """A value valid for the plain JSON schema the demo services use (objects' required fields, scalars, enums)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: instance(properties.get(key, {}), f"{where}.{key}") for key in schema.get("required", [])}
    if kind == "string":
        return "Clearing interop: bought with the PyPI x402 client".ljust(schema.get("minLength", 0), ".")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    sys.exit(f"input_schema{where}: no brief for {json.dumps(schema)}")

page = get(f"/v1/services/catalog?service_type={kind}&provider={demo}")
found = [s for s in page["services"] if s["service_type"] == kind]
if len(found) != 1:
    sys.exit(f"the catalog lists {len(found)} {kind} services of the demo provider {demo}, expected 1: {page}")
listed = found[0]
detail = get(f"/v1/services/{listed['id']}")
if detail.get("status") != "active" or detail.get("pricing_model") != "fixed" or \
        detail.get("agent_price") != listed["agent_price"]:
    sys.exit(f"service {listed['id']}: listed {listed}, detail {detail}")
atomic = Decimal(detail["agent_price"]).scaleb(6)
if atomic != atomic.to_integral_value() or atomic <= 0:
    sys.exit(f"service {listed['id']}: agent_price {detail['agent_price']} is no USDC amount")
brief = instance(detail.get("input_schema") or {"type": "object"}, "")
print(json.dumps({"id": detail["id"], "service_type": kind, "agent_price": detail["agent_price"],
                  "atomic": str(int(atomic)), "brief": brief}, separators=(",", ":")))
PY
}

# purchased_job PAY_OUT TYPE ESCROW BRIEF: checks the job a purchase answered (pay_v2.py's line in PAY_OUT): an id, a
# status its TYPE allows right after payment, BRIEF as sent, the Escrow, this payment's funding transaction, an
# escrow job for an automated_service and none for a data_api; prints its id.
purchased_job() {
  "$PYTHON" - "$@" <<'PY'
import json, re, sys

path, kind, escrow, brief = sys.argv[1:]
line = json.loads(open(path).read().strip().split("\n")[-1])
job, tx = line["body"], line["paymentResponse"]["transaction"]
allowed = {"data_api": ("funding", "verified"), "automated_service": ("funding", "dispatched")}[kind]
view = job.get("escrow") or {}
problems = [
    message
    for failed, message in [
        (not re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", str(job.get("job_id"))),
         f"job_id {job.get('job_id')!r}"),
        (job.get("status") not in allowed, f"status {job.get('status')!r}, expected one of {allowed}"),
        (job.get("brief") != json.loads(brief), f"brief {json.dumps(job.get('brief'))}, sent {brief}"),
        (str(view.get("contract")).lower() != escrow.lower(), f"escrow.contract {view.get('contract')}, not {escrow}"),
        (view.get("funding_tx") not in (None, tx), f"escrow.funding_tx {view.get('funding_tx')}, not {tx}"),
        ((view.get("escrow_job_id") is None) != (kind == "data_api"),
         f"escrow.escrow_job_id {view.get('escrow_job_id')} for a {kind}"),
    ]
    if failed
]
if problems:
    sys.exit(f"the {kind} purchase answered: " + "; ".join(problems))
print(job["job_id"])
PY
}

# json_expr EXPR [ARG...]: EXPR, a Python expression over j (the last JSON line of stdin) and sys.argv[2:], printed
# (a string as it is, anything else as JSON).
json_expr() {
  "$PYTHON" -c '
import json, sys
j = json.loads(sys.stdin.read().strip().split("\n")[-1])
value = eval(sys.argv[1])
print(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
' "$@"
}

now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
usdc_atomic() { "$PYTHON" -c 'import decimal, sys; print(int(decimal.Decimal(sys.argv[1]).scaleb(6)))' "$1"; }

# ---------------------------------------------------------------- one case

if [ "$mode" = case ]; then
  run_case "${cases[0]}"
  exit 0
fi

# ---------------------------------------------------------------- toolchain

ensure_node_modules
stamp="$INTEROP/node_modules/.clearing-lock.sha256"
want="$(sha256sum "$INTEROP/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  step "npm ci (tests/interop: @x402/* 2.27.0, x402-express/x402-fetch 1.2.0)"
  (cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

step "forge build MockUSDC and its proxy (into $work)"
timeout "$CHORE_TIMEOUT" forge build contracts/test/mocks/MockUSDCProxy.sol --out "$work/out" --cache-path "$work/cache" >"$work/forge.log" 2>&1 \
  || { cat "$work/forge.log" >&2; exit 1; }
export ARTIFACT="$work/out/MockUSDCProxy.sol/MockUSDCProxy.json" INTEROP_WORK="$work"
export EXPECTED_BODY="$(cd "$INTEROP" && node --input-type=module -e 'import {WEATHER} from "./lib.mjs"; process.stdout.write(JSON.stringify(WEATHER))')"

# The Python cases' interpreter: a project-local venv with the pinned packages of python/requirements.txt,
# installed from PyPI with --require-hashes and made again whenever that file (or the python3 it was made with)
# changes, as node_modules is for package-lock.json.
if [[ " ${cases[*]} " =~ " "(py-server|py-client|conformance|py-market)" " ]]; then
  venv="$INTEROP/.venv"
  requirements="$INTEROP/python/requirements.txt"
  want="$( { sha256sum "$requirements" | cut -d' ' -f1; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.clearing-requirements.sha256" 2>/dev/null)" != "$want" ]; then
    step "python3 -m venv tests/interop/.venv; pip install --require-hashes (x402 2.25.0, x402-conformance 1.6.0)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --no-input --disable-pip-version-check --require-hashes \
      -r "$requirements"
    echo "$want" > "$venv/.clearing-requirements.sha256"
  fi
  export PYTHON="$venv/bin/python" PYTHONDONTWRITEBYTECODE=1
fi

if [[ " ${cases[*]} " =~ " "(v2-rust|py-client|conformance|rust-client)" " ]]; then
  step "cargo build -p clearing-paywall --example weather (the Rust resource server)"
  cargo build --quiet -p clearing-paywall --example weather
fi

# A case runs in its own session and process group (setsid), so that however this script ends (error, Ctrl-C,
# SIGTERM from a driver) the group is signalled as a whole: the case's shell, anvil, the servers and the payer.
CASE_PGID=""
stop_case() {
  [ -n "$CASE_PGID" ] || return 0
  kill -TERM -- "-$CASE_PGID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$CASE_PGID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$CASE_PGID" 2>/dev/null || true
  wait "$CASE_PGID" 2>/dev/null || true
  CASE_PGID=""
}
at_exit stop_case

passed=0
failed=0
for v in "${cases[@]}"; do
  started=$SECONDS
  setsid bash "${BASH_SOURCE[0]}" --case "$v" &
  CASE_PGID=$!
  if wait "$CASE_PGID"; then
    passed=$((passed + 1)); echo "$v: PASS ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1)); echo "$v: FAIL ($((SECONDS - started)) s)"
  fi
  stop_case   # nothing should be left; make sure
done
echo
echo "interop ($FACILITATOR facilitator): $passed passed, $failed failed"
[ "$failed" = 0 ]
