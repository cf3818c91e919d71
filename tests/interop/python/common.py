"""Shared by the Python interop scripts, as lib.mjs is by the Node ones: environment parsing, the one-line readiness
protocol, the paid resource. Loopback only; machine-readable JSON lines on stdout, messages for people on stderr."""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from typing import NoReturn

from eth_utils import is_address, to_checksum_address

#: The only interface the servers bind.
HOST = "127.0.0.1"

#: The resource every interop server sells, byte for byte the `WEATHER` of lib.mjs.
WEATHER = {"location": "Clearing interop", "weather": "sunny", "temperatureC": 21}


def fail(message: str, code: int = 2) -> NoReturn:
    """Prints an error naming the script and exits non-zero."""
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def emit(obj: object) -> None:
    """Prints one JSON line on stdout."""
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def env(name: str, default: str | None = None) -> str | None:
    """An optional variable; empty counts as unset."""
    value = os.environ.get(name, "")
    return value if value else default


def require_env(name: str) -> str:
    """A required variable, or exit naming it."""
    value = env(name)
    if value is None:
        fail(f"{name} is required")
    return value


def int_env(name: str, default: int | None = None) -> int:
    """A non-negative decimal integer (a chain id, a port, milliseconds)."""
    value = require_env(name) if default is None else env(name, str(default))
    if not re.fullmatch(r"[0-9]+", value or ""):
        fail(f"{name} must be a non-negative integer, not {value}")
    return int(value)


def atomic_env(name: str, default: str) -> str:
    """An amount in atomic units, kept as a decimal string as x402 wants it."""
    value = env(name, default)
    if not re.fullmatch(r"0|[1-9][0-9]*", value or ""):
        fail(f"{name} must be a decimal integer in atomic units, not {value}")
    return value


def address_env(name: str) -> str:
    """A checksummed address."""
    value = require_env(name)
    if not is_address(value):
        fail(f"{name} is not an address: {value}")
    return to_checksum_address(value)


def key_env(name: str) -> str:
    """A 0x-prefixed 32-byte hex private key."""
    value = require_env(name)
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        fail(f"{name} must be a 0x-prefixed 32-byte hex private key")
    return value


def loopback_url_env(name: str, override: str | None = None) -> str:
    """An http(s) URL on loopback, without trailing slashes; the harness never talks to anything else."""
    value = override or require_env(name)
    url = urllib.parse.urlsplit(value)
    if url.scheme not in ("http", "https") or url.hostname not in ("127.0.0.1", "localhost", "::1"):
        fail(f"{name} must be an http URL on loopback, not {value}")
    return value.rstrip("/")
