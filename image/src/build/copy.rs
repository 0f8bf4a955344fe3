//! COPY and ADD into a root directory (the merged overlay of a build step), safely.
//!
//! Sources are read and the destination written only through file descriptors resolved inside
//! their roots (`openat2(RESOLVE_IN_ROOT)`, the unpacker's in-root helpers), so no symlink in
//! the build context, in another stage's rootfs or in the image being built can make COPY read
//! or write outside them.

pub use crate::build::dockerfile::Heredoc;
use crate::build::dockerignore::Dockerignore;
use std::io;
use std::path::Path;

/// Where COPY/ADD sources come from.
#[derive(Debug, Clone, Copy)]
pub enum CopyFrom<'a> {
    /// The build context; `.dockerignore`d paths are never copied.
    Context {
        /// The context directory.
        dir: &'a Path,
        /// Its parsed `.dockerignore`.
        ignore: &'a Dockerignore,
    },
    /// Another stage's or image's rootfs (`COPY --from`); paths resolve inside it.
    Root(&'a Path),
}

/// One COPY or ADD, its arguments already variable-expanded by the executor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyRequest {
    /// Source paths or globs (Go `filepath.Match`), relative to the context or the `--from`
    /// root; ADD also takes `http(s)://` URLs.
    pub sources: Vec<String>,
    /// The destination; ending in `/` (or several sources) means a directory; relative is
    /// under `workdir`.
    pub dest: String,
    /// The stage's WORKDIR (absolute).
    pub workdir: String,
    /// `--chown=user[:group]`, names resolved in the destination root's /etc/passwd and
    /// /etc/group.
    pub chown: Option<String>,
    /// `--chmod=` octal mode for every file and directory copied.
    pub chmod: Option<String>,
    /// Heredoc bodies (`COPY <<EOF /dest`), written as given (already expanded when wanted).
    pub heredocs: Vec<Heredoc>,
    /// ADD rather than COPY: local archives are extracted, URLs downloaded.
    pub add: bool,
    /// ADD `--checksum=sha256:<hex>` for a URL source.
    pub checksum: Option<String>,
    /// Seconds since the epoch for what has no source mtime (heredocs, downloads).
    pub epoch: u64,
}

/// Why a COPY/ADD failed; every variant names the source, destination or flag at fault.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A flag or argument is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A source matched nothing.
    #[error("{what} {pattern}: no such file or directory")]
    NotFound {
        /// "build context" or "source root".
        what: &'static str,
        /// The source as written.
        pattern: String,
    },
    /// A source names a path outside the build context.
    #[error("source {0}: outside the build context")]
    OutsideContext(String),
    /// `--chown` names a user or group the destination does not have.
    #[error("--chown: {kind} {name} not found in the destination's {file}")]
    UnknownOwner {
        /// "user" or "group".
        kind: &'static str,
        /// The name.
        name: String,
        /// /etc/passwd or /etc/group.
        file: &'static str,
    },
    /// The downloaded content does not match `--checksum`.
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The URL.
        url: String,
        /// The `--checksum` digest.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// A download failed.
    #[error("ADD {url}: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Reading a source or writing the destination failed.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The source or destination path (as the Dockerfile sees it).
        path: String,
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Extracting a local archive (ADD) failed.
    #[error("ADD {path}: {source}")]
    Extract {
        /// The archive.
        path: String,
        /// The unpacker's error.
        source: crate::unpack::UnpackError,
    },
}

/// Run one COPY/ADD: copy `req`'s sources from `from` into `root` (the merged tree).
pub fn copy_into(root: &Path, from: &CopyFrom, req: &CopyRequest) -> Result<(), CopyError> {
    let _ = (root, from, req);
    Err(CopyError::Invalid("COPY: not implemented yet".into()))
}

/// The cache key part of one COPY/ADD: a `sha256:<hex>` over what the step reads (paths,
/// modes, owners unless `--chown`, contents, symlink targets) and its flags, never mtimes.
pub fn inputs_digest(from: &CopyFrom, req: &CopyRequest) -> Result<String, CopyError> {
    let _ = (from, req);
    Err(CopyError::Invalid("COPY: not implemented yet".into()))
}
