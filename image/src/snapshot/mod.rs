//! Read-only snapshot directories, one per layer chain, under `<store root>/snapshots`, and the
//! container root filesystems stacked from them (overlayfs, or a copy when overlayfs is
//! unavailable).
//!
//! Layout (see ARCHITECTURE.md, "Snapshots"):
//!
//! ```text
//! snapshots/                       0700: setuid files and device nodes live below
//! snapshots/<chain id hex>/fs/     one layer's tree, whiteouts in overlayfs form; never
//!                                  changed once its directory is renamed into place
//! snapshots/<chain id hex>/layer.json   the layer digest, media type, parent chain id
//! snapshots/tmp-<chain>-<pid>-<n>/ a snapshot being made; renamed into place when complete,
//!                                  removed on failure and by sweeps
//! snapshots/leases/<hash>.json     a container rootfs using some snapshots (kept by sweeps)
//! ```
//!
//! The chain id follows the OCI ChainID recipe over the manifest's layer digests (not the
//! config's diff_ids, which would need the config and the uncompressed bytes first):
//! `chain(L0) = digest(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + digest(Ln))`.

mod chain;
mod rootfs;

pub use chain::chain_ids;
pub use rootfs::Backend;

use crate::manifest::Descriptor;
use crate::store::{Store, StoreError};
use dock::unpack::{apply_layer_with, Limits, Options, WhiteoutMode};
use std::collections::HashSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// A setting or path cannot be used.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io_err(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { what, path, source }
}

/// The snapshot directories of one store.
#[derive(Debug, Clone)]
pub struct Snapshots {
    root: PathBuf,
    limits: Limits,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Snapshots {
    /// Opens (creating if needed) `<store root>/snapshots`.
    pub fn open(store: &Store) -> Result<Snapshots, SnapshotError> {
        let root = store.root().join("snapshots");
        for dir in [&root, &root.join("leases")] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("creating", dir))?;
        }
        Ok(Snapshots {
            root,
            limits: Limits::default(),
        })
    }

    /// The same snapshots with other unpack limits.
    pub fn with_limits(mut self, limits: Limits) -> Snapshots {
        self.limits = limits;
        self
    }

    /// A fresh private directory under the snapshot root where a snapshot of `chain` is
    /// assembled before it is renamed into place (unique per process and call).
    fn make_tmp_dir(&self, chain: &str) -> Result<PathBuf, SnapshotError> {
        let tmp = self.root.join(format!(
            "tmp-{chain}-{}-{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io_err("creating", &tmp))?;
        Ok(tmp)
    }

    /// The directory holding the snapshots.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn layer_dir(&self, chain: &str) -> PathBuf {
        self.root.join(chain).join("fs")
    }

    /// Unpacks what is missing; returns the layer dirs, lowest first.
    pub fn ensure_image(
        &self,
        store: &Store,
        layers: &[Descriptor],
    ) -> Result<Vec<PathBuf>, SnapshotError> {
        // A shared hold on the store: sweeps (rmi, prune) wait for no pull, push or unpack.
        let _active = store.activity()?;
        let chains = chain_ids(layers);
        let mut dirs = Vec::with_capacity(layers.len());
        for (i, (layer, chain)) in layers.iter().zip(&chains).enumerate() {
            let dir = self.root.join(chain);
            if !dir.exists() {
                let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                let lowers: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
                self.unpack_one(store, layer, chain, parent, lowers)?;
            }
            dirs.push(self.layer_dir(chain));
        }
        Ok(dirs)
    }

    /// Unpack one layer into a temporary directory, then rename it into place.
    fn unpack_one(
        &self,
        store: &Store,
        layer: &Descriptor,
        chain: &str,
        parent: Option<&str>,
        lowers: Vec<PathBuf>,
    ) -> Result<(), SnapshotError> {
        let tmp = self.make_tmp_dir(chain)?;
        let result = self.fill(store, layer, chain, parent, lowers, &tmp);
        if result.is_err() {
            // A partial snapshot is never left behind.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn fill(
        &self,
        store: &Store,
        layer: &Descriptor,
        chain: &str,
        parent: Option<&str>,
        lower_dirs: Vec<PathBuf>,
        tmp: &Path,
    ) -> Result<(), SnapshotError> {
        let fs = tmp.join("fs");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&fs)
            .map_err(io_err("creating", &fs))?;
        let blob = store.blob_path(&layer.digest);
        let file = std::fs::File::open(&blob).map_err(io_err("opening layer", &blob))?;
        let options = Options {
            whiteouts: WhiteoutMode::Overlay,
            lower_dirs,
        };
        let stats = apply_layer_with(file, &layer.media_type, &fs, &self.limits, &options)
            .map_err(|source| SnapshotError::Unpack {
                digest: layer.digest.to_string(),
                source,
            })?;
        let info = serde_json::json!({
            "digest": layer.digest,
            "mediaType": layer.media_type,
            "parent": parent,
            "entries": stats.entries,
            "bytes": stats.bytes,
        });
        let info_path = tmp.join("layer.json");
        std::fs::write(&info_path, info.to_string()).map_err(io_err("writing", &info_path))?;
        // Durable before visible: a crash after the rename never shows a half-written tree.
        let dir = std::fs::File::open(tmp).map_err(io_err("opening", tmp))?;
        nix::unistd::syncfs(&dir).map_err(|e| io_err("syncing", tmp)(e.into()))?;
        let dest = self.root.join(chain);
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            tmp,
            nix::fcntl::AT_FDCWD,
            &dest,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            // Another dock process made the same snapshot first: keep theirs.
            Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {
                let _ = std::fs::remove_dir_all(tmp);
                Ok(())
            }
            Err(e) => Err(io_err("renaming into place", &dest)(e.into())),
        }
    }

    /// Takes `fs` (a directory on the store's filesystem, e.g. the overlay upper dir a build
    /// step just turned into `layer`) as the snapshot of chain `chain` instead of unpacking the
    /// layer again. The directory is moved, never copied; when the snapshot already exists it is
    /// removed. A failure leaves no snapshot: [`Snapshots::ensure_image`] then unpacks the blob.
    pub fn adopt(
        &self,
        chain: &str,
        parent: Option<&str>,
        layer: &Descriptor,
        fs: &Path,
    ) -> Result<(), SnapshotError> {
        let dest = self.root.join(chain);
        if dest.exists() {
            let _ = std::fs::remove_dir_all(fs);
            return Ok(());
        }
        let tmp = self.make_tmp_dir(chain)?;
        let result = (|| {
            std::fs::rename(fs, tmp.join("fs")).map_err(io_err("moving into place", fs))?;
            let info = serde_json::json!({
                "digest": layer.digest,
                "mediaType": layer.media_type,
                "parent": parent,
            });
            let info_path = tmp.join("layer.json");
            std::fs::write(&info_path, info.to_string()).map_err(io_err("writing", &info_path))?;
            let dir = std::fs::File::open(&tmp).map_err(io_err("opening", &tmp))?;
            nix::unistd::syncfs(&dir).map_err(|e| io_err("syncing", &tmp)(e.into()))?;
            match nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &tmp,
                nix::fcntl::AT_FDCWD,
                &dest,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => Ok(()),
                Err(nix::errno::Errno::EEXIST) | Err(nix::errno::Errno::ENOTEMPTY) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    Ok(())
                }
                Err(e) => Err(io_err("renaming into place", &dest)(e.into())),
            }
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Mounts an overlay of `layers` (lowest first, snapshot dirs or any directory) on
    /// `target`, with `dir/upper` and `dir/work` as its upper and work dirs, for a build step:
    /// `redirect_dir=off,metacopy=off` so every change in the upper dir is plain data a layer
    /// tar can hold (a kernel that does not know those options gets the plain mount, where
    /// both are off anyway). The caller unmounts.
    pub fn mount_overlay(
        layers: &[PathBuf],
        dir: &Path,
        target: &Path,
    ) -> Result<(), SnapshotError> {
        match rootfs::mount_overlay_with(layers, dir, target, "redirect_dir=off,metacopy=off") {
            Err(SnapshotError::Mount {
                source: nix::errno::Errno::EINVAL,
                ..
            }) => rootfs::mount_overlay(layers, dir, target),
            other => other,
        }
    }

    /// Makes `container_dir/rootfs` from the layer dirs: overlayfs (lowerdir=..,
    /// upperdir/workdir in container_dir) or a copy when overlay is unavailable.
    pub fn prepare_rootfs(
        &self,
        layers: &[PathBuf],
        container_dir: &Path,
    ) -> Result<PathBuf, SnapshotError> {
        rootfs::prepare(self, layers, container_dir, rootfs::backend_from_env()?)
    }

    /// [`Snapshots::prepare_rootfs`] with the backend chosen by the caller (`None`: overlay
    /// when it mounts, else a copy) instead of `$DOCK_SNAPSHOTTER`.
    pub fn prepare_rootfs_with(
        &self,
        layers: &[PathBuf],
        container_dir: &Path,
        backend: Option<Backend>,
    ) -> Result<PathBuf, SnapshotError> {
        rootfs::prepare(self, layers, container_dir, backend)
    }

    /// Unmounts and removes what prepare_rootfs made (idempotent).
    pub fn release_rootfs(&self, container_dir: &Path) -> Result<(), SnapshotError> {
        rootfs::release(self, container_dir)
    }

    /// Snapshot dirs no image references any more (for rmi / system prune).
    pub fn sweep_unreferenced(&self, store: &Store) -> Result<Vec<String>, SnapshotError> {
        let Some(_idle) = store.idle()? else {
            // An unpack, pull or push is running: the next sweep catches up.
            return Ok(Vec::new());
        };
        let mut keep: HashSet<String> = HashSet::new();
        for named in store.list_names()? {
            // An image whose manifest cannot be read keeps nothing (its blobs are gone too).
            if let Ok(image) = store.open_image(&named) {
                keep.extend(chain_ids(&image.manifest.layers));
            }
        }
        keep.extend(rootfs::leased_chains(self)?);
        let mut removed = Vec::new();
        let entries = std::fs::read_dir(&self.root).map_err(io_err("listing", &self.root))?;
        for entry in entries {
            let entry = entry.map_err(io_err("listing", &self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_tmp = name.starts_with("tmp-");
            let is_snapshot =
                matches!(name.len(), 64 | 128) && name.bytes().all(|b| b.is_ascii_hexdigit());
            if (is_tmp || is_snapshot) && !keep.contains(&name) {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(io_err("removing", &path))?;
                removed.push(name);
            }
        }
        removed.sort();
        Ok(removed)
    }
}

#[cfg(test)]
mod tests;
