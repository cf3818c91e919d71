"""Pays for a URL the way a third-party Python agent does with the PyPI `x402` package 2.25 (x402 v2): a request
(GET unless METHOD says otherwise) through `x402HttpxClient`, which reads the 402's PAYMENT-REQUIRED, signs an
EIP-3009 authorization with an `EthAccountSigner` and retries with PAYMENT-SIGNATURE. The Python counterpart of
pay-v2.mjs, with the same environment and output.

Env: RESOURCE_URL (or the first argument), AGENT_KEY (0x private key of the payer; it needs tokens, no gas),
     CHAIN_ID and TOKEN_ADDRESS (spend controls: the client pays only assets it knows, so the local token is allowed
     explicitly on eip155:<CHAIN_ID>), MAX_AMOUNT (optional atomic cap per payment), PAY_TIMEOUT_MS (default 60000,
     the whole exchange), METHOD (default GET) and BODY (optional JSON, sent as application/json; the client
     replays it with the payment), EXPECT_STATUS (default 200).
Stdout: one JSON line `{"status":N,"body":<json or text>,"paymentResponse":<decoded PAYMENT-RESPONSE or null>}`,
        plus `"paymentRequired":<decoded PAYMENT-REQUIRED>` when the final answer is a 402 (it carries the reason).
Exit: 0 on HTTP EXPECT_STATUS with a successful payment response; 1 otherwise (the line is still printed when there
      was a response; the error goes to stderr)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys

from eth_account import Account
from x402 import SchemeRegistration, x402Client, x402ClientConfig
from x402.http.clients.httpx import x402HttpxClient
from x402.mechanisms.evm.exact import ExactEvmScheme
from x402.mechanisms.evm.signers import EthAccountSigner

from common import address_env, emit, env, fail, int_env, key_env, loopback_url_env


def decode_header(value: str | None) -> object | None:
    """The JSON inside a base64 x402 header, or None (an undecodable header is reported, not fatal)."""
    if not value:
        return None
    try:
        return json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))
    except ValueError as error:
        print(f"pay_v2.py: undecodable header {value!r}: {error}", file=sys.stderr)
        return None


async def main() -> None:
    url = loopback_url_env("RESOURCE_URL", sys.argv[1] if len(sys.argv) > 1 else None)
    account = Account.from_key(key_env("AGENT_KEY"))
    network = f"eip155:{int_env('CHAIN_ID')}"
    asset = address_env("TOKEN_ADDRESS")
    max_amount = env("MAX_AMOUNT")
    timeout = int_env("PAY_TIMEOUT_MS", 60000) / 1000
    method = str(env("METHOD", "GET")).upper()
    request_body = env("BODY")
    if request_body is not None:
        try:
            json.loads(request_body)
        except ValueError as error:
            fail(f"BODY is not JSON: {error}")
    expect_status = int_env("EXPECT_STATUS", 200)

    allowed = {"network": network, "asset": asset}
    if max_amount:
        allowed["max_amount_per_payment"] = max_amount
    client = x402Client.from_config(
        x402ClientConfig(
            schemes=[SchemeRegistration(network=network, client=ExactEvmScheme(EthAccountSigner(account)))],
            spend_controls={"allowed_assets": [allowed]},
        )
    )

    try:
        async with x402HttpxClient(client, timeout=timeout) as http:
            headers = {} if request_body is None else {"Content-Type": "application/json"}
            request = http.request(method, url, content=request_body, headers=headers)
            response = await asyncio.wait_for(request, timeout)
    except Exception as error:  # noqa: BLE001  any failure of the exchange is the payer's failure
        fail(f"payment failed: {type(error).__name__}: {error}", 1)

    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    header = response.headers.get("PAYMENT-RESPONSE")
    payment_response = decode_header(header)
    line: dict[str, object] = {"status": response.status_code, "body": body, "paymentResponse": payment_response}
    # On a final 402 the middleware puts the reason (e.g. the facilitator's invalidReason) in PAYMENT-REQUIRED.
    payment_required = decode_header(response.headers.get("PAYMENT-REQUIRED")) if response.status_code == 402 else None
    if payment_required is not None:
        line["paymentRequired"] = payment_required
    emit(line)

    success = isinstance(payment_response, dict) and payment_response.get("success") is True
    if response.status_code != expect_status or not success:
        reason = None
        if isinstance(payment_required, dict):
            reason = payment_required.get("error")
        if reason is None and isinstance(payment_response, dict):
            reason = payment_response.get("errorReason")
        fail(
            f"expected HTTP {expect_status} with a successful PAYMENT-RESPONSE, got {response.status_code}"
            f"{'' if header else ' without PAYMENT-RESPONSE'}{f': {reason}' if reason else ''}",
            1,
        )


if __name__ == "__main__":
    asyncio.run(main())
