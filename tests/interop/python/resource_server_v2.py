"""A resource server as a third party would write it in Python with the PyPI `x402` package 2.25 (x402 v2): Flask,
the package's `PaymentMiddleware`, one paid route `GET /weather` priced in the test token on eip155:<CHAIN_ID>,
verified and settled through the facilitator at FACILITATOR_URL (`HTTPFacilitatorClientSync`). The Python
counterpart of resource-server-v2.mjs, with the same environment and ready line.

Env: FACILITATOR_URL, CHAIN_ID, TOKEN_ADDRESS, PAY_TO, PRICE (atomic, default 10000), TOKEN_NAME (default "USDC"),
     TOKEN_VERSION (default "2"), MAX_TIMEOUT_SECONDS (default 60), FACILITATOR_TIMEOUT_MS (default 30000),
     PORT (default 0 = a free port).
Stdout: `{"ready":true,"port":N,"network":"eip155:<id>"}` once the facilitator's /supported has been read and the
        route validated against it; nothing else. Exits non-zero if that fails. SIGTERM or SIGINT stops it."""

from __future__ import annotations

import logging
import signal
import threading

from flask import Flask, jsonify
from werkzeug.serving import make_server
from x402 import x402ResourceServerSync
from x402.http import FacilitatorConfig, HTTPFacilitatorClientSync
from x402.http.middleware.flask import PaymentMiddleware
from x402.http.types import PaymentOption, RouteConfig
from x402.http.x402_http_server import x402HTTPResourceServerSync
from x402.mechanisms.evm.exact import ExactEvmServerScheme
from x402.schemas import AssetAmount

from common import HOST, WEATHER, address_env, atomic_env, emit, env, fail, int_env, loopback_url_env

facilitator_url = loopback_url_env("FACILITATOR_URL")
network = f"eip155:{int_env('CHAIN_ID')}"
asset = address_env("TOKEN_ADDRESS")
pay_to = address_env("PAY_TO")
amount = atomic_env("PRICE", "10000")
name = env("TOKEN_NAME", "USDC")
version = env("TOKEN_VERSION", "2")
max_timeout_seconds = int_env("MAX_TIMEOUT_SECONDS", 60)
port = int_env("PORT", 0)

facilitator = HTTPFacilitatorClientSync(
    FacilitatorConfig(url=facilitator_url, timeout=int_env("FACILITATOR_TIMEOUT_MS", 30000) / 1000)
)
server = x402ResourceServerSync(facilitator)
server.register(network, ExactEvmServerScheme())

routes = {
    "GET /weather": RouteConfig(
        accepts=PaymentOption(
            scheme="exact",
            network=network,
            pay_to=pay_to,
            # An AssetAmount: the token is not one of the library's default assets, so its EIP-712 domain rides in
            # extra.
            price=AssetAmount(amount=amount, asset=asset, extra={"name": name, "version": version}),
            max_timeout_seconds=max_timeout_seconds,
        ),
        description="Weather report (Clearing interop test resource)",
        mime_type="application/json",
    )
}

# Read /supported and validate the route before announcing readiness, so a facilitator that does not list `exact`
# on this network fails here, loudly. (The middleware initialises too, but only warns on a facilitator error.)
try:
    x402HTTPResourceServerSync(server, routes).initialize()
except Exception as error:  # noqa: BLE001  whatever the reason, the server must not come up
    fail(f"facilitator {facilitator_url} rejected: {type(error).__name__}: {error}", 1)

app = Flask(__name__)
app.json.sort_keys = False  # serve WEATHER in its own key order, as the other servers do (the check compares bytes)
PaymentMiddleware(app, routes, server)


@app.get("/weather")
def weather():  # noqa: ANN201
    return jsonify(WEATHER)


@app.get("/health")
def health():  # noqa: ANN201
    return jsonify({"ok": True})


logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request logs would go to stderr; keep them short
http = make_server(HOST, port, app, threaded=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
threading.Thread(target=http.serve_forever, daemon=True).start()
emit({"ready": True, "port": http.port, "network": network})
stop.wait()
http.shutdown()
