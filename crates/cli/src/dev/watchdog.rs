//! The watchdog: a second `clearing` process (`clearing dev --watchdog`, hidden) that cleans up after a `clearing
//! dev` that died without stopping (`kill -9`, a crash, a closed terminal).
//!
//! The death signal stops the children, but a dead process removes nothing: the private cluster's directory, the
//! written config and the run's database would stay. `clearing dev` tells the watchdog about each as it makes it, one
//! JSON line on the watchdog's stdin. When that stdin ends without `disarm` (the kernel closes the pipe when
//! `clearing dev` dies, however it dies) the watchdog removes the config, stops what still runs, waits for it to
//! exit, then removes the directories and drops the database. It ignores SIGINT, SIGTERM and SIGHUP, which reach the
//! whole process group (Ctrl-C, a closed terminal), so that it outlives the run it guards; a clean shutdown disarms
//! it. It is not bound to its parent: it must outlive it.

use std::{
    io::BufRead,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::fs::MetadataExt,
    },
    path::PathBuf,
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use clearing_ledger::ScratchDatabase;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncWriteExt, unix::AsyncFd},
    process::{Child, ChildStdin, Command},
};
use tracing::warn;

use super::config_file::ConfigFile;

/// The descriptor on which the watchdog inherits the config file's lock.
const CONFIG_FD: libc::c_int = 3;
/// How long a child may take to stop on its signal before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// How long the server may take to end a dead run's session (and release its database) after the run died.
const DATABASE_RELEASE_WAIT: Duration = Duration::from_secs(15);

/// One thing to clean up if `clearing dev` dies, as sent to the watchdog.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub(crate) enum Guard {
    /// A child to stop with `signal` (SIGKILL after [`STOP_GRACE`]).
    Process { name: String, pid: u32, signal: libc::c_int },
    /// A directory to remove once the processes are gone.
    Directory { path: PathBuf },
    /// The written config, whose lock the watchdog holds on [`CONFIG_FD`].
    ConfigFile { path: PathBuf },
    /// The run's scratch database on the server whose maintenance database `admin_url` names.
    Database { admin_url: String, name: String },
    /// The run stopped cleanly: nothing to clean up.
    Disarm,
}

/// The parent's handle on its watchdog.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    /// Closing it (by any death of this process) is what wakes the watchdog.
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the watchdog, handing it the config file's lock, and tells it about the file.
    pub(crate) async fn spawn(config: &ConfigFile) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding the clearing executable")?;
        let mut command = Command::new(exe);
        // The watchdog reads no configuration.
        command
            .args(["--config", "/dev/null", "dev", "--watchdog"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let config_fd = config.raw_fd();
        // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions.
        unsafe {
            command.pre_exec(move || {
                for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                    if libc::signal(signal, libc::SIG_IGN) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                // The lock passes with the open file description; dup2 clears close-on-exec on the copy.
                let inherited = if config_fd == CONFIG_FD {
                    libc::fcntl(CONFIG_FD, libc::F_SETFD, 0)
                } else {
                    libc::dup2(config_fd, CONFIG_FD)
                };
                if inherited < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().context("starting the watchdog")?;
        let stdin = child.stdin.take();
        let mut watchdog = Self { child, stdin };
        watchdog.guard(Guard::ConfigFile { path: std::path::absolute(config.path())? }).await;
        Ok(watchdog)
    }

    /// Tells the watchdog about one more thing to clean up. A watchdog that cannot be told leaves it unguarded:
    /// warned about, not fatal.
    pub(crate) async fn guard(&mut self, guard: Guard) {
        let Some(stdin) = self.stdin.as_mut() else { return };
        let mut line = serde_json::to_string(&guard).expect("a guard serializes");
        line.push('\n');
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            warn!(error = %e, "the dev watchdog is gone; a kill -9 of clearing may leave files behind");
            self.stdin = None;
        }
    }

    /// A clean shutdown: tells the watchdog there is nothing to do and waits for it to exit.
    pub(crate) async fn disarm(mut self) {
        self.guard(Guard::Disarm).await;
        self.stdin = None;
        if tokio::time::timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            warn!("the dev watchdog did not exit when disarmed; killing it");
            let _ = self.child.kill().await;
        }
    }
}

/// A child process, held through a pidfd opened while `clearing dev` had not reaped it (so its pid cannot have been
/// reused by another process).
#[derive(Debug)]
struct Watched {
    name: String,
    pid: u32,
    signal: libc::c_int,
    pidfd: OwnedFd,
}

/// What the watchdog was told, read until its stdin ends.
#[derive(Debug, Default)]
struct Guarded {
    processes: Vec<Watched>,
    directories: Vec<PathBuf>,
    config: Option<PathBuf>,
    databases: Vec<(String, String)>,
    disarmed: bool,
}

/// The watchdog's main: reads guards until stdin ends, then cleans up unless disarmed.
pub(crate) async fn run() -> anyhow::Result<()> {
    let guarded = tokio::task::spawn_blocking(read_guards).await?;
    if guarded.disarmed {
        return Ok(());
    }
    warn!("clearing dev died without stopping; cleaning up after it");
    if let Some(path) = &guarded.config {
        remove_config(path);
    }
    for process in &guarded.processes {
        signal(process, process.signal);
    }
    for process in &guarded.processes {
        if !exited_within(process, STOP_GRACE).await {
            warn!(name = %process.name, pid = process.pid, "did not stop; killing it");
            signal(process, libc::SIGKILL);
            exited_within(process, STOP_GRACE).await;
        }
    }
    for dir in &guarded.directories {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => warn!(path = %dir.display(), "removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(path = %dir.display(), error = %e, "could not remove"),
        }
    }
    for (admin_url, name) in &guarded.databases {
        match ScratchDatabase::drop_once_released(admin_url, name, DATABASE_RELEASE_WAIT).await {
            Ok(true) => warn!(database = %name, "dropped"),
            Ok(false) => warn!(database = %name, "still in use; the next `clearing dev` drops it"),
            Err(e) => warn!(database = %name, error = %e, "could not drop; the next `clearing dev` drops it"),
        }
    }
    Ok(())
}

fn read_guards() -> Guarded {
    let mut guarded = Guarded::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let guard = match serde_json::from_str::<Guard>(&line) {
            Ok(guard) => guard,
            Err(e) => {
                warn!(error = %e, "unreadable guard; ignored");
                continue;
            }
        };
        match guard {
            Guard::Process { name, pid, signal } => match pidfd_open(pid) {
                Ok(pidfd) => guarded.processes.push(Watched { name, pid, signal, pidfd }),
                // Already gone: nothing to stop.
                Err(e) => warn!(%name, pid, error = %e, "cannot watch"),
            },
            Guard::Directory { path } => guarded.directories.push(path),
            Guard::ConfigFile { path } => guarded.config = Some(path),
            Guard::Database { admin_url, name } => guarded.databases.push((admin_url, name)),
            Guard::Disarm => guarded.disarmed = true,
        }
    }
    guarded
}

/// Removes the config at `path` if it is still the file whose lock was inherited on [`CONFIG_FD`] (the lock is still
/// held here, so no later run can have taken the path over; the dead run may have removed it already).
fn remove_config(path: &std::path::Path) {
    // SAFETY: the descriptor was set up by `Watchdog::spawn` for this process alone.
    let file = unsafe { std::fs::File::from_raw_fd(CONFIG_FD) };
    let same = match (file.metadata(), std::fs::metadata(path)) {
        (Ok(held), Ok(current)) => (held.dev(), held.ino()) == (current.dev(), current.ino()),
        _ => false,
    };
    if same {
        match std::fs::remove_file(path) {
            Ok(()) => warn!(path = %path.display(), "removed"),
            Err(e) => warn!(path = %path.display(), error = %e, "could not remove"),
        }
    }
    drop(file);
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn signal(process: &Watched, signal: libc::c_int) {
    // SAFETY: pidfd_send_signal on a pidfd this process owns; no siginfo.
    let sent = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, process.pidfd.as_raw_fd(), signal, std::ptr::null::<u8>(), 0)
    };
    if sent != 0 {
        let error = std::io::Error::last_os_error();
        // ESRCH: it has exited already.
        if error.raw_os_error() != Some(libc::ESRCH) {
            warn!(name = %process.name, pid = process.pid, %error, "could not signal");
        }
    }
}

/// Waits until the process exits (its pidfd turns readable), up to `limit`.
async fn exited_within(process: &Watched, limit: Duration) -> bool {
    let register = |fd: OwnedFd| {
        // SAFETY: the AsyncFd owns `fd`, which stays open and the same until it is dropped.
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(std::io::Error::from)
    };
    let fd = match process.pidfd.try_clone().and_then(register) {
        Ok(fd) => fd,
        Err(e) => {
            warn!(name = %process.name, pid = process.pid, error = %e, "cannot wait for it");
            return false;
        }
    };
    tokio::time::timeout(limit, fd.readable()).await.is_ok()
}
