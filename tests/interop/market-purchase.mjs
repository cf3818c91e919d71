// The `market-purchase` interop case, after `clearing dev` is up: a provider and an agent, each a fresh wallet, buy
// and sell an automated_service on Clearing's marketplace with nothing but stock npm clients. It follows
// crates/market/tests/it/jobs.rs (the same flow with the Rust client):
//
//  1. a webhook receiver on loopback (webhook-receiver.mjs); the provider registers (POST /v1/register, paid with
//     @x402/fetch 2.27) naming it, and keeps the API key and the webhook secret of the answer;
//  2. the provider lists an automated_service at a fixed price (POST /v1/services) and reads its three prices;
//  3. the agent buys it: an unpaid POST /v1/services/{id}/purchase is a 402 whose requirement pays the Escrow; then
//     wrapFetchWithPayment sees 402, pays, and gets 201 with the job; the PAYMENT-RESPONSE transaction moved exactly
//     the price from the agent to the Escrow (its only Transfer out of the agent) and emitted JobFunded;
//  4. the receiver gets job_dispatch, verified with `standardwebhooks` and by an independent HMAC of the402's header,
//     and a tampered copy fails both checks;
//  5. the provider completes the job; the job reaches `verified` (released on chain: JobReleased with the net and the
//     fee); earnings show the net pending; the claim pays the provider's wallet exactly the net, and earnings show
//     it settled;
//  6. the release's audit record (GET /audit/records/{seq}: kind escrow_release, reference the escrow job id) is
//     awaited until anchored and written to RECORD_FILE for `clearing audit verify`.
//
// Env: MARKET_URL (the `clearing dev` facilitator URL, loopback), RPC_URL, CHAIN_ID, TOKEN_ADDRESS, ESCROW_ADDRESS,
//      PROVIDER_KEY and AGENT_KEY (0x keys holding tokens, no gas), RECORD_FILE, SERVICE_PRICE (USDC, default
//      "0.50"), WAIT_MS (each bounded wait, default 60000).
// Stdout: one JSON line, the verdict with the amounts, transactions and per-step timings. Stderr: progress.
// Exit: 0 when every assertion held; 1 otherwise (the failure on stderr).

import { writeFileSync } from "node:fs";
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
import { addressEnv, emit, env, intEnv, keyEnv, loopbackUrlEnv, requireEnv } from "./lib.mjs";
import { startReceiver, verifyDelivery } from "./webhook-receiver.mjs";

const market = loopbackUrlEnv("MARKET_URL");
const rpcUrl = loopbackUrlEnv("RPC_URL");
const chainId = intEnv("CHAIN_ID");
const network = `eip155:${chainId}`;
const token = addressEnv("TOKEN_ADDRESS");
const escrow = addressEnv("ESCROW_ADDRESS");
const provider = privateKeyToAccount(keyEnv("PROVIDER_KEY"));
const agent = privateKeyToAccount(keyEnv("AGENT_KEY"));
const recordFile = requireEnv("RECORD_FILE");
const servicePrice = env("SERVICE_PRICE", "0.50");
const waitMs = intEnv("WAIT_MS", 60000);
/** One HTTP exchange, paid ones included (a paid route waits for its settlement). */
const REQUEST_TIMEOUT_MS = 45000;
const POLL_MS = 100;

const chain = defineChain({
  id: chainId,
  name: `local-${chainId}`,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});
const rpc = createPublicClient({ chain, transport: http(rpcUrl, { timeout: 10_000, retryCount: 0 }) });
const erc20 = parseAbi(["function balanceOf(address) view returns (uint256)"]);
const escrowAbi = parseAbi(["function claimable(address token, address account) view returns (uint256)"]);
// Escrow's JobTerms (contracts/src/Escrow.sol), as JobFunded carries them.
const JOB_TERMS =
  "(address payer, address provider, address token, uint256 amount, uint256 fee, address arbiter, " +
  "uint64 fundingDeadline, uint64 completionDeadline, uint64 reviewWindow, bytes32 salt)";
const transferEvent = parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)");
const events = [
  transferEvent,
  parseAbiItem(
    `event JobFunded(bytes32 indexed jobId, address indexed payer, address indexed provider, ${JOB_TERMS} terms)`,
  ),
  parseAbiItem("event JobReleased(bytes32 indexed jobId, uint256 providerAmount, uint256 feeAmount)"),
  parseAbiItem("event Claimed(address indexed token, address indexed account, address to, uint256 amount)"),
];
const balanceOf = (who) => rpc.readContract({ address: token, abi: erc20, functionName: "balanceOf", args: [who] });

// ---------------------------------------------------------------- helpers

const started = Date.now();
const timings = {};
let lap = started;
function step(name, message) {
  const now = Date.now();
  timings[name] = now - lap;
  lap = now;
  process.stderr.write(`market-purchase: ${name} (${timings[name]} ms): ${message}\n`);
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

/** Polls `GET path` with the provider's key until `done(body)`. */
const untilGet = (what, path, key, done) =>
  until(what, async () => {
    const seen = await call("GET", path, { key });
    return { done: seen.status === 200 && done(seen.body), value: seen.body, seen: seen.body };
  });

/**
 * A payer with the stock client: x402Client + ExactEvmScheme, the local token allowed (the 2.27 spend controls refuse
 * unknown tokens) up to `cap` atomic units. Its inner fetch records each status the wrapper got, and whether that
 * request carried a payment.
 */
function payer(account, cap) {
  const client = x402Client.fromConfig({
    schemes: [{ network, client: new ExactEvmScheme(account) }],
    spendControls: { allowedAssets: [{ network, asset: token, maxAmountPerPayment: cap.toString() }] },
  });
  const seen = [];
  const recording = async (request) => {
    const response = await fetch(request);
    seen.push(`${response.status}${request.headers.has("PAYMENT-SIGNATURE") ? " (paid)" : ""}`);
    return response;
  };
  const pay = wrapFetchWithPayment(recording, client);
  return {
    seen,
    async post(path, body) {
      const response = await pay(`${market}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const header = response.headers.get("PAYMENT-RESPONSE");
      const paymentResponse = header ? decodePaymentResponseHeader(header) : null;
      return { status: response.status, body: await response.json(), paymentResponse };
    },
  };
}

/** A mined, successful transaction's receipt and its decoded token and Escrow events. */
async function logsOf(hash) {
  const receipt = await rpc.waitForTransactionReceipt({ hash, timeout: 30_000 });
  expect(receipt.status === "success", `transaction ${hash} reverted`);
  const decoded = [];
  for (const log of receipt.logs) {
    if (!same(log.address, token) && !same(log.address, escrow)) continue;
    try {
      const event = decodeEventLog({ abi: events, data: log.data, topics: log.topics });
      decoded.push({ address: getAddress(log.address), ...event });
    } catch {}
  }
  return { receipt, decoded };
}

// ---------------------------------------------------------------- the case

const receiver = await startReceiver();
const verdict = { ok: false, provider: provider.address, agent: agent.address, escrow, webhook_url: receiver.url };
try {
  // 1. The provider registers, paying with @x402/fetch; the registration names the receiver.
  const registration = await payer(provider, 10_000n).post("/v1/register", {
    type: "provider",
    name: "Interop purchase provider",
    description: "A Node provider of the market-purchase interop case",
    webhook_url: receiver.url,
  });
  const me = registration.body;
  expect(registration.status === 201, `register: HTTP ${registration.status} ${show(me)}`);
  expect(me.created === true && me.type === "provider" && same(me.wallet, provider.address), `register: ${show(me)}`);
  expect(registration.paymentResponse?.success === true, `register: paid ${show(registration.paymentResponse)}`);
  expect(/^clr_/.test(me.api_key) && /^whsec_/.test(me.webhook_secret), "register: no api_key or webhook_secret");
  expect(me.webhook_url === receiver.url, `register: webhook_url ${me.webhook_url}`);
  const key = me.api_key;
  receiver.setSecret(me.webhook_secret);
  const registerTx = registration.paymentResponse.transaction;
  step("register", `provider ${me.participant_id} (${provider.address}), paid in ${registerTx}`);

  // 2. An automated_service at a fixed price; the fee is what its three prices say.
  const listed = await call("POST", "/v1/services", {
    key,
    body: {
      name: "Interop summariser",
      description: "Summarises a text; sold to the interop agent",
      category: "testing",
      price: servicePrice,
      service_type: "automated_service",
      input_schema: { type: "object", required: ["text"], properties: { text: { type: "string" } } },
    },
  });
  const service = listed.body;
  expect(listed.status === 201, `create service: HTTP ${listed.status} ${show(service)}`);
  expect(service.service_type === "automated_service" && service.pricing_model === "fixed", `service ${show(service)}`);
  const price = atomic(service.price);
  const agentPrice = atomic(service.agent_price);
  const net = atomic(service.provider_net_price);
  const fee = agentPrice - net;
  expect(price === atomic(servicePrice) && agentPrice === price, `fixed: ${service.price}, ${service.agent_price}`);
  // platform_fee_pct is the rate in percent; the fee is floor(price × rate), never a unit more.
  const pct = Number(service.platform_fee_pct);
  const bps = BigInt(Math.round(pct * 100));
  expect(fee > 0n && fee === (price * bps) / 10_000n, `fee ${fee} is not ${pct}% of ${price}, rounded down`);
  Object.assign(verdict, { service_id: service.id, price: `${price}`, fee: `${fee}`, net: `${net}`, fee_pct: pct });
  step(
    "list",
    `service ${service.id}: price ${service.price}, agent_price ${service.agent_price}, ` +
      `provider_net_price ${service.provider_net_price}, platform_fee_pct ${pct}`,
  );

  // 3. The agent buys it. First unpaid, by hand: a 402 whose requirement is the price, to the Escrow.
  const purchasePath = `/v1/services/${service.id}/purchase`;
  const brief = { brief: { text: "summarise this, please" } };
  const unpaid = await call("POST", purchasePath, { body: brief });
  expect(unpaid.status === 402, `unpaid purchase: HTTP ${unpaid.status} ${show(unpaid.body)}`);
  const required = decodePaymentRequiredHeader(unpaid.headers.get("PAYMENT-REQUIRED"));
  const accept = required.accepts.find((a) => a.network === network && a.scheme === "exact");
  expect(accept, `the 402 accepts nothing on ${network}: ${show(required)}`);
  expect(same(accept.payTo, escrow), `the 402's payTo is ${accept.payTo}, not the Escrow ${escrow}`);
  expect(same(accept.asset, token) && BigInt(accept.amount) === agentPrice, `the 402 asks ${show(accept)}`);

  // Then with wrapFetchWithPayment, which meets the 402 itself, pays, and retries.
  const [agentBefore, escrowBefore] = await Promise.all([balanceOf(agent.address), balanceOf(escrow)]);
  const buyer = payer(agent, agentPrice);
  const paid = await buyer.post(purchasePath, brief);
  const job = paid.body;
  expect(paid.status === 201, `purchase: HTTP ${paid.status} ${show(job)}`);
  expect(buyer.seen.join() === "402,201 (paid)", `the client got ${buyer.seen.join(", ")}, not 402 then a paid 201`);
  const jobId = job.job_id;
  expect(typeof jobId === "string" && ["funding", "dispatched"].includes(job.status), `purchase answer ${show(job)}`);
  expect(
    atomic(job.price) === price && atomic(job.provider_net) === net && atomic(job.platform_fee) === fee,
    `job amounts ${show(job)}`,
  );
  expect(same(job.payer, agent.address) && same(job.escrow.contract, escrow), `job parties ${show(job)}`);
  const pr = paid.paymentResponse;
  expect(pr?.success === true && pr.network === network && same(pr.payer, agent.address), `paid ${show(pr)}`);
  const fundingTx = pr.transaction;
  expect(/^0x[0-9a-fA-F]{64}$/.test(fundingTx), `payment response transaction ${fundingTx}`);
  expect([null, fundingTx].includes(job.escrow.funding_tx), `job funding_tx ${job.escrow.funding_tx}`);

  // The funding transaction on chain: a call to the Escrow whose only Transfer out of the agent is the price to the
  // Escrow, booking the job the answer names with the service's terms.
  const funding = await logsOf(fundingTx);
  expect(same(funding.receipt.to, escrow), `funding transaction ${fundingTx} went to ${funding.receipt.to}`);
  const out = funding.decoded.filter((e) => e.eventName === "Transfer" && same(e.args.from, agent.address));
  expect(
    out.length === 1 && same(out[0].address, token) && same(out[0].args.to, escrow) && out[0].args.value === price,
    `funding transfers out of the agent: ${show(out)}`,
  );
  const escrowJobId = job.escrow.escrow_job_id;
  const funded = funding.decoded.find((e) => e.eventName === "JobFunded" && e.args.jobId === escrowJobId);
  expect(funded, `no JobFunded for escrow job ${escrowJobId} in ${fundingTx}`);
  const terms = funded.args.terms;
  expect(
    same(terms.payer, agent.address) && same(terms.provider, provider.address) && same(terms.token, token) &&
      terms.amount === price && terms.fee === fee && terms.reviewWindow === 0n,
    `JobFunded terms ${show(terms)}`,
  );
  const [agentAfter, escrowAfter] = await Promise.all([balanceOf(agent.address), balanceOf(escrow)]);
  expect(agentBefore - agentAfter === price, `agent balance ${agentBefore} -> ${agentAfter}, expected -${price}`);
  expect(escrowAfter - escrowBefore === price, `Escrow balance ${escrowBefore} -> ${escrowAfter}, expected +${price}`);
  const from = { from: agent.address };
  const allOut = await rpc.getLogs({ address: token, event: transferEvent, args: from, fromBlock: 0n });
  expect(allOut.length === 1, `${allOut.length} Transfers out of the agent on the whole chain, expected 1`);
  Object.assign(verdict, { job_id: jobId, escrow_job_id: escrowJobId, funding_tx: fundingTx, client_got: buyer.seen });
  step("purchase", `job ${jobId} (${job.status}): ${price} from the agent to the Escrow in ${fundingTx}`);

  // 4. job_dispatch, signed twice over; a forged copy fails both checks.
  const dispatch = await receiver.waitFor("job_dispatch", waitMs);
  const event = dispatch.payload;
  expect(event.job_id === jobId && event.brief?.text === brief.brief.text, `job_dispatch ${show(event)}`);
  expect(event.callback_url === `${market}/v1/jobs/${jobId}/update`, `job_dispatch callback_url ${event.callback_url}`);
  expect(
    atomic(event.price) === price && atomic(event.provider_net) === net && event.funding_tx === fundingTx,
    `job_dispatch amounts ${show(event)}`,
  );
  expect(!("x-api-key" in dispatch.headers || "x-platform-secret" in dispatch.headers), "a webhook carried a key");
  const forged = Buffer.from(dispatch.body.toString("utf8").replace(brief.brief.text, "summarise that, please"));
  const forgery = verifyDelivery(me.webhook_secret, dispatch.headers, forged);
  expect(forgery.standard !== "ok" && forgery.legacy !== "ok", `a tampered body passed: ${show(forgery)}`);
  const dispatched = await untilGet("job dispatched", `/v1/jobs/${jobId}`, key, (j) => j.status === "dispatched");
  const held = (await call("GET", "/v1/provider/earnings", { key })).body;
  expect(atomic(held.held) === net && atomic(held.pending) === 0n, `earnings while held ${show(held)}`);
  step(
    "dispatch",
    `job_dispatch ${dispatch.headers["webhook-id"]} verified (standardwebhooks, and sha256= by node:crypto); ` +
      `job ${dispatched.status}; held ${held.held}`,
  );

  // 5. Delivered, released on chain, claimed.
  const update = await call("POST", `/v1/jobs/${jobId}/update`, {
    key,
    body: { status: "completed", deliverables: { summary: "done" }, note: "from the Node provider" },
  });
  expect(update.status === 200, `update: HTTP ${update.status} ${show(update.body)}`);
  const released = await untilGet(
    "job released",
    `/v1/jobs/${jobId}`,
    key,
    (j) => j.status === "verified" && j.escrow?.chain_status === "released",
  );
  expect(released.deliverables?.summary === "done", `released job ${show(released)}`);
  const releaseTx = released.escrow.chain_tx;
  const release = (await logsOf(releaseTx)).decoded.find(
    (e) => e.eventName === "JobReleased" && e.args.jobId === escrowJobId,
  );
  expect(
    release?.args.providerAmount === net && release.args.feeAmount === fee,
    `release ${releaseTx}: ${show(release ?? null)}`,
  );
  const releasedHook = (await receiver.waitFor("payment_released", waitMs)).payload;
  expect(releasedHook.job_id === jobId && atomic(releasedHook.amount) === net, `released ${show(releasedHook)}`);
  const pending = await untilGet(
    "earnings pending",
    "/v1/provider/earnings",
    key,
    (e) => atomic(e.pending) === net && atomic(e.held) === 0n,
  );
  const claimable = await rpc.readContract({
    address: escrow,
    abi: escrowAbi,
    functionName: "claimable",
    args: [token, provider.address],
  });
  expect(claimable === net, `Escrow.claimable(provider) is ${claimable}, expected ${net}`);
  verdict.release_tx = releaseTx;
  const split = `${net} to the provider, ${fee} fee`;
  step("release", `job verified, released in ${releaseTx}: ${split}; pending ${pending.pending}`);

  const providerBefore = await balanceOf(provider.address);
  const claim = await call("POST", "/v1/provider/claim", { key });
  const claiming = [200, 202].includes(claim.status) && claim.body.status !== "failed";
  expect(claiming, `claim: HTTP ${claim.status} ${show(claim.body)}`);
  const settled = await untilGet(
    "earnings settled",
    "/v1/provider/earnings",
    key,
    (e) => atomic(e.settled) === net && atomic(e.pending) === 0n,
  );
  const providerAfter = await balanceOf(provider.address);
  expect(providerAfter - providerBefore === net, `provider balance ${providerBefore} -> ${providerAfter}, not +${net}`);
  const claimTx = claim.body.tx_hash ?? settled.recent_settlements?.find((s) => s.kind === "claimed")?.tx_hash;
  expect(claimTx, `no claim transaction: ${show(claim.body)} ${show(settled)}`);
  const claimed = (await logsOf(claimTx)).decoded.find(
    (e) => e.eventName === "Claimed" && same(e.args.account, provider.address),
  );
  expect(claimed && same(claimed.args.to, provider.address) && claimed.args.amount === net, `claim ${show(claimed)}`);
  await receiver.waitFor("earnings_claimed", waitMs);
  Object.assign(verdict, {
    claim_tx: claimTx,
    provider_balance: { before: `${providerBefore}`, after: `${providerAfter}` },
  });
  step(
    "claim",
    `claim ${claim.body.status} (HTTP ${claim.status}) in ${claimTx}; settled ${settled.settled}; ` +
      `provider balance +${providerAfter - providerBefore}`,
  );

  // 6. The release's audit record, found by its escrow job id, then awaited until an anchor covers it.
  const proof = await until("the release's anchored audit record", async () => {
    for (let seq = 0; ; seq++) {
      const seen = await call("GET", `/audit/records/${seq}`);
      if (seen.status === 404) return { done: false, seen: `${seq} records, none the release's` };
      const record = seen.body?.record;
      expect([200, 409].includes(seen.status) && record, `audit record ${seq}: ${seen.status} ${show(seen.body)}`);
      if (record.kind === "escrow_release" && record.reference === escrowJobId) {
        return { done: seen.status === 200, value: seen.body, seen: `record ${seq}: HTTP ${seen.status}` };
      }
    }
  });
  const r = proof.record;
  expect(
    r.tx_hash === releaseTx && same(r.emitter, escrow) && same(r.token, token) && same(r.payer, agent.address) &&
      same(r.payee, provider.address) && BigInt(r.payee_amount) === net && BigInt(r.fee_amount) === fee &&
      BigInt(r.payer_amount) === 0n,
    `audit record ${show(r)}`,
  );
  writeFileSync(recordFile, `${JSON.stringify(proof, null, 2)}\n`);
  Object.assign(verdict, { audit_seq: r.seq, anchor: proof.anchor.index, anchor_tx: proof.anchor.tx_hash });
  step("audit", `record ${r.seq} (escrow_release) is in anchor ${proof.anchor.index} (${proof.anchor.tx_hash})`);

  const refused = receiver.deliveries.filter((d) => d.standard !== "ok" || d.legacy !== "ok");
  const reasons = refused.map((d) => `${d.standard}; ${d.legacy}`).join(" | ");
  expect(refused.length === 0, `${refused.length} webhook deliveries failed a check: ${reasons}`);
  verdict.webhooks = receiver.deliveries.map((d) => d.payload.type);
  verdict.ok = true;
} catch (error) {
  verdict.error = error?.message ?? String(error);
  process.stderr.write(`market-purchase: FAILED: ${error?.stack ?? error}\n`);
} finally {
  await receiver.close();
}
verdict.timings_ms = { ...timings, total: Date.now() - started };
emit(verdict);
process.exit(verdict.ok ? 0 : 1);
