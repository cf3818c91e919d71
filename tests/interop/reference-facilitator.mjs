// The reference facilitator: the npm implementation (@x402/core x402Facilitator + @x402/evm exact schemes, 2.27)
// behind the facilitator HTTP API, with a viem wallet on a local RPC. It proves the harness today and is the
// behavioural reference Clearing is compared against: Clearing replaces this process, with the same environment.
//
// Serves: GET /supported, POST /verify, POST /settle (bodies `{x402Version, paymentPayload, paymentRequirements}`),
//         as the upstream example facilitator does: 200 with the library's VerifyResponse/SettleResponse, 400 for
//         a body that is not JSON or lacks paymentPayload/paymentRequirements, 500 `{error}` when the library throws
//         (e.g. no scheme registered for the network).
// Kinds:  x402 v2 `exact` on eip155:<CHAIN_ID>; x402 v1 `exact` on every v1 network name whose chain id is
//         CHAIN_ID (so `base-sepolia` when CHAIN_ID=84532, none on 31337), or on V1_NETWORKS if given.
//
// Env: RPC_URL (loopback), FACILITATOR_KEY (0x private key with gas), CHAIN_ID (checked against the RPC),
//      V1_NETWORKS (optional, comma-separated v1 names; empty string = none), PORT (default 0 = a free port),
//      RECEIPT_TIMEOUT_MS (default 30000).
// Stdout: `{"ready":true,"port":N,"signer":"0x…","kinds":[…]}` once listening; requests are logged on stderr.

import express from "express";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmSchemeV1 } from "@x402/evm/exact/v1/facilitator";
import { EVM_NETWORK_CHAIN_ID_MAP } from "@x402/evm/v1";
import { createWalletClient, defineChain, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, fail, intEnv, jsonSafe, keyEnv, listenAndAnnounce, loopbackUrlEnv } from "./lib.mjs";

const rpcUrl = loopbackUrlEnv("RPC_URL");
const account = privateKeyToAccount(keyEnv("FACILITATOR_KEY"));
const chainId = intEnv("CHAIN_ID");
const port = intEnv("PORT", 0);
const receiptTimeoutMs = intEnv("RECEIPT_TIMEOUT_MS", 30000);
const v1Networks =
  process.env.V1_NETWORKS !== undefined
    ? process.env.V1_NETWORKS.split(",").map((s) => s.trim()).filter(Boolean)
    : Object.entries(EVM_NETWORK_CHAIN_ID_MAP)
        .filter(([, id]) => id === chainId)
        .map(([name]) => name);
for (const name of v1Networks) {
  if (EVM_NETWORK_CHAIN_ID_MAP[name] !== chainId) {
    fail(`V1_NETWORKS: ${name} is chain ${EVM_NETWORK_CHAIN_ID_MAP[name] ?? "unknown"} to the v1 scheme, not ${chainId}`);
  }
}

const chain = defineChain({
  id: chainId,
  name: `local-${chainId}`,
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});
const viemClient = createWalletClient({
  account,
  chain,
  transport: http(rpcUrl, { timeout: 10_000, retryCount: 0 }),
}).extend(publicActions);

const rpcChainId = await viemClient.getChainId().catch((error) => fail(`RPC ${rpcUrl} unreachable: ${error.message}`, 1));
if (rpcChainId !== chainId) fail(`RPC ${rpcUrl} is chain ${rpcChainId}, CHAIN_ID says ${chainId}`, 1);

// The adapter the upstream example builds: viem's client methods under the FacilitatorEvmSigner names.
const signer = toFacilitatorEvmSigner(
  {
    address: account.address,
    getCode: (args) => viemClient.getCode(args),
    readContract: (args) => viemClient.readContract({ ...args, args: args.args || [] }),
    verifyTypedData: (args) => viemClient.verifyTypedData(args),
    writeContract: (args) => viemClient.writeContract({ ...args, args: args.args || [] }),
    sendTransaction: (args) => viemClient.sendTransaction(args),
    waitForTransactionReceipt: (args) => viemClient.waitForTransactionReceipt(args),
  },
  { confirmationTimeoutMs: receiptTimeoutMs },
);

const facilitator = new x402Facilitator().register(`eip155:${chainId}`, new ExactEvmScheme(signer));
if (v1Networks.length > 0) facilitator.registerV1(v1Networks, new ExactEvmSchemeV1(signer));

const log = (message) => process.stderr.write(`reference-facilitator: ${message}\n`);

const app = express();
app.use(express.json({ limit: "1mb" }));

app.get("/supported", (_req, res) => {
  res.json(facilitator.getSupported());
});

function handler(operation) {
  return async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    if (!paymentPayload || !paymentRequirements) {
      res.status(400).json({ error: "Missing paymentPayload or paymentRequirements" });
      return;
    }
    try {
      const result = await facilitator[operation](paymentPayload, paymentRequirements);
      log(`${operation} v${paymentPayload.x402Version} ${paymentRequirements.network}: ${JSON.stringify(jsonSafe(result))}`);
      res.json(jsonSafe(result));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`${operation} threw: ${message}`);
      if (operation === "settle" && message.includes("Settlement aborted:")) {
        res.json({
          success: false,
          errorReason: message.replace("Settlement aborted: ", ""),
          network: paymentPayload.network ?? paymentPayload.accepted?.network ?? "unknown",
          transaction: "",
        });
        return;
      }
      res.status(500).json({ error: message });
    }
  };
}
app.post("/verify", handler("verify"));
app.post("/settle", handler("settle"));

// A body express.json cannot parse: 400, never a stack trace.
app.use((error, _req, res, _next) => {
  res.status(error?.status && error.status < 500 ? error.status : 400).json({ error: error?.message ?? "bad request" });
});

listenAndAnnounce(app, port, { signer: account.address, kinds: facilitator.getSupported().kinds });
