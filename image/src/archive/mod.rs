//! `dock save` and `dock load`: images as docker-archive (docker's `docker save` format:
//! `manifest.json`, `<config hex>.json`, `<diff id hex>/layer.tar` with uncompressed layers)
//! or oci-archive (a tar of an OCI image layout whose index entries carry the image name in
//! `org.opencontainers.image.ref.name`). Both are what `podman load`, `docker load` and
//! skopeo's `docker-archive:`/`oci-archive:` transports read, and what they write is loaded
//! back. [`save`] writes archives, [`load`] reads them without ever creating a path named by
//! the archive (entries go to numbered temp files, verified by digest before they enter the
//! store).

pub mod load;
pub mod save;

use crate::store::StoreError;
use std::path::PathBuf;

/// Which archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveFormat {
    /// docker save's format.
    DockerArchive,
    /// A tar of an OCI image layout.
    OciArchive,
}

/// Why saving or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the archive or a temp file failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archive is not one we read.
    #[error("{0}")]
    Format(String),
}

/// Attach a path and an action to an I/O error.
pub(crate) fn io_err(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { what, path, source }
}

/// The annotation OCI layouts name images with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's image name annotation (full reference), written too for its importers.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
