//! A flaky JSON-RPC proxy in front of anvil: drops connections, delays, answers 500 and 429, and refuses
//! `eth_getLogs` ranges wider than a limit, each for a share of requests (a fixed-seed generator, so runs repeat).

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Faults injected so far, by kind.
#[derive(Debug, Default)]
pub(crate) struct Injected {
    pub(crate) dropped: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) limited: AtomicU64,
    pub(crate) range_refused: AtomicU64,
    pub(crate) forwarded: AtomicU64,
}

pub(crate) struct FlakyProxy {
    pub(crate) url: String,
    pub(crate) injected: Arc<Injected>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Widest `eth_getLogs` range the proxy lets through.
pub(crate) const MAX_LOGS_RANGE: u64 = 16;

impl FlakyProxy {
    pub(crate) async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let injected = Arc::new(Injected::default());
        let rng = Arc::new(Mutex::new(0x9E37_79B9_7F4A_7C15u64));
        let client = reqwest::Client::new();
        let counters = injected.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (upstream, client, counters, rng) =
                    (upstream.clone(), client.clone(), counters.clone(), rng.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &upstream, &client, &counters, &rng).await;
                });
            }
        });
        Self { url: format!("http://{addr}"), injected, task }
    }
}

fn next(rng: &Mutex<u64>) -> u64 {
    let mut state = rng.lock().unwrap();
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn serve(
    mut stream: TcpStream,
    upstream: &str,
    client: &reqwest::Client,
    counters: &Injected,
    rng: &Mutex<u64>,
) -> std::io::Result<()> {
    // One request per connection: read the head, then Content-Length bytes of body.
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[head_end..head_end + length].to_vec();

    let roll = next(rng) % 100;
    if roll < 8 {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    if roll < 16 {
        counters.delayed.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50 + next(rng) % 150)).await;
    } else if roll < 22 {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return respond(&mut stream, "500 Internal Server Error", b"upstream unavailable").await;
    } else if roll < 26 {
        counters.limited.fetch_add(1, Ordering::Relaxed);
        return respond(&mut stream, "429 Too Many Requests", b"slow down").await;
    }
    if let Some(refusal) = refuse_wide_range(&body) {
        counters.range_refused.fetch_add(1, Ordering::Relaxed);
        return respond(&mut stream, "200 OK", refusal.as_bytes()).await;
    }
    counters.forwarded.fetch_add(1, Ordering::Relaxed);
    let Ok(answer) = client.post(upstream).header("content-type", "application/json").body(body).send().await else {
        return respond(&mut stream, "502 Bad Gateway", b"").await;
    };
    let bytes = answer.bytes().await.unwrap_or_default();
    respond(&mut stream, "200 OK", &bytes).await
}

/// The answer of a node with a block range limit, for an `eth_getLogs` wider than [`MAX_LOGS_RANGE`].
fn refuse_wide_range(body: &[u8]) -> Option<String> {
    let request: Value = serde_json::from_slice(body).ok()?;
    if request["method"] != "eth_getLogs" {
        return None;
    }
    let filter = &request["params"][0];
    let number = |v: &Value| u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok();
    let (from, to) = (number(&filter["fromBlock"])?, number(&filter["toBlock"])?);
    (to.saturating_sub(from) + 1 > MAX_LOGS_RANGE).then(|| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32005,"message":"query exceeds max block range {MAX_LOGS_RANGE}"}}}}"#,
            request["id"]
        )
    })
}

async fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}
