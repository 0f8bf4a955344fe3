//! The tar-driven side: each entry of a layer, in order, turned into in-root operations.

use super::{Limits, Options, UnpackError, UnpackStats};
use std::io::Read;
use std::path::Path;

pub(super) fn apply_tar(
    _reader: Box<dyn Read + '_>,
    dest: &Path,
    _limits: &Limits,
    _options: &Options,
) -> Result<UnpackStats, UnpackError> {
    Err(UnpackError::Dest {
        path: dest.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::Unsupported),
    })
}
