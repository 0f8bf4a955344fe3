//! COPY and ADD into a root directory (the merged overlay of a build step), safely.
//!
//! Sources are read and the destination written only through file descriptors resolved inside
//! their roots (`openat2(RESOLVE_IN_ROOT)`, the unpacker's in-root helpers), so no symlink in
//! the build context, in another stage's rootfs or in the image being built can make COPY read
//! or write outside them.
//!
//! Docker's semantics (buildkit's where docker's reference is silent):
//! * sources are relative to the context (or the `--from` root); a leading `/` is dropped, a
//!   `..` that climbs out is an error; each path component may be a Go `filepath.Match` glob;
//!   a source matching nothing (or only `.dockerignore`d paths) is an error naming it;
//! * a directory source copies its contents (the directory's own mode and owner go to the
//!   destination directory when it is made; an existing one is left as it is);
//! * the destination is a directory when it ends in `/` (or is `.`), when there are several
//!   sources (after globbing), or when it already is one; relative destinations are under
//!   WORKDIR; missing directories are made 0755, owned by the `--chown` owner or 0:0;
//! * owners: `--chown` when given; else 0:0 for context files, and the source's own owners for
//!   `--from` (as buildkit); modes kept unless `--chmod` (which applies to files and
//!   directories copied); mtimes kept (the layer clamps them);
//! * symlinks inside a copied directory stay symlinks; sockets are skipped;
//! * ADD: local tar archives are extracted (`archive`), `http(s)://` URLs downloaded
//!   (`download`); heredocs (`COPY <<EOF /dest`) are written as files (0644 unless `--chmod`).
//!
//! [`inputs_digest`] is the cache key part: what the step reads, never mtimes.

mod archive;
mod download;
mod owner;
mod plan;
#[cfg(test)]
mod tests;
mod write;

pub use crate::build::dockerfile::Heredoc;
use crate::build::dockerignore::Dockerignore;
use crate::unpack::entry_path::EntryPath;
use crate::unpack::inroot::{self, Meta, Root};
use dock_registry::digest::{Algorithm, Digest, Hasher};
use nix::fcntl::OFlag;
use plan::{Item, Source, SourceTree};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use write::DestTree;

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
    #[error("source {pattern}: not found in the {what}{}", if *excluded { " (.dockerignore excludes it)" } else { "" })]
    NotFound {
        /// The source as written.
        pattern: String,
        /// "build context" or "source stage".
        what: &'static str,
        /// True when it exists but `.dockerignore` excludes it.
        excluded: bool,
    },
    /// A source names a path outside the context (or the `--from` root).
    #[error("source {path}: outside the {what}")]
    Outside {
        /// The source as written.
        path: String,
        /// "build context" or "source stage".
        what: &'static str,
    },
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

fn keyword(req: &CopyRequest) -> &'static str {
    if req.add {
        "ADD"
    } else {
        "COPY"
    }
}

/// Flags and arguments checked before anything is read or written.
fn validate(req: &CopyRequest) -> Result<(Option<u32>, Option<Digest>), CopyError> {
    let kw = keyword(req);
    if req.dest.is_empty() {
        return Err(CopyError::Invalid(format!("{kw}: empty destination")));
    }
    if req.sources.is_empty() && req.heredocs.is_empty() {
        return Err(CopyError::Invalid(format!("{kw}: no source")));
    }
    if !req.add {
        if let Some(url) = req.sources.iter().find(|s| download::is_url(s)) {
            return Err(CopyError::Invalid(format!(
                "COPY {url}: URLs are for ADD only"
            )));
        }
    }
    let checksum = match &req.checksum {
        None => None,
        Some(c) => {
            if !req.add {
                return Err(CopyError::Invalid("--checksum is for ADD only".into()));
            }
            if let Some(s) = req.sources.iter().find(|s| !download::is_url(s)) {
                return Err(CopyError::Invalid(format!(
                    "ADD --checksum: source {s} is not an http(s) URL"
                )));
            }
            Some(download::parse_checksum(c)?)
        }
    };
    let chmod = req.chmod.as_deref().map(owner::parse_chmod).transpose()?;
    Ok((chmod, checksum))
}

fn source_tree<'a>(from: &CopyFrom<'a>) -> Result<SourceTree<'a>, CopyError> {
    let (dir, ignore, what) = match from {
        CopyFrom::Context { dir, ignore } => (*dir, Some(*ignore), "build context"),
        CopyFrom::Root(dir) => (*dir, None, "source stage"),
    };
    let root = Root::open(dir).map_err(|source| CopyError::Io {
        path: dir.display().to_string(),
        what: "opening the source",
        source,
    })?;
    Ok(SourceTree { root, ignore, what })
}

/// The destination as a path in the root, and whether it is written as a directory.
fn dest_path(req: &CopyRequest) -> (EntryPath, bool) {
    let raw = req.dest.as_str();
    let abs = if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("{}/{raw}", req.workdir)
    };
    let explicit_dir = raw.ends_with('/')
        || raw == "."
        || raw.ends_with("/.")
        || raw == ".."
        || raw.ends_with("/..");
    (
        EntryPath::root().resolve_clamped(abs.as_bytes()),
        explicit_dir,
    )
}

/// Run one COPY/ADD: copy `req`'s sources from `from` into `root` (the merged tree).
///
/// Every source is matched and walked before the first write, so a missing source changes
/// nothing; a failure later leaves a partial tree the caller throws away with its overlay.
pub fn copy_into(root: &Path, from: &CopyFrom, req: &CopyRequest) -> Result<(), CopyError> {
    let (chmod, checksum) = validate(req)?;
    let tree = source_tree(from)?;
    let mut sources = Vec::new();
    let mut urls = Vec::new();
    for s in &req.sources {
        if req.add && download::is_url(s) {
            urls.push(s.as_str());
        } else {
            sources.extend(tree.plan(s)?);
        }
    }
    let dest_root = Root::open(root).map_err(|source| CopyError::Io {
        path: root.display().to_string(),
        what: "opening the destination",
        source,
    })?;
    let owner = req
        .chown
        .as_deref()
        .map(|c| owner::resolve_chown(c, &dest_root))
        .transpose()?;
    let epoch = i64::try_from(req.epoch).unwrap_or(i64::MAX);
    let dest = DestTree {
        root: dest_root,
        dir_owner: owner.map_or((0, 0), |o| (o.uid, o.gid)),
        epoch,
    };
    let context = matches!(from, CopyFrom::Context { .. });
    let meta_for = |item: &Item| Meta {
        mode: chmod.unwrap_or(item.mode),
        uid: u64::from(match (owner, context) {
            (Some(o), _) => o.uid,
            (None, true) => 0,
            (None, false) => item.uid,
        }),
        gid: u64::from(match (owner, context) {
            (Some(o), _) => o.gid,
            (None, true) => 0,
            (None, false) => item.gid,
        }),
        mtime: item.mtime,
        xattrs: Vec::new(),
    };
    let new_meta = |mode: u32| Meta {
        mode: chmod.unwrap_or(mode),
        uid: u64::from(dest.dir_owner.0),
        gid: u64::from(dest.dir_owner.1),
        mtime: (epoch, 0),
        xattrs: Vec::new(),
    };
    let (dest_path, explicit_dir) = dest_path(req);
    let count = sources.len() + urls.len() + req.heredocs.len();
    let into_dir = explicit_dir || count > 1 || dest.is_dir(&dest_path);

    for src in &sources {
        if src.is_dir() {
            // A directory source copies its contents: a destination that does not exist yet
            // is made like any parent (0755, the --chown owner or root), not with the source
            // directory's mode, as docker's builder and buildah do (buildkit#585).
            dest.ensure_dir(&dest_path, None)?;
            // Entries come parents first, siblings together: reuse the parent's fd.
            let mut parent: Option<(EntryPath, OwnedFd)> = None;
            for item in &src.items[1..] {
                let target = plan::top_join(&dest_path, &item.rel);
                let (parent_path, name) = dest.split(&target)?;
                let fd = match parent.take() {
                    Some((p, fd)) if p == parent_path => fd,
                    _ => dest.ensure_dir(&parent_path, None)?,
                };
                copy_item(
                    &tree,
                    &dest,
                    src,
                    item,
                    fd.as_fd(),
                    name,
                    &target,
                    &meta_for(item),
                )?;
                parent = Some((parent_path, fd));
            }
            continue;
        }
        let top = &src.items[0];
        if req.add && matches!(top.kind, plan::Kind::File { .. }) {
            let file = open_source_file(&tree, src, top)?;
            let shown = src.top.to_string();
            let format = archive::detect(&file).map_err(|source| CopyError::Io {
                path: shown.clone(),
                what: "reading",
                source,
            })?;
            if let Some(format) = format {
                let dir = dest.ensure_dir(&dest_path, None)?;
                archive::extract(&file, format, dir.as_fd(), &shown)?;
                continue;
            }
        }
        let target = if into_dir {
            let name = src.name().ok_or_else(|| {
                CopyError::Invalid(format!(
                    "{}: the root cannot be copied as a file",
                    keyword(req)
                ))
            })?;
            dest_path.join(name)
        } else {
            dest_path.clone()
        };
        let (parent, name) = dest.parent_of(&target)?;
        copy_item(
            &tree,
            &dest,
            src,
            top,
            parent.as_fd(),
            name,
            &target,
            &meta_for(top),
        )?;
    }

    for url in urls {
        let target = if into_dir {
            let name = download::file_name(url).ok_or_else(|| {
                CopyError::Invalid(format!(
                    "ADD {url}: no file name in the URL; give the destination a file name"
                ))
            })?;
            dest_path.join(OsStr::new(&name))
        } else {
            dest_path.clone()
        };
        let (parent, name) = dest.parent_of(&target)?;
        let file = download::download(url, checksum.as_ref(), parent.as_fd(), name)?;
        inroot::set_meta(
            &dest.root,
            parent.as_fd(),
            name,
            Some(file.as_fd()),
            false,
            &new_meta(0o600),
        )
        .map_err(write::op_err(&target))?;
    }

    for doc in &req.heredocs {
        let target = if into_dir {
            dest_path.join(OsStr::new(&doc.name))
        } else {
            dest_path.clone()
        };
        let (parent, name) = dest.parent_of(&target)?;
        let body = doc.body.as_bytes();
        dest.write_file(
            parent.as_fd(),
            name,
            &target,
            &mut |f| f.write_all(body).map(|()| body.len() as u64),
            &new_meta(0o644),
        )?;
    }
    Ok(())
}

/// Open a regular file of a source (the top follows a symlink; entries below never do).
fn open_source_file(tree: &SourceTree, src: &Source, item: &Item) -> Result<File, CopyError> {
    let path = plan::top_join(&src.top, &item.rel);
    let fd = tree
        .open(&path, OFlag::O_RDONLY, item.rel.is_root())
        .map_err(|e| CopyError::Io {
            path: path.to_string(),
            what: "opening",
            source: e.into(),
        })?;
    let file = File::from(fd);
    let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if !is_file {
        return Err(CopyError::Io {
            path: path.to_string(),
            what: "opening",
            source: std::io::Error::other("changed while being copied"),
        });
    }
    Ok(file)
}

/// Copy one entry to `name` in `parent` (`target` names it in messages).
#[allow(clippy::too_many_arguments)]
fn copy_item(
    tree: &SourceTree,
    dest: &DestTree,
    src: &Source,
    item: &Item,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    target: &EntryPath,
    meta: &Meta,
) -> Result<(), CopyError> {
    match item.kind {
        plan::Kind::File { .. } => {
            let mut file = open_source_file(tree, src, item)?;
            // File to file: std uses copy_file_range (in-kernel, reflinks where possible).
            dest.write_file(
                parent,
                name,
                target,
                &mut |out| std::io::copy(&mut file, out),
                meta,
            )
        }
        _ => dest.make_entry(parent, name, target, item, meta),
    }
}

/// Unambiguous framing of the digest input: key, length, value.
fn put(h: &mut Hasher, key: &str, value: &[u8]) {
    h.update(key.as_bytes());
    h.update(&(value.len() as u64).to_le_bytes());
    h.update(value);
}

/// The cache key part of one COPY/ADD: a `sha256:<hex>` over what the step reads and its
/// flags: for each matched source entry its path, kind, mode, owner (only for `--from`
/// sources without `--chown`: context files become 0:0 anyway), content hash and symlink
/// target; plus the destination, WORKDIR for a relative one, `--chown`, `--chmod` and heredoc
/// bodies. mtimes are NOT included, so a touched but unchanged file still hits the cache (as
/// buildkit). For an ADD URL: the `--checksum` when given, else the content the URL serves now
/// (the URL is fetched on every build to check, as buildkit does).
pub fn inputs_digest(from: &CopyFrom, req: &CopyRequest) -> Result<String, CopyError> {
    let (_, checksum) = validate(req)?;
    let tree = source_tree(from)?;
    let context = matches!(from, CopyFrom::Context { .. });
    let mut h = Hasher::new(Algorithm::Sha256);
    put(&mut h, "version", b"dock-copy-1");
    put(&mut h, "instruction", keyword(req).as_bytes());
    put(&mut h, "dest", req.dest.as_bytes());
    if !req.dest.starts_with('/') {
        put(&mut h, "workdir", req.workdir.as_bytes());
    }
    for (key, value) in [("chown", &req.chown), ("chmod", &req.chmod)] {
        if let Some(v) = value {
            put(&mut h, key, v.as_bytes());
        }
    }
    for doc in &req.heredocs {
        put(&mut h, "heredoc", doc.name.as_bytes());
        put(&mut h, "body", doc.body.as_bytes());
    }
    for s in &req.sources {
        put(&mut h, "source", s.as_bytes());
        if req.add && download::is_url(s) {
            let content = match &checksum {
                Some(d) => d.clone(),
                None => download::content_digest(s)?,
            };
            put(&mut h, "content", content.to_string().as_bytes());
            continue;
        }
        for src in tree.plan(s)? {
            put(&mut h, "top", src.top.as_relative().as_bytes());
            for item in &src.items {
                put(&mut h, "path", item.rel.as_relative().as_bytes());
                put(&mut h, "mode", &item.mode.to_le_bytes());
                if !context && req.chown.is_none() {
                    put(&mut h, "uid", &item.uid.to_le_bytes());
                    put(&mut h, "gid", &item.gid.to_le_bytes());
                }
                match &item.kind {
                    plan::Kind::File { .. } => {
                        let mut file = open_source_file(&tree, &src, item)?;
                        let mut fh = HashWriter(Hasher::new(Algorithm::Sha256));
                        std::io::copy(&mut file, &mut fh).map_err(|source| CopyError::Io {
                            path: plan::top_join(&src.top, &item.rel).to_string(),
                            what: "reading",
                            source,
                        })?;
                        put(&mut h, "file", fh.0.finish().to_string().as_bytes());
                    }
                    plan::Kind::Dir => put(&mut h, "dir", b""),
                    plan::Kind::Symlink(target) => put(&mut h, "symlink", target.as_bytes()),
                    plan::Kind::Fifo => put(&mut h, "fifo", b""),
                    plan::Kind::Device { block, rdev } => put(
                        &mut h,
                        if *block { "block" } else { "char" },
                        &rdev.to_le_bytes(),
                    ),
                }
            }
        }
    }
    Ok(h.finish().to_string())
}

struct HashWriter(Hasher);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
