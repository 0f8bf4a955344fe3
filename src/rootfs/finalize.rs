//! The steps after pivot_root, inside the container's root: rootfsPropagation on "/",
//! sysctl, readonlyPaths, maskedPaths, and the read-only root.

use super::mounts::check_mount_label;
use super::options;
use super::resolve::Root;
use super::sys::{self, target_path};
use super::validate::check_sysctl_key;
use super::RootfsError;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, SFlag};
use oci_spec::runtime::Spec;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;

/// See [`super::finalize`].
pub fn finalize_rootfs(spec: &Spec) -> Result<(), RootfsError> {
    check_mount_label(spec)?;
    let Some(linux) = spec.linux() else {
        return readonly_root(spec);
    };
    if let Some(value) = linux.rootfs_propagation().as_deref() {
        let flags = options::root_propagation(Some(value)).ok_or_else(|| {
            RootfsError::Invalid(format!("linux.rootfsPropagation: unknown value {value:?}"))
        })?;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(RootfsError::sys("set propagation of", "/"))?;
    }
    let mut sysctls: Vec<(&String, &String)> = linux.sysctl().iter().flatten().collect();
    sysctls.sort();
    for (key, value) in sysctls {
        write_sysctl(key, value)?;
    }
    let root = Root::open(Path::new("/")).map_err(RootfsError::sys("open", "/"))?;
    for path in linux.readonly_paths().iter().flatten() {
        readonly_path(&root, Path::new(path))?;
    }
    for path in linux.masked_paths().iter().flatten() {
        mask_path(&root, Path::new(path))?;
    }
    readonly_root(spec)
}

/// Writes `value` to /proc/sys/<key with dots as slashes>.
pub fn write_sysctl(key: &str, value: &str) -> Result<(), RootfsError> {
    check_sysctl_key(key)?;
    let rel = key.replace('.', "/");
    let path = Path::new("/proc/sys").join(&rel);
    let err = |e| RootfsError::sys("write sysctl", path.clone())(e);
    let proc_sys = nix::fcntl::open(
        "/proc/sys",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err)?;
    let how = OpenHow::new()
        .flags(OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let fd = openat2(proc_sys.as_fd(), rel.as_str(), how).map_err(err)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(value.as_bytes())
        .map_err(|e| err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
}

/// Binds `path` onto itself and remounts it ro,nosuid,nodev,noexec. Missing paths are skipped.
fn readonly_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let fd = match root.open_existing(path) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("open readonly path", path)(e)),
    };
    let target = target_path(fd.as_fd(), path);
    mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(RootfsError::mount("bind", path, "bind readonly path"))?;
    let top = root
        .open_in(path, OFlag::O_PATH)
        .map_err(RootfsError::sys("reopen readonly path", path))?;
    sys::remount_bind(
        &target_path(top.as_fd(), path),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    )
    .map_err(RootfsError::mount("bind", path, "remount readonly path"))
}

/// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let fd = match root.open_existing(path) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("open masked path", path)(e)),
    };
    let st = fstat(fd.as_fd()).map_err(RootfsError::sys("stat masked path", path))?;
    let target = target_path(fd.as_fd(), path);
    let is_dir = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFDIR;
    if is_dir {
        mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(RootfsError::mount("tmpfs", path, "mask directory"))
    } else {
        mount(
            Some("/dev/null"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(RootfsError::mount("bind", path, "mask file with /dev/null"))
    }
}

/// root.readonly: remount "/" read-only, keeping its other per-mount flags.
fn readonly_root(spec: &Spec) -> Result<(), RootfsError> {
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if !readonly {
        return Ok(());
    }
    let keep =
        sys::current_mount_flags(Path::new("/")).map_err(RootfsError::sys("statvfs", "/"))?;
    sys::remount_bind(Path::new("/"), keep | MsFlags::MS_RDONLY).map_err(RootfsError::mount(
        "bind",
        Path::new("/"),
        "remount read-only",
    ))
}
