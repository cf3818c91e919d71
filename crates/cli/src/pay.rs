//! `clearing pay`: requests a URL and, when it answers 402, pays it with the key in `CLEARING_PAYER_KEY`.
//!
//! The response body goes to stdout as received; what was paid and the settlement transaction go to stderr, so the
//! body can be piped. The key is read from the environment only (never a flag, which `ps` would show) and never
//! printed or logged.

use std::io::Write;

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use anyhow::{Context, bail};
use clap::Args;
use clearing_client::{Payer, Policy};
use url::Url;

/// The environment variable holding the payer's private key.
pub(crate) const PAYER_KEY_ENV: &str = "CLEARING_PAYER_KEY";

/// `clearing pay` arguments.
#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// The URL of the paid resource.
    url: Url,
    /// The HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// The request body, sent as given (add `--header 'Content-Type: application/json'` for JSON).
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// A request header, `Name: value`; repeat for more.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The most one payment may cost, in the token's atomic units (USDC has 6 decimals: 10000 is $0.01).
    #[arg(long, default_value = "1000000", value_name = "ATOMIC_UNITS")]
    max_amount: U256,
    /// Print one JSON line instead (`status`, `body`, `paymentResponse`, `paid`) for scripts and agents.
    #[arg(long)]
    json: bool,
}

/// Runs `clearing pay`.
pub(crate) async fn run(args: PayArgs) -> anyhow::Result<()> {
    let key = std::env::var(PAYER_KEY_ENV)
        .with_context(|| format!("set {PAYER_KEY_ENV} to the payer's private key (0x-prefixed hex)"))?;
    // The parse error could echo the key's text: replace it with a message of our own.
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{PAYER_KEY_ENV} is not a private key (expected 32 bytes of 0x-prefixed hex)"))?;
    let method = args.method.to_uppercase().parse().with_context(|| format!("invalid method {:?}", args.method))?;
    let headers = Payer::headers(args.headers.iter().map(String::as_str))?;
    let payer = Payer::new(signer, Policy::at_most(args.max_amount));

    let paid = payer.pay(method, args.url.clone(), headers, args.data.map(String::into_bytes)).await?;
    if args.json {
        println!("{}", json_line(&paid, payer.address()));
        if !paid.status.is_success() {
            bail!("the server answered {}", paid.status);
        }
        return Ok(());
    }
    std::io::stdout().write_all(&paid.body)?;
    std::io::stdout().flush()?;

    let mut err = std::io::stderr().lock();
    writeln!(err)?;
    writeln!(err, "HTTP {}", paid.status)?;
    match &paid.payment {
        None => writeln!(err, "no payment asked for")?,
        Some(payment) => {
            let offer = &payment.offer;
            writeln!(
                err,
                "paid {} atomic units of {} to {} on {}, from {}",
                offer.amount,
                offer.asset,
                offer.pay_to,
                offer.network,
                payer.address()
            )?;
            match &payment.settlement {
                Some(s) if s.success => match s.transaction {
                    Some(tx) => writeln!(err, "settled in transaction {tx}")?,
                    None => writeln!(err, "settled (no transaction named)")?,
                },
                Some(s) => writeln!(
                    err,
                    "not settled: {} {}",
                    s.error_reason.map(|r| r.to_string()).unwrap_or_default(),
                    s.error_message.as_deref().unwrap_or_default()
                )?,
                None => writeln!(err, "the server sent no payment response header")?,
            }
        }
    }
    if !paid.status.is_success() {
        bail!("the server answered {}", paid.status);
    }
    Ok(())
}

/// `--json`'s line. The body is embedded verbatim when it is JSON (key order kept), else as a string.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonLine<'a> {
    status: u16,
    body: Box<serde_json::value::RawValue>,
    payment_response: Option<&'a clearing_x402::SettleResponse>,
    paid: Option<PaidLine>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PaidLine {
    amount: String,
    asset: String,
    pay_to: String,
    network: String,
    payer: String,
}

fn json_line(paid: &clearing_client::Paid, payer: alloy::primitives::Address) -> String {
    let text = String::from_utf8_lossy(&paid.body).into_owned();
    let body = serde_json::value::RawValue::from_string(text.trim().to_owned())
        .or_else(|_| serde_json::value::to_raw_value(&text))
        .expect("a string always serialises");
    let payment = paid.payment.as_ref();
    let line = JsonLine {
        status: paid.status.as_u16(),
        body,
        payment_response: payment.and_then(|p| p.settlement.as_ref()),
        paid: payment.map(|p| PaidLine {
            amount: p.offer.amount.to_string(),
            asset: p.offer.asset.to_checksum(None),
            pay_to: p.offer.pay_to.to_checksum(None),
            network: p.offer.network.caip2(),
            payer: payer.to_checksum(None),
        }),
    };
    serde_json::to_string(&line).expect("the line always serialises")
}
