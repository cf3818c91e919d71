// The `balance-deposit` interop case, after `clearing dev` is up: a Node agent (a fresh wallet) fills its prepaid
// balance in Clearing's BalanceVault with the stock npm client and then buys a data_api service from that balance,
// with no signature per call. It follows crates/market/tests/it/balances.rs (the same flow with the Rust client):
//
//  1. the agent registers (POST /v1/register, paid with @x402/fetch 2.27) and keeps its API key;
//  2. it finds the demo provider's data_api service in the free catalog (GET /v1/services/catalog, /v1/services/{id});
//  3. it deposits DEPOSIT USDC: an unpaid POST /v1/balance/deposit {"amount": DEPOSIT} is a 402 whose requirement is
//     exactly that amount to the BalanceVault; then wrapFetchWithPayment sees 402, pays, and gets 201 naming the
//     deposit; its PAYMENT-RESPONSE transaction is a call to the vault whose only Transfer out of the agent is the
//     amount to the vault, with Deposited(token, agent, nonce, amount);
//  4. it polls GET /v1/balance (X-API-Key) until the indexer has confirmed the deposit: deposited and available equal
//     the amount; the vault's balanceOf(token, agent) says the same;
//  5. it makes a balance credential (POST /v1/balance/credentials: capped per request at the price, scoped to the
//     service) and buys the service PURCHASES times with X-BALANCE-AUTH and an Idempotency-Key, through the same
//     wrapFetchWithPayment client: each is a 201 `paid_by: balance` with the price, the fee and the parties, with no
//     402, no payment header and no PAYMENT-RESPONSE; a retry with one of those keys is a 200 naming the same
//     purchase and pays nothing more;
//  6. GET /v1/balance: spent is PURCHASES × price and available the deposit minus that, to the unit;
//  7. it polls GET /v1/balance/history until the vault has applied every debit (status `applied`, a transaction);
//     each transaction emitted Debited(id, token, agent, provider, price, fee) for its debit; the vault's
//     balanceOf(token, agent) then equals `available`; the agent's wallet paid exactly two Transfers on the whole chain
//     (the registration and the deposit), the purchases none.
//
// Env: MARKET_URL (the `clearing dev` facilitator URL, loopback), RPC_URL, CHAIN_ID, TOKEN_ADDRESS, VAULT_ADDRESS,
//      DEMO_PROVIDER (the demo provider's wallet, from the summary), AGENT_KEY (0x key holding tokens, no gas),
//      DEPOSIT (USDC, default "1.00"), PURCHASES (default 5), WAIT_MS (each bounded wait, default 60000).
// Stdout: one JSON line, the verdict with the amounts, transactions and per-step timings. Stderr: progress.
// Exit: 0 when every assertion held; 1 otherwise (the failure on stderr).

import { randomUUID } from "node:crypto";
import { x402Client, wrapFetchWithPayment, decodePaymentResponseHeader } from "@x402/fetch";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import {
  createPublicClient,
  decodeEventLog,
  defineChain,
  getAddress,
  http,
  isAddressEqual,
  parseAbi,
  parseAbiItem,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { addressEnv, emit, env, intEnv, keyEnv, loopbackUrlEnv } from "./lib.mjs";

const market = loopbackUrlEnv("MARKET_URL");
const rpcUrl = loopbackUrlEnv("RPC_URL");
const chainId = intEnv("CHAIN_ID");
const network = `eip155:${chainId}`;
const token = addressEnv("TOKEN_ADDRESS");
const vault = addressEnv("VAULT_ADDRESS");
const demo = addressEnv("DEMO_PROVIDER");
const agent = privateKeyToAccount(keyEnv("AGENT_KEY"));
const depositUsdc = env("DEPOSIT", "1.00");
const purchases = intEnv("PURCHASES", 5);
const waitMs = intEnv("WAIT_MS", 60000);
/** One HTTP exchange, paid ones included (a paid route waits for its settlement). */
const REQUEST_TIMEOUT_MS = 45000;
const POLL_MS = 100;
/** The registration's cap: `[market] registration_price` is 0.01 USDC under `clearing dev`. */
const REGISTRATION_CAP = 10_000n;

const chain = defineChain({
  id: chainId,
  name: `local-${chainId}`,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});
const rpc = createPublicClient({ chain, transport: http(rpcUrl, { timeout: 10_000, retryCount: 0 }) });
const erc20 = parseAbi(["function balanceOf(address) view returns (uint256)"]);
const vaultAbi = parseAbi(["function balanceOf(address token, address agent) view returns (uint256)"]);
const transferEvent = parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)");
const events = [
  transferEvent,
  parseAbiItem("event Deposited(address indexed token, address indexed account, bytes32 indexed nonce, uint256 amount)"),
  parseAbiItem(
    "event Debited(bytes32 indexed id, address indexed token, address indexed payer, address provider, " +
      "uint256 amount, uint256 fee)",
  ),
];
const balanceOf = (who) => rpc.readContract({ address: token, abi: erc20, functionName: "balanceOf", args: [who] });
const vaultBalance = () =>
  rpc.readContract({ address: vault, abi: vaultAbi, functionName: "balanceOf", args: [token, agent.address] });

// ---------------------------------------------------------------- helpers

const started = Date.now();
const timings = {};
let lap = started;
function step(name, message) {
  const now = Date.now();
  timings[name] = now - lap;
  lap = now;
  process.stderr.write(`balance-deposit: ${name} (${timings[name]} ms): ${message}\n`);
}

/** JSON with bigints as decimal strings. */
const show = (value) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
const same = (a, b) => typeof a === "string" && typeof b === "string" && isAddressEqual(a, b);

/** Throws `message` unless `ok`. */
function expect(ok, message) {
  if (!ok) throw new Error(message);
}

/** A USDC decimal string (`"0.475000"`) as atomic units. */
function atomic(usdc) {
  const m = /^([0-9]+)(?:\.([0-9]{1,6}))?$/.exec(String(usdc));
  expect(m, `${show(usdc)} is not a USDC amount`);
  return BigInt(m[1]) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
}

/** A JSON request to the market, optionally with an API key; resolves to `{status, headers, body}`. */
async function call(method, path, { key, body } = {}) {
  const headers = {};
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${market}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed };
}

/**
 * Calls `probe` every POLL_MS until it answers `{done: true, value}` and resolves to `value`; throws after WAIT_MS,
 * naming `what` and the last `seen`.
 */
async function until(what, probe) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const last = await probe();
    if (last.done) return last.value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${waitMs} ms; last seen ${show(last.seen)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Polls `GET path` with the agent's key until `done(body)`. */
const untilGet = (what, path, key, done) =>
  until(what, async () => {
    const seen = await call("GET", path, { key });
    return { done: seen.status === 200 && done(seen.body), value: seen.body, seen: seen.body };
  });

/**
 * The agent's one client, as stock as it gets: x402Client + ExactEvmScheme, the local token allowed (the 2.27 spend
 * controls refuse unknown tokens) up to `cap` atomic units per payment, wrapped around fetch by wrapFetchWithPayment.
 * Its inner fetch records each status the wrapper got, and whether that request carried a payment, since the last
 * `post`.
 */
function payer(account, cap) {
  const client = x402Client.fromConfig({
    schemes: [{ network, client: new ExactEvmScheme(account) }],
    spendControls: { allowedAssets: [{ network, asset: token, maxAmountPerPayment: cap.toString() }] },
  });
  let seen = [];
  const recording = async (request) => {
    const response = await fetch(request);
    const paid = request.headers.has("PAYMENT-SIGNATURE") || request.headers.has("X-PAYMENT");
    seen.push(`${response.status}${paid ? " (paid)" : ""}`);
    return response;
  };
  const pay = wrapFetchWithPayment(recording, client);
  return {
    get seen() {
      return seen.join(",");
    },
    async post(path, body, headers = {}) {
      seen = [];
      const response = await pay(`${market}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const header = response.headers.get("PAYMENT-RESPONSE") ?? response.headers.get("X-PAYMENT-RESPONSE");
      const paymentResponse = header ? decodePaymentResponseHeader(header) : null;
      const text = await response.text();
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: response.status, body: parsed, paymentResponse };
    },
  };
}

/** A mined, successful transaction's receipt and its decoded token and vault events. */
async function logsOf(hash) {
  const receipt = await rpc.waitForTransactionReceipt({ hash, timeout: 30_000 });
  expect(receipt.status === "success", `transaction ${hash} reverted`);
  const decoded = [];
  for (const log of receipt.logs) {
    if (!same(log.address, token) && !same(log.address, vault)) continue;
    try {
      const event = decodeEventLog({ abi: events, data: log.data, topics: log.topics });
      decoded.push({ address: getAddress(log.address), ...event });
    } catch {}
  }
  return { receipt, decoded };
}

// ---------------------------------------------------------------- the case

const verdict = { ok: false, agent: agent.address, vault, demo_provider: demo, purchases };
try {
  const deposit = atomic(depositUsdc);
  expect(deposit > 0n, `DEPOSIT ${depositUsdc} is not above zero`);
  const walletStart = await balanceOf(agent.address);

  // 1. The agent registers, paying with @x402/fetch, and keeps its API key.
  const registration = await payer(agent, REGISTRATION_CAP).post("/v1/register", {
    type: "agent",
    name: "Interop balance agent",
    description: "A Node agent of the balance-deposit interop case",
  });
  const me = registration.body;
  expect(registration.status === 201, `register: HTTP ${registration.status} ${show(me)}`);
  expect(me.created === true && me.type === "agent" && same(me.wallet, agent.address), `register: ${show(me)}`);
  expect(registration.paymentResponse?.success === true, `register: paid ${show(registration.paymentResponse)}`);
  expect(/^clr_/.test(me.api_key), "register: no api_key");
  const key = me.api_key;
  const afterRegistration = await balanceOf(agent.address);
  const registrationPaid = walletStart - afterRegistration;
  expect(registrationPaid > 0n && registrationPaid <= REGISTRATION_CAP, `registration took ${registrationPaid}`);
  Object.assign(verdict, { participant_id: me.participant_id, register_tx: registration.paymentResponse.transaction });
  step("register", `agent ${me.participant_id} (${agent.address}), ${registrationPaid} paid`);

  // 2. The demo provider's data_api service, from the free catalog.
  const catalog = await call("GET", `/v1/services/catalog?service_type=data_api&provider=${demo}`);
  expect(catalog.status === 200, `catalog: HTTP ${catalog.status} ${show(catalog.body)}`);
  const listed = catalog.body.services.filter((s) => s.service_type === "data_api");
  expect(listed.length === 1, `the catalog lists ${listed.length} data_api services of ${demo}: ${show(catalog.body)}`);
  const detail = await call("GET", `/v1/services/${listed[0].id}`);
  const service = detail.body;
  expect(detail.status === 200 && service.status === "active", `service: HTTP ${detail.status} ${show(service)}`);
  expect(service.pricing_model === "fixed" && service.agent_price === listed[0].agent_price, `service ${show(service)}`);
  const price = atomic(service.agent_price);
  const net = atomic(service.provider_net_price);
  const fee = price - net;
  expect(price > 0n && fee >= 0n && price * BigInt(purchases) <= deposit, `price ${price}, fee ${fee}`);
  Object.assign(verdict, { service_id: service.id, price: `${price}`, fee: `${fee}` });
  step("service", `data_api ${service.id}: ${service.agent_price} USDC (provider nets ${service.provider_net_price})`);

  // 3. The deposit. First unpaid, by hand: a 402 whose requirement is exactly the amount, to the vault.
  const depositBody = { amount: depositUsdc };
  const unpaid = await call("POST", "/v1/balance/deposit", { body: depositBody });
  expect(unpaid.status === 402, `unpaid deposit: HTTP ${unpaid.status} ${show(unpaid.body)}`);
  const required = decodePaymentRequiredHeader(unpaid.headers.get("PAYMENT-REQUIRED"));
  const accept = required.accepts.find((a) => a.network === network && a.scheme === "exact");
  expect(accept, `the 402 accepts nothing on ${network}: ${show(required)}`);
  expect(same(accept.payTo, vault), `the 402's payTo is ${accept.payTo}, not the BalanceVault ${vault}`);
  expect(same(accept.asset, token) && BigInt(accept.amount) === deposit, `the 402 asks ${show(accept)}`);

  // Then with wrapFetchWithPayment, which meets the 402 itself, pays, and retries.
  const vaultTokensBefore = await balanceOf(vault);
  const client = payer(agent, deposit);
  const paid = await client.post("/v1/balance/deposit", depositBody);
  const made = paid.body;
  expect(paid.status === 201, `deposit: HTTP ${paid.status} ${show(made)}`);
  expect(client.seen === "402,201 (paid)", `the client got ${client.seen}, not 402 then a paid 201`);
  const pr = paid.paymentResponse;
  expect(pr?.success === true && pr.network === network && same(pr.payer, agent.address), `paid ${show(pr)}`);
  const depositTx = pr.transaction;
  expect(/^0x[0-9a-fA-F]{64}$/.test(depositTx), `payment response transaction ${depositTx}`);
  expect(
    same(made.deposit?.payer, agent.address) && atomic(made.deposit.amount) === deposit &&
      made.deposit.tx_hash === depositTx,
    `deposit answer ${show(made)}`,
  );
  expect(same(made.balance?.vault, vault) && same(made.balance.wallet, agent.address), `deposit balance ${show(made)}`);

  // The deposit on chain: a call to the vault whose only Transfer out of the agent is the amount to the vault,
  // crediting the agent with exactly that.
  const booked = await logsOf(depositTx);
  expect(same(booked.receipt.to, vault), `deposit transaction ${depositTx} went to ${booked.receipt.to}`);
  const out = booked.decoded.filter((e) => e.eventName === "Transfer" && same(e.args.from, agent.address));
  expect(
    out.length === 1 && same(out[0].address, token) && same(out[0].args.to, vault) && out[0].args.value === deposit,
    `deposit transfers out of the agent: ${show(out)}`,
  );
  const credited = booked.decoded.filter((e) => e.eventName === "Deposited" && same(e.args.account, agent.address));
  expect(
    credited.length === 1 && same(credited[0].address, vault) && same(credited[0].args.token, token) &&
      credited[0].args.amount === deposit,
    `Deposited events for the agent: ${show(credited)}`,
  );
  const [afterDeposit, vaultTokensAfter] = await Promise.all([balanceOf(agent.address), balanceOf(vault)]);
  expect(afterRegistration - afterDeposit === deposit, `agent ${afterRegistration} -> ${afterDeposit}, not -${deposit}`);
  expect(vaultTokensAfter - vaultTokensBefore === deposit, `vault ${vaultTokensBefore} -> ${vaultTokensAfter}`);
  Object.assign(verdict, { deposit: `${deposit}`, deposit_tx: depositTx, deposit_client_got: client.seen });
  step("deposit", `${deposit} from the agent to the vault in ${depositTx}`);

  // 4. Credited once the indexer confirms Deposited: polled, bounded.
  const confirmed = await untilGet(
    "the deposit confirmed",
    "/v1/balance",
    key,
    (b) => atomic(b.deposited) === deposit && atomic(b.available) === deposit,
  );
  expect(atomic(confirmed.spent) === 0n && atomic(confirmed.pending_debits) === 0n, `balance ${show(confirmed)}`);
  const onChain = await vaultBalance();
  expect(onChain === deposit, `BalanceVault.balanceOf(token, agent) is ${onChain}, not ${deposit}`);
  step("confirmed", `available ${confirmed.available}; the vault holds ${onChain} for the agent`);

  // 5. A credential, then the purchases through the same client: no 402, no signature, no settlement.
  const minted = await call("POST", "/v1/balance/credentials", {
    key,
    body: { name: "interop", max_per_request: service.agent_price, max_per_day: depositUsdc, services: [service.id] },
  });
  expect(minted.status === 201 && /^clb_/.test(minted.body.token), `credential: HTTP ${minted.status} ${show(minted.body)}`);
  const credential = minted.body.token;
  const run = randomUUID();
  const brief = { brief: { text: "count the words of this, please" } };
  const path = `/v1/services/${service.id}/purchase`;
  const bought = [];
  for (let i = 0; i < purchases; i++) {
    const idempotencyKey = `balance-deposit-${run}-${i}`;
    const answer = await client.post(path, brief, { "X-BALANCE-AUTH": credential, "Idempotency-Key": idempotencyKey });
    const b = answer.body;
    expect(answer.status === 201, `purchase ${i}: HTTP ${answer.status} ${show(b)}`);
    expect(client.seen === "201", `purchase ${i}: the client got ${client.seen}, not one unpaid 201`);
    expect(answer.paymentResponse === null, `purchase ${i}: a payment response ${show(answer.paymentResponse)}`);
    expect(
      b.paid_by === "balance" && b.service_id === service.id && b.service_type === "data_api" &&
        same(b.payer, agent.address) && same(b.provider, demo),
      `purchase ${i}: ${show(b)}`,
    );
    expect(
      atomic(b.amount) === price && atomic(b.fee) === fee && atomic(b.provider_receives) === net,
      `purchase ${i} amounts: ${show(b)}`,
    );
    expect(["accepted", "applied"].includes(b.debit?.status) && /^0x[0-9a-f]{64}$/.test(b.debit.id), `debit ${show(b)}`);
    expect(!bought.some((p) => p.id === b.id || p.debit.id === b.debit.id), `purchase ${i} repeats ${b.id}`);
    bought.push({ ...b, idempotencyKey });
  }
  step("purchases", `${purchases} purchases of ${price}, each one unpaid 201 paid_by balance`);

  // A retry with a key already used: the same purchase, answered 200, nothing more spent.
  const retried = bought[Math.floor(purchases / 2)];
  const again = await client.post(path, brief, {
    "X-BALANCE-AUTH": credential,
    "Idempotency-Key": retried.idempotencyKey,
  });
  expect(again.status === 200, `retry: HTTP ${again.status} ${show(again.body)}`);
  expect(client.seen === "200" && again.paymentResponse === null, `retry: the client got ${client.seen}`);
  expect(again.body.id === retried.id && again.body.debit?.id === retried.debit.id, `retry answered ${show(again.body)}`);

  // 6. The balance to the unit: every purchase counted once.
  const spent = price * BigInt(purchases);
  const now = (await call("GET", "/v1/balance", { key })).body;
  expect(
    atomic(now.deposited) === deposit && atomic(now.spent) === spent && atomic(now.available) === deposit - spent,
    `balance after ${purchases} purchases and a retry: ${show(now)}, expected spent ${spent}, available ${deposit - spent}`,
  );
  Object.assign(verdict, { spent: `${spent}`, available: `${deposit - spent}`, retried: retried.id });
  step("balance", `spent ${now.spent}, available ${now.available}, pending_debits ${now.pending_debits}`);

  // 7. The vault applies the debits in debitMany batches: awaited in the history, then checked on chain.
  const ids = new Set(bought.map((b) => b.id));
  const history = await untilGet("every debit applied", "/v1/balance/history", key, (h) => {
    const debits = h.entries.filter((e) => e.kind === "debit" && ids.has(e.id));
    return debits.length === purchases && debits.every((e) => e.status === "applied" && e.tx_hash);
  });
  const debits = history.entries.filter((e) => e.kind === "debit");
  expect(debits.length === purchases, `${debits.length} debits in the history, expected ${purchases}`);
  const batches = [...new Set(debits.map((d) => d.tx_hash))];
  const applied = [];
  for (const tx of batches) {
    const { receipt, decoded } = await logsOf(tx);
    expect(same(receipt.to, vault), `debit batch ${tx} went to ${receipt.to}`);
    applied.push(...decoded.filter((e) => e.eventName === "Debited" && same(e.args.payer, agent.address)));
  }
  for (const b of bought) {
    const event = applied.filter((e) => e.args.id === b.debit.id);
    expect(
      event.length === 1 && same(event[0].args.token, token) && same(event[0].args.provider, demo) &&
        event[0].args.amount === price && event[0].args.fee === fee,
      `Debited for ${b.debit.id}: ${show(event)}`,
    );
  }
  expect(applied.length === purchases, `${applied.length} Debited events for the agent, expected ${purchases}`);
  const settled = (await call("GET", "/v1/balance", { key })).body;
  const held = await vaultBalance();
  expect(
    atomic(settled.pending_debits) === 0n && atomic(settled.available) === deposit - spent && held === deposit - spent,
    `after the batches: ${show(settled)}; the vault holds ${held} for the agent`,
  );
  const transfers = await rpc.getLogs({ address: token, event: transferEvent, args: { from: agent.address }, fromBlock: 0n });
  expect(transfers.length === 2, `${transfers.length} Transfers out of the agent on the whole chain, expected 2`);
  const walletEnd = await balanceOf(agent.address);
  expect(walletEnd === afterDeposit, `the agent's wallet moved during the purchases: ${afterDeposit} -> ${walletEnd}`);
  Object.assign(verdict, { debit_batches: batches, vault_balance: `${held}` });
  step("applied", `${purchases} debits applied in ${batches.length} batch(es); the vault holds ${held} for the agent`);
  verdict.ok = true;
} catch (error) {
  verdict.error = error?.message ?? String(error);
  process.stderr.write(`balance-deposit: FAILED: ${error?.stack ?? error}\n`);
}
verdict.timings_ms = { ...timings, total: Date.now() - started };
emit(verdict);
process.exit(verdict.ok ? 0 : 1);
