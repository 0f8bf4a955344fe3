//! Laying a read-only snapshot (one layer, whiteouts in overlayfs form) onto a directory: the
//! copy fallback for containers when overlayfs is unavailable.

use super::{UnpackError, UnpackStats};
use std::path::Path;

/// Copies the snapshot `src` onto `dest`, honouring its overlayfs whiteouts (0:0 character
/// devices delete, `trusted.overlay.opaque=y` directories hide what `dest` had there).
pub fn merge_overlay_dir(_src: &Path, dest: &Path) -> Result<UnpackStats, UnpackError> {
    Err(UnpackError::Dest {
        path: dest.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::Unsupported),
    })
}
