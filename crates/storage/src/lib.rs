//! Content-addressed file storage for the market's digital products.
//!
//! This crate owns one small seam, [`ContentStore`]: bytes go in and their SHA-256 comes out ([`ContentStore::put`]),
//! and a stored content is opened for streaming by that digest ([`ContentStore::open`]). Because the key is the
//! content's own hash, identical files are stored once, a stored file is never overwritten with other bytes, and a
//! reader can check what it got against its name. [`LocalDir`] is the default: a directory on the local disk, written
//! atomically (a temporary file, synced, then renamed into place). An object store would be another implementation.
//!
//! It knows nothing of products, prices or buyers (the market does), holds no SQL (the ledger does), and reads no
//! configuration: the directory arrives as a path.

mod local;

use std::{fmt, future::Future, path::PathBuf, pin::Pin};

pub use alloy_primitives::B256;
use tokio::io::AsyncRead;

pub use local::LocalDir;

/// A store's asynchronous answer.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Where files are kept, keyed by the SHA-256 of their content.
pub trait ContentStore: fmt::Debug + Send + Sync {
    /// Stores `bytes` and returns their SHA-256. Bytes already stored are not written again; a crash part-way
    /// leaves nothing under the digest (the write is atomic).
    fn put(&self, bytes: Vec<u8>) -> StoreFuture<'_, B256>;

    /// Opens the content whose SHA-256 is `sha256` for reading, or `None` if none is stored.
    fn open(&self, sha256: B256) -> StoreFuture<'_, Option<Content>>;
}

/// A stored content, open for streaming.
pub struct Content {
    /// Its length in bytes.
    pub size: u64,
    /// Its bytes, read as they are sent.
    pub reader: Pin<Box<dyn AsyncRead + Send + Sync>>,
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Content").field("size", &self.size).finish_non_exhaustive()
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// On which path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The blocking task writing a file did not finish (panicked or was cancelled).
    #[error("the storage task did not finish: {0}")]
    Task(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> B256 {
    use sha2::Digest as _;
    B256::from(<[u8; 32]>::from(sha2::Sha256::digest(bytes)))
}
