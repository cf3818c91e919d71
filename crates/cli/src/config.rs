//! The one configuration file, `clearing.toml`, with environment overrides.
//!
//! Every field has a default, so an empty file (or none) is a valid configuration for a local setup. Environment
//! variables override the file: `CLEARING_DATABASE_URL` (or `DATABASE_URL`), `CLEARING_RPC_URL` and
//! `CLEARING_RELAYER_KEY`, `CLEARING_ANCHORER_KEY`, `CLEARING_ARBITER_TOKEN`, `CLEARING_ARBITER_KEY`,
//! `CLEARING_PRODUCT_DIR`. Secrets never reach a log: [`Secret`] prints as `<redacted>`.
//!
//! This file reads and composes; each component's section is defined by its crate ([`FacilitatorConfig`],
//! [`AuditConfig`], [`IndexerConfig`], [`MarketConfig`]), and only what belongs to no one component (the database, the chain, the
//! relayer) is defined here.

use std::path::Path;

use alloy::primitives::Address;
use anyhow::Context;
use clearing_audit::AuditConfig;
use clearing_chain::{Deployment, Secret};
use clearing_facilitator::FacilitatorConfig;
use clearing_indexer::IndexerConfig;
use clearing_market::MarketConfig;
use clearing_webhooks::WebhooksConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// The ledger database.
    pub(crate) database: DatabaseConfig,
    /// The chain Clearing settles on.
    pub(crate) chain: ChainConfig,
    /// The account that sends Clearing's transactions.
    pub(crate) relayer: RelayerConfig,
    /// The x402 facilitator's HTTP API.
    pub(crate) facilitator: FacilitatorConfig,
    /// The audit trail: sequencing and anchoring settlement records.
    pub(crate) audit: AuditConfig,
    /// The chain indexer (run by `index`, `serve` and `dev`).
    pub(crate) indexer: IndexerConfig,
    /// The marketplace API under `/v1` (served by `serve` and `dev`).
    pub(crate) market: MarketConfig,
    /// Webhook delivery (the market's signed events to participants).
    pub(crate) webhooks: WebhooksConfig,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DatabaseConfig {
    /// PostgreSQL URL. Default `postgres://postgres@127.0.0.1:5432/clearing`;
    /// env `CLEARING_DATABASE_URL`, then `DATABASE_URL`.
    pub(crate) url: String,
    /// Pool size. Default 10.
    pub(crate) max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "postgres://postgres@127.0.0.1:5432/clearing".into(), max_connections: 10 }
    }
}

/// `[chain]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ChainConfig {
    /// JSON-RPC endpoint. Default `http://127.0.0.1:8545`; env `CLEARING_RPC_URL`.
    pub(crate) rpc_url: String,
    /// The USDC (or test token) Clearing settles in. No default: set by `clearing dev` or by hand.
    pub(crate) usdc: Option<TokenConfig>,
    /// Where the Clearing contracts live. No default: written by `clearing dev` and `clearing deploy`.
    pub(crate) deployment: Option<Deployment>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self { rpc_url: "http://127.0.0.1:8545".into(), usdc: None, deployment: None }
    }
}

/// `[chain.usdc]`: an EIP-3009 token and its EIP-712 domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenConfig {
    /// The token contract.
    pub(crate) address: Address,
    /// EIP-712 domain name: "USD Coin" on Base, "USDC" on Base Sepolia.
    pub(crate) name: String,
    /// EIP-712 domain version: "2" for FiatToken v2.x.
    pub(crate) version: String,
}

/// `[relayer]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RelayerConfig {
    /// Hex private key of the relayer. No default; env `CLEARING_RELAYER_KEY` (preferred over the file).
    pub(crate) private_key: Option<Secret>,
}

/// Where the environment's overrides come from; a seam so tests need not mutate the process environment.
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Config {
    /// Reads `path` if it exists (a missing file means all defaults), then applies the environment.
    pub(crate) fn load(path: &Path, env: &impl Env) -> anyhow::Result<Self> {
        let mut config = if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Self::parse(&text).with_context(|| format!("parsing {}", path.display()))?
        } else {
            Self::default()
        };
        config.apply_env(env);
        Ok(config)
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }

    pub(crate) fn apply_env(&mut self, env: &impl Env) {
        if let Some(url) = env.var("CLEARING_DATABASE_URL").or_else(|| env.var("DATABASE_URL")) {
            self.database.url = url;
        }
        if let Some(url) = env.var("CLEARING_RPC_URL") {
            self.chain.rpc_url = url;
        }
        if let Some(key) = env.var("CLEARING_RELAYER_KEY") {
            self.relayer.private_key = Some(Secret::new(key));
        }
        if let Some(key) = env.var("CLEARING_ANCHORER_KEY") {
            self.audit.anchorer_key = Some(Secret::new(key));
        }
        if let Some(token) = env.var("CLEARING_ARBITER_TOKEN") {
            self.market.arbiter_token = Some(Secret::new(token));
        }
        if let Some(key) = env.var("CLEARING_ARBITER_KEY") {
            self.market.arbiter_key = Some(Secret::new(key));
        }
        if let Some(dir) = env.var("CLEARING_PRODUCT_DIR") {
            self.market.product_dir = dir.into();
        }
    }

    /// The file form, as `clearing dev` writes it.
    pub(crate) fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The file at `path` (all defaults if missing) with `deployment` recorded: what `clearing deploy --write` writes.
    /// Read without the environment, so keys and tokens given as variables (the relayer key, the arbiter's, a
    /// database password) are never written into the file.
    pub(crate) fn file_with_deployment(path: &Path, deployment: Deployment) -> anyhow::Result<String> {
        let mut file = Self::load(path, &NoEnv)?;
        file.chain.deployment = Some(deployment);
        file.to_toml()
    }
}

/// No environment at all.
struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    #[test]
    fn a_deployment_is_written_without_the_secrets_the_environment_gave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clearing.toml");
        std::fs::write(&path, "[market]\nfee_bps = 250\n").unwrap();
        let env = FakeEnv(HashMap::from([
            ("CLEARING_RELAYER_KEY", "0x1111111111111111111111111111111111111111111111111111111111111111"),
            ("CLEARING_ARBITER_TOKEN", "a-forty-character-arbiter-token-0123456789"),
            ("CLEARING_DATABASE_URL", "postgres://clearing:hunter2@db/clearing"),
        ]));
        let loaded = Config::load(&path, &env).unwrap();
        assert!(loaded.relayer.private_key.is_some(), "the run itself has the key");
        assert!(loaded.to_toml().unwrap().contains("hunter2"), "what `deploy --write` wrote before");
        let deployment = Deployment {
            chain_id: 8453,
            start_block: 1,
            batch_settler: Address::repeat_byte(1),
            escrow: Address::repeat_byte(2),
            anchor_registry: Address::repeat_byte(3),
            balance_vault: None,
            subscriptions: None,
        };
        let written = Config::file_with_deployment(&path, deployment).unwrap();
        for secret in ["1111111111111111", "arbiter-token", "hunter2"] {
            assert!(!written.contains(secret), "{secret} was written:\n{written}");
        }
        let reread = Config::parse(&written).unwrap();
        assert_eq!(reread.market.fee_bps, loaded.market.fee_bps, "the file's own settings are kept");
        assert_eq!(reread.chain.deployment.map(|d| d.escrow), Some(Address::repeat_byte(2)));
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Config::parse("[database]\nurll = \"x\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field `urll`"), "{err:#}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut config = Config::parse("[database]\nurl = \"postgres://file/db\"\n").unwrap();
        config.apply_env(&FakeEnv(HashMap::from([
            ("DATABASE_URL", "postgres://generic/db"),
            ("CLEARING_DATABASE_URL", "postgres://specific/db"),
            ("CLEARING_RPC_URL", "http://rpc:1"),
            ("CLEARING_RELAYER_KEY", "0xkey"),
            ("CLEARING_ANCHORER_KEY", "0xanchorer"),
            ("CLEARING_ARBITER_TOKEN", "arbiter-token"),
            ("CLEARING_ARBITER_KEY", "0xarbiter"),
            ("CLEARING_PRODUCT_DIR", "/var/lib/clearing/products"),
        ])));
        assert_eq!(config.database.url, "postgres://specific/db");
        assert_eq!(config.chain.rpc_url, "http://rpc:1");
        assert_eq!(config.relayer.private_key.as_ref().map(Secret::expose), Some("0xkey"));
        assert_eq!(config.audit.anchorer_key.as_ref().map(Secret::expose), Some("0xanchorer"));
        assert_eq!(config.market.arbiter_token.as_ref().map(Secret::expose), Some("arbiter-token"));
        assert_eq!(config.market.arbiter_key.as_ref().map(Secret::expose), Some("0xarbiter"));
        assert_eq!(config.market.product_dir, std::path::Path::new("/var/lib/clearing/products"));
    }

    #[test]
    fn the_audit_section_keeps_its_keys() {
        let text = "[audit]\nanchorer_key = \"0xa\"\nanchor_every_records = 5\nanchor_every_secs = 7\n\
                    max_anchor_records = 9\nindexer = \"other\"\npoll_ms = 11\n";
        let audit = Config::parse(text).unwrap().audit;
        let expected = AuditConfig {
            anchorer_key: Some(Secret::new("0xa")),
            anchor_every_records: 5,
            anchor_every_secs: 7,
            max_anchor_records: 9,
            indexer: "other".into(),
            poll_ms: 11,
        };
        assert_eq!(audit, expected);
    }

    #[test]
    fn the_market_section_keeps_its_keys() {
        let text = "[market]\nenabled = false\nfee_recipient = \"0x0101010101010101010101010101010101010101\"\n\
                    register_price = \"0.02\"\nrotate_key_price = \"0.002\"\njob_read_price = \"0.003\"\nfee_bps = 250\n\
                    allow_private_webhooks = true\npublic_url = \"https://api.example.com/\"\nmax_body_bytes = 1024\n\
                    request_timeout_ms = 5\ncatalog_cache_ms = 7\n\
                    arbiter = \"0x0202020202020202020202020202020202020202\"\nhuman_review_secs = 8\n\
                    arbiter_token = \"t\"\narbiter_key = \"0xk\"\n\
                    automated_review_secs = 9\ncompletion_window_secs = 10\nkeeper_interval_ms = 11\n\
                    balance_job_hold_secs = 17\n\
                    reactor_interval_ms = 12\nclaim_wait_ms = 13\n\
                    subscription_keeper_interval_ms = 15\nsubscription_grace_secs = 16\n\
                    product_dir = \"/srv/products\"\nmax_product_bytes = 14\n\
                    [market.rate_limit_per_ip]\nper_second = 3\nburst = 4\n\
                    [market.rate_limit_per_key]\nper_second = 5\nburst = 6\n";
        let market = Config::parse(text).unwrap().market;
        let expected = MarketConfig {
            enabled: false,
            fee_recipient: Some(Address::repeat_byte(1)),
            register_price: clearing_x402::Usdc::from_atomic(20_000),
            rotate_key_price: clearing_x402::Usdc::from_atomic(2_000),
            job_read_price: clearing_x402::Usdc::from_atomic(3_000),
            fee_bps: clearing_market::fees::FeeBps::new(250).unwrap(),
            allow_private_webhooks: true,
            public_url: Some("https://api.example.com/".parse().unwrap()),
            max_body_bytes: 1024,
            request_timeout_ms: 5,
            rate_limit_per_ip: clearing_facilitator::http::RateLimit { per_second: 3, burst: 4 },
            rate_limit_per_key: clearing_facilitator::http::RateLimit { per_second: 5, burst: 6 },
            catalog_cache_ms: 7,
            arbiter: Some(Address::repeat_byte(2)),
            arbiter_token: Some(Secret::new("t")),
            arbiter_key: Some(Secret::new("0xk")),
            human_review_secs: 8,
            automated_review_secs: 9,
            completion_window_secs: 10,
            balance_job_hold_secs: 17,
            keeper_interval_ms: 11,
            reactor_interval_ms: 12,
            subscription_keeper_interval_ms: 15,
            subscription_grace_secs: 16,
            claim_wait_ms: 13,
            product_dir: "/srv/products".into(),
            max_product_bytes: 14,
        };
        assert_eq!(market, expected);
        let err = Config::parse("[market]\nfee_bps = 10001\n").unwrap_err();
        assert!(format!("{err:#}").contains("above 10000"), "{err:#}");
        let err = Config::parse("[market]\nregister_price = 0.01\n").unwrap_err();
        assert!(format!("{err:#}").contains("decimal string"), "{err:#}");
    }

    #[test]
    fn secrets_never_print() {
        let config = RelayerConfig { private_key: Some(Secret::new("0xdeadbeef")) };
        assert!(!format!("{config:?}").contains("deadbeef"));
        let audit = AuditConfig { anchorer_key: Some(Secret::new("0xfeedface")), ..AuditConfig::default() };
        assert!(!format!("{audit:?}").contains("feedface"));
    }

    #[test]
    fn a_written_config_reads_back() {
        let mut config = Config::default();
        config.chain.usdc =
            Some(TokenConfig { address: Address::repeat_byte(1), name: "USDC".into(), version: "2".into() });
        config.chain.deployment = Some(Deployment {
            chain_id: 31337,
            start_block: 3,
            batch_settler: Address::repeat_byte(2),
            escrow: Address::repeat_byte(3),
            anchor_registry: Address::repeat_byte(4),
            balance_vault: Some(Address::repeat_byte(5)),
            subscriptions: Some(Address::repeat_byte(6)),
        });
        assert_eq!(Config::parse(&config.to_toml().unwrap()).unwrap(), config);
    }
}
