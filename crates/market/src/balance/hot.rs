//! What a balance purchase reads before its debit, kept in memory so the purchase costs one database call (the
//! debit's batch) instead of five: the service's listing (with its brief's validator, compiled once), the credential
//! with its owner, the services the owner's subscriptions name, and the writers that batch the debits
//! ([`DebitQueue`]).
//!
//! Nothing money depends on is trusted from these copies. The debit's batch checks again, under its locks, that the
//! service is still sold at the debit's amount (else the purchase reads the listing again) and that the credential is
//! neither revoked nor expired (a revoke commits and no later debit under it is accepted, whatever this process
//! holds). What is kept without a check is what never changes once stored: the credential's owner and caps, the
//! owner's wallet. A listing is kept a second (its schema may change: a brief checked against the old one for that
//! second is the catalog cache's staleness too), a credential a minute. The services an agent's subscriptions name
//! are kept a second, and only to skip asking whether one covers a purchase: a service outside them cannot be covered.
//! A subscription made in this process drops its agent's copy; one made in another process is seen within the second
//! (before the chain has opened and charged it, which it must before it covers anything).

use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use clearing_ledger::{
    Ledger,
    market::{BalanceCredential, CredentialId, DebitQueue, Participant, ParticipantId, Service, ServiceId},
};

/// How long a listing read for a balance purchase is used.
const LISTING_TTL: Duration = Duration::from_secs(1);
/// How long the services an agent's subscriptions name are used.
const SUBSCRIBED_TTL: Duration = Duration::from_secs(1);
/// How long a credential and its owner are used.
const CREDENTIAL_TTL: Duration = Duration::from_secs(60);
/// Entries a map holds before it is emptied (a bound on memory, not a working-set size).
const MAX_ENTRIES: usize = 10_000;
/// Debit writers unless [`crate::Market::with_debit_writers`] says otherwise: each decides one batch at a time on its
/// own connection. An agent's debits all go to one writer (they would wait on the agent's row lock anyway); several
/// let different agents' batches commit together, fewer make bigger batches.
pub(crate) const DEBIT_WRITERS: usize = 2;
/// Most debits in one batch.
const MAX_BATCH: usize = 256;

/// A service as a balance purchase uses it.
pub(crate) struct Listing {
    /// The listing when it was read.
    pub(crate) service: Service,
    /// Its input schema compiled, when it has one that compiles.
    pub(crate) validator: Option<jsonschema::Validator>,
}

/// A balance credential and the participant whose balance it spends.
#[derive(Debug)]
pub(crate) struct Holder {
    /// The credential when it was read (its `revoked_at` may be stale: the debit checks it).
    pub(crate) credential: BalanceCredential,
    /// Its owner.
    pub(crate) owner: Participant,
}

/// The copies and the debit writers; one per market.
pub(crate) struct BalanceHot {
    listings: Copies<ServiceId, Listing>,
    holders: Copies<[u8; 32], Holder>,
    subscribed: Copies<ParticipantId, Vec<ServiceId>>,
    writers: usize,
    debits: OnceLock<DebitQueue>,
}

impl fmt::Debug for BalanceHot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BalanceHot").finish_non_exhaustive()
    }
}

impl BalanceHot {
    pub(crate) fn new() -> Self {
        Self {
            listings: Copies::new(LISTING_TTL),
            holders: Copies::new(CREDENTIAL_TTL),
            subscribed: Copies::new(SUBSCRIBED_TTL),
            writers: DEBIT_WRITERS,
            debits: OnceLock::new(),
        }
    }

    /// The kept listing of `id`, if fresh.
    pub(crate) fn listing(&self, id: ServiceId) -> Option<Arc<Listing>> {
        self.listings.get(&id)
    }

    /// Keeps `service` (read just now) and returns it with its validator.
    pub(crate) fn keep_listing(&self, service: Service) -> Arc<Listing> {
        let validator = service
            .input_schema
            .as_ref()
            .and_then(|schema| serde_json::from_str(schema.get()).ok())
            .and_then(|schema: serde_json::Value| jsonschema::validator_for(&schema).ok());
        let listing = Arc::new(Listing { service, validator });
        self.listings.put(listing.service.id, listing.clone());
        listing
    }

    /// Drops the kept listings: one was found stale, or this process changed a service.
    pub(crate) fn forget_listing(&self, id: ServiceId) {
        self.listings.remove(&id);
    }

    /// Drops every kept listing.
    pub(crate) fn forget_listings(&self) {
        self.listings.clear();
    }

    /// The kept credential whose token hashes to `hash`, if fresh.
    pub(crate) fn holder(&self, hash: &[u8; 32]) -> Option<Arc<Holder>> {
        self.holders.get(hash)
    }

    /// Keeps a credential read just now.
    pub(crate) fn keep_holder(&self, hash: [u8; 32], holder: Holder) -> Arc<Holder> {
        let holder = Arc::new(holder);
        self.holders.put(hash, holder.clone());
        holder
    }

    /// Drops credential `id` (revoked here, or found revoked by a debit).
    pub(crate) fn forget_credential(&self, id: CredentialId) {
        self.holders.retain(|holder| holder.credential.id != id);
    }

    /// Whether a subscription of `participant` may cover `service`: false only if none of its subscriptions names
    /// the service (read at most a second ago).
    pub(crate) async fn may_cover(
        &self,
        ledger: &Ledger,
        participant: ParticipantId,
        service: ServiceId,
    ) -> crate::Result<bool> {
        let services = match self.subscribed.get(&participant) {
            Some(services) => services,
            None => {
                let services = Arc::new(ledger.subscribed_services(participant).await?);
                self.subscribed.put(participant, services.clone());
                services
            }
        };
        Ok(services.contains(&service))
    }

    /// Drops what is kept of `participant`'s subscriptions (it just subscribed).
    pub(crate) fn forget_subscriber(&self, participant: ParticipantId) {
        self.subscribed.remove(&participant);
    }

    /// The debit writers, started on first use (on the runtime serving the purchase).
    pub(crate) fn debits(&self, ledger: &Ledger) -> &DebitQueue {
        self.debits.get_or_init(|| DebitQueue::spawn(ledger, self.writers, MAX_BATCH, true))
    }

    /// Sets the number of debit writers (before the first purchase starts them).
    pub(crate) fn set_writers(&mut self, writers: usize) {
        self.writers = writers.max(1);
    }
}

/// A map of shared values each kept for `ttl` after it was put.
struct Copies<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, Arc<V>)>>,
}

impl<K: Eq + Hash, V> Copies<K, V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, Arc<V>)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: &K) -> Option<Arc<V>> {
        let entries = self.lock();
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn put(&self, key: K, value: Arc<V>) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.lock().retain(|_, (_, value)| keep(value));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}
