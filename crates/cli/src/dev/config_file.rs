//! The config file `clearing dev` writes (`.clearing/dev.toml`): one live run owns it, and it goes when that run
//! goes.
//!
//! A run holds an exclusive `flock` on the file from its start until it has removed the file at exit; its watchdog
//! holds the same lock (an inherited descriptor) and removes the file if the run dies first. So the file describes a
//! live run or is about to be removed, never a stopped chain. A second run asking for a file that a live run owns
//! writes `<stem>-<pid>.<extension>` beside it instead, and says so. The lock ends with its holders: a file left by a
//! run killed together with its watchdog is taken over (and emptied) by the next run.

use std::{
    fs::File,
    io::{Seek, Write},
    os::{
        fd::{AsRawFd, RawFd},
        unix::fs::MetadataExt,
    },
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

/// The config file this run owns.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    path: PathBuf,
    /// Open, and locked, for the run's lifetime.
    file: File,
    /// The path asked for, when a live run owned it and this run took `path` beside it instead.
    displaced_from: Option<PathBuf>,
}

impl ConfigFile {
    /// Takes `requested`, or `<stem>-<pid>.<extension>` beside it when a live run owns `requested`; empties it.
    pub(crate) fn claim(requested: &Path) -> anyhow::Result<Self> {
        if let Some(file) = try_claim(requested)? {
            return Ok(Self { path: requested.to_owned(), file, displaced_from: None });
        }
        let beside = with_suffix(requested, &format!("-{}", std::process::id()));
        match try_claim(&beside)? {
            Some(file) => Ok(Self { path: beside, file, displaced_from: Some(requested.to_owned()) }),
            None => bail!("{} and {} are both owned by running `clearing dev`s", requested.display(), beside.display()),
        }
    }

    /// Where the config is written.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path asked for, if another live run owns it.
    pub(crate) fn displaced_from(&self) -> Option<&Path> {
        self.displaced_from.as_deref()
    }

    /// A file of this run beside the config, named `name` (suffixed with the process id, as the config is, when the
    /// config was displaced): the anvil log of two runs at once must not be one file.
    pub(crate) fn sibling(&self, name: &str) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        match self.displaced_from {
            None => dir.join(name),
            Some(_) => with_suffix(&dir.join(name), &format!("-{}", std::process::id())),
        }
    }

    /// The locked descriptor, for the watchdog to inherit.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Replaces the file's contents with `text`.
    pub(crate) fn write(&mut self, text: &str) -> anyhow::Result<()> {
        let path = self.path.display().to_string();
        self.file.set_len(0).with_context(|| format!("truncating {path}"))?;
        self.file.rewind()?;
        self.file.write_all(text.as_bytes()).with_context(|| format!("writing {path}"))
    }

    /// Removes the file (while still holding its lock, so no other run can have taken it over in between).
    pub(crate) fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the dev config");
        }
    }
}

/// Opens and locks `path` unless a live run holds its lock; empties it once locked.
fn try_claim(path: &Path) -> anyhow::Result<Option<File>> {
    loop {
        // Not truncated yet: the contents belong to whoever holds the lock until this process does.
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor this process owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(error).with_context(|| format!("locking {}", path.display()));
        }
        // The owner may have removed the file between the open and the lock: then this lock is on a file nobody
        // can see, and the path must be opened again.
        let locked = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(current) if (current.dev(), current.ino()) == (locked.dev(), locked.ino()) => {
                file.set_len(0).with_context(|| format!("emptying {}", path.display()))?;
                return Ok(Some(file));
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// `dir/stem<suffix>.ext` for `dir/stem.ext`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_of_a_live_runs_file_takes_a_file_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.toml");
        std::fs::write(&path, "stale").unwrap();
        let mut first = ConfigFile::claim(&path).unwrap();
        assert_eq!(first.path(), path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "a stale file is emptied when claimed");
        first.write("first").unwrap();

        // flock locks belong to the open file: a second open in this process contends like another process would.
        let second = ConfigFile::claim(&path).unwrap();
        assert_eq!(second.path(), dir.path().join(format!("dev-{}.toml", std::process::id())));
        assert_eq!(second.displaced_from(), Some(path.as_path()));
        assert_eq!(second.sibling("anvil.log"), dir.path().join(format!("anvil-{}.log", std::process::id())));
        assert_eq!(first.sibling("anvil.log"), dir.path().join("anvil.log"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first", "the live run's file is untouched");

        first.remove();
        assert!(!path.exists());
        let third = ConfigFile::claim(&path).unwrap();
        assert_eq!(third.path(), path, "a file whose owner is gone is free again");
        second.remove();
        third.remove();
    }
}
