//! A reproducible layer blob from an overlay upper directory.
//!
//! Every layer-producing build step mounts an overlay of the stage's layers with an empty upper
//! directory, changes the merged tree, unmounts, and hands the UPPER directory here. The upper
//! holds exactly what the step changed, in overlayfs form; [`tar_upper_dir`] turns it into an
//! OCI layer (tar+gzip) in one streaming pass, hashing the tar (diff_id) and the gzip (digest)
//! while writing.

use std::io;
use std::path::{Path, PathBuf};

/// Media type of the blobs [`tar_upper_dir`] writes.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// How a layer is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Seconds since the Unix epoch that no entry's mtime may exceed (SOURCE_DATE_EPOCH or
    /// `--timestamp`; 0 by default, so every mtime is 0).
    pub epoch: u64,
}

/// A written layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// The gzip blob, in the `out_dir` given to [`tar_upper_dir`], named by its digest's hex.
    pub path: PathBuf,
    /// `sha256:<hex>` of the gzip blob (the manifest's layer digest).
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar (the config's rootfs.diff_ids entry).
    pub diff_id: String,
    /// Bytes of the gzip blob.
    pub size: u64,
    /// True when the upper directory held nothing (the tar is only its end-of-archive blocks).
    pub empty: bool,
}

/// Why a layer could not be written; names the file in the upper directory (or the blob).
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A filesystem operation failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The upper directory holds something a layer cannot express.
    #[error("{}: {reason}", path.display())]
    Unsupported {
        /// The file in the upper directory.
        path: PathBuf,
        /// Why it cannot go into a layer.
        reason: String,
    },
}

/// Turn the overlay upper directory `upper` into a gzip layer blob in `out_dir`.
pub fn tar_upper_dir(
    upper: &Path,
    opts: &LayerOptions,
    out_dir: &Path,
) -> Result<LayerBlob, LayerError> {
    let _ = (opts, out_dir);
    Err(LayerError::Unsupported {
        path: upper.to_path_buf(),
        reason: "not implemented yet".into(),
    })
}
