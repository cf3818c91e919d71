// Pays for a URL the way a third-party agent does with x402-fetch 1.2.0 (x402 v1): GET, read the 402 JSON body's
// `accepts`, sign an EIP-3009 authorization, retry with X-PAYMENT.
//
// x402-fetch only accepts its fixed list of v1 network names (the resource server must advertise e.g.
// `base-sepolia`) and signs for that name's chain id (84532 for base-sepolia), so the chain must run with it.
//
// Env: RESOURCE_URL (or the first argument), AGENT_KEY (0x private key of the payer; it needs tokens, no gas),
//      MAX_AMOUNT (atomic cap per payment, default 100000 = the library's own 0.10 USDC default),
//      PAY_TIMEOUT_MS (default 60000, the whole exchange).
// Stdout: one JSON line `{"status":N,"body":<json or text>,"paymentResponse":<decoded X-PAYMENT-RESPONSE or null>}`.
// Exit: 0 on HTTP 200 with a successful payment response; 1 otherwise (the line is still printed when there was
//       a response; the error goes to stderr).

import { wrapFetchWithPayment, decodeXPaymentResponse } from "x402-fetch";
import { privateKeyToAccount } from "viem/accounts";
import { atomicEnv, emit, fail, intEnv, keyEnv, loopbackUrlEnv } from "./lib.mjs";

if (process.argv[2]) process.env.RESOURCE_URL = process.argv[2];
const url = loopbackUrlEnv("RESOURCE_URL");
const account = privateKeyToAccount(keyEnv("AGENT_KEY"));
const maxAmount = BigInt(atomicEnv("MAX_AMOUNT", "100000"));
const timeoutMs = intEnv("PAY_TIMEOUT_MS", 60000);

// A viem LocalAccount is a valid v1 EVM signer (x402's isAccount); it carries no chain, so the v1 selector takes
// the first `exact` requirement on any network.
const fetchWithPayment = wrapFetchWithPayment(globalThis.fetch, account, maxAmount);

const signal = AbortSignal.timeout(timeoutMs);
let response;
try {
  response = await fetchWithPayment(url, { method: "GET", signal });
} catch (error) {
  fail(`payment failed: ${error?.stack ?? error}`, 1);
}

const text = await response.text();
let body;
try {
  body = JSON.parse(text);
} catch {
  body = text;
}
const header = response.headers.get("X-PAYMENT-RESPONSE");
let paymentResponse = null;
if (header) {
  try {
    paymentResponse = decodeXPaymentResponse(header);
  } catch (error) {
    process.stderr.write(`pay-v1: undecodable X-PAYMENT-RESPONSE ${header}: ${error.message}\n`);
  }
}
emit({ status: response.status, body, paymentResponse });

if (response.status !== 200 || paymentResponse?.success !== true) {
  fail(`expected HTTP 200 with a successful X-PAYMENT-RESPONSE, got ${response.status}${header ? "" : " without X-PAYMENT-RESPONSE"}`, 1);
}
