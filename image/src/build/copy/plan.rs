//! COPY/ADD sources → a plan: globs expanded (Go `filepath.Match` per path component),
//! `.dockerignore` applied, directories walked. Everything is read through fds resolved inside
//! the source root (`openat2(RESOLVE_IN_ROOT)`, then `*at` calls with `O_NOFOLLOW`), so a
//! symlink in the context or in a `--from` stage never leads outside it.
//!
//! A symlink named by a source itself is followed (inside the root), as docker does; symlinks
//! inside a copied directory are copied as symlinks. Sockets are skipped. Hardlinks are copied
//! as separate files.

use super::CopyError;
use crate::build::dockerignore::{has_glob_meta, match_component, Dockerignore};
use crate::unpack::entry_path::EntryPath;
use crate::unpack::inroot::{self, Root};
use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { size: u64 },
    Dir,
    Symlink(OsString),
    Fifo,
    Device { block: bool, rdev: u64 },
}

/// One entry to copy.
#[derive(Debug, Clone)]
pub struct Item {
    /// Path below the source's top (the root path for the top itself).
    pub rel: EntryPath,
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds, nanoseconds.
    pub mtime: (i64, i64),
}

/// One matched source: its path in the source root and its entries, the top first, then
/// depth first with each directory's names in byte order.
#[derive(Debug, Clone)]
pub struct Source {
    pub top: EntryPath,
    pub items: Vec<Item>,
}

impl Source {
    /// Whether the top (after following a symlink) is a directory.
    pub fn is_dir(&self) -> bool {
        self.items[0].kind == Kind::Dir
    }

    /// The source's own name (for `dest/NAME`); `None` for the root.
    pub fn name(&self) -> Option<&OsStr> {
        self.top.components().last().map(OsString::as_os_str)
    }
}

/// A tree sources are read from.
pub struct SourceTree<'a> {
    pub root: Root,
    pub ignore: Option<&'a Dockerignore>,
    /// "build context" or "source stage" (for messages).
    pub what: &'static str,
}

fn io_err<'a>(path: &'a EntryPath, what: &'static str) -> impl FnOnce(Errno) -> CopyError + 'a {
    move |e| CopyError::Io {
        path: path.to_string(),
        what,
        source: e.into(),
    }
}

fn kind_of(
    st: &FileStat,
    symlink: impl FnOnce() -> nix::Result<OsString>,
) -> nix::Result<Option<Kind>> {
    let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    Ok(Some(if fmt == SFlag::S_IFREG {
        Kind::File {
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    } else if fmt == SFlag::S_IFDIR {
        Kind::Dir
    } else if fmt == SFlag::S_IFLNK {
        Kind::Symlink(symlink()?)
    } else if fmt == SFlag::S_IFIFO {
        Kind::Fifo
    } else if fmt == SFlag::S_IFCHR || fmt == SFlag::S_IFBLK {
        Kind::Device {
            block: fmt == SFlag::S_IFBLK,
            rdev: st.st_rdev,
        }
    } else {
        return Ok(None);
    }))
}

fn item(rel: EntryPath, kind: Kind, st: &FileStat) -> Item {
    Item {
        rel,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: (st.st_mtime, st.st_mtime_nsec),
    }
}

/// Clean a source as written: leading `/` and `./` dropped, `..` popped; one that climbs out
/// of the root is refused.
pub fn clean_source(source: &str, what: &'static str) -> Result<Vec<String>, CopyError> {
    let mut parts: Vec<String> = Vec::new();
    for comp in source.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(CopyError::Outside {
                        path: source.to_string(),
                        what,
                    });
                }
            }
            c => parts.push(c.to_string()),
        }
    }
    Ok(parts)
}

impl SourceTree<'_> {
    fn excluded(&self, path: &EntryPath) -> bool {
        match self.ignore {
            Some(ig) if !path.is_root() => {
                let rel = path.as_relative();
                ig.is_excluded(&String::from_utf8_lossy(rel.as_bytes()))
            }
            _ => false,
        }
    }

    /// Open `path` inside the root; `follow` decides whether a final symlink is followed.
    pub fn open(&self, path: &EntryPath, flags: OFlag, follow: bool) -> nix::Result<OwnedFd> {
        let nofollow = if follow {
            OFlag::empty()
        } else {
            OFlag::O_NOFOLLOW
        };
        self.root.open_in_root(path, flags | nofollow)
    }

    /// Every path the source pattern matches, in byte order per directory.
    fn expand(&self, comps: &[String]) -> Result<Vec<EntryPath>, CopyError> {
        let mut found = vec![EntryPath::root()];
        for comp in comps {
            if !has_glob_meta(comp) {
                for p in &mut found {
                    *p = p.join(OsStr::new(comp));
                }
                continue;
            }
            let mut next = Vec::new();
            for dir in &found {
                let fd = match self.open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, true) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
                    Err(e) => return Err(io_err(dir, "listing directory")(e)),
                };
                let mut names = inroot::list_dir(fd.as_fd()).map_err(|e| CopyError::Io {
                    path: dir.to_string(),
                    what: e.what,
                    source: e.source,
                })?;
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                for name in names {
                    let matched = match_component(comp, &name.to_string_lossy())
                        .map_err(|m| CopyError::Invalid(format!("source pattern {comp:?}: {m}")))?;
                    if matched {
                        next.push(dir.join(&name));
                    }
                }
            }
            found = next;
        }
        Ok(found)
    }

    /// The plan for one source as written (not a URL).
    pub fn plan(&self, source: &str) -> Result<Vec<Source>, CopyError> {
        let comps = clean_source(source, self.what)?;
        let matches = self.expand(&comps)?;
        let mut out = Vec::new();
        let mut excluded_any = false;
        let exceptions = self.ignore.is_some_and(Dockerignore::has_exceptions);
        for top in matches {
            let excluded = self.excluded(&top);
            if excluded {
                excluded_any = true;
                if !exceptions {
                    continue;
                }
            }
            let fd = match self.open(&top, OFlag::O_PATH, true) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
                Err(e) => return Err(io_err(&top, "opening")(e)),
            };
            let st = fstat(fd.as_fd()).map_err(io_err(&top, "inspecting"))?;
            let Some(kind) =
                kind_of(&st, || Err(Errno::ELOOP)).map_err(io_err(&top, "inspecting"))?
            else {
                continue;
            };
            if excluded && kind != Kind::Dir {
                continue;
            }
            let mut items = vec![item(EntryPath::root(), kind.clone(), &st)];
            if kind == Kind::Dir {
                let dir = self
                    .open(&top, OFlag::O_RDONLY | OFlag::O_DIRECTORY, true)
                    .map_err(io_err(&top, "opening"))?;
                let kept = self.walk(dir.as_fd(), &top, &EntryPath::root(), &mut items)?;
                // An excluded directory comes along only for what an exception keeps in it.
                if excluded && !kept {
                    continue;
                }
            }
            out.push(Source { top, items });
        }
        if out.is_empty() {
            return Err(CopyError::NotFound {
                pattern: source.to_string(),
                what: self.what,
                excluded: excluded_any,
            });
        }
        Ok(out)
    }

    /// Add the entries below the directory `dir` (`top`/`rel`); true when any was added.
    fn walk(
        &self,
        dir: BorrowedFd<'_>,
        top: &EntryPath,
        rel: &EntryPath,
        items: &mut Vec<Item>,
    ) -> Result<bool, CopyError> {
        let here = || top_join(top, rel);
        let mut names = inroot::list_dir(dir).map_err(|e| CopyError::Io {
            path: here().to_string(),
            what: e.what,
            source: e.source,
        })?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut added = false;
        for name in names {
            let child = rel.join(&name);
            let full = top_join(top, &child);
            let st = fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(io_err(&full, "inspecting"))?;
            let kind = kind_of(&st, || nix::fcntl::readlinkat(dir, name.as_os_str()))
                .map_err(io_err(&full, "reading symlink"))?;
            let Some(kind) = kind else { continue };
            let excluded = self.excluded(&full);
            if kind == Kind::Dir {
                if excluded && !self.ignore.is_some_and(Dockerignore::has_exceptions) {
                    continue;
                }
                let at = items.len();
                let this = item(child.clone(), Kind::Dir, &st);
                if !excluded {
                    items.push(this.clone());
                }
                let sub = openat(
                    dir,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(&full, "opening"))?;
                let below = self.walk(sub.as_fd(), top, &child, items)?;
                if excluded && below {
                    // Excluded, but an exception inside is kept: the directory comes along.
                    items.insert(at, this);
                }
                added |= below || !excluded;
            } else if !excluded {
                items.push(item(child, kind, &st));
                added = true;
            }
        }
        Ok(added)
    }
}

/// `top` followed by the components of `rel`.
pub fn top_join(top: &EntryPath, rel: &EntryPath) -> EntryPath {
    rel.components().iter().fold(top.clone(), |p, c| p.join(c))
}
