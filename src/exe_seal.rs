//! CVE-2019-5736: berth never runs inside a container from the host's berth file.
//!
//! The container init and every exec'd process are clones of the berth process that made
//! them, so until they execve their `/proc/<pid>/exe` is whatever file that berth process
//! runs. A container process that gets hold of that link (it needs ptrace access to the
//! berth process: CAP_SYS_PTRACE in a container without a user namespace is enough, as is a
//! berth process caught dumpable) could reopen it for writing once berth has exited and
//! replace the host's runtime. Non-dumpable processes and CLOEXEC fds make that hard; this
//! module makes it impossible by construction: before `create`, `run` or `exec` starts
//! anything, berth re-executes itself from a copy that cannot be written through any path,
//! so the file behind every `/proc/<pid>/exe` a container could see is that copy.
//!
//! Two kinds of copy, the cheaper first:
//! 1. **Read-only overlay** (root with fsopen, Linux 5.2+): a private overlayfs mount made
//!    with fsopen/fsconfig/fsmount, never attached to any mount namespace, whose lower
//!    layers are the binary's directory and an empty directory (`<root>/exe-seal.empty`,
//!    made once and kept), mounted read-only. No bytes are copied; the page cache is
//!    shared with the real file. There is no upper layer, so nothing can make it
//!    writable, and opening the binary through it for writing fails with EROFS. The mount
//!    lives only as long as a process runs from it.
//! 2. **Sealed memfd** (rootless, or where overlayfs is missing): the binary copied into a
//!    memfd (MFD_CLOEXEC, MFD_ALLOW_SEALING) sealed with F_SEAL_SEAL, F_SEAL_SHRINK,
//!    F_SEAL_GROW and F_SEAL_WRITE: its contents can never change again.
//!
//! Either way the re-executed berth finds `/proc/self/exe` already sealed (a read-only
//! overlayfs file, or a memfd carrying all four seals) and goes on; a berth started from
//! such a file (say from a sealed memfd a supervisor holds) is not copied again. Nothing
//! here relies on ETXTBSY, which recent kernels no longer raise for running executables.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Set for the re-executed berth: it must find itself sealed (no loop when it is not).
const REEXEC_ENV: &str = "_BERTH_EXE_SEALED";
/// The empty lower layer of the overlay, under berth's root.
pub const EMPTY_LAYER_DIR: &str = "exe-seal.empty";
/// The seals a memfd copy carries.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("protecting the berth binary (CVE-2019-5736): {what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: Errno,
    },
    #[error(
        "protecting the berth binary (CVE-2019-5736): re-executed from a sealed copy but \
         /proc/self/exe is not sealed"
    )]
    NotSealed,
}

fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> SealError {
    let what = what.into();
    move |source| SealError::Sys { what, source }
}

/// What the running berth executes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// A file on a read-only overlayfs mount.
    ReadOnlyOverlay,
    /// A memfd carrying F_SEAL_SEAL|SHRINK|GROW|WRITE.
    SealedMemfd,
}

impl Protection {
    pub fn name(self) -> &'static str {
        match self {
            Protection::ReadOnlyOverlay => "overlay",
            Protection::SealedMemfd => "memfd",
        }
    }
}

/// How `file` is protected from writes, if it is.
pub fn protection_of(file: impl AsFd) -> Option<Protection> {
    let fd = file.as_fd();
    // SAFETY: F_GET_SEALS on a valid fd only returns a number (EINVAL for non-memfds).
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Some(Protection::SealedMemfd);
    }
    let overlay = nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
    let read_only = nix::sys::statvfs::fstatvfs(fd)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    (overlay && read_only).then_some(Protection::ReadOnlyOverlay)
}

/// How this process's own executable is protected, if it is.
pub fn current() -> Option<Protection> {
    let exe = nix::fcntl::open(
        "/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    protection_of(&exe)
}

/// Returns once this process runs from a protected copy of berth. When it does not yet,
/// makes one (overlay, else memfd) and re-executes itself from it with the same argv and
/// environment (plus the re-exec marker and the trace clock): then this call never returns.
/// `root` is berth's state root, which holds the overlay's empty layer.
pub fn ensure(root: &Path) -> Result<Protection, SealError> {
    ensure_then(root, || {})
}

/// [`ensure`], running `before_exec` right before the re-exec, or at once when this
/// process was started from a protected copy by someone else (the shim's sealed view:
/// then there is no re-exec); not in the process our own re-exec started, where it ran.
pub fn ensure_then(root: &Path, before_exec: impl FnOnce()) -> Result<Protection, SealError> {
    // `main` may call this twice (before and after parsing argv): look only once.
    static FOUND: std::sync::OnceLock<Protection> = std::sync::OnceLock::new();
    if let Some(p) = FOUND.get() {
        return Ok(*p);
    }
    let p = ensure_uncached(root, before_exec)?;
    let _ = FOUND.set(p);
    Ok(p)
}

fn ensure_uncached(root: &Path, before_exec: impl FnOnce()) -> Result<Protection, SealError> {
    let reexecuted = std::env::var_os(REEXEC_ENV).is_some();
    if reexecuted {
        // Single-threaded here (berth starts no threads): nothing reads the environment
        // concurrently. Later children (hooks, the container) must not inherit it.
        std::env::remove_var(REEXEC_ENV);
    }
    if let Some(p) = current() {
        // Executed from an fd (our re-exec, or a supervisor's `sealed_view` as
        // /proc/self/fd/N), the kernel named us after its number: be "berth" again.
        // SAFETY: PR_SET_NAME reads a NUL-terminated string.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"berth".as_ptr(), 0, 0, 0) };
        if !reexecuted {
            before_exec();
        }
        return Ok(p);
    }
    if reexecuted {
        return Err(SealError::NotSealed);
    }
    let (copy, protection) = match overlay_copy(root) {
        Ok(fd) => (fd, Protection::ReadOnlyOverlay),
        Err(overlay_err) => match memfd_copy() {
            Ok(fd) => (fd, Protection::SealedMemfd),
            Err(memfd_err) => {
                crate::logging::warn(&format!("read-only overlay unavailable: {overlay_err}"));
                return Err(memfd_err);
            }
        },
    };
    crate::trace::mark(match protection {
        Protection::ReadOnlyOverlay => "exe-overlay",
        Protection::SealedMemfd => "exe-memfd",
    });
    before_exec();
    Err(reexec(&copy, protection))
}

/// fexecve's the copy with this process's argv and environment; returns only on failure.
fn reexec(copy: &OwnedFd, protection: Protection) -> SealError {
    let to_c = |s: OsString| CString::new(s.into_vec()).ok();
    let argv: Vec<CString> = std::env::args_os().filter_map(to_c).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != crate::trace::HANDOFF_ENV)
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.extend(CString::new(format!("{REEXEC_ENV}={}", protection.name())));
    if let Some(clock) = crate::trace::handoff() {
        env.extend(CString::new(format!(
            "{}={clock}",
            crate::trace::HANDOFF_ENV
        )));
    }
    match nix::unistd::fexecve(copy, &argv, &env) {
        Err(e) => SealError::Sys {
            what: format!("re-execute from the {} copy", protection.name()),
            source: e,
        },
        Ok(never) => match never {},
    }
}

/// The real path of the running binary, when it still has one.
fn own_path() -> Option<PathBuf> {
    let path = std::fs::read_link("/proc/self/exe").ok()?;
    let deleted = path.as_os_str().as_bytes().ends_with(b" (deleted)");
    (!deleted && path.is_absolute()).then_some(path)
}

/// An overlayfs lowerdir entry: ':' separates layers and '\' escapes.
fn escape_layer(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// The berth binary opened through a detached read-only overlayfs mount of its directory.
fn overlay_copy(root: &Path) -> Result<OwnedFd, SealError> {
    let exe = own_path().ok_or(SealError::Sys {
        what: "/proc/self/exe has no path".into(),
        source: Errno::ENOENT,
    })?;
    sealed_view(&exe, root)
}

/// `binary` opened (O_CLOEXEC) through a detached read-only overlayfs mount of its
/// directory, the same view `ensure` re-executes from. For a supervisor that starts berth
/// many times (the containerd shim): a berth exec'd from this file (say as
/// `/proc/self/fd/N`) finds itself sealed and does not re-execute. The mount lives as long
/// as the returned file. `root` is berth's state root (it holds the empty second layer).
pub fn sealed_view(binary: &Path, root: &Path) -> Result<OwnedFd, SealError> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

    let (Some(dir), Some(name)) = (binary.parent(), binary.file_name()) else {
        return Err(SealError::Sys {
            what: format!("{}: no directory", binary.display()),
            source: Errno::EINVAL,
        });
    };
    // SAFETY: fsopen with a NUL-terminated name and flags; returns a new fd or -1.
    let ctx = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    let ctx = Errno::result(ctx).map_err(sys("fsopen overlay"))?;
    // SAFETY: the kernel just returned this fd for us to own.
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx as i32) };
    let empty = empty_layer(root)?;
    let mut lower = escape_layer(dir);
    lower.push(b':');
    lower.extend(escape_layer(&empty));
    let lower = CString::new(lower).map_err(|_| SealError::Sys {
        what: format!("{}: NUL in path", dir.display()),
        source: Errno::EINVAL,
    })?;
    let set = |key: &CStr, value: &CStr| {
        // SAFETY: fsconfig(FSCONFIG_SET_STRING) reads two NUL-terminated strings.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        Errno::result(rc).map(drop)
    };
    set(c"lowerdir", &lower).map_err(sys(format!(
        "overlay lowerdir={}",
        String::from_utf8_lossy(lower.as_bytes())
    )))?;
    // Inode-number remapping is irrelevant here and only logs noise when layers differ.
    let _ = set(c"xino", c"off");
    // SAFETY: fsconfig(FSCONFIG_CMD_CREATE) with no key or value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    Errno::result(rc).map_err(sys("create the overlay"))?;
    // SAFETY: fsmount on the configured context; returns a new mount fd or -1.
    let mnt = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
    };
    let mnt = Errno::result(mnt).map_err(sys("fsmount the overlay"))?;
    // SAFETY: the kernel just returned this fd for us to own.
    let mnt = unsafe { OwnedFd::from_raw_fd(mnt as i32) };
    let file = nix::fcntl::openat(
        &mnt,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys(format!("open {} in the overlay", binary.display())))?;
    // The mount fd goes now; the open file alone keeps the (never attached) mount alive.
    drop(mnt);
    Ok(file)
}

/// `<root>/exe-seal.empty`, made on first use and kept: overlayfs wants two lower layers
/// to mount without an upper one, and the second must not overlap the binary's directory.
fn empty_layer(root: &Path) -> Result<PathBuf, SealError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(EMPTY_LAYER_DIR);
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
    {
        Ok(()) => Ok(dir),
        Err(e) => Err(SealError::Sys {
            what: format!("mkdir {}", dir.display()),
            source: e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO),
        }),
    }
}

/// The berth binary copied into a sealed memfd.
fn memfd_copy() -> Result<OwnedFd, SealError> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // Ask for an executable memfd explicitly where the kernel knows the flag (6.3+, where
    // vm.memfd_noexec may otherwise forbid it); older kernels reject the flag.
    let mut fd = -1;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: memfd_create with a NUL-terminated name and flags; returns a new fd or -1.
        fd = unsafe { libc::memfd_create(c"berth".as_ptr(), flags) };
        if fd >= 0 || Errno::last() != Errno::EINVAL {
            break;
        }
    }
    let fd = Errno::result(fd).map_err(sys("memfd_create"))?;
    // SAFETY: the kernel just returned this fd for us to own.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut exe = std::fs::File::open("/proc/self/exe").map_err(|e| SealError::Sys {
        what: "open /proc/self/exe".into(),
        source: e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO),
    })?;
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut exe, &mut dst).map_err(|e| SealError::Sys {
        what: "copy the berth binary into a memfd".into(),
        source: e.raw_os_error().map(Errno::from_raw).unwrap_or(Errno::EIO),
    })?;
    // SAFETY: F_ADD_SEALS on the memfd we own, with an integer argument.
    let rc = unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, SEALS) };
    Errno::result(rc).map_err(sys("seal the memfd copy"))?;
    Ok(OwnedFd::from(dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_escaped() {
        assert_eq!(escape_layer(Path::new("/a:b\\c")), b"/a\\:b\\\\c".to_vec());
        assert_eq!(escape_layer(Path::new("/usr/bin")), b"/usr/bin".to_vec());
    }

    #[test]
    fn a_sealed_memfd_copy_cannot_be_written() {
        let copy = memfd_copy().expect("memfd copy");
        assert_eq!(protection_of(&copy), Some(Protection::SealedMemfd));
        let file = std::fs::File::from(copy);
        use std::os::unix::fs::FileExt;
        let err = file.write_at(b"x", 0).expect_err("write to a sealed memfd");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let err = file.set_len(0).expect_err("truncate a sealed memfd");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_plain_file_is_not_protected() {
        let file = std::fs::File::open("/proc/self/exe").expect("open own exe");
        // The test binary runs from the target dir, a writable directory.
        assert_eq!(protection_of(&file), None);
    }

    #[test]
    fn an_overlay_copy_is_read_only() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: overlayfs copies need root");
            return;
        }
        let root = std::env::temp_dir().join(format!("berth-exe-seal-{}", std::process::id()));
        let copy = overlay_copy(&root).expect("overlay copy");
        assert_eq!(protection_of(&copy), Some(Protection::ReadOnlyOverlay));
        let own = std::fs::metadata("/proc/self/exe").expect("stat own exe");
        let reopen = format!("/proc/self/fd/{}", copy.as_raw_fd());
        for read in [false, true] {
            let err = std::fs::OpenOptions::new()
                .read(read)
                .write(true)
                .open(&reopen)
                .expect_err("the overlay copy reopened for writing");
            assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        }
        let meta = std::fs::File::from(copy).metadata().expect("fstat copy");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.len(), own.len());
        assert_ne!(
            meta.dev(),
            own.dev(),
            "the copy lives on its own superblock"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
