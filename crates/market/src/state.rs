//! [`Market`], what every handler shares, and [`Market::router`], the `/v1` routes behind their limits.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::Address;
use axum::{
    Router,
    extract::{DefaultBodyLimit, OriginalUri},
    http::{Method, StatusCode},
    middleware,
    response::{IntoResponse, Response},
};
use clearing_ledger::{Ledger, market::ParticipantId};
use clearing_storage::{ContentStore, LocalDir};
use clearing_x402::Price;
use tower_http::timeout::TimeoutLayer;

use crate::{
    CatalogCache, ErrorCode, MarketConfig, MarketError, Result, X402Edge, balance,
    balance::hot::BalanceHot,
    catalog,
    catalog_index::CatalogIndex,
    error::error_response,
    fees::FeeBps,
    jobs,
    limit::{self, Limits},
    participants, products, services, webhooks,
};

/// The marketplace: its ledger, its x402 edge, its limits and caches. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct Market {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ledger: Ledger,
    config: MarketConfig,
    edge: X402Edge,
    limits: Limits,
    catalog: CatalogCache,
    catalog_index: CatalogIndex,
    /// The listings and credentials balance purchases read, and their debit writers.
    balance: BalanceHot,
    register_price: Price,
    rotate_key_price: Price,
    job_read_price: Price,
    /// The escrow purchases pay into, when this process's relayer is its operator; `None` refuses purchases (503).
    escrow: Option<Address>,
    /// The balance vault deposits pay into and debits are posted to, when this process's relayer is its operator;
    /// `None` refuses the balance routes (503).
    vault: Option<Address>,
    subscriptions: Option<Address>,
    /// Signs the arbiter's resolutions, when `[market] arbiter_key` is set.
    arbiter_signer: Option<PrivateKeySigner>,
    /// Where products' files are kept: `[market] product_dir` unless [`Market::with_store`] said otherwise.
    store: Arc<dyn ContentStore>,
    /// Uploads read at once: each holds its file in memory (up to `[market] max_product_bytes`) until it is stored.
    uploads: tokio::sync::Semaphore,
    /// The providers with an upload being read or waiting for its turn: one each, so that one provider's slow
    /// uploads cannot hold every turn.
    uploading: Mutex<HashSet<ParticipantId>>,
}

/// Product uploads read at once, so that many slow or concurrent ones hold at most this many files in memory (100 MiB
/// at the default 25 MiB each); the others wait their turn.
const CONCURRENT_UPLOADS: usize = 4;

/// A provider's upload turn: one of [`CONCURRENT_UPLOADS`], and its place among the providers uploading, given
/// back when it is dropped (the file stored, the request refused, or the client gone).
pub(crate) struct UploadTurn<'a> {
    uploading: &'a Mutex<HashSet<ParticipantId>>,
    provider: ParticipantId,
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl<'a> UploadTurn<'a> {
    /// `provider`'s place among the uploading, or `None` while another of its uploads has one.
    fn take(uploading: &'a Mutex<HashSet<ParticipantId>>, provider: ParticipantId) -> Option<Self> {
        let taken = uploading.lock().unwrap_or_else(PoisonError::into_inner).insert(provider);
        taken.then_some(Self { uploading, provider, _permit: None })
    }
}

impl Drop for UploadTurn<'_> {
    fn drop(&mut self) {
        self.uploading.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.provider);
    }
}

impl Market {
    /// The market on `ledger` (migrated), configured by `config`, taking payments through `edge`.
    pub fn new(ledger: Ledger, config: MarketConfig, edge: X402Edge) -> Result<Self> {
        config.validate()?;
        let arbiter_signer = config.arbiter_signer()?;
        let register_price = edge.price(config.register_price, "Register a marketplace participant");
        let rotate_key_price = edge.price(config.rotate_key_price, "Rotate a marketplace API key");
        let job_read_price = edge.price(config.job_read_price, "Read a job you paid for");
        Ok(Self {
            inner: Arc::new(Inner {
                limits: Limits::new(config.rate_limit_per_ip, config.rate_limit_per_key),
                catalog: CatalogCache::new(Duration::from_millis(config.catalog_cache_ms)),
                catalog_index: CatalogIndex::new(Duration::from_millis(config.catalog_cache_ms)),
                balance: BalanceHot::new(),
                ledger,
                edge,
                register_price,
                rotate_key_price,
                job_read_price,
                escrow: None,
                vault: None,
                subscriptions: None,
                arbiter_signer,
                store: Arc::new(LocalDir::new(config.product_dir.clone())),
                uploads: tokio::sync::Semaphore::new(CONCURRENT_UPLOADS),
                uploading: Mutex::default(),
                config,
            }),
        })
    }

    /// The same market, selling services into the escrow at `escrow` (whose operator the relayer must be). Call it
    /// before the market is shared.
    ///
    /// # Panics
    ///
    /// When the market was cloned already: its configuration is fixed once it serves.
    #[must_use]
    pub fn with_escrow(mut self, escrow: Address) -> Self {
        Arc::get_mut(&mut self.inner).expect("the escrow is set before the market is shared").escrow = Some(escrow);
        self
    }

    /// The same market, keeping products' files in `store` instead of `[market] product_dir`. Call it before the
    /// market is shared.
    ///
    /// # Panics
    ///
    /// When the market was cloned already.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn ContentStore>) -> Self {
        Arc::get_mut(&mut self.inner).expect("the store is set before the market is shared").store = store;
        self
    }

    /// Where products' files are kept.
    pub fn store(&self) -> &dyn ContentStore {
        self.inner.store.as_ref()
    }

    /// The escrow purchases pay into; 503 when purchases are off.
    pub fn escrow(&self) -> Result<Address> {
        self.inner.escrow.ok_or_else(|| {
            MarketError::refused(
                ErrorCode::PurchasesUnavailable,
                "purchases are off: this server's relayer is not the escrow's operator",
            )
        })
    }

    /// The same market, keeping prepaid balances in the `BalanceVault` at `vault` (whose operator the relayer must
    /// be). Call it before the market is shared.
    ///
    /// # Panics
    ///
    /// When the market was cloned already.
    #[must_use]
    pub fn with_vault(mut self, vault: Address) -> Self {
        Arc::get_mut(&mut self.inner).expect("the vault is set before the market is shared").vault = Some(vault);
        self
    }

    /// The same market, deciding balance debits with `writers` writers (each a batch at a time on its own database
    /// connection; default 2). Call it before the market is shared.
    ///
    /// # Panics
    ///
    /// When the market was cloned already.
    #[must_use]
    pub fn with_debit_writers(mut self, writers: usize) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("the writers are set before the market is shared")
            .balance
            .set_writers(writers);
        self
    }

    /// The balance vault; 503 when balances are off.
    pub fn vault(&self) -> Result<Address> {
        self.inner.vault.ok_or_else(|| {
            MarketError::refused(
                ErrorCode::BalancesUnavailable,
                "prepaid balances are off: no balance vault is deployed, or this server's relayer is not its operator",
            )
        })
    }

    /// The same market, selling plans on the `Subscriptions` contract at `subscriptions` (the vault's charger, with
    /// the same operator). Call it before the market is shared.
    ///
    /// # Panics
    ///
    /// When the market was cloned already.
    #[must_use]
    pub fn with_subscriptions(mut self, subscriptions: Address) -> Self {
        Arc::get_mut(&mut self.inner).expect("subscriptions are set before the market is shared").subscriptions =
            Some(subscriptions);
        self
    }

    /// The subscription contract; 503 when subscriptions are off.
    pub fn subscriptions(&self) -> Result<Address> {
        self.inner.subscriptions.ok_or_else(|| {
            MarketError::refused(
                ErrorCode::SubscriptionsUnavailable,
                "subscriptions are off: no Subscriptions contract is deployed, or this server's relayer is not the \
                 vault's operator",
            )
        })
    }

    /// The API's public base URL without a trailing slash (`[market] public_url`), or empty: links are then paths.
    pub fn public_base(&self) -> String {
        self.inner
            .config
            .public_url
            .as_ref()
            .map_or_else(String::new, |url| url.as_str().trim_end_matches('/').to_owned())
    }

    /// The arbiter escrow jobs name: `[market] arbiter`, else the address of `arbiter_key`, else the fee recipient.
    pub fn arbiter(&self) -> Address {
        self.inner
            .config
            .arbiter
            .or_else(|| self.inner.arbiter_signer.as_ref().map(PrivateKeySigner::address))
            .unwrap_or_else(|| self.inner.edge.pay_to())
    }

    /// The arbiter's key, when this server signs its resolutions.
    pub(crate) fn arbiter_signer(&self) -> Option<&PrivateKeySigner> {
        self.inner.arbiter_signer.as_ref()
    }

    /// The `/v1` routes, each module's merged, behind the market's body limit, timeout and per-IP rate limit; an
    /// unknown `/v1` path is a 404 and a known one with another method a 405 (with `Allow`), both in the market's
    /// error shape. Serve it with a server that gives requests a `ConnectInfo<SocketAddr>` (the facilitator's
    /// `serve_with` does). A new module (purchases, jobs, ...) adds its `routes()` here.
    pub fn router(&self) -> Router {
        let config = &self.inner.config;
        let v1 = Router::new()
            .merge(participants::routes())
            .merge(services::routes())
            .merge(catalog::routes())
            .merge(jobs::routes())
            .merge(webhooks::routes())
            .merge(balance::routes())
            .merge(crate::subscriptions::routes())
            .merge(products::routes(config.max_product_bytes))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(self.clone(), limit::per_ip))
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(config.request_timeout_ms),
            ))
            .with_state(self.clone());
        Router::new().nest("/v1", v1)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// The x402 edge.
    pub fn edge(&self) -> &X402Edge {
        &self.inner.edge
    }

    /// The configuration.
    pub fn config(&self) -> &MarketConfig {
        &self.inner.config
    }

    /// The platform fee rate.
    pub fn fee(&self) -> FeeBps {
        self.inner.config.fee_bps
    }

    /// The rate limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Tells the catalog its cached answers are stale: every write of services (or of a provider's name) calls it.
    pub fn catalog_changed(&self) {
        // The index first: a query that sees the cache cleared then sees the write pending.
        self.inner.catalog_index.written();
        self.inner.catalog.clear();
        self.inner.balance.forget_listings();
    }

    /// Builds the catalog's search index now, unless it is built ([`crate::catalog_index`]; otherwise the first
    /// search builds it in the background). `clearing serve` calls it at start.
    pub async fn warm_catalog_index(&self) -> Result<()> {
        self.inner.catalog_index.build(self).await
    }

    /// How many listings the catalog's search index holds, once built.
    pub fn catalog_index_listings(&self) -> Option<usize> {
        self.inner.catalog_index.listings()
    }

    pub(crate) fn catalog_index(&self) -> &CatalogIndex {
        &self.inner.catalog_index
    }

    pub(crate) fn balance_hot(&self) -> &BalanceHot {
        &self.inner.balance
    }

    pub(crate) fn catalog_cache(&self) -> &CatalogCache {
        &self.inner.catalog
    }

    /// `provider`'s turn to read an upload into memory (see [`CONCURRENT_UPLOADS`]); 429 while another of its
    /// uploads is being read or waits.
    pub(crate) async fn upload_turn(&self, provider: ParticipantId) -> Result<UploadTurn<'_>> {
        let mut turn = UploadTurn::take(&self.inner.uploading, provider).ok_or_else(|| {
            MarketError::refused(
                ErrorCode::RateLimited,
                "one upload at a time per provider: another of yours is still being received; send this one after it",
            )
        })?;
        turn._permit = Some(self.inner.uploads.acquire().await.map_err(|e| MarketError::Internal(e.to_string()))?);
        Ok(turn)
    }

    pub(crate) fn register_price(&self) -> &Price {
        &self.inner.register_price
    }

    pub(crate) fn rotate_key_price(&self) -> &Price {
        &self.inner.rotate_key_price
    }

    pub(crate) fn job_read_price(&self) -> &Price {
        &self.inner.job_read_price
    }
}

async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let message = format!("no route {method} {}: see GET /openapi.json", uri.path());
    error_response(ErrorCode::NotFound, &message, None)
}

async fn method_not_allowed() -> Response {
    MarketError::refused(ErrorCode::MethodNotAllowed, "this route has no such method: see the Allow header")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_has_one_upload_turn_at_a_time() {
        let uploading = Mutex::default();
        let (one, two) = (ParticipantId(uuid::Uuid::new_v4()), ParticipantId(uuid::Uuid::new_v4()));
        let first = UploadTurn::take(&uploading, one).expect("the first");
        assert!(UploadTurn::take(&uploading, one).is_none(), "a second upload of the same provider waits for none");
        let other = UploadTurn::take(&uploading, two).expect("another provider's");
        drop(first);
        assert!(UploadTurn::take(&uploading, one).is_some(), "given back when dropped");
        drop(other);
    }
}
