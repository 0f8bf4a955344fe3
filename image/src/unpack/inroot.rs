//! Every filesystem change the unpacker makes, through file descriptors inside one root.
//!
//! A parent directory is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from
//! the root's fd, so `..` and symlinks (absolute or relative) in the parent chain resolve as if
//! the root were `/`. The entry itself is then made relative to that parent fd with a call that
//! never follows a final symlink (`mkdirat`, `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`, `symlinkat`,
//! `linkat` without `AT_SYMLINK_FOLLOW`, `mknodat`, `fchownat`/`utimensat` with
//! `AT_SYMLINK_NOFOLLOW`, `fchmodat2` on the fd of what we just made). No path string joined
//! onto the root is ever handed to the kernel.

use super::entry_path::EntryPath;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, mknodat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A failed operation: what we were doing and the OS error.
#[derive(Debug)]
pub struct OpError {
    /// What we were doing.
    pub what: &'static str,
    /// The error.
    pub source: io::Error,
}

/// Result of an in-root operation.
pub type OpResult<T> = Result<T, OpError>;

fn op<T>(what: &'static str, r: nix::Result<T>) -> OpResult<T> {
    r.map_err(|e| OpError {
        what,
        source: io::Error::from(e),
    })
}

fn op_io<T>(what: &'static str, r: io::Result<T>) -> OpResult<T> {
    r.map_err(|source| OpError { what, source })
}

/// Metadata to give a new entry.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner (applied only when `chown` is set on the [`Root`]).
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Extended attributes to set (already filtered by policy).
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

/// The kind of an existing entry, without following a final symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A character device with this rdev.
    Char(u64),
    /// Anything else (file, symlink, fifo, block device, socket).
    Other,
}

/// A root directory all operations stay inside.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    /// Whether owners are applied (we are root).
    pub chown: bool,
    /// Lower layers' roots, top first: implied parents copy owner and mode from them.
    templates: Vec<Root>,
}

impl Root {
    /// Open `dest` (a trusted path: the caller's destination) as the root.
    pub fn open(dest: &Path) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            dest,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            chown: nix::unistd::geteuid().is_root(),
            templates: Vec::new(),
        })
    }

    /// Use these lower layer roots (top first) as templates for implied parent directories.
    pub fn with_templates(mut self, lowers: &[std::path::PathBuf]) -> io::Result<Root> {
        for l in lowers {
            self.templates.push(Root::open(l)?);
        }
        Ok(self)
    }

    /// Give the directory just made at `p` the owner and mode it has in the topmost lower
    /// layer that has it.
    fn copy_template(&self, p: &EntryPath) -> OpResult<()> {
        for t in &self.templates {
            let Ok(lower) = t.open_dir(p) else { continue };
            let st = op(
                "inspecting lower directory",
                nix::sys::stat::fstat(lower.as_fd()),
            )?;
            let made = op("opening parent directory", self.open_dir_read(p))?;
            if self.chown {
                op(
                    "changing owner",
                    nix::unistd::fchown(
                        made.as_fd(),
                        Some(Uid::from_raw(st.st_uid)),
                        Some(Gid::from_raw(st.st_gid)),
                    ),
                )?;
            }
            return op(
                "changing mode",
                nix::sys::stat::fchmod(made.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777)),
            );
        }
        Ok(())
    }

    /// Open the directory `p` (resolved inside the root) as an `O_PATH` fd.
    pub fn open_dir(&self, p: &EntryPath) -> nix::Result<OwnedFd> {
        self.open_in_root(p, OFlag::O_PATH | OFlag::O_DIRECTORY)
    }

    /// Open the directory `p` (resolved inside the root) for reading (listing, xattrs).
    pub fn open_dir_read(&self, p: &EntryPath) -> nix::Result<OwnedFd> {
        self.open_in_root(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }

    pub(crate) fn open_in_root(&self, p: &EntryPath, flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(self.fd.as_fd(), p.as_relative().as_os_str(), how) {
                // openat2 asks for a retry when a rename raced the in-root resolution.
                Err(Errno::EAGAIN) => continue,
                r => return r,
            }
        }
    }

    /// Open (making what is missing, mode 0755, owned by us) the directory `p`. A dangling
    /// symlink on the way has its target made, resolved inside the root (as containerd and
    /// umoci do), so `p` always ends up inside the root.
    pub fn mkdir_all(&self, p: &EntryPath) -> OpResult<OwnedFd> {
        self.mkdir_all_depth(p, 0)
    }

    fn mkdir_all_depth(&self, p: &EntryPath, depth: u32) -> OpResult<OwnedFd> {
        match self.open_dir(p) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return op("opening parent directory", Err(e)),
        }
        // As the kernel's own limit on symlinks in one lookup.
        if depth > 40 {
            return op("opening parent directory", Err(Errno::ELOOP));
        }
        let mut cur = op("opening the root", self.open_dir(&EntryPath::root()))?;
        let mut prefix = EntryPath::root();
        for comp in p.components() {
            prefix = prefix.join(comp);
            match self.open_dir(&prefix) {
                Ok(fd) => cur = fd,
                Err(Errno::ENOENT) => {
                    match mkdirat(
                        cur.as_fd(),
                        comp.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) => self.copy_template(&prefix)?,
                        Err(Errno::EEXIST) => {
                            // A dangling symlink: make its target, inside the root.
                            let target = op(
                                "reading symlink in parent path",
                                nix::fcntl::readlinkat(cur.as_fd(), comp.as_os_str()),
                            )?;
                            let base = self.in_root_path(cur.as_fd())?;
                            let resolved = base.resolve_clamped(target.as_bytes());
                            self.mkdir_all_depth(&resolved, depth + 1)?;
                        }
                        Err(e) => return op("making parent directory", Err(e)),
                    }
                    cur = op("opening parent directory", self.open_dir(&prefix))?;
                }
                Err(e) => return op("opening parent directory", Err(e)),
            }
        }
        Ok(cur)
    }

    /// Where the directory `dir` (opened inside the root) is, relative to the root. Read from
    /// /proc/self/fd (only read: no write ever goes through a magic link).
    fn in_root_path(&self, dir: BorrowedFd<'_>) -> OpResult<EntryPath> {
        let real =
            |fd: BorrowedFd<'_>| std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let root = op_io("locating the root", real(self.fd.as_fd()))?;
        let here = op_io("locating parent directory", real(dir))?;
        let rel = here.strip_prefix(&root).map_err(|_| OpError {
            what: "locating parent directory",
            source: io::Error::other("outside the root"),
        })?;
        EntryPath::parse(rel.as_os_str().as_bytes()).map_err(|e| OpError {
            what: "locating parent directory",
            source: io::Error::other(e),
        })
    }
}

/// The kind of `name` in `dir`, `None` when absent.
pub fn kind_at(dir: BorrowedFd<'_>, name: &OsStr) -> OpResult<Option<Kind>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
            Ok(Some(if fmt == SFlag::S_IFDIR {
                Kind::Dir
            } else if fmt == SFlag::S_IFCHR {
                Kind::Char(st.st_rdev)
            } else {
                Kind::Other
            }))
        }
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => op("inspecting", Err(e)),
    }
}

/// Remove `name` in `dir` and, for a directory, everything below it; absent is fine.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> OpResult<()> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(Kind::Dir) => {
            let sub = op(
                "opening directory to remove",
                openat(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ),
            )?;
            clear_dir(sub.as_fd(), |_| false)?;
            op(
                "removing directory",
                unlinkat(dir, name, UnlinkatFlags::RemoveDir),
            )
        }
        Some(_) => match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
            Err(Errno::ENOENT) => Ok(()),
            r => op("removing", r),
        },
    }
}

/// The names in the directory `dir` (opened for reading), without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> OpResult<Vec<std::ffi::OsString>> {
    let dup = op_io("listing directory", dir.try_clone_to_owned())?;
    let mut d = op("listing directory", nix::dir::Dir::from_fd(dup))?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = op("listing directory", entry)?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name != "." && name != ".." {
            names.push(name.to_os_string());
        }
    }
    Ok(names)
}

/// Remove every child of `dir` (opened for reading) for which `keep` is false.
pub fn clear_dir(dir: BorrowedFd<'_>, keep: impl Fn(&OsStr) -> bool) -> OpResult<()> {
    for name in list_dir(dir)? {
        if !keep(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// Make the directory `name` in `parent`, or keep the directory already there (removing any
/// non-directory in the way); returns it opened for reading.
pub fn make_dir(parent: BorrowedFd<'_>, name: &OsStr) -> OpResult<OwnedFd> {
    match kind_at(parent, name)? {
        Some(Kind::Dir) => {}
        Some(_) => {
            remove_all_at(parent, name)?;
            op(
                "making directory",
                mkdirat(parent, name, Mode::from_bits_truncate(0o700)),
            )?;
        }
        None => op(
            "making directory",
            mkdirat(parent, name, Mode::from_bits_truncate(0o700)),
        )?,
    }
    op(
        "opening directory",
        openat(
            parent,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ),
    )
}

/// Make the regular file `name` in `parent` (replacing what is there) with the content of
/// `data`, writing at most `budget` bytes: returns the file and the bytes written, or `None`
/// for the count when `data` had more than `budget`.
pub fn make_file(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    data: &mut dyn Read,
    budget: u64,
) -> OpResult<(File, Option<u64>)> {
    remove_all_at(parent, name)?;
    let fd = op(
        "creating file",
        openat(
            parent,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        ),
    )?;
    let mut file = File::from(fd);
    let written = op_io(
        "writing file",
        io::copy(&mut data.take(budget.saturating_add(1)), &mut file),
    )?;
    Ok((file, (written <= budget).then_some(written)))
}

/// Make the symlink `name` → `target` in `parent` (replacing what is there).
pub fn make_symlink(parent: BorrowedFd<'_>, name: &OsStr, target: &OsStr) -> OpResult<()> {
    remove_all_at(parent, name)?;
    op("making symlink", symlinkat(target, parent, name))
}

/// Hardlink `name` in `parent` to `target_name` in `target_dir` (replacing what is at `name`).
/// A final symlink at the target is linked itself, never followed.
pub fn make_hardlink(
    target_dir: BorrowedFd<'_>,
    target_name: &OsStr,
    parent: BorrowedFd<'_>,
    name: &OsStr,
) -> OpResult<()> {
    remove_all_at(parent, name)?;
    op(
        "making hardlink",
        linkat(target_dir, target_name, parent, name, AtFlags::empty()),
    )
}

/// Make a fifo or device node `name` in `parent` (replacing what is there).
pub fn make_node(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    kind: SFlag,
    mode: u32,
    rdev: u64,
) -> OpResult<()> {
    remove_all_at(parent, name)?;
    op(
        "making node",
        mknodat(
            parent,
            name,
            kind,
            Mode::from_bits_truncate(mode & 0o777),
            rdev,
        ),
    )
}

/// Make an overlayfs whiteout (a 0:0 character device) `name` in `parent`.
pub fn make_overlay_whiteout(parent: BorrowedFd<'_>, name: &OsStr) -> OpResult<()> {
    make_node(parent, name, SFlag::S_IFCHR, 0, 0)
}

/// Set owner, mode, xattrs and mtime of `name` in `parent`, not following a final symlink.
/// `fd` is the entry opened (files, directories), which xattrs need. Order matters: chown
/// clears setuid/setgid and `security.capability`, so mode and xattrs come after it.
pub fn set_meta(
    root: &Root,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    fd: Option<BorrowedFd<'_>>,
    is_symlink: bool,
    meta: &Meta,
) -> OpResult<()> {
    if root.chown {
        op(
            "changing owner",
            fchownat(
                parent,
                name,
                Some(Uid::from_raw(id32(meta.uid))),
                Some(Gid::from_raw(id32(meta.gid))),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ),
        )?;
    }
    if !is_symlink {
        match fd {
            Some(fd) => op(
                "changing mode",
                nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(meta.mode & 0o7777)),
            )?,
            None => fchmod_nofollow(parent, name, meta.mode & 0o7777)?,
        }
        if let Some(fd) = fd {
            for (key, value) in &meta.xattrs {
                set_xattr(fd, key, value)?;
            }
        }
    }
    set_mtime(parent, name, meta.mtime)
}

/// Set the mtime (and atime, to the same) of `name` in `parent`, not following symlinks.
pub fn set_mtime(parent: BorrowedFd<'_>, name: &OsStr, (sec, nsec): (i64, i64)) -> OpResult<()> {
    let t = TimeSpec::new(sec, nsec);
    op(
        "setting times",
        nix::sys::stat::utimensat(
            parent,
            name,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        ),
    )
}

fn id32(id: u64) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX - 1)
}

/// chmod without following a final symlink (fchmodat2, Linux 6.6+; older kernels fall back to
/// fchmodat on an entry we just made and checked is not a symlink).
fn fchmod_nofollow(parent: BorrowedFd<'_>, name: &OsStr, mode: u32) -> OpResult<()> {
    let cname = op_io(
        "changing mode",
        CString::new(name.as_bytes()).map_err(io::Error::other),
    )?;
    // SAFETY: fchmodat2 takes a dir fd we hold, a NUL-terminated name that outlives the call,
    // a mode and flags; it writes no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            parent.as_raw_fd(),
            cname.as_ptr(),
            mode,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = Errno::last();
    if err != Errno::ENOSYS {
        return op("changing mode", Err(err));
    }
    // Pre-6.6 kernel: only for what we just made ourselves and see is not a symlink.
    let st = op(
        "changing mode",
        fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW),
    )?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
        return Ok(());
    }
    op(
        "changing mode",
        nix::sys::stat::fchmodat(
            parent,
            name,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        ),
    )
}

/// Set one extended attribute on an open file or directory.
pub fn set_xattr(fd: BorrowedFd<'_>, key: &CString, value: &[u8]) -> OpResult<()> {
    // SAFETY: fsetxattr reads `key` (NUL-terminated) and `value.len()` bytes of `value`, both
    // alive for the call, on an fd we hold.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        op("setting xattr", Err(Errno::last()))
    }
}

/// Read one extended attribute of an open file or directory (`None` when absent).
pub fn get_xattr(fd: BorrowedFd<'_>, key: &CString) -> OpResult<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: fgetxattr writes at most `buf.len()` bytes into `buf`, which we own, and
        // reads the NUL-terminated `key`.
        let r = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        match Errno::last() {
            Errno::ENODATA | Errno::ENOTSUP => return Ok(None),
            Errno::ERANGE if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            e => return op("reading xattr", Err(e)),
        }
    }
}
