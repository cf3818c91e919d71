// A resource server as a third party would write it with x402-express 1.2.0 (x402 v1): one paid route,
// `GET /weather`, priced in the test token on a v1 network name (default `base-sepolia`, which the v1 client
// maps to chain id 84532, so anvil must run with --chain-id 84532), settled through FACILITATOR_URL.
//
// The v1 middleware takes a non-default token as price `{amount, asset:{address, decimals, eip712:{name, version}}}`
// and sends `asset.eip712` as the requirement's `extra`.
//
// Env: FACILITATOR_URL, TOKEN_ADDRESS, PAY_TO, PRICE (atomic, default 10000), NETWORK (default "base-sepolia"),
//      TOKEN_NAME (default "USDC"), TOKEN_VERSION (default "2"), TOKEN_DECIMALS (default 6),
//      MAX_TIMEOUT_SECONDS (default 60), PORT (default 0 = a free port).
// Stdout: `{"ready":true,"port":N,"network":"base-sepolia"}` once listening. The v1 middleware never calls
//         /supported for EVM networks, so readiness says nothing about the facilitator.

import express from "express";
import { paymentMiddleware } from "x402-express";
import {
  WEATHER,
  addressEnv,
  atomicEnv,
  env,
  intEnv,
  listenAndAnnounce,
  loopbackUrlEnv,
} from "./lib.mjs";

const facilitatorUrl = loopbackUrlEnv("FACILITATOR_URL");
const network = env("NETWORK", "base-sepolia");
const address = addressEnv("TOKEN_ADDRESS");
const payTo = addressEnv("PAY_TO");
const amount = atomicEnv("PRICE", "10000");
const name = env("TOKEN_NAME", "USDC");
const version = env("TOKEN_VERSION", "2");
const decimals = intEnv("TOKEN_DECIMALS", 6);
const maxTimeoutSeconds = intEnv("MAX_TIMEOUT_SECONDS", 60);
const port = intEnv("PORT", 0);

const app = express();
app.use(
  paymentMiddleware(
    payTo,
    {
      "GET /weather": {
        price: { amount, asset: { address, decimals, eip712: { name, version } } },
        network,
        config: {
          description: "Weather report (Clearing interop test resource)",
          mimeType: "application/json",
          maxTimeoutSeconds,
        },
      },
    },
    { url: facilitatorUrl },
  ),
);
app.get("/weather", (_req, res) => res.json(WEATHER));
app.get("/health", (_req, res) => res.json({ ok: true }));

listenAndAnnounce(app, port, { network });
