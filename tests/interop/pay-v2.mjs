// Pays for a URL the way a third-party agent does with @x402/fetch + @x402/evm 2.27 (x402 v2): GET, read the
// 402's PAYMENT-REQUIRED, sign an EIP-3009 authorization, retry with PAYMENT-SIGNATURE.
//
// Env: RESOURCE_URL (or the first argument), AGENT_KEY (0x private key of the payer; it needs tokens, no gas),
//      CHAIN_ID and TOKEN_ADDRESS (spend controls: the 2.27 client refuses tokens it does not know, so the local
//      token is allowed explicitly on eip155:<CHAIN_ID>), MAX_AMOUNT (optional atomic cap per payment),
//      PAY_TIMEOUT_MS (default 60000, the whole exchange), METHOD (default GET) and BODY (optional JSON, sent as
//      application/json), EXPECT_STATUS (default 200).
// Stdout: one JSON line `{"status":N,"body":<json or text>,"paymentResponse":<decoded PAYMENT-RESPONSE or null>}`,
//         plus `"paymentRequired":<decoded PAYMENT-REQUIRED>` when the final answer is a 402 (it carries the reason).
// Exit: 0 on HTTP EXPECT_STATUS with a successful payment response; 1 otherwise (the line is still printed when there was
//       a response; the error goes to stderr).

import { x402Client, wrapFetchWithPayment, decodePaymentResponseHeader } from "@x402/fetch";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { privateKeyToAccount } from "viem/accounts";
import { addressEnv, emit, env, fail, intEnv, keyEnv, loopbackUrlEnv } from "./lib.mjs";

if (process.argv[2]) process.env.RESOURCE_URL = process.argv[2];
const url = loopbackUrlEnv("RESOURCE_URL");
const account = privateKeyToAccount(keyEnv("AGENT_KEY"));
const network = `eip155:${intEnv("CHAIN_ID")}`;
const asset = addressEnv("TOKEN_ADDRESS");
const maxAmount = env("MAX_AMOUNT", undefined);
const timeoutMs = intEnv("PAY_TIMEOUT_MS", 60000);
const method = env("METHOD", "GET");
const requestBody = env("BODY", undefined);
const expectStatus = intEnv("EXPECT_STATUS", 200);

const client = x402Client.fromConfig({
  schemes: [{ network, client: new ExactEvmScheme(account) }],
  spendControls: {
    allowedAssets: [{ network, asset, ...(maxAmount ? { maxAmountPerPayment: maxAmount } : {}) }],
  },
});
const fetchWithPayment = wrapFetchWithPayment(globalThis.fetch, client);

let response;
try {
  const init = { method, signal: AbortSignal.timeout(timeoutMs) };
  if (requestBody !== undefined) Object.assign(init, { body: requestBody, headers: { "Content-Type": "application/json" } });
  response = await fetchWithPayment(url, init);
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
const header = response.headers.get("PAYMENT-RESPONSE");
let paymentResponse = null;
if (header) {
  try {
    paymentResponse = decodePaymentResponseHeader(header);
  } catch (error) {
    process.stderr.write(`pay-v2: undecodable PAYMENT-RESPONSE ${header}: ${error.message}\n`);
  }
}
// On a final 402 the v2 middleware puts the reason (e.g. the facilitator's invalidReason) in PAYMENT-REQUIRED.
const required = response.status === 402 ? response.headers.get("PAYMENT-REQUIRED") : null;
let paymentRequired;
if (required) {
  try {
    paymentRequired = decodePaymentRequiredHeader(required);
  } catch (error) {
    process.stderr.write(`pay-v2: undecodable PAYMENT-REQUIRED ${required}: ${error.message}\n`);
  }
}
emit({ status: response.status, body, paymentResponse, ...(paymentRequired ? { paymentRequired } : {}) });

if (response.status !== expectStatus || paymentResponse?.success !== true) {
  const reason = paymentRequired?.error ?? paymentResponse?.errorReason;
  fail(`expected HTTP ${expectStatus} with a successful PAYMENT-RESPONSE, got ${response.status}${header ? "" : " without PAYMENT-RESPONSE"}${reason ? `: ${reason}` : ""}`, 1);
}
