// A marketplace provider's webhook receiver, as a third party writes one: node:http on loopback, every delivery
// checked twice before it is believed, independently of Clearing's code:
//   - Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`) with the npm reference
//     library `standardwebhooks` (HMAC key: the base64-decoded part of the secret after `whsec_`; 5-minute
//     timestamp tolerance);
//   - the402's legacy `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Webhook-Timestamp>.<body>")>` with
//     node:crypto, keyed by the whole secret string as UTF-8 (`whsec_` included), as docs/WEBHOOKS.md specifies.
// A delivery that passes both is answered 200 and kept; any other is answered 401 and kept as a failure (Clearing
// then retries it, and the case fails on the failure). Used in process by market-purchase.mjs, which learns the
// secret only from the registration that names this receiver's URL, hence `setSecret`.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";
import { HOST } from "./lib.mjs";

/** The legacy (the402) signature of `body` at `timestamp`: `sha256=` and the hex HMAC, computed here by hand. */
export function legacySignature(secret, timestamp, body) {
  const mac = createHmac("sha256", Buffer.from(secret, "utf8"));
  return `sha256=${mac.update(`${timestamp}.`).update(body).digest("hex")}`;
}

/**
 * Both checks of one delivery. Returns `{standard, legacy, payload}`: each check `"ok"` or the reason it failed, and
 * the parsed body when the Standard Webhooks library accepted it.
 */
export function verifyDelivery(secret, headers, body) {
  let standard = "ok";
  let payload;
  try {
    payload = new Webhook(secret).verify(body, headers);
  } catch (error) {
    standard = `standardwebhooks refused it: ${error.message}`;
  }
  let legacy = "ok";
  const timestamp = headers["x-webhook-timestamp"];
  const got = headers["x-webhook-signature"];
  if (typeof timestamp !== "string" || !/^[0-9]+$/.test(timestamp)) legacy = `X-Webhook-Timestamp is ${timestamp}`;
  else if (typeof got !== "string") legacy = "no X-Webhook-Signature";
  else {
    const want = Buffer.from(legacySignature(secret, timestamp, body));
    const have = Buffer.from(got);
    if (have.length !== want.length || !timingSafeEqual(have, want)) legacy = `X-Webhook-Signature ${got} differs`;
    else if (headers["webhook-timestamp"] !== timestamp) legacy = "the two timestamps differ";
  }
  return { standard, legacy, payload };
}

/**
 * Starts the receiver on HOST:0. Resolves to `{url, setSecret, deliveries, waitFor, close}`: `deliveries` holds every
 * request in arrival order (`{headers, body, standard, legacy, payload, at}`); `waitFor(type, ms)` resolves to the
 * first verified delivery of that event type, or rejects after `ms`.
 */
export async function startReceiver(path = "/hooks") {
  let secret = null;
  const deliveries = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const entry = { path: req.url, method: req.method, headers: req.headers, body, at: Date.now() };
      if (secret === null) Object.assign(entry, { standard: "no secret yet", legacy: "no secret yet" });
      else Object.assign(entry, verifyDelivery(secret, req.headers, body));
      if (req.method !== "POST" || req.url !== path) entry.standard = `unexpected ${req.method} ${req.url}`;
      deliveries.push(entry);
      const ok = entry.standard === "ok" && entry.legacy === "ok";
      process.stderr.write(
        `webhook: ${entry.payload?.type ?? "?"} ${ok ? "verified" : `REFUSED (${entry.standard}; ${entry.legacy})`}\n`,
      );
      res.writeHead(ok ? 200 : 401, { "content-type": "text/plain" }).end(ok ? "ok" : "bad signature");
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, resolve);
  });
  const url = `http://${HOST}:${server.address().port}${path}`;

  const verified = (d) => d.standard === "ok" && d.legacy === "ok";
  async function waitFor(type, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = deliveries.find((d) => verified(d) && d.payload?.type === type);
      if (found) return found;
      if (Date.now() > deadline) {
        const seen = deliveries.map((d) => `${d.payload?.type ?? "?"}:${verified(d) ? "ok" : "refused"}`);
        throw new Error(`no verified ${type} webhook within ${ms} ms; received [${seen.join(", ")}]`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    });
  return { url, setSecret: (s) => (secret = s), deliveries, waitFor, close };
}
