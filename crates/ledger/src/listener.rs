use alloy::primitives::Address;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::{
    Ledger, Result, SettlementId,
    settlements::{QUEUED_CHANNEL, RESOLVED_CHANNEL},
};

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

/// Wakes up when a settlement is queued, in any process: a `LISTEN` on [`QUEUED_CHANNEL`]. A hint only, like
/// [`ResolutionListener`].
#[derive(Debug)]
pub struct QueueListener {
    listener: PgListener,
}

impl QueueListener {
    /// The (chain id, asset) of the next queued settlement. After a lost connection this reconnects and returns
    /// the error once.
    pub async fn recv(&mut self) -> Result<(u64, Address)> {
        loop {
            let notification = self.listener.recv().await?;
            let parsed = notification
                .payload()
                .split_once(':')
                .and_then(|(chain, asset)| Some((chain.parse().ok()?, asset.parse().ok()?)));
            if let Some(queued) = parsed {
                return Ok(queued);
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

    /// Listens for newly queued settlements on a connection of its own.
    pub async fn listen_queued(&self) -> Result<QueueListener> {
        let mut listener = self.listener().await?;
        listener.listen(QUEUED_CHANNEL).await?;
        Ok(QueueListener { listener })
    }

    /// Listens for settlement resolutions on a connection of its own.
    pub async fn listen_resolutions(&self) -> Result<ResolutionListener> {
        let mut listener = self.listener().await?;
        listener.listen(RESOLVED_CHANNEL).await?;
        Ok(ResolutionListener { listener })
    }
}
