//! The tar-driven side: each entry of a layer, in order, turned into in-root operations
//! ([`super::inroot`]), with whiteouts ([`super::whiteout`]) and the [`Limits`] enforced.

use super::entry_path::EntryPath;
use super::inroot::{self, Kind, Meta, OpError, Root};
use super::whiteout::{classify, Whiteout};
use super::{Limits, Options, UnpackError, UnpackStats, WhiteoutMode};
use nix::sys::stat::SFlag;
use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::EntryType;

/// Extended attributes a layer may set: file capabilities and the user namespace. `trusted.*`
/// (overlayfs metadata: opaque, redirect, metacopy) and `security.selinux` never.
fn xattr_allowed(name: &[u8]) -> bool {
    name == b"security.capability" || name.starts_with(b"user.")
}

struct Applier<'a> {
    root: Root,
    limits: &'a Limits,
    options: &'a Options,
    stats: UnpackStats,
    /// Paths this layer made: a whiteout in the same layer never hides them.
    made: HashSet<EntryPath>,
    /// Every directory above something in `made` (an opaque marker must not remove them).
    made_above: HashSet<EntryPath>,
    /// Directory mtimes, set at the end (adding children changes them).
    dir_times: Vec<(EntryPath, (i64, i64))>,
}

pub(super) fn apply_tar(
    reader: Box<dyn Read + '_>,
    dest: &Path,
    limits: &Limits,
    options: &Options,
) -> Result<UnpackStats, UnpackError> {
    let root = Root::open(dest)
        .and_then(|r| r.with_templates(&options.lower_dirs))
        .map_err(|source| UnpackError::Dest {
            path: dest.to_path_buf(),
            source,
        })?;
    let mut applier = Applier {
        root,
        limits,
        options,
        stats: UnpackStats::default(),
        made: HashSet::new(),
        made_above: HashSet::new(),
        dir_times: Vec::new(),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        applier.entry(&mut entry)?;
    }
    applier.finish()?;
    Ok(applier.stats)
}

fn io_err(path: &EntryPath) -> impl FnOnce(OpError) -> UnpackError + '_ {
    move |e| UnpackError::Io {
        path: path.to_string(),
        what: e.what,
        source: e.source,
    }
}

impl Applier<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        self.stats.entries += 1;
        if self.stats.entries > self.limits.max_entries {
            return Err(UnpackError::Limit {
                path: shown,
                what: "entries",
                limit: self.limits.max_entries,
            });
        }
        let path = EntryPath::parse(&raw).map_err(|reason| UnpackError::BadName {
            path: shown,
            reason,
        })?;
        let kind = entry.header().entry_type();
        if let Some((parent, name)) = path.split_last() {
            match classify(name) {
                Whiteout::None => {}
                Whiteout::AufsMeta => {
                    self.stats.skipped += 1;
                    return Ok(());
                }
                Whiteout::Invalid => {
                    return Err(UnpackError::BadName {
                        path: path.to_string(),
                        reason: "whiteout of an invalid name",
                    })
                }
                Whiteout::Opaque => return self.opaque(&path, &parent),
                Whiteout::Name(hidden) => return self.whiteout(&path, &parent, hidden),
            }
        }
        let meta = self.meta(entry, &path)?;
        match kind {
            EntryType::Directory => self.dir(&path, &meta),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(&path, &meta, entry)
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.symlink(&path, &meta, &target)
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hardlink(&path, &target)
            }
            EntryType::Fifo => self.node(&path, &meta, SFlag::S_IFIFO, 0),
            EntryType::Char | EntryType::Block => {
                if !self.root.chown {
                    // Not root: mknod of a device would fail; skipped, as rootless docker does.
                    self.stats.skipped += 1;
                    return Ok(());
                }
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let dev = nix::sys::stat::makedev(u64::from(major), u64::from(minor));
                let fmt = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                self.node(&path, &meta, fmt, dev)
            }
            // PAX global headers, sockets-as-tar-types, vendor types: nothing to make.
            _ => {
                self.stats.skipped += 1;
                Ok(())
            }
        }
    }

    fn meta<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        path: &EntryPath,
    ) -> Result<Meta, UnpackError> {
        let h = entry.header();
        let bad = |what: &'static str| {
            move |source| UnpackError::Io {
                path: path.to_string(),
                what,
                source,
            }
        };
        let mut meta = Meta {
            mode: h.mode().map_err(bad("reading mode"))?,
            // Blank numeric fields appear in the wild (some writers leave them empty): 0, as
            // for GNU tar's --numeric-owner view of an unset owner.
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: (i64::try_from(h.mtime().unwrap_or(0)).unwrap_or(0), 0),
            xattrs: Vec::new(),
        };
        if let Some(pax) = entry.pax_extensions().map_err(bad("reading PAX records"))? {
            for ext in pax {
                let ext = ext.map_err(bad("reading PAX records"))?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        meta.mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    if xattr_allowed(name) {
                        if let Ok(c) = CString::new(name) {
                            meta.xattrs.push((c, ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok(meta)
    }

    fn dir(&mut self, path: &EntryPath, meta: &Meta) -> Result<(), UnpackError> {
        let err = io_err(path);
        let Some((parent, name)) = path.split_last() else {
            // The root itself ("./"): its metadata applies to the destination.
            let fd = self.root.open_dir_read(&EntryPath::root()).map_err(|e| {
                err(OpError {
                    what: "opening the root",
                    source: e.into(),
                })
            })?;
            return self.root_meta(path, fd.as_fd(), meta);
        };
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        let fd = inroot::make_dir(pfd.as_fd(), name).map_err(io_err(path))?;
        inroot::set_meta(&self.root, pfd.as_fd(), name, Some(fd.as_fd()), false, meta)
            .map_err(io_err(path))?;
        self.mark_made(path);
        self.dir_times.push((path.clone(), meta.mtime));
        Ok(())
    }

    fn root_meta(
        &mut self,
        path: &EntryPath,
        fd: std::os::fd::BorrowedFd<'_>,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        if self.root.chown {
            nix::unistd::fchown(
                fd,
                Some(nix::unistd::Uid::from_raw(meta.uid as u32)),
                Some(nix::unistd::Gid::from_raw(meta.gid as u32)),
            )
            .map_err(|e| {
                io_err(path)(OpError {
                    what: "changing owner",
                    source: e.into(),
                })
            })?;
        }
        nix::sys::stat::fchmod(
            fd,
            nix::sys::stat::Mode::from_bits_truncate(meta.mode & 0o7777),
        )
        .map_err(|e| {
            io_err(path)(OpError {
                what: "changing mode",
                source: e.into(),
            })
        })?;
        self.dir_times.push((path.clone(), meta.mtime));
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        path: &EntryPath,
        meta: &Meta,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let (parent, name) = self.nonroot(path)?;
        let budget = self.limits.max_bytes.saturating_sub(self.stats.bytes);
        if data.size() > budget {
            return Err(self.too_big(path));
        }
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        let (file, written) =
            inroot::make_file(pfd.as_fd(), name, data, budget).map_err(io_err(path))?;
        let Some(written) = written else {
            return Err(self.too_big(path));
        };
        self.stats.bytes += written;
        inroot::set_meta(
            &self.root,
            pfd.as_fd(),
            name,
            Some(file.as_fd()),
            false,
            meta,
        )
        .map_err(io_err(path))?;
        self.mark_made(path);
        Ok(())
    }

    fn too_big(&self, path: &EntryPath) -> UnpackError {
        UnpackError::Limit {
            path: path.to_string(),
            what: "bytes",
            limit: self.limits.max_bytes,
        }
    }

    fn nonroot<'p>(&self, path: &'p EntryPath) -> Result<(EntryPath, &'p OsStr), UnpackError> {
        path.split_last().ok_or_else(|| UnpackError::BadName {
            path: path.to_string(),
            reason: "only a directory may stand for the root",
        })
    }

    fn symlink(&mut self, path: &EntryPath, meta: &Meta, target: &[u8]) -> Result<(), UnpackError> {
        let (parent, name) = self.nonroot(path)?;
        if target.is_empty() || target.contains(&0) {
            return Err(UnpackError::BadName {
                path: path.to_string(),
                reason: "symlink with an empty or NUL-bearing target",
            });
        }
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        inroot::make_symlink(pfd.as_fd(), name, OsStr::from_bytes(target)).map_err(io_err(path))?;
        inroot::set_meta(&self.root, pfd.as_fd(), name, None, true, meta).map_err(io_err(path))?;
        self.mark_made(path);
        Ok(())
    }

    fn hardlink(&mut self, path: &EntryPath, target: &[u8]) -> Result<(), UnpackError> {
        let (parent, name) = self.nonroot(path)?;
        let shown_target = String::from_utf8_lossy(target).into_owned();
        let refuse = |reason: &str| UnpackError::BadLink {
            path: path.to_string(),
            target: shown_target.clone(),
            reason: reason.to_string(),
        };
        let tpath = EntryPath::parse(target).map_err(refuse)?;
        let Some((tparent, tname)) = tpath.split_last() else {
            return Err(refuse("the root cannot be linked"));
        };
        if tpath == *path {
            return Err(refuse("an entry cannot link to itself"));
        }
        let tfd = match self.root.open_dir(&tparent) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {
                return Err(refuse("no such entry in the layer"))
            }
            Err(e) => return Err(refuse(&format!("target directory: {e}"))),
        };
        match inroot::kind_at(tfd.as_fd(), tname).map_err(io_err(path))? {
            None => return Err(refuse("no such entry in the layer")),
            Some(Kind::Dir) => return Err(refuse("target is a directory")),
            Some(_) => {}
        }
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        inroot::make_hardlink(tfd.as_fd(), tname, pfd.as_fd(), name).map_err(io_err(path))?;
        self.mark_made(path);
        Ok(())
    }

    fn node(
        &mut self,
        path: &EntryPath,
        meta: &Meta,
        kind: SFlag,
        dev: u64,
    ) -> Result<(), UnpackError> {
        let (parent, name) = self.nonroot(path)?;
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        inroot::make_node(pfd.as_fd(), name, kind, meta.mode, dev).map_err(io_err(path))?;
        inroot::set_meta(&self.root, pfd.as_fd(), name, None, false, meta).map_err(io_err(path))?;
        self.mark_made(path);
        Ok(())
    }

    /// `.wh.NAME`: remove NAME of the lower layers (apply), or record a whiteout (overlay).
    fn whiteout(
        &mut self,
        path: &EntryPath,
        parent: &EntryPath,
        hidden: &OsStr,
    ) -> Result<(), UnpackError> {
        let target = parent.join(hidden);
        if self.made.contains(&target) {
            // The spec: a whiteout only hides what lower layers have.
            return Ok(());
        }
        match self.options.whiteouts {
            WhiteoutMode::Apply => {
                let pfd = match self.root.open_dir(parent) {
                    Ok(fd) => fd,
                    // Nothing below to hide.
                    Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {
                        return Ok(())
                    }
                    Err(e) => {
                        return Err(io_err(path)(OpError {
                            what: "opening whiteout directory",
                            source: e.into(),
                        }))
                    }
                };
                inroot::remove_all_at(pfd.as_fd(), hidden).map_err(io_err(path))
            }
            WhiteoutMode::Overlay => {
                let pfd = self.root.mkdir_all(parent).map_err(io_err(path))?;
                inroot::make_overlay_whiteout(pfd.as_fd(), hidden).map_err(io_err(path))
            }
        }
    }

    /// `.wh..wh..opq`: the directory hides its lower-layer children.
    fn opaque(&mut self, path: &EntryPath, dir: &EntryPath) -> Result<(), UnpackError> {
        self.root.mkdir_all(dir).map_err(io_err(path))?;
        let fd = self.root.open_dir_read(dir).map_err(|e| {
            io_err(path)(OpError {
                what: "opening opaque directory",
                source: e.into(),
            })
        })?;
        match self.options.whiteouts {
            WhiteoutMode::Apply => self.clear_lower(fd.as_fd(), dir).map_err(io_err(path)),
            WhiteoutMode::Overlay => {
                let key = c"trusted.overlay.opaque".to_owned();
                inroot::set_xattr(fd.as_fd(), &key, b"y").map_err(io_err(path))
            }
        }
    }

    fn mark_made(&mut self, path: &EntryPath) {
        self.made.insert(path.clone());
        let mut p = path.clone();
        while let Some((parent, _)) = p.split_last() {
            if !self.made_above.insert(parent.clone()) {
                break;
            }
            p = parent;
        }
    }

    /// Remove everything below `dir` (opened for reading) that this layer did not make.
    fn clear_lower(
        &self,
        fd: std::os::fd::BorrowedFd<'_>,
        dir: &EntryPath,
    ) -> inroot::OpResult<()> {
        for name in inroot::list_dir(fd)? {
            let child = dir.join(&name);
            let made_dir = self.made.contains(&child)
                && inroot::kind_at(fd, &name)? == Some(inroot::Kind::Dir);
            if made_dir || self.made_above.contains(&child) {
                // A directory of this layer, or holding its entries: keep it, clear the rest.
                let sub = nix::fcntl::openat(
                    fd,
                    name.as_os_str(),
                    nix::fcntl::OFlag::O_RDONLY
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| OpError {
                    what: "opening directory to clear",
                    source: e.into(),
                })?;
                self.clear_lower(sub.as_fd(), &child)?;
            } else if !self.made.contains(&child) {
                inroot::remove_all_at(fd, &name)?;
            }
        }
        Ok(())
    }

    /// Directory mtimes, last (children changed them), deepest first.
    fn finish(&mut self) -> Result<(), UnpackError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|t| std::cmp::Reverse(t.0.components().len()));
        for (path, t) in times {
            let fd = match self.root.open_dir_read(&path) {
                Ok(fd) => fd,
                // Replaced or removed later in the layer.
                Err(_) => continue,
            };
            let ts = nix::sys::time::TimeSpec::new(t.0, t.1);
            nix::sys::stat::futimens(fd.as_fd(), &ts, &ts).map_err(|e| {
                io_err(&path)(OpError {
                    what: "setting times",
                    source: e.into(),
                })
            })?;
        }
        Ok(())
    }
}

/// A PAX time ("1700000000.123456789") as (seconds, nanoseconds).
fn parse_pax_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    Some((sec, if sec < 0 { 0 } else { nsec }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"1700000000"), Some((1700000000, 0)));
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some((1700000000, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"x"), None);
    }

    #[test]
    fn xattr_policy() {
        assert!(xattr_allowed(b"security.capability"));
        assert!(xattr_allowed(b"user.mime"));
        assert!(!xattr_allowed(b"trusted.overlay.opaque"));
        assert!(!xattr_allowed(b"trusted.overlay.redirect"));
        assert!(!xattr_allowed(b"security.selinux"));
    }
}
