//! Laying a read-only snapshot (one layer, whiteouts in overlayfs form) onto a directory: the
//! copy fallback for containers when overlayfs is unavailable. The source is walked by fd
//! (never following its symlinks) and the destination is written through the same in-root
//! operations as a tar layer, so a snapshot cannot reach outside the destination either.

use super::entry_path::EntryPath;
use super::inroot::{self, Meta, OpError, Root};
use super::{UnpackError, UnpackStats};
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Extended attributes carried from a snapshot to a copy (the ones a layer may set).
const COPIED_XATTRS: [&std::ffi::CStr; 1] = [c"security.capability"];

struct Merger {
    root: Root,
    stats: UnpackStats,
    /// (dev, ino) of multiply-linked source files → the first path copied, to relink.
    links: HashMap<(u64, u64), EntryPath>,
    dir_times: Vec<(EntryPath, (i64, i64))>,
}

fn io_err(path: &EntryPath) -> impl FnOnce(OpError) -> UnpackError + '_ {
    move |e| UnpackError::Io {
        path: path.to_string(),
        what: e.what,
        source: e.source,
    }
}

fn nix_err<'a>(
    path: &'a EntryPath,
    what: &'static str,
) -> impl FnOnce(nix::Error) -> UnpackError + 'a {
    move |e| UnpackError::Io {
        path: path.to_string(),
        what,
        source: e.into(),
    }
}

/// Copies the snapshot `src` onto `dest`, honouring its overlayfs whiteouts (0:0 character
/// devices delete, `trusted.overlay.opaque=y` directories hide what `dest` had there).
pub fn merge_overlay_dir(src: &Path, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let dest_err = |source| UnpackError::Dest {
        path: dest.to_path_buf(),
        source,
    };
    let root = Root::open(dest).map_err(dest_err)?;
    let src_fd = nix::fcntl::open(
        src,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dest {
        path: src.to_path_buf(),
        source: e.into(),
    })?;
    let mut m = Merger {
        root,
        stats: UnpackStats::default(),
        links: HashMap::new(),
        dir_times: Vec::new(),
    };
    let top = EntryPath::root();
    let st = nix::sys::stat::fstat(src_fd.as_fd()).map_err(nix_err(&top, "inspecting"))?;
    let dest_root = m
        .root
        .open_dir_read(&top)
        .map_err(nix_err(&top, "opening the root"))?;
    if m.root.chown {
        nix::unistd::fchown(
            dest_root.as_fd(),
            Some(nix::unistd::Uid::from_raw(st.st_uid)),
            Some(nix::unistd::Gid::from_raw(st.st_gid)),
        )
        .map_err(nix_err(&top, "changing owner"))?;
    }
    nix::sys::stat::fchmod(
        dest_root.as_fd(),
        Mode::from_bits_truncate(st.st_mode & 0o7777),
    )
    .map_err(nix_err(&top, "changing mode"))?;
    if is_opaque(src_fd.as_fd()).map_err(io_err(&top))? {
        inroot::clear_dir(dest_root.as_fd(), |_| false).map_err(io_err(&top))?;
    }
    m.dir_times.push((top.clone(), mtime(&st)));
    m.walk(src_fd.as_fd(), &top)?;
    m.set_dir_times()?;
    Ok(m.stats)
}

fn mtime(st: &FileStat) -> (i64, i64) {
    (st.st_mtime, st.st_mtime_nsec)
}

fn is_opaque(dir: BorrowedFd<'_>) -> Result<bool, OpError> {
    let key = c"trusted.overlay.opaque".to_owned();
    Ok(inroot::get_xattr(dir, &key)?.as_deref() == Some(b"y"))
}

fn meta_of(st: &FileStat, xattrs: Vec<(CString, Vec<u8>)>) -> Meta {
    Meta {
        mode: st.st_mode & 0o7777,
        uid: u64::from(st.st_uid),
        gid: u64::from(st.st_gid),
        mtime: mtime(st),
        xattrs,
    }
}

fn read_xattrs(fd: BorrowedFd<'_>) -> Result<Vec<(CString, Vec<u8>)>, OpError> {
    let mut out = Vec::new();
    for key in COPIED_XATTRS {
        let key = key.to_owned();
        if let Some(v) = inroot::get_xattr(fd, &key)? {
            out.push((key, v));
        }
    }
    Ok(out)
}

impl Merger {
    fn walk(&mut self, src_dir: BorrowedFd<'_>, at: &EntryPath) -> Result<(), UnpackError> {
        let names = inroot::list_dir(src_dir).map_err(io_err(at))?;
        for name in names {
            let path = at.join(&name);
            self.stats.entries += 1;
            let st = fstatat(src_dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(nix_err(&path, "inspecting snapshot entry"))?;
            let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            if fmt == SFlag::S_IFCHR && st.st_rdev == 0 {
                // An overlayfs whiteout: the lower layers' entry goes.
                let pfd = self.root.mkdir_all(at).map_err(io_err(&path))?;
                inroot::remove_all_at(pfd.as_fd(), &name).map_err(io_err(&path))?;
                continue;
            }
            if fmt == SFlag::S_IFDIR {
                self.dir(src_dir, &name, &path, &st)?;
            } else {
                self.leaf(src_dir, &name, &path, &st, fmt)?;
            }
        }
        Ok(())
    }

    fn dir(
        &mut self,
        src_dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &EntryPath,
        st: &FileStat,
    ) -> Result<(), UnpackError> {
        let sub = open_nofollow(src_dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(nix_err(path, "opening snapshot directory"))?;
        let parent = path.split_last().map(|(p, _)| p).unwrap_or_default();
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        let fd = inroot::make_dir(pfd.as_fd(), name).map_err(io_err(path))?;
        if is_opaque(sub.as_fd()).map_err(io_err(path))? {
            inroot::clear_dir(fd.as_fd(), |_| false).map_err(io_err(path))?;
        }
        let xattrs = read_xattrs(sub.as_fd()).map_err(io_err(path))?;
        inroot::set_meta(
            &self.root,
            pfd.as_fd(),
            name,
            Some(fd.as_fd()),
            false,
            &meta_of(st, xattrs),
        )
        .map_err(io_err(path))?;
        self.dir_times.push((path.clone(), mtime(st)));
        self.walk(sub.as_fd(), path)
    }

    fn leaf(
        &mut self,
        src_dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &EntryPath,
        st: &FileStat,
        fmt: SFlag,
    ) -> Result<(), UnpackError> {
        let parent = path.split_last().map(|(p, _)| p).unwrap_or_default();
        let pfd = self.root.mkdir_all(&parent).map_err(io_err(path))?;
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                if let Some((tparent, tname)) = first.split_last() {
                    let tfd = self
                        .root
                        .open_dir(&tparent)
                        .map_err(nix_err(path, "opening hardlink target directory"))?;
                    return inroot::make_hardlink(tfd.as_fd(), tname, pfd.as_fd(), name)
                        .map_err(io_err(path));
                }
            }
            self.links.insert(key, path.clone());
        }
        if fmt == SFlag::S_IFREG {
            let src = open_nofollow(src_dir, name, OFlag::O_RDONLY)
                .map_err(nix_err(path, "opening snapshot file"))?;
            let xattrs = read_xattrs(src.as_fd()).map_err(io_err(path))?;
            let mut src = File::from(src);
            let (file, written) = inroot::make_file(pfd.as_fd(), name, &mut src, u64::MAX - 1)
                .map_err(io_err(path))?;
            self.stats.bytes += written.unwrap_or(0);
            inroot::set_meta(
                &self.root,
                pfd.as_fd(),
                name,
                Some(file.as_fd()),
                false,
                &meta_of(st, xattrs),
            )
            .map_err(io_err(path))
        } else if fmt == SFlag::S_IFLNK {
            let target =
                readlinkat(src_dir, name).map_err(nix_err(path, "reading snapshot symlink"))?;
            inroot::make_symlink(pfd.as_fd(), name, &target).map_err(io_err(path))?;
            inroot::set_meta(
                &self.root,
                pfd.as_fd(),
                name,
                None,
                true,
                &meta_of(st, Vec::new()),
            )
            .map_err(io_err(path))
        } else if fmt == SFlag::S_IFIFO || fmt == SFlag::S_IFCHR || fmt == SFlag::S_IFBLK {
            inroot::make_node(pfd.as_fd(), name, fmt, st.st_mode, st.st_rdev)
                .map_err(io_err(path))?;
            inroot::set_meta(
                &self.root,
                pfd.as_fd(),
                name,
                None,
                false,
                &meta_of(st, Vec::new()),
            )
            .map_err(io_err(path))
        } else {
            // Sockets: nothing a layer can carry.
            self.stats.skipped += 1;
            Ok(())
        }
    }

    fn set_dir_times(&mut self) -> Result<(), UnpackError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|t| std::cmp::Reverse(t.0.components().len()));
        for (path, t) in times {
            if let Ok(fd) = self.root.open_dir_read(&path) {
                let ts = nix::sys::time::TimeSpec::new(t.0, t.1);
                nix::sys::stat::futimens(fd.as_fd(), &ts, &ts)
                    .map_err(nix_err(&path, "setting times"))?;
            }
        }
        Ok(())
    }
}

fn open_nofollow(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}
