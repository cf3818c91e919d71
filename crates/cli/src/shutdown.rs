//! The operator's request to stop: Ctrl-C (SIGINT) or SIGTERM.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for SIGINT and SIGTERM from creation on, so a signal that comes while the caller is busy elsewhere
/// (starting up, say) is not lost.
#[derive(Debug)]
pub(crate) struct Shutdown {
    interrupt: Signal,
    terminate: Signal,
}

/// Which signal asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requested {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Shutdown {
    pub(crate) fn listen() -> std::io::Result<Self> {
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    /// Resolves on the next SIGINT or SIGTERM.
    pub(crate) async fn requested(&mut self) -> Requested {
        tokio::select! {
            _ = self.interrupt.recv() => Requested::Interrupt,
            _ = self.terminate.recv() => Requested::Terminate,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, for a command that only waits for one.
pub(crate) async fn signal_received() {
    let mut shutdown = Shutdown::listen().expect("SIGINT and SIGTERM handlers");
    shutdown.requested().await;
}
