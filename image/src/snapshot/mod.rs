//! Read-only snapshot directories, one per layer chain, under `<store root>/snapshots`, and the
//! container root filesystems stacked from them (overlayfs, or a copy when overlayfs is
//! unavailable).
//!
//! Layout (see ARCHITECTURE.md, "Snapshots"):
//!
//! ```text
//! snapshots/<chain id hex>/        one layer's tree, whiteouts in overlayfs form; never changed
//!                                  once renamed into place
//! snapshots/<chain id hex>.json    which layer digest it holds, its parent chain id
//! snapshots/tmp-<random>/          a snapshot being made; removed on failure and by sweeps
//! ```

use crate::manifest::Descriptor;
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// Errors from snapshots.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
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
    /// A layer could not be unpacked.
    #[error("unpacking layer {digest}: {source}")]
    Unpack {
        /// The layer.
        digest: String,
        /// Why.
        source: dock::unpack::UnpackError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Mounting or unmounting failed.
    #[error("{what} {}: {source}", path.display())]
    Mount {
        /// mount or umount.
        what: &'static str,
        /// The mount point.
        path: PathBuf,
        /// The error.
        source: nix::Error,
    },
}

/// The snapshot directories of one store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
}

impl Snapshots {
    /// Opens (creating if needed) `<store root>/snapshots`.
    pub fn open(store: &Store) -> Result<Snapshots, SnapshotError> {
        let root = store.root().join("snapshots");
        std::fs::create_dir_all(&root).map_err(|source| SnapshotError::Io {
            what: "creating",
            path: root.clone(),
            source,
        })?;
        Ok(Snapshots { root })
    }

    /// Unpacks what is missing; returns the layer dirs, lowest first.
    pub fn ensure_image(
        &self,
        _store: &Store,
        _layers: &[Descriptor],
    ) -> Result<Vec<PathBuf>, SnapshotError> {
        Ok(Vec::new())
    }

    /// Makes `container_dir/rootfs` from the layer dirs: overlayfs (lowerdir=..,
    /// upperdir/workdir in container_dir) or a copy when overlay is unavailable.
    pub fn prepare_rootfs(
        &self,
        _layers: &[PathBuf],
        container_dir: &Path,
    ) -> Result<PathBuf, SnapshotError> {
        Ok(container_dir.join("rootfs"))
    }

    /// Unmounts and removes what prepare_rootfs made (idempotent).
    pub fn release_rootfs(&self, _container_dir: &Path) -> Result<(), SnapshotError> {
        Ok(())
    }

    /// Snapshot dirs no image references any more (for rmi / system prune).
    pub fn sweep_unreferenced(&self, _store: &Store) -> Result<Vec<String>, SnapshotError> {
        Ok(Vec::new())
    }
}
