//! Child processes that never outlive `clearing`.
//!
//! Each child is started with `PR_SET_PDEATHSIG`, so the kernel signals it even if `clearing` is killed with SIGKILL;
//! a clean shutdown signals it, waits for it to exit, and reaps it. The death signal is set last before exec, after
//! any switch of user (the kernel clears it on a change of credentials), and the child then checks that its parent is
//! still `clearing` (had `clearing` died before the signal was set, it would never come). The signal follows the
//! spawning thread: children are spawned from tokio worker threads, which live as long as the runtime.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context, bail};
use tokio::process::{Child, ChildStdout, Command};
use tracing::{debug, warn};

/// A user to run a child as (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunAs {
    pub(crate) uid: libc::uid_t,
    pub(crate) gid: libc::gid_t,
}

impl RunAs {
    /// The `postgres` system account, when `clearing` runs as root and the account exists.
    pub(crate) fn postgres_if_root() -> anyhow::Result<Option<Self>> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let name = c"postgres";
        // SAFETY: `name` is a valid C string; the returned record is read before any other passwd call.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        if entry.is_null() {
            bail!("running as root, and PostgreSQL refuses root: create a `postgres` user or run as another user");
        }
        // SAFETY: non-null pointer from getpwnam.
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        Ok(Some(Self { uid, gid }))
    }

    /// Gives `path` to this user.
    pub(crate) fn chown(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("chown {}", path.display()))
    }
}

/// Prepares `command` to get `death_signal` when `clearing` dies and, optionally, to run as `run_as`.
pub(crate) fn bind_to_parent(command: &mut Command, run_as: Option<RunAs>, death_signal: libc::c_int) {
    command.kill_on_drop(true).stdin(Stdio::null());
    if let Some(user) = run_as {
        // The standard library switches user (dropping supplementary groups) before it runs `pre_exec` closures.
        command.uid(user.uid).gid(user.gid);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // `clearing` died before the death signal was armed: nobody would stop this child. (ESRCH, the parent
                // is gone: a raw error, since allocating is not safe here.)
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// A running child that `stop` shuts down and reaps.
#[derive(Debug)]
pub(crate) struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    /// Starts `command` bound to `clearing` (see [`bind_to_parent`]).
    pub(crate) fn spawn(
        name: &'static str,
        mut command: Command,
        run_as: Option<RunAs>,
        death_signal: libc::c_int,
    ) -> anyhow::Result<Self> {
        bind_to_parent(&mut command, run_as, death_signal);
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        debug!(name, pid = child.id(), "started");
        Ok(Self { name, child })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The child's stdout, if it was piped and not taken yet.
    pub(crate) fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The exit status if the child has already exited.
    pub(crate) fn try_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until the child exits on its own.
    pub(crate) async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Sends `signal`, waits up to `grace` for a clean exit, then kills; always reaps.
    pub(crate) async fn stop(mut self, signal: libc::c_int, grace: Duration) {
        if let Some(pid) = self.child.id() {
            // SAFETY: `pid` is our own unreaped child, so it cannot have been recycled.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
            match tokio::time::timeout(grace, self.child.wait()).await {
                Ok(_) => debug!(name = self.name, pid, "stopped"),
                Err(_) => {
                    warn!(name = self.name, pid, "did not stop in time; killing");
                    let _ = self.child.kill().await;
                }
            }
        }
    }
}

/// A free TCP port on the loopback interface (the kernel's choice; free at the time of asking).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
