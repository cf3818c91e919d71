//! The load generator: N keep-alive HTTP/1.1 connections on loopback, each sending one request at a time.
//!
//! The connections are spread over `threads` client threads, each a single-threaded tokio runtime, so the
//! client's CPU time can be read per thread and reported apart from the server's.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How a run picks its requests.
#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// Cycle through the bodies until the duration has passed.
    For(Duration),
    /// Send each body exactly once.
    EachOnce,
}

/// What one run measured.
#[derive(Debug)]
pub struct LoadResult {
    /// Requests answered 200 whose body passed the check.
    pub ok: u64,
    /// Requests answered otherwise.
    pub failed: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of every request, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// CPU time of the client threads.
    pub client_cpu: Duration,
    /// The answers, in no particular order (kept only when asked for).
    pub answers: Vec<Bytes>,
    /// The first failure, for the report.
    pub first_failure: Option<String>,
}

impl LoadResult {
    /// Answered requests per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile of latency (0..=1), milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[index]) / 1_000.0
    }
}

/// Where a `POST` carries each of the bodies.
#[derive(Debug, Clone)]
pub enum Carry {
    /// As the request body (`Content-Type: application/json`).
    Body,
    /// As the request body, every request also sending the header `name: value` (a credential, say).
    BodyWith {
        /// The header's name.
        name: &'static str,
        /// Its value.
        value: Bytes,
    },
    /// As the request body, request `i` also sending the header `name: values[i % values.len()]` (one credential
    /// of several agents each).
    BodyWithOneOf {
        /// The header's name.
        name: &'static str,
        /// Its values, taken in turn.
        values: Arc<Vec<Bytes>>,
    },
    /// In the header `name` (an x402 `PAYMENT-SIGNATURE`, say), every request sending the same JSON `body`.
    Header {
        /// The header's name.
        name: &'static str,
        /// The request body of every request.
        body: Bytes,
    },
}

/// One load run's shape.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server.
    pub address: SocketAddr,
    /// `POST`: each request sends one of the bodies to `path`. `GET`: each request gets one of the bodies, read as
    /// a request target (path and query); `path` is unused.
    pub method: hyper::Method,
    /// The path to POST to.
    pub path: String,
    /// Where a `POST` puts each of the bodies.
    pub carry: Carry,
    /// Concurrent connections.
    pub connections: usize,
    /// Client threads the connections are spread over.
    pub threads: usize,
    /// What to send.
    pub plan: Plan,
    /// A body counts as a success only if it contains this.
    pub expect: &'static [u8],
    /// Whether to keep the answers.
    pub keep_answers: bool,
}

#[derive(Debug, Default)]
struct ConnectionResult {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u32>,
    answers: Vec<Bytes>,
    first_failure: Option<String>,
}

/// Runs `load` with `bodies` and waits for every connection to finish.
pub(crate) fn run(load: &Load, bodies: Arc<Vec<Bytes>>) -> anyhow::Result<LoadResult> {
    if bodies.is_empty() || load.connections == 0 {
        bail!("nothing to send");
    }
    let next = Arc::new(AtomicUsize::new(0));
    let threads = load.threads.clamp(1, load.connections);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let connections = load.connections / threads + usize::from(thread < load.connections % threads);
            let (load, bodies, next) = (load.clone(), bodies.clone(), next.clone());
            std::thread::Builder::new().name(format!("bench-client-{thread}")).spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let cpu_before = thread_cpu_time();
                let results = runtime.block_on(async {
                    let tasks: Vec<_> = (0..connections)
                        .map(|_| tokio::spawn(connection(load.clone(), bodies.clone(), next.clone(), started)))
                        .collect();
                    let mut results = Vec::with_capacity(tasks.len());
                    for task in tasks {
                        results.push(task.await??);
                    }
                    anyhow::Ok(results)
                })?;
                anyhow::Ok((results, thread_cpu_time().saturating_sub(cpu_before)))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut result = LoadResult {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        client_cpu: Duration::ZERO,
        answers: Vec::new(),
        first_failure: None,
    };
    for handle in handles {
        let (connections, cpu) = handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        result.client_cpu += cpu;
        for connection in connections {
            result.ok += connection.ok;
            result.failed += connection.failed;
            result.latencies_us.extend(connection.latencies_us);
            result.answers.extend(connection.answers);
            result.first_failure = result.first_failure.or(connection.first_failure);
        }
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    Ok(result)
}

async fn connection(
    load: Load,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
    started: Instant,
) -> anyhow::Result<ConnectionResult> {
    let stream = TcpStream::connect(load.address).await.with_context(|| format!("connecting to {}", load.address))?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let host = load.address.to_string();
    let mut result = ConnectionResult::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let body = match load.plan {
            Plan::For(duration) if started.elapsed() < duration => bodies[index % bodies.len()].clone(),
            Plan::EachOnce if index < bodies.len() => bodies[index].clone(),
            Plan::For(_) | Plan::EachOnce => break,
        };
        let request = if load.method == hyper::Method::GET {
            let target = std::str::from_utf8(&body).context("a GET target is text")?;
            Request::get(target).header(header::HOST, &host).body(Full::new(Bytes::new()))?
        } else {
            let post = Request::post(load.path.as_str())
                .header(header::HOST, &host)
                .header(header::CONTENT_TYPE, "application/json");
            match &load.carry {
                Carry::Body => post.body(Full::new(body))?,
                Carry::BodyWith { name, value } => post.header(*name, value.as_ref()).body(Full::new(body))?,
                Carry::BodyWithOneOf { name, values } => {
                    post.header(*name, values[index % values.len()].as_ref()).body(Full::new(body))?
                }
                Carry::Header { name, body: fixed } => {
                    post.header(*name, body.as_ref()).body(Full::new(fixed.clone()))?
                }
            }
        };
        let sent = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        let latency = sent.elapsed();
        result.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        if status.is_success() && contains(&answer, load.expect) {
            result.ok += 1;
        } else {
            result.failed += 1;
            if result.first_failure.is_none() {
                result.first_failure = Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&answer)));
            }
        }
        if load.keep_answers {
            result.answers.push(answer);
        }
    }
    Ok(result)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// The calling thread's CPU time.
fn thread_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// This process's CPU time (all threads: the facilitator and the client).
pub(crate) fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut time) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(time.tv_sec).unwrap_or(0), u32::try_from(time.tv_nsec).unwrap_or(0))
}

/// The CPU time (user + system) of process `pid` so far, from `/proc/<pid>/stat`.
pub(crate) fn child_cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// The CPU time (user + system) so far of each process whose command name is `name` (`postgres`: the server and
/// every backend, whichever database it serves), by process id, from `/proc/<pid>/comm` and `/proc/<pid>/stat`.
pub(crate) fn processes_cpu_time(name: &str) -> HashMap<u32, Duration> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == name))
        .map(|pid| (pid, child_cpu_time(pid)))
        .collect()
}

/// The CPU time the processes of `now` spent since `before` (both from [`processes_cpu_time`]): a process started
/// since counts whole; one that exited meanwhile takes its time with it.
pub(crate) fn cpu_time_since(before: &HashMap<u32, Duration>, now: &HashMap<u32, Duration>) -> Duration {
    now.iter().map(|(pid, time)| time.saturating_sub(before.get(pid).copied().unwrap_or_default())).sum()
}

/// CPU time spent by the whole machine so far (every process, every core), from `/proc/stat`.
pub(crate) fn machine_busy_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return Duration::ZERO };
    let Some(line) = stat.lines().next() else { return Duration::ZERO };
    // cpu user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let busy: u64 = fields.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).take(8).map(|(_, v)| v).sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
    Duration::from_micros(busy * 1_000_000 / per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_since_counts_new_processes_whole_and_forgets_exited_ones() {
        let ms = Duration::from_millis;
        let before = HashMap::from([(1, ms(100)), (2, ms(50))]);
        let now = HashMap::from([(1, ms(130)), (3, ms(20))]);
        assert_eq!(cpu_time_since(&before, &now), ms(50));
        assert_eq!(cpu_time_since(&now, &now), Duration::ZERO);
    }
}
