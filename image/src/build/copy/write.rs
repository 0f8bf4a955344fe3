//! The destination side of COPY/ADD: every change made relative to fds resolved inside the
//! destination root with the unpacker's in-root helpers, so a symlink in the image (`/x` →
//! `/etc`) leads inside the root, never to the host.
//!
//! Missing directories on the way to the destination are made 0755, owned by the `--chown`
//! owner or 0:0 (as buildkit and buildah make them), mtime = the step's epoch.

use super::plan::{Item, Kind};
use super::CopyError;
use crate::unpack::entry_path::EntryPath;
use crate::unpack::inroot::{self, Meta, Root};
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode, SFlag};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The destination root and how new entries are owned.
pub struct DestTree {
    pub root: Root,
    /// uid, gid for new parent directories (the `--chown` owner, else 0:0).
    pub dir_owner: (u32, u32),
    /// mtime for what has no source time.
    pub epoch: i64,
}

pub fn op_err(path: &EntryPath) -> impl FnOnce(inroot::OpError) -> CopyError + '_ {
    move |e| CopyError::Io {
        path: path.to_string(),
        what: e.what,
        source: e.source,
    }
}

fn errno<'a>(path: &'a EntryPath, what: &'static str) -> impl FnOnce(Errno) -> CopyError + 'a {
    move |e| CopyError::Io {
        path: path.to_string(),
        what,
        source: e.into(),
    }
}

impl DestTree {
    /// Metadata for a new directory we make on the way.
    fn parent_meta(&self) -> Meta {
        Meta {
            mode: 0o755,
            uid: u64::from(self.dir_owner.0),
            gid: u64::from(self.dir_owner.1),
            mtime: (self.epoch, 0),
            xattrs: Vec::new(),
        }
    }

    /// Whether `p` resolves (inside the root, following symlinks) to a directory.
    pub fn is_dir(&self, p: &EntryPath) -> bool {
        self.root.open_dir(p).is_ok()
    }

    /// Open the directory `p`, making what is missing (parents as [`Self::parent_meta`], the
    /// last one with `last` when given). Returns an `O_PATH` fd of it.
    pub fn ensure_dir(&self, p: &EntryPath, last: Option<&Meta>) -> Result<OwnedFd, CopyError> {
        match self.root.open_dir(p) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(errno(p, "opening directory")(e)),
        }
        let n = p.components().len();
        let mut prefix = EntryPath::root();
        for (i, comp) in p.components().iter().enumerate() {
            let parent = prefix.clone();
            prefix = prefix.join(comp);
            match self.root.open_dir(&prefix) {
                Ok(_) => continue,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(errno(&prefix, "opening directory")(e)),
            }
            let pfd = self
                .root
                .open_dir(&parent)
                .map_err(errno(&parent, "opening directory"))?;
            match mkdirat(
                pfd.as_fd(),
                comp.as_os_str(),
                Mode::from_bits_truncate(0o700),
            ) {
                Ok(()) => {
                    let meta = match last {
                        Some(m) if i + 1 == n => m.clone(),
                        _ => self.parent_meta(),
                    };
                    let fd = openat(
                        pfd.as_fd(),
                        comp.as_os_str(),
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(errno(&prefix, "opening directory"))?;
                    inroot::set_meta(
                        &self.root,
                        pfd.as_fd(),
                        comp,
                        Some(fd.as_fd()),
                        false,
                        &meta,
                    )
                    .map_err(op_err(&prefix))?;
                }
                Err(Errno::EEXIST) => {
                    // A dangling symlink: its target is made, resolved inside the root.
                    self.root.mkdir_all(&prefix).map_err(op_err(&prefix))?;
                }
                Err(e) => return Err(errno(&prefix, "making directory")(e)),
            }
        }
        self.root.open_dir(p).map_err(errno(p, "opening directory"))
    }

    /// The parent path and name of `p`; `p` must not be the root.
    pub fn split<'p>(&self, p: &'p EntryPath) -> Result<(EntryPath, &'p OsStr), CopyError> {
        p.split_last()
            .ok_or_else(|| CopyError::Invalid("the destination / cannot be a file".to_string()))
    }

    /// The parent (made if missing) and name of `p`; `p` must not be the root.
    pub fn parent_of<'p>(&self, p: &'p EntryPath) -> Result<(OwnedFd, &'p OsStr), CopyError> {
        let (parent, name) = self.split(p)?;
        Ok((self.ensure_dir(&parent, None)?, name))
    }

    /// Write a regular file `name` in `parent` with `data`'s bytes and `meta`, replacing what
    /// is there.
    pub fn write_file(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        shown: &EntryPath,
        data: &mut dyn FnMut(&mut File) -> std::io::Result<u64>,
        meta: &Meta,
    ) -> Result<(), CopyError> {
        inroot::remove_all_at(parent, name).map_err(op_err(shown))?;
        let fd = openat(
            parent,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(errno(shown, "creating file"))?;
        let mut file = File::from(fd);
        data(&mut file).map_err(|source| CopyError::Io {
            path: shown.to_string(),
            what: "writing file",
            source,
        })?;
        inroot::set_meta(&self.root, parent, name, Some(file.as_fd()), false, meta)
            .map_err(op_err(shown))
    }

    /// Make one non-file entry of a copied tree at `name` in `parent`.
    pub fn make_entry(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        shown: &EntryPath,
        item: &Item,
        meta: &Meta,
    ) -> Result<(), CopyError> {
        match &item.kind {
            Kind::Dir => {
                let fd = inroot::make_dir(parent, name).map_err(op_err(shown))?;
                inroot::set_meta(&self.root, parent, name, Some(fd.as_fd()), false, meta)
            }
            Kind::Symlink(target) => inroot::make_symlink(parent, name, target)
                .and_then(|()| inroot::set_meta(&self.root, parent, name, None, true, meta)),
            Kind::Fifo => inroot::make_node(parent, name, SFlag::S_IFIFO, meta.mode, 0)
                .and_then(|()| inroot::set_meta(&self.root, parent, name, None, false, meta)),
            Kind::Device { block, rdev } => {
                let fmt = if *block {
                    SFlag::S_IFBLK
                } else {
                    SFlag::S_IFCHR
                };
                inroot::make_node(parent, name, fmt, meta.mode, *rdev)
                    .and_then(|()| inroot::set_meta(&self.root, parent, name, None, false, meta))
            }
            Kind::File { .. } => {
                return Err(CopyError::Invalid(format!(
                    "{shown}: internal: a file is written with write_file"
                )))
            }
        }
        .map_err(op_err(shown))
    }
}
