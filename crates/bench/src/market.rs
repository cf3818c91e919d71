//! The catalog benchmark: `services` listed through the ledger by `providers` providers, then
//! `GET /v1/services/catalog` under load over HTTP from N keep-alive connections, for each query mix, with the answer
//! cache on and off.
//!
//! Listings are deterministic pseudo-random text over a vocabulary of [`VOCABULARY`] words: the 234 marketplace words
//! of [`WORDS`] spread evenly among made-up ones, drawn with a skew towards the front (`u^1.5`), 20 to 80 words per
//! description. A word then appears in about 1% to 20% of the listings (as content words do once stop words are
//! gone), and the searches (the marketplace words) span that range; the run prints how many listings each search
//! mix matched. `--vocabulary 234` makes every word a marketplace word (each then in 10% to 90% of the listings): the
//! worst case for ranking, which scores every match.
//!
//! The market runs as `clearing serve` assembles it (facilitator with settlement, market merged beside it) on a free
//! loopback port, its rate limits off: the load comes from one IP.

use std::{
    fmt,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use bytes::Bytes;
use clearing_chain::{DeployConfig, deploy_mock_usdc, deploy_suite};
use clearing_facilitator::{
    Facilitator, FacilitatorConfig, SettleSetup,
    http::{self, RateLimit},
};
use clearing_ledger::{
    Ledger,
    market::{
        NewParticipant, NewService, ParticipantId, ParticipantKind, PricingModel, Registration, ServiceId,
        ServiceStatus, ServiceType,
    },
};
use clearing_market::{Market, MarketConfig, X402Edge};
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION};
use clearing_x402::{TokenDomain, Usdc};

use crate::{
    AnvilChild,
    load::{self, Carry, Load, LoadResult, Plan},
};

/// Anvil's account 0: deployer and relayer (a public dev key).
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The words listings are made of.
const WORDS: &str = "seo audit keyword backlink ranking crawl sitemap content blog article rewrite summary translate \
    translation english spanish german french japanese chinese image resize crop thumbnail photo logo design brand \
    color palette font website landing page wordpress shopify store product listing description email newsletter \
    campaign subject line copywriting ad facebook google linkedin twitter tiktok instagram video caption subtitle \
    transcript podcast audio voice speech text sentiment analysis classification entity extraction ocr pdf invoice \
    receipt document parse table spreadsheet csv excel json api webhook scraper scraping data enrichment lead contact \
    company domain whois dns ssl certificate security scan vulnerability penetration test code review refactor bug fix \
    python javascript typescript rust solidity smart contract gas optimization deploy docker kubernetes cloud aws \
    server monitoring uptime alert log analytics dashboard report chart metric forecast prediction price market crypto \
    token wallet balance transaction defi yield swap nft mint onchain indexer graph query weather stock news headline \
    research paper citation legal compliance gdpr privacy policy terms resume cover letter interview hiring recruiting \
    job salary tax accounting bookkeeping payroll finance budget plan strategy consulting marketing growth funnel \
    conversion testing user feedback survey customer support ticket chatbot assistant agent automation workflow zapier \
    integration crm salesforce hubspot notion slack discord telegram bot music song lyric art illustration animation \
    render game asset sprite mobile app ios android wireframe prototype figma accessibility localization quality fast \
    instant human expert manual custom premium basic pro batch bulk realtime daily weekly";

/// Words in the vocabulary unless told otherwise.
pub const VOCABULARY: usize = 3_000;

/// Categories, one per listing in turn.
const CATEGORIES: [&str; 12] = [
    "seo",
    "content",
    "translation",
    "design",
    "data",
    "security",
    "code",
    "marketing",
    "finance",
    "legal",
    "media",
    "research",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct MarketOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// The PostgreSQL server the throwaway database is made on.
    pub database_url: String,
    /// Services to list.
    pub services: usize,
    /// Providers listing them.
    pub providers: usize,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Client threads.
    pub threads: usize,
    /// Measured seconds per mix.
    pub duration: Duration,
    /// Unmeasured seconds before each.
    pub warmup: Duration,
    /// The cache settings to run each mix with, milliseconds (0: none).
    pub cache_ms: Vec<u64>,
    /// Words in the vocabulary (at least the 234 marketplace words).
    pub vocabulary: usize,
    /// Leave the database behind (its URL is printed), for `EXPLAIN ANALYZE` on the same listings.
    pub keep_database: bool,
}

/// One mix at one cache setting.
#[derive(Debug, Clone)]
pub struct MarketRow {
    /// The query mix.
    pub mix: &'static str,
    /// Distinct queries in it.
    pub queries: usize,
    /// Listings its queries matched (`total`): the least, the median and the most.
    pub matches: [u64; 3],
    /// `[market] catalog_cache_ms`.
    pub cache_ms: u64,
    /// Answers 200 per second.
    pub per_second: f64,
    /// Latency quantiles, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Other answers.
    pub failed: u64,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct MarketReport {
    /// Services listed (all active at first; a fiftieth hidden and a hundredth deleted after).
    pub services: usize,
    /// Seconds the listing took.
    pub seed_secs: f64,
    /// Connections.
    pub connections: usize,
    /// The rows.
    pub rows: Vec<MarketRow>,
    /// The first failure seen, if any.
    pub first_failure: Option<String>,
}

impl fmt::Display for MarketReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "catalog: {} services (listed in {:.0} s), {} connections",
            self.services, self.seed_secs, self.connections
        )?;
        writeln!(
            f,
            "| mix | queries | matches (least/median/most) | cache ms | answers/s | p50 ms | p99 ms | p99.9 ms | failed |"
        )?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for row in &self.rows {
            let [least, median, most] = row.matches;
            writeln!(
                f,
                "| {} | {} | {least}/{median}/{most} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                row.mix, row.queries, row.cache_ms, row.per_second, row.p50_ms, row.p99_ms, row.p999_ms, row.failed
            )?;
        }
        if let Some(failure) = &self.first_failure {
            writeln!(f, "first failure: {failure}")?;
        }
        Ok(())
    }
}

/// The vocabulary: the marketplace words spread evenly among made-up ones (syllables, deterministic), `size` in all.
fn vocabulary(size: usize) -> Vec<String> {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "bra", "cle", "dro", "fin", "gal", "hor", "jum"];
    let real: Vec<&str> = WORDS.split_whitespace().collect();
    let size = size.max(real.len());
    let stride = size / real.len();
    let mut made_up = 0usize;
    (0..size)
        .map(|i| match (i % stride == 0).then(|| real.get(i / stride)).flatten() {
            Some(word) => (*word).to_owned(),
            None => {
                made_up += 1;
                let (a, b, c) = (made_up % 16, (made_up / 16) % 16, (made_up / 256) % 16);
                format!("{}{}{}x", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c])
            }
        })
        .collect()
}

/// A deterministic generator (xorshift64*): the same listings every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform draw in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` words, skewed to the front of the list (a few words are common, most rare).
    fn words(&mut self, words: &[String], n: usize) -> String {
        let pick = |rng: &mut Self| words[(rng.unit().powf(1.5) * words.len() as f64) as usize].as_str();
        (0..n).map(|_| pick(self)).collect::<Vec<_>>().join(" ")
    }
}

/// Runs the benchmark.
pub async fn run_market(options: MarketOptions) -> anyhow::Result<MarketReport> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let mut url = url::Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_market_bench_{}", std::process::id()));
    let database_url = url.to_string();
    let result = run_on(&options, &anvil, &database_url).await;
    if options.keep_database {
        eprintln!("the listings stay in {database_url}");
    } else if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

async fn run_on(options: &MarketOptions, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<MarketReport> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let deployer = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = deployer.get_chain_id().await?;
    let usdc = deploy_mock_usdc(&deployer, TOKEN_NAME).await?;
    let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(key.address())).await?;
    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, 16).await?;
    ledger.migrate().await?;

    let started = Instant::now();
    seed(&ledger, options).await?;
    ledger.vacuum_market().await?;
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!("listed {} services in {seed_secs:.0} s", options.services);

    let config = FacilitatorConfig::default();
    let provider = clearing_chain::connect(&anvil.rpc_url)?;
    let setup = SettleSetup {
        ledger: ledger.clone(),
        relayer: key.clone(),
        batch_settler: deployment.batch_settler,
        escrow: None,
        vault: None,
        subscriptions: None,
        assets: vec![usdc],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![key.address()], &config)
        .await?
        .with_settlement(provider, setup, &config)
        .await?;
    let settle = facilitator.settle_service().context("settling")?.clone();
    let domain = TokenDomain::new(chain_id, usdc, TOKEN_NAME, TOKEN_VERSION);

    let mixes = mixes();
    let mut matches: Vec<Option<[u64; 3]>> = vec![None; mixes.len()];
    let mut rows = Vec::new();
    let mut first_failure = None;
    for cache_ms in &options.cache_ms {
        let market_config = MarketConfig {
            fee_recipient: Some(key.address()),
            catalog_cache_ms: *cache_ms,
            rate_limit_per_ip: RateLimit { per_second: 0, burst: 0 },
            rate_limit_per_key: RateLimit { per_second: 0, burst: 0 },
            ..MarketConfig::default()
        };
        let edge = X402Edge::new(facilitator.verifier.clone(), settle.clone(), domain.clone(), key.address());
        let market = Market::new(ledger.clone(), market_config, edge)?;
        // The search index is built before anything is measured, as `clearing serve` builds it at start.
        let (began, resident) = (Instant::now(), resident_mib());
        market.warm_catalog_index().await?;
        eprintln!(
            "search index: {} listings in {:.1} s, the process {:.0} MiB larger",
            market.catalog_index_listings().unwrap_or_default(),
            began.elapsed().as_secs_f64(),
            resident_mib() - resident
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(listener, market.router(), async move {
            let _ = stopped.await;
        }));
        for (index, (mix, targets)) in mixes.iter().enumerate() {
            if matches[index].is_none() {
                matches[index] = Some(totals(address, targets.clone()).await?);
            }
            let load = Load {
                address,
                method: hyper::Method::GET,
                path: String::new(),
                carry: Carry::Body,
                connections: options.connections,
                threads: options.threads,
                plan: Plan::For(options.warmup),
                expect: b"\"total\":",
                keep_answers: false,
            };
            if !options.warmup.is_zero() {
                blocking(load.clone(), targets.clone()).await?;
            }
            let result = blocking(Load { plan: Plan::For(options.duration), ..load }, targets.clone()).await?;
            first_failure = first_failure.or(result.first_failure.clone());
            rows.push(MarketRow {
                mix,
                queries: targets.len(),
                matches: matches[index].unwrap_or_default(),
                cache_ms: *cache_ms,
                per_second: result.per_second(),
                p50_ms: result.latency_ms(0.5),
                p99_ms: result.latency_ms(0.99),
                p999_ms: result.latency_ms(0.999),
                failed: result.failed,
            });
            eprintln!(
                "{mix} (cache {cache_ms} ms): {:.0}/s, p99 {:.2} ms",
                result.per_second(),
                result.latency_ms(0.99)
            );
        }
        let _ = stop.send(());
        server.await??;
    }
    facilitator.shutdown().await;
    ledger.close().await;
    Ok(MarketReport { services: options.services, seed_secs, connections: options.connections, rows, first_failure })
}

/// How many listings each of `targets` matched (its answer's `total`): the least, the median and the most.
async fn totals(address: std::net::SocketAddr, targets: Arc<Vec<Bytes>>) -> anyhow::Result<[u64; 3]> {
    let load = Load {
        address,
        method: hyper::Method::GET,
        path: String::new(),
        carry: Carry::Body,
        connections: 1,
        threads: 1,
        plan: Plan::EachOnce,
        expect: b"\"total\":",
        keep_answers: true,
    };
    let mut totals = Vec::new();
    for answer in blocking(load, targets).await?.answers {
        let page: serde_json::Value = serde_json::from_slice(&answer).context("a catalog answer is JSON")?;
        totals.push(page["total"].as_u64().context("a catalog answer has a total")?);
    }
    totals.sort_unstable();
    let at = |q: usize| totals.get(q).copied().unwrap_or(0);
    Ok([at(0), at(totals.len() / 2), at(totals.len().saturating_sub(1))])
}

async fn blocking(load: Load, targets: Arc<Vec<Bytes>>) -> anyhow::Result<LoadResult> {
    tokio::task::spawn_blocking(move || load::run(&load, targets)).await?
}

/// The query mixes: what agents browsing and searching ask.
fn mixes() -> Vec<(&'static str, Arc<Vec<Bytes>>)> {
    let target = |query: String| Bytes::from(format!("/v1/services/catalog{query}"));
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut browse = Vec::new();
    for category in CATEGORIES {
        for sort in ["newest", "price_asc", "price_desc"] {
            browse.push(target(format!("?category={category}&sort={sort}")));
        }
    }
    for offset in (0..200).step_by(20) {
        browse.push(target(format!("?offset={offset}")));
    }
    for kind in ["data_api", "automated_service", "human_service"] {
        browse.push(target(format!("?service_type={kind}&max_price=1")));
    }
    // Every word once: the common ones match most listings, the rare ones a few hundred.
    let search: Vec<Bytes> = words.iter().map(|word| target(format!("?q={word}"))).collect();
    let two_words: Vec<Bytes> =
        words.chunks(2).filter(|w| w.len() == 2).map(|w| target(format!("?q={}+{}", w[0], w[1]))).collect();
    vec![
        ("the first page (GET /v1/services/catalog)", Arc::new(vec![target(String::new())])),
        ("browsing: category, sort, page, tier and price", Arc::new(browse)),
        ("search: one word, each of the vocabulary", Arc::new(search)),
        ("search: two words", Arc::new(two_words)),
    ]
}

/// Lists `options.services` services by `options.providers` providers through the ledger, 8 at a time; then hides
/// every fiftieth and deletes every hundredth.
async fn seed(ledger: &Ledger, options: &MarketOptions) -> anyhow::Result<()> {
    let words = Arc::new(vocabulary(options.vocabulary));
    let mut providers = Vec::new();
    for i in 0..options.providers.max(1) {
        let new = NewParticipant {
            id: ParticipantId::random(),
            wallet: Address::from_word(B256::from(alloy::primitives::U256::from(i + 1))),
            kind: ParticipantKind::Provider,
            name: format!("Provider {i}"),
            description: String::new(),
            webhook_url: None,
            capabilities: Vec::new(),
            api_key_hash: B256::from(alloy::primitives::U256::from(i + 1)).0,
            api_key_prefix: format!("clr_{i:08}"),
            webhook_secret: "whsec_YmVuY2g=".into(),
            registration_nonce: B256::from(alloy::primitives::U256::from(i + 1)),
        };
        match ledger.register_participant(&new).await? {
            Registration::Created(p) | Registration::Existing(p) => providers.push(p.id),
        }
    }
    let providers = Arc::new(providers);
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (ledger, providers, words) = (ledger.clone(), providers.clone(), words.clone());
        let services = options.services;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (worker as u64 + 1));
            for i in (worker..services).step_by(workers) {
                let kind = [ServiceType::DataApi, ServiceType::AutomatedService, ServiceType::HumanService][i % 3];
                let cents =
                    [1u128, 10, 50, 250, 500, 1_000, 2_500, 10_000, 25_000, 100_000][(rng.next() % 10) as usize];
                let new = NewService {
                    id: ServiceId::random(),
                    provider_id: providers[i % providers.len()],
                    name: rng.words(&words, 2 + i % 4),
                    description: rng.words(&words, 20 + i % 60),
                    category: CATEGORIES[i % CATEGORIES.len()].to_owned(),
                    tags: rng.words(&words, 1 + i % 5).split(' ').map(String::from).collect(),
                    price: Usdc::from_atomic(cents * 1_000 + (i as u128 % 997)),
                    pricing_model: if i % 10 == 0 { PricingModel::QuoteRequired } else { PricingModel::Fixed },
                    service_type: kind,
                    fulfillment_type: kind.fulfillment(),
                    input_schema: Some(serde_json::json!({
                        "type": "object",
                        "properties": {"url": {"type": "string", "description": "The page to work on"}},
                        "required": ["url"]
                    })),
                    deliverable_schema: None,
                    estimated_delivery: Some("1-5 minutes".into()),
                    status: if i % 50 == 0 { ServiceStatus::Inactive } else { ServiceStatus::Active },
                };
                let created = ledger.create_service(&new).await?;
                if i % 100 == 1 {
                    ledger.delete_service(created.id, created.provider_id).await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// This process's resident memory, MiB (Linux; 0 elsewhere).
fn resident_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}
