//! The background task of `clearing serve` and `clearing dev`: sequence, then anchor, every poll interval.

use std::time::Duration;

use tokio::{
    sync::oneshot,
    task::{AbortHandle, JoinHandle},
};
use tracing::warn;

use crate::{Anchorer, Sequencer};

/// The running sequencer and anchorer; stop it with [`AuditService::shutdown`].
#[derive(Debug)]
pub struct AuditService {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    anchors: bool,
}

impl AuditService {
    /// Runs `sequencer` and, when given, `anchorer` every `poll`. Errors are logged and retried next round.
    pub fn start(sequencer: Sequencer, anchorer: Option<Anchorer>, poll: Duration) -> Self {
        let anchors = anchorer.is_some();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                if let Err(error) = sequencer.run_once().await {
                    warn!(%error, "audit sequencer");
                }
                if let Some(anchorer) = &anchorer
                    && let Err(error) = anchorer.run_once().await
                {
                    warn!(%error, "audit anchorer");
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(poll) => {}
                }
            }
        });
        Self { stop, task, anchors }
    }

    /// A handle on the task that sequences and anchors, for `/health` to see whether it has stopped.
    pub fn task(&self) -> AbortHandle {
        self.task.abort_handle()
    }

    /// Whether it anchors (an anchorer key was configured) besides sequencing.
    pub const fn anchors(&self) -> bool {
        self.anchors
    }

    /// Stops after the round under way.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
