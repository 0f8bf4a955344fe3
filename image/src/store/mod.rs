//! dock's local image store under `--root` (default `/var/lib/dock`): an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) whose `index.json` entries carry the full
//! image name in `org.opencontainers.image.ref.name`, plus `ingest/` for partial downloads.
//!
//! [`blobs`] writes content-addressed blobs safely; [`names`] maps names to manifests;
//! [`images`] answers questions about stored images (their layers, config, size).

pub mod blobs;
pub mod images;
pub mod names;

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/dock";

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Written content did not match its descriptor.
    #[error(
        "content mismatch for {expected}: got {actual} ({size} bytes, expected {expected_size})"
    )]
    Mismatch {
        /// Declared digest.
        expected: String,
        /// Computed digest.
        actual: String,
        /// Bytes written.
        size: u64,
        /// Declared size.
        expected_size: u64,
    },
    /// More bytes arrived than declared.
    #[error("{0} is larger than its declared {1} bytes")]
    TooLarge(String, u64),
    /// `index.json` is corrupt.
    #[error("corrupt {}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Parse error.
        source: serde_json::Error,
    },
    /// No image by that name.
    #[error("no such image: {0}")]
    NotFound(String),
    /// A stored manifest could not be used.
    #[error("stored manifest {0}: {1}")]
    Manifest(String, crate::manifest::ManifestError),
    /// Another process is writing this blob.
    #[error("{0} is being downloaded by another dock process")]
    Busy(String),
    /// Locking the store failed.
    #[error("locking the store: {0}")]
    Lock(nix::Error),
}

/// Attach a path and an action to an I/O error.
pub(crate) fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

/// An opened store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [
            root.to_path_buf(),
            root.join("blobs/sha256"),
            root.join("ingest"),
        ] {
            std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        }
        let layout = root.join("oci-layout");
        if !layout.exists() {
            blobs::write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = root.join("index.json");
        if !index.exists() {
            blobs::write_atomic(&index, br#"{"schemaVersion":2,"manifests":[]}"#)?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn activity_file(&self) -> Result<File, StoreError> {
        let path = self.root.join("active.lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))
    }

    /// Mark a pull or push in progress (a shared lock): blobs it has written but not yet named,
    /// or is about to upload, must not be swept meanwhile.
    pub fn activity(&self) -> Result<Flock<File>, StoreError> {
        Flock::lock(self.activity_file()?, FlockArg::LockShared)
            .map_err(|(_, e)| StoreError::Lock(e))
    }

    /// The exclusive side of [`Store::activity`], without waiting: `None` while any pull or
    /// push runs.
    pub fn idle(&self) -> Result<Option<Flock<File>>, StoreError> {
        match Flock::lock(self.activity_file()?, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(l)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(StoreError::Lock(e)),
        }
    }

    /// Take the store's exclusive lock (held while names change or blobs are swept).
    pub fn lock(&self) -> Result<Flock<File>, StoreError> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| StoreError::Lock(e))
    }
}
