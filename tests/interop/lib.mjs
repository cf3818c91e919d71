// Shared by the interop scripts: environment parsing, the one-line readiness protocol, bounded shutdown.
// Every script here talks to loopback only and prints machine-readable JSON lines on stdout; humans read stderr.

import { isAddress, getAddress } from "viem";

/** The only interface the servers bind. */
export const HOST = "127.0.0.1";

/** The protected resource both resource servers sell: fixed, so a payer's output can be compared byte for byte. */
export const WEATHER = Object.freeze({ location: "Clearing interop", weather: "sunny", temperatureC: 21 });

/** Reads a required variable, or exits with a message naming it. */
export function requireEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === "") fail(`${name} is required`);
  return value;
}

/** Reads an optional variable with a default. */
export function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
}

/** Reads a checksummed address from a variable. */
export function addressEnv(name, fallback) {
  const value = fallback === undefined ? requireEnv(name) : env(name, fallback);
  if (!isAddress(value, { strict: false })) fail(`${name} is not an address: ${value}`);
  return getAddress(value);
}

/** Reads a 32-byte hex private key from a variable. */
export function keyEnv(name) {
  const value = requireEnv(name);
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) fail(`${name} must be a 0x-prefixed 32-byte hex private key`);
  return value;
}

/** Reads a non-negative integer (decimal string) from a variable, kept as a string as x402 wants amounts. */
export function atomicEnv(name, fallback) {
  const value = fallback === undefined ? requireEnv(name) : env(name, fallback);
  if (!/^(0|[1-9][0-9]*)$/.test(value)) fail(`${name} must be a decimal integer in atomic units, not ${value}`);
  return value;
}

/** Reads a positive integer (a chain id, a port, milliseconds) from a variable. */
export function intEnv(name, fallback) {
  const value = fallback === undefined ? requireEnv(name) : env(name, String(fallback));
  if (!/^[0-9]+$/.test(value)) fail(`${name} must be a non-negative integer, not ${value}`);
  return Number(value);
}

/** Reads an http(s) URL on loopback; the harness never talks to anything else. */
export function loopbackUrlEnv(name) {
  const value = requireEnv(name);
  let url;
  try {
    url = new URL(value);
  } catch {
    fail(`${name} is not a URL: ${value}`);
  }
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) fail(`${name} must point at loopback, not ${url.host}`);
  return value.replace(/\/+$/, "");
}

/** Prints an error and exits non-zero. */
export function fail(message, code = 2) {
  process.stderr.write(`${process.argv[1]?.split("/").pop() ?? "interop"}: ${message}\n`);
  process.exit(code);
}

/** Prints one JSON line on stdout. */
export function emit(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

/**
 * Listens on HOST:port (0 picks a free port), prints `{"ready":true,"port":N}` once listening, and closes the
 * server on SIGTERM/SIGINT (forcing exit after a bound, so a stuck keep-alive cannot keep the process around).
 */
export function listenAndAnnounce(app, port, extra = {}) {
  const server = app.listen(port, HOST, () => {
    emit({ ready: true, port: server.address().port, ...extra });
  });
  server.on("error", (error) => fail(`cannot listen on ${HOST}:${port}: ${error.message}`, 1));
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  return server;
}

/** JSON-safe copy: bigints as decimal strings. */
export function jsonSafe(value) {
  return JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
}
