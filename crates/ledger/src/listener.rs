use alloy::primitives::Address;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{Ledger, Result, RouteKind, SettlementId, settlements::RESOLVED_CHANNEL};

/// Wakes up when any settlement reaches a final status, in any process: a `LISTEN` on [`RESOLVED_CHANNEL`].
///
/// Notifications are a latency aid, not a delivery guarantee (one sent while the connection is being re-made is
/// lost), so a waiter must also re-read its row now and then.
#[derive(Debug)]
pub struct ResolutionListener {
    listener: PgListener,
}

impl ResolutionListener {
    /// The next resolved settlement's id. After a lost connection this reconnects (notifications sent meanwhile
    /// are lost) and returns the error once.
    pub async fn recv(&mut self) -> Result<SettlementId> {
        loop {
            let notification = self.listener.recv().await?;
            if let Ok(id) = notification.payload().parse() {
                return Ok(SettlementId(id));
            }
        }
    }
}

/// Wakes up when a settlement is queued through a clone of the same [`Ledger`], in this process. A hint only: a
/// listener that falls more than a few thousand announcements behind skips what it missed.
#[derive(Debug)]
pub struct QueueListener {
    receiver: broadcast::Receiver<(u64, Address, RouteKind)>,
}

impl QueueListener {
    /// The (chain id, asset, route) of the next queued settlement; `None` once every clone of the ledger is gone.
    pub async fn recv(&mut self) -> Option<(u64, Address, RouteKind)> {
        loop {
            match self.receiver.recv().await {
                Ok(queued) => return Some(queued),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Ledger {
    /// A listener on a connection of its own, outside the shared pool: a LISTEN holds its connection for as long
    /// as it lives, and taking it from the pool would shrink the pool for every query.
    async fn listener(&self) -> Result<PgListener> {
        let options = PgConnectOptions::clone(&self.pool.connect_options());
        let own = PgPoolOptions::new().max_connections(1).connect_lazy_with(options);
        Ok(PgListener::connect_with(&own).await?)
    }

    /// Listens for settlements queued from now on through this ledger or its clones.
    pub fn listen_queued(&self) -> QueueListener {
        QueueListener { receiver: self.queued.subscribe() }
    }

    /// Listens for settlement resolutions on a connection of its own.
    pub async fn listen_resolutions(&self) -> Result<ResolutionListener> {
        let mut listener = self.listener().await?;
        listener.listen(RESOLVED_CHANNEL).await?;
        Ok(ResolutionListener { listener })
    }
}
