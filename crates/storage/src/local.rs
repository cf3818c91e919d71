//! [`LocalDir`]: content in a local directory, as `<root>/sha256/<first two hex digits>/<64 hex digits>`.
//!
//! A write goes to a temporary file under `<root>/tmp`, is synced, then renamed to its digest's path and the
//! directory synced: a reader sees the whole file or none, and a crash leaves at most a temporary file, never a
//! partial one under a digest. The two hex digits spread files over 256 directories, so no one directory grows to
//! hold every file.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use alloy_primitives::{B256, hex};
use tracing::debug;

use crate::{Content, ContentStore, Error, Result, StoreFuture, sha256};

/// Content-addressed files under one directory, created on first write.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// The store under `root` (nothing is touched until the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content `sha256` lives.
    pub fn path_of(&self, sha256: B256) -> PathBuf {
        let name = hex::encode(sha256);
        self.root.join("sha256").join(&name[..2]).join(name)
    }

    fn write(&self, bytes: &[u8]) -> Result<B256> {
        let digest = sha256(bytes);
        let target = self.path_of(digest);
        // Identical bytes are stored once: the name is the content, so what is there is what would be written.
        if target.exists() {
            debug!(sha256 = %digest, "storage: already stored");
            return Ok(digest);
        }
        let io = |operation: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source: io::Error| Error::Io { operation, path, source }
        };
        let tmp = self.root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
        let dir = target.parent().expect("a digest's path has a directory");
        fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let mut file = tempfile::NamedTempFile::new_in(&tmp).map_err(io("creating a file in", &tmp))?;
        io::Write::write_all(&mut file, bytes).map_err(io("writing", file.path()))?;
        file.as_file().sync_all().map_err(io("syncing", file.path()))?;
        // A concurrent write of the same bytes renames identical content over this one: either is the file.
        file.persist(&target).map_err(|e| Error::Io {
            operation: "renaming into",
            path: target.clone(),
            source: e.error,
        })?;
        // The rename is durable once the directory holding the new name is.
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))?;
        debug!(sha256 = %digest, size = bytes.len(), "storage: stored");
        Ok(digest)
    }
}

impl ContentStore for LocalDir {
    fn put(&self, bytes: Vec<u8>) -> StoreFuture<'_, B256> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.write(&bytes)).await.map_err(|e| Error::Task(e.to_string()))?
        })
    }

    fn open(&self, sha256: B256) -> StoreFuture<'_, Option<Content>> {
        let path = self.path_of(sha256);
        Box::pin(async move {
            let file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(Error::Io { operation: "opening", path, source }),
            };
            let size = file
                .metadata()
                .await
                .map_err(|source| Error::Io { operation: "reading the size of", path: path.clone(), source })?
                .len();
            Ok(Some(Content { size, reader: Box::pin(file) }))
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn read(store: &LocalDir, digest: B256) -> Vec<u8> {
        let mut content = store.open(digest).await.unwrap().expect("stored");
        let mut bytes = Vec::new();
        content.reader.read_to_end(&mut bytes).await.unwrap();
        assert_eq!(content.size, bytes.len() as u64);
        bytes
    }

    #[tokio::test]
    async fn bytes_come_back_by_their_digest_and_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path().join("products"));
        let digest = store.put(b"hello".to_vec()).await.unwrap();
        // SHA-256("hello"), as `printf hello | sha256sum` prints it.
        assert_eq!(hex::encode(digest), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(read(&store, digest).await, b"hello");
        assert_eq!(store.put(b"hello".to_vec()).await.unwrap(), digest);
        let stored: Vec<_> = fs::read_dir(store.path_of(digest).parent().unwrap()).unwrap().collect();
        assert_eq!(stored.len(), 1, "one file for identical bytes");
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0, "no temporary file is left");
        assert!(store.open(sha256(b"other")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_writes_of_the_same_bytes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let bytes = vec![7u8; 1 << 20];
        let (a, b) = tokio::join!(store.put(bytes.clone()), store.put(bytes.clone()));
        assert_eq!(a.unwrap(), b.unwrap());
        assert_eq!(read(&store, sha256(&bytes)).await, bytes);
    }
}
