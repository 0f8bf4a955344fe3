//! The steps after pivot_root, inside the container's root: rootfsPropagation on "/",
//! sysctl, readonlyPaths, maskedPaths, and the read-only root.

use super::mounts::check_mount_label;
use super::options;
use super::procfs::Procfs;
use super::resolve::Root;
use super::sys::{self, target_path};
use super::validate::check_sysctl_key;
use super::RootfsError;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, SFlag};
use oci_spec::runtime::Spec;
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

/// Writes `value` to /proc/sys/<key with dots as slashes>, through a verified procfs
/// handle: nothing mounted over /proc or the file can take the write (CVE-2025-52881).
pub fn write_sysctl(key: &str, value: &str) -> Result<(), RootfsError> {
    check_sysctl_key(key)?;
    let rel = format!("sys/{}", key.replace('.', "/"));
    let path = Path::new("/proc").join(&rel);
    let err = |e| RootfsError::sys("write sysctl", path.clone())(e);
    let proc = Procfs::open().map_err(err)?;
    proc.write(&rel, value.as_bytes()).map_err(err)
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
        let null = open_dev_null(root)?;
        sys::bind_fd(null.as_fd(), fd.as_fd()).map_err(RootfsError::mount(
            "bind",
            path,
            "mask file with /dev/null",
        ))
    }
}

/// The container's /dev/null, checked to be the null device (char 1:3) and not a symlink
/// or a plain file swapped in for it (CVE-2025-31133): masking binds this very fd.
fn open_dev_null(root: &Root) -> Result<std::os::fd::OwnedFd, RootfsError> {
    let path = Path::new("/dev/null");
    let null = root
        .open_in(path, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(RootfsError::sys("open", path))?;
    let st = fstat(null.as_fd()).map_err(RootfsError::sys("stat", path))?;
    let is_char = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFCHR;
    if !is_char || st.st_rdev != nix::sys::stat::makedev(1, 3) {
        return Err(RootfsError::Invalid(
            "maskedPaths: /dev/null in the container is not the null device (char 1:3); \
             refusing to mask with it"
                .into(),
        ));
    }
    Ok(null)
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
