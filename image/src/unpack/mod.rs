//! Applying image layers (tar, tar+gzip, tar+zstd) to directories, safely.
//!
//! The tar crate is only a parser here: every entry is created by us through file
//! descriptors, its parent opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` under
//! the destination and the entry itself made with `mkdirat`/`openat(O_EXCL|O_NOFOLLOW)`/
//! `symlinkat`/`linkat`/`mknodat` relative to that parent, so no name, symlink or hardlink in
//! a layer can reach outside the destination. The rules (see ARCHITECTURE.md, "Unpacking"):
//!
//! * names are cleaned lexically; one that climbs above the root (`../x`) is refused;
//! * symlinks in parent directories are followed, but only inside the root (as in
//!   containerd and umoci); the last component is never followed;
//! * hardlinks must name an entry already inside the destination;
//! * whiteouts follow the OCI image-spec: `.wh.NAME` removes NAME of lower layers, and
//!   `.wh..wh..opq` hides the lower layers' children of its directory; a whiteout never hides
//!   what its own layer made;
//! * device nodes are made only when running as root, else skipped (counted in
//!   [`UnpackStats::skipped`]); fifos always;
//! * owners are kept when root; setuid/setgid/sticky bits are kept as docker keeps them
//!   (mode is set after chown, which would clear them);
//! * xattrs from PAX `SCHILY.xattr.*` records: `security.capability` and `user.*` only, never
//!   `trusted.*` (a layer must not forge overlayfs metadata);
//! * [`Limits`] caps the bytes written and the entries seen: a decompression bomb stops with
//!   [`UnpackError::Limit`].
//!
//! [`apply_layer`] merges a layer onto a directory (whiteouts delete); [`apply_layer_with`] in
//! [`WhiteoutMode::Overlay`] records them in overlayfs form instead, which is how a
//! read-only snapshot of one layer is made; [`merge_overlay_dir`] lays such a snapshot onto a
//! directory (the copy fallback when overlayfs is unavailable).

mod apply;
mod decompress;
pub(crate) mod entry_path;
pub(crate) mod inroot;
mod merge;
mod whiteout;

pub use decompress::{detect_compression, Compression};
pub use merge::merge_overlay_dir;

use std::path::{Path, PathBuf};

/// Caps on what one layer may produce (decompression bombs, entry floods).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content written.
    pub max_bytes: u64,
    /// Entries (of any kind, whiteouts included) read from the tar stream.
    pub max_entries: u64,
}

impl Default for Limits {
    /// 64 GiB and one million entries: far above real images, far below a full disk.
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 1_000_000,
        }
    }
}

/// What applying a layer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries processed (including whiteouts and skipped ones).
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries skipped by policy (device nodes when not root, unknown entry types).
    pub skipped: u64,
}

/// How whiteouts are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Delete what they name from the destination (a flattened tree).
    #[default]
    Apply,
    /// Record them as overlayfs does: `.wh.NAME` → a 0:0 character device NAME, opaque →
    /// `trusted.overlay.opaque=y` on the directory (needs root).
    Overlay,
}

/// How a layer is applied, beyond [`Limits`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Whiteout handling.
    pub whiteouts: WhiteoutMode,
    /// The layers below, top first (snapshots in overlay form): a parent directory the layer
    /// does not list but needs is made with the owner and mode it has there, so the merged
    /// view keeps them (else an implied `/opt` of mode 0755 would override a lower 0700).
    pub lower_dirs: Vec<PathBuf>,
}

/// Why a layer could not be applied. Every variant names the tar entry (or file) it is about.
#[derive(thiserror::Error, Debug)]
pub enum UnpackError {
    /// The tar stream itself is broken.
    #[error("layer tar: {0}")]
    Tar(#[source] std::io::Error),
    /// An entry's name is unusable (climbs out of the root, empty, not UTF-8-safe...).
    #[error("entry {path}: {reason}")]
    BadName {
        /// The entry's name as in the tar.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A hardlink points where it may not.
    #[error("entry {path}: hardlink to {target}: {reason}")]
    BadLink {
        /// The entry.
        path: String,
        /// Its link target.
        target: String,
        /// Why it is refused.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("entry {path}: {what}: {source}")]
    Io {
        /// The entry being applied.
        path: String,
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cap in [`Limits`] was reached.
    #[error("entry {path}: layer exceeds its limit of {limit} {what} (a decompression bomb?)")]
    Limit {
        /// The entry at which the cap was crossed.
        path: String,
        /// "bytes" or "entries".
        what: &'static str,
        /// The cap.
        limit: u64,
    },
    /// The media type names a compression we do not read.
    #[error("layer media type {0}: unsupported")]
    MediaType(String),
    /// The destination cannot be used.
    #[error("destination {}: {source}", path.display())]
    Dest {
        /// The destination directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Applies one layer (tar, tar+gzip, tar+zstd; detected from media type and magic bytes)
/// onto `dest` (an existing directory), with whiteouts, never writing outside `dest`.
pub fn apply_layer(
    layer: impl std::io::Read,
    media_type: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<UnpackStats, UnpackError> {
    apply_layer_with(layer, media_type, dest, limits, &Options::default())
}

/// [`apply_layer`] with [`Options`] (overlay-form whiteouts for snapshots).
pub fn apply_layer_with(
    layer: impl std::io::Read,
    media_type: &str,
    dest: &Path,
    limits: &Limits,
    options: &Options,
) -> Result<UnpackStats, UnpackError> {
    let reader = decompress::open(layer, media_type)?;
    apply::apply_tar(reader, dest, limits, options)
}
