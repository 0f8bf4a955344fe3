//! `prepare`: the mount tree before pivot_root. Sets "/" to the root propagation, binds the
//! rootfs onto itself, then makes every `mounts` entry in order (default /dev first when the
//! config has none), and the default devices.

use super::cgroup;
use super::copyup;
use super::devices;
use super::options::{self, MountKind, ParsedOptions, REMOUNT_FLAGS};
use super::resolve::{fd_path, Leaf, Root};
use super::sys;
use super::validate::{check_mount, CheckedMount};
use super::{RootfsError, RootfsOptions};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// What every mount of one container shares.
pub struct MountContext<'a> {
    pub root: &'a Root,
    pub opts: &'a RootfsOptions,
    /// The config asks for a new network namespace (sysfs can be mounted fresh).
    pub new_netns: bool,
}

/// Refuses `mountLabel`: there is no SELinux on the hosts berth supports.
pub fn check_mount_label(spec: &Spec) -> Result<(), RootfsError> {
    let label = spec.linux().as_ref().and_then(|l| l.mount_label().clone());
    match label {
        Some(l) if !l.is_empty() => Err(RootfsError::Invalid(format!(
            "linux.mountLabel {l:?}: SELinux is not available on this host"
        ))),
        _ => Ok(()),
    }
}

/// A mount made by berth itself (default /dev, /dev/pts, /dev/shm).
pub fn synthetic(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

fn new_netns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        })
}

/// See [`super::prepare`].
/// `enter_late` is taken and run before the first sysfs or cgroup mount; left in place
/// when there is none (the caller runs it).
pub fn prepare_rootfs<E: From<RootfsError>>(
    spec: &Spec,
    rootfs: &Path,
    opts: &RootfsOptions,
    enter_late: &mut Option<impl FnOnce() -> Result<(), E>>,
) -> Result<(), E> {
    check_mount_label(spec)?;
    let linux = spec.linux().as_ref();
    let propagation_value = linux.and_then(|l| l.rootfs_propagation().as_deref());
    let propagation = options::root_propagation(propagation_value).ok_or_else(|| {
        RootfsError::Invalid(format!(
            "linux.rootfsPropagation: unknown value {:?}",
            propagation_value.unwrap_or("")
        ))
    })?;
    let checked: Vec<CheckedMount> = spec
        .mounts()
        .iter()
        .flatten()
        .map(check_mount)
        .collect::<Result<_, _>>()?;

    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .map_err(RootfsError::sys("set propagation of", "/"))?;
    let rootfs = std::fs::canonicalize(rootfs)
        .map_err(|e| RootfsError::Invalid(format!("rootfs {}: {e}", rootfs.display())))?;
    // After a recursive propagation change that is not "shared" no mount is shared any
    // more, the one holding rootfs included: no mountinfo to read for it.
    let none_shared =
        propagation.contains(MsFlags::MS_REC) && !propagation.contains(MsFlags::MS_SHARED);
    if !none_shared {
        make_parent_mount_private(&rootfs)?;
    }
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(RootfsError::sys("bind-mount rootfs onto itself", &rootfs))?;
    let root = Root::open(&rootfs).map_err(RootfsError::sys("open rootfs", &rootfs))?;
    let ctx = MountContext {
        root: &root,
        opts,
        new_netns: new_netns(spec),
    };

    let has = |dest: &str| checked.iter().any(|m| m.destination == Path::new(dest));
    let dev_is_bind = checked
        .iter()
        .any(|m| m.destination == Path::new("/dev") && m.kind == MountKind::Bind);
    if !has("/dev") {
        let dev = synthetic(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        );
        mount_entry(&ctx, &dev, &check_mount(&dev)?)?;
    }
    for (m, c) in spec.mounts().iter().flatten().zip(&checked) {
        if matches!(
            c.kind,
            MountKind::Sysfs | MountKind::Cgroup | MountKind::Cgroup2
        ) {
            if let Some(run) = enter_late.take() {
                run()?;
            }
        }
        mount_entry(&ctx, m, c)?;
    }
    if dev_is_bind {
        // The config brings the host's /dev (or its own): leave it as it is.
        return Ok(());
    }
    if !has("/dev/pts") {
        let pts = synthetic(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        );
        mount_entry(&ctx, &pts, &check_mount(&pts)?)?;
    }
    if !has("/dev/shm") {
        let shm = synthetic(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        );
        mount_entry(&ctx, &shm, &check_mount(&shm)?)?;
    }
    let config_devices = linux.and_then(|l| l.devices().as_ref());
    devices::create_devices(
        &root,
        config_devices.map(|d| d.as_slice()).unwrap_or(&[]),
        opts,
    )?;
    devices::create_links(&root)?;
    Ok(())
}

/// pivot_root refuses a new root whose parent mount is shared: make that mount private.
fn make_parent_mount_private(rootfs: &Path) -> Result<(), RootfsError> {
    let mounts = sys::read_mountinfo().map_err(RootfsError::sys("read", "/proc/self/mountinfo"))?;
    let parent = sys::mount_point_of(&mounts, rootfs);
    mount(
        None::<&str>,
        &parent,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(RootfsError::sys("make private", parent))
}

/// The bind source on the host: relative paths are relative to the bundle.
fn host_source(ctx: &MountContext<'_>, source: &Path) -> PathBuf {
    if source.is_absolute() || ctx.opts.bundle.as_os_str().is_empty() {
        source.to_path_buf()
    } else {
        ctx.opts.bundle.join(source)
    }
}

/// Makes one `mounts` entry.
pub fn mount_entry(ctx: &MountContext<'_>, m: &Mount, c: &CheckedMount) -> Result<(), RootfsError> {
    let dest = &c.destination;
    let p = &c.options;
    let name = c.kind.name();
    if p.flags.contains(MsFlags::MS_REMOUNT) && c.kind != MountKind::Bind {
        return remount_existing(ctx, m, c);
    }
    let bind_source = (c.kind == MountKind::Bind)
        .then(|| host_source(ctx, m.source().as_deref().unwrap_or(Path::new(""))));
    super::guard::check_destination(ctx.root, dest, &c.kind, bind_source.as_deref())?;
    match &c.kind {
        MountKind::Bind => {
            let source = m.source().as_deref().unwrap_or(Path::new(""));
            bind_mount(ctx, &host_source(ctx, source), dest, p, name)
        }
        MountKind::Cgroup => cgroup::mount_cgroup(ctx, dest, p),
        MountKind::Sysfs if ctx.opts.in_user_namespace && !ctx.new_netns => {
            rbind_host(ctx, "/sys", dest, p, name)
        }
        MountKind::Mqueue if ctx.opts.in_user_namespace => {
            match fs_mount(ctx, m, dest, &c.kind, p) {
                Err(RootfsError::Mount {
                    source: Errno::EPERM,
                    ..
                }) => rbind_host(ctx, "/dev/mqueue", dest, p, name),
                other => other,
            }
        }
        MountKind::Sysfs if ctx.opts.in_user_namespace => {
            match fs_mount(ctx, m, dest, &c.kind, p) {
                Err(RootfsError::Mount {
                    source: Errno::EPERM,
                    ..
                }) => rbind_host(ctx, "/sys", dest, p, name),
                other => other,
            }
        }
        _ => fs_mount(ctx, m, dest, &c.kind, p),
    }
}

/// A `remount` entry: change the flags of what is already mounted at the destination.
fn remount_existing(
    ctx: &MountContext<'_>,
    m: &Mount,
    c: &CheckedMount,
) -> Result<(), RootfsError> {
    let dest = &c.destination;
    let name = c.kind.name();
    let fd = ctx
        .root
        .open_in(dest, OFlag::O_PATH)
        .map_err(RootfsError::mount(name, dest, "open destination"))?;
    let data = c.options.data_string();
    sys::mount_on(
        m.source().as_deref(),
        fd.as_fd(),
        Some(name),
        c.options.flags,
        data.as_deref(),
    )
    .map_err(RootfsError::mount(name, dest, "remount"))?;
    after_mount(ctx, dest, &c.options, name)
}

/// A file system mount (tmpfs, proc, devpts, overlay, anything mount(2) knows).
fn fs_mount(
    ctx: &MountContext<'_>,
    m: &Mount,
    dest: &Path,
    kind: &MountKind,
    p: &ParsedOptions,
) -> Result<(), RootfsError> {
    let name = kind.name();
    let fd = ctx
        .root
        .create_all(dest, Leaf::Dir)
        .map_err(RootfsError::mount(name, dest, "create destination"))?;
    let source = m
        .source()
        .clone()
        .filter(|s| !s.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(name));
    let lower = if p.copy_up {
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let lower = ctx.root.open_in(dest, dir).map_err(RootfsError::mount(
            name,
            dest,
            "open for tmpcopyup",
        ))?;
        Some(lower)
    } else {
        None
    };
    let flags = p.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let data = p.data_string();
    let mut result = sys::mount_on(
        Some(&source),
        fd.as_fd(),
        Some(name),
        flags,
        data.as_deref(),
    );
    if result == Err(Errno::EINVAL) && *kind == MountKind::Devpts && ctx.opts.in_user_namespace {
        // gid=5 may not be mapped in the user namespace: try again without it.
        let data: Vec<&str> = p
            .data
            .iter()
            .map(String::as_str)
            .filter(|w| !w.starts_with("gid="))
            .collect();
        let data = data.join(",");
        result = sys::mount_on(Some(&source), fd.as_fd(), Some(name), flags, Some(&data));
    }
    result.map_err(RootfsError::mount(name, dest, "mount"))?;
    if let Some(lower) = lower {
        let upper = ctx
            .root
            .open_in(dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(RootfsError::mount(name, dest, "reopen for tmpcopyup"))?;
        copyup::copy_tree(lower.as_fd(), upper.as_fd()).map_err(RootfsError::mount(
            name,
            dest,
            "tmpcopyup",
        ))?;
    }
    after_mount(ctx, dest, p, name)
}

/// A bind mount of a host path onto `dest` in the root, with the remount step for flags.
pub fn bind_mount(
    ctx: &MountContext<'_>,
    source: &Path,
    dest: &Path,
    p: &ParsedOptions,
    name: &str,
) -> Result<(), RootfsError> {
    let meta = std::fs::metadata(source).map_err(|e| {
        RootfsError::Invalid(format!(
            "mounts: {name} mount on {}: source {}: {e}",
            dest.display(),
            source.display()
        ))
    })?;
    let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
    let fd = ctx.root.create_all(dest, leaf).map_err(RootfsError::mount(
        name,
        dest,
        "create destination",
    ))?;
    let flags = MsFlags::MS_BIND | (p.flags & MsFlags::MS_REC);
    sys::mount_on(Some(source), fd.as_fd(), None, flags, None)
        .map_err(RootfsError::mount(name, dest, "bind"))?;
    if p.needs_remount() {
        let top = reopen(ctx, dest, name)?;
        let target = fd_path(top.as_fd());
        let current =
            sys::current_mount_flags(&target).map_err(RootfsError::mount(name, dest, "statvfs"))?;
        let flags = sys::merged_bind_flags(current, p.flags & REMOUNT_FLAGS, p.cleared);
        sys::remount_bind(&target, flags).map_err(RootfsError::mount(name, dest, "remount"))?;
    }
    after_mount(ctx, dest, p, name)
}

/// An rbind of a host path (sysfs and mqueue in a user namespace), keeping the entry's flags.
fn rbind_host(
    ctx: &MountContext<'_>,
    host: &str,
    dest: &Path,
    p: &ParsedOptions,
    name: &str,
) -> Result<(), RootfsError> {
    let mut p = p.clone();
    p.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
    p.data.clear();
    bind_mount(ctx, Path::new(host), dest, &p, name)
}

/// An O_PATH fd of what is mounted at `dest` now (the top of the stack).
pub fn reopen(
    ctx: &MountContext<'_>,
    dest: &Path,
    name: &str,
) -> Result<std::os::fd::OwnedFd, RootfsError> {
    ctx.root
        .open_in(dest, OFlag::O_PATH)
        .map_err(RootfsError::mount(name, dest, "reopen destination"))
}

/// Propagation changes and recursive attributes, on the mount just made at `dest`.
fn after_mount(
    ctx: &MountContext<'_>,
    dest: &Path,
    p: &ParsedOptions,
    name: &str,
) -> Result<(), RootfsError> {
    if p.propagation.is_empty() && p.recursive.is_empty() {
        return Ok(());
    }
    let top = reopen(ctx, dest, name)?;
    for flags in &p.propagation {
        sys::change_mount(&fd_path(top.as_fd()), *flags).map_err(RootfsError::mount(
            name,
            dest,
            "set propagation",
        ))?;
    }
    if !p.recursive.is_empty() {
        sys::set_recursive_attrs(top.as_fd(), p.recursive).map_err(RootfsError::mount(
            name,
            dest,
            "mount_setattr",
        ))?;
    }
    Ok(())
}
