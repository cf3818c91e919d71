//! `GET /weather` behind a [`Paywall`]: the Rust resource server of the interop harness
//! (`tests/interop/run-reference.sh v2-rust`), the counterpart of `tests/interop/resource-server-v2.mjs`.
//!
//! Env: `FACILITATOR_URL`, `CHAIN_ID`, `TOKEN_ADDRESS`, `PAY_TO`, `PRICE` (atomic, default 10000), `TOKEN_NAME`
//! (default `USDC`), `TOKEN_VERSION` (default `2`), `MAX_TIMEOUT_SECONDS` (default 60), `SETTLE_BEFORE` (`1` settles
//! before the handler), `PORT` (default 0, a free port).
//! Stdout: `{"ready":true,"port":N,"network":"eip155:<id>"}` once the facilitator's `/supported` lists `exact` v2
//! on the network; nothing else. Logs go to stderr. Exits 1 if the facilitator does not serve the network.

use std::net::{Ipv4Addr, SocketAddr};

use alloy_primitives::{Address, U256};
use anyhow::{Context, bail};
use axum::{Json, Router, routing::get};
use clearing_paywall::{FacilitatorClient, Paywall, Price};
use clearing_x402::{Network, SCHEME_EXACT, TokenDomain, X402Version};
use serde::Serialize;

/// The paid resource: `WEATHER` of `tests/interop/lib.mjs`, in its key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Weather {
    location: &'static str,
    weather: &'static str,
    temperature_c: i32,
}

/// The ready line, `ready` first (the harness matches `^{"ready":true`).
#[derive(Serialize)]
struct Ready {
    ready: bool,
    port: u16,
    network: String,
}

async fn weather() -> Json<Weather> {
    Json(Weather { location: "Clearing interop", weather: "sunny", temperature_c: 21 })
}

fn var(name: &str, default: Option<&str>) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => default.map(str::to_owned).with_context(|| format!("{name} is required")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let facilitator = FacilitatorClient::new(var("FACILITATOR_URL", None)?.parse().context("FACILITATOR_URL")?)?;
    let network = Network::new(var("CHAIN_ID", None)?.parse().context("CHAIN_ID")?);
    let token: Address = var("TOKEN_ADDRESS", None)?.parse().context("TOKEN_ADDRESS")?;
    let pay_to: Address = var("PAY_TO", None)?.parse().context("PAY_TO")?;
    let amount: U256 = var("PRICE", Some("10000"))?.parse().context("PRICE")?;
    let domain = TokenDomain::new(
        network.chain_id(),
        token,
        &var("TOKEN_NAME", Some("USDC"))?,
        &var("TOKEN_VERSION", Some("2"))?,
    );
    let price = Price::new(amount, domain, pay_to)
        .with_description("Weather report (Clearing interop test resource)")
        .with_max_timeout_seconds(var("MAX_TIMEOUT_SECONDS", Some("60"))?.parse().context("MAX_TIMEOUT_SECONDS")?);
    let port: u16 = var("PORT", Some("0"))?.parse().context("PORT")?;

    // Like the npm server: refuse to start against a facilitator that does not serve this network.
    let supported = facilitator.supported().await.context("GET /supported")?;
    let served = supported.kinds.iter().any(|kind| {
        kind.x402_version == X402Version::V2 && kind.scheme == SCHEME_EXACT && kind.network == network.caip2()
    });
    if !served {
        bail!("facilitator {} does not list exact v2 on {network}", facilitator.url());
    }

    let paywall = Paywall::new(facilitator, price).settle_before_handler(var("SETTLE_BEFORE", Some("0"))? == "1");
    let app = Router::new()
        .route("/weather", get(weather).layer(paywall))
        .route("/health", get(|| async { Json(serde_json::json!({"ok": true})) }));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let port = listener.local_addr()?.port();
    let ready = Ready { ready: true, port, network: network.caip2() };
    println!("{}", serde_json::to_string(&ready)?);

    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
