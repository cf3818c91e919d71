use sqlx::postgres::PgListener;

use crate::{Ledger, Result, SettlementId, settlements::RESOLVED_CHANNEL};

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

impl Ledger {
    /// Listens for settlement resolutions on a connection of its own.
    pub async fn listen_resolutions(&self) -> Result<ResolutionListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(RESOLVED_CHANNEL).await?;
        Ok(ResolutionListener { listener })
    }
}
