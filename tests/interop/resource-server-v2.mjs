// A resource server as a third party would write it with @x402/express 2.27 (x402 v2): one paid route,
// `GET /weather`, priced in the test token on eip155:<CHAIN_ID>, settled through the facilitator at FACILITATOR_URL.
//
// Env: FACILITATOR_URL, CHAIN_ID, TOKEN_ADDRESS, PAY_TO, PRICE (atomic, default 10000),
//      TOKEN_NAME (default "USDC"), TOKEN_VERSION (default "2"), MAX_TIMEOUT_SECONDS (default 60),
//      FACILITATOR_TIMEOUT_MS (default 30000), PORT (default 0 = a free port).
// Stdout: `{"ready":true,"port":N,"network":"eip155:<id>"}` once the facilitator's /supported has been read and
//         the route validated against it; nothing else. Exits non-zero if that fails.

import express from "express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddlewareFromHTTPServer, x402HTTPResourceServer, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import {
  WEATHER,
  addressEnv,
  atomicEnv,
  env,
  fail,
  intEnv,
  listenAndAnnounce,
  loopbackUrlEnv,
} from "./lib.mjs";

const facilitatorUrl = loopbackUrlEnv("FACILITATOR_URL");
const network = `eip155:${intEnv("CHAIN_ID")}`;
const asset = addressEnv("TOKEN_ADDRESS");
const payTo = addressEnv("PAY_TO");
const amount = atomicEnv("PRICE", "10000");
const name = env("TOKEN_NAME", "USDC");
const version = env("TOKEN_VERSION", "2");
const maxTimeoutSeconds = intEnv("MAX_TIMEOUT_SECONDS", 60);
const port = intEnv("PORT", 0);

const facilitator = new HTTPFacilitatorClient({
  url: facilitatorUrl,
  timeoutMs: intEnv("FACILITATOR_TIMEOUT_MS", 30000),
});
const resourceServer = new x402ResourceServer(facilitator).register(network, new ExactEvmScheme());

const routes = {
  "GET /weather": {
    accepts: {
      scheme: "exact",
      network,
      payTo,
      // An AssetAmount: the token is not one of the library's default assets, so its EIP-712 domain rides in extra.
      price: { amount, asset, extra: { name, version } },
      maxTimeoutSeconds,
    },
    description: "Weather report (Clearing interop test resource)",
    mimeType: "application/json",
  },
};
const httpServer = new x402HTTPResourceServer(resourceServer, routes);

// Read /supported and validate the route before announcing readiness, so a facilitator that does not list
// `exact` on this network fails here, loudly, rather than on the first request.
try {
  await httpServer.initialize();
} catch (error) {
  fail(`facilitator ${facilitatorUrl} rejected: ${error?.message ?? error}${error?.cause ? ` (${error.cause.message ?? error.cause})` : ""}`, 1);
}

const app = express();
app.use(paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false));
app.get("/weather", (_req, res) => res.json(WEATHER));
app.get("/health", (_req, res) => res.json({ ok: true }));

listenAndAnnounce(app, port, { network });
