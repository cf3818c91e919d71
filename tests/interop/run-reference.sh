#!/usr/bin/env bash
# Runs the third-party x402 clients end to end against a facilitator:
#   FACILITATOR=reference (default): anvil (from the root toolchain) on a free loopback port -> MockUSDC deployed
#     and minted to a fresh agent -> reference-facilitator.mjs (the npm reference implementation);
#   FACILITATOR=clearing: `clearing dev` (anvil, MockUSDC and the Clearing contracts, a private PostgreSQL, the
#     facilitator with its batcher) -> a fresh agent minted from another dev account;
#   then the case's resource server -> its payer -> assertions (chain.mjs check; with Clearing also: the payment
#     response's transaction is a BatchSettler transaction).
# Usage: tests/interop/run-reference.sh [CASE|all]   (default all: v2 v1, plus v2-rust py-server py-client
#   conformance rust-client rust-client-express market market-purchase with Clearing)
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
  case "$c" in v1|v2|v2-rust|py-server|py-client|conformance|rust-client|rust-client-express|market|market-purchase|all) ;;
    *) echo "usage: $0 [v2|v1|v2-rust|py-server|py-client|conformance|rust-client|rust-client-express|market|market-purchase|all]" >&2; exit 2 ;; esac
done

FACILITATOR="${FACILITATOR:-reference}"
case "$FACILITATOR" in reference|clearing) ;; *) echo "FACILITATOR must be reference or clearing" >&2; exit 2 ;; esac
if [ "${cases[0]}" = all ]; then
  cases=(v2 v1)
  [ "$FACILITATOR" = clearing ] && cases+=(v2-rust py-server py-client conformance rust-client rust-client-express market
    market-purchase)
fi
case " ${cases[*]} " in *" market-purchase "*) [ "$FACILITATOR" = clearing ] ||
  { echo "market-purchase runs against Clearing's marketplace only: FACILITATOR=clearing" >&2; exit 2; } ;; esac
PRICE="${PRICE:-10000}"
MINT="${MINT:-5000000}"
# anvil's first two well-known dev accounts: the token deployer and the facilitator's gas-paying signer.
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
FACILITATOR_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
MINTER_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
STARTUP_TIMEOUT=30   # seconds for anvil or a server to announce itself
PAY_TIMEOUT=90       # seconds for the payer, whole exchange
CHORE_TIMEOUT=60     # seconds for a chain.mjs command or the token build
MARKET_WAIT=60       # market-purchase: seconds for each thing it waits for (a webhook, a job status, an anchor)
MARKET_TIMEOUT=300   # market-purchase: seconds for the whole of market-purchase.mjs

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
  local market_url="$1" token="$2" out="$3" escrow registry provider provider_key agent agent_key
  escrow="$(sed -nE 's/^ +Escrow +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
  registry="$(sed -nE 's/^ +AnchorRegistry +(0x[0-9a-fA-F]{40}).*/\1/p' "$out" | head -n1)"
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

  # The anchored record, checked by the CLI against the chain alone: leaf, proof, registry, root on chain.
  local verified rc=0
  verified="$(timeout --foreground "$CHORE_TIMEOUT" "$CLEARING_ROOT/target/debug/clearing" --config "$work/none.toml" \
    audit verify "$work/release-record.json" --rpc "$RPC_URL" --registry "$registry" 2>&1)" || rc=$?
  echo "clearing audit verify: $verified"
  if [ "$rc" != 0 ] || [[ "$verified" != OK:* ]]; then
    echo "clearing audit verify failed (exit $rc)" >&2
    return 1
  fi
  stop_all
}

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
if [[ " ${cases[*]} " =~ " "(py-server|py-client|conformance)" " ]]; then
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
