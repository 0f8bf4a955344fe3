//! Refusals that keep a hostile rootfs or config from turning berth's own writes against
//! the host, checked before each mount is made:
//! * /proc, /sys and /dev of the rootfs must be real directories, never symlinks (even ones
//!   that resolve inside the rootfs): berth and LSMs trust what is mounted there
//!   (CVE-2019-19921, CVE-2023-27561, CVE-2023-28642), and proc/sysfs never go on a symlink.
//! * Nothing but procfs is mounted on /proc, and below it only procfs binds or the files
//!   runc allows for lxcfs-like tools (CVE-2019-16884): a fake /proc would take the writes
//!   berth makes there (sysctl, oom_score_adj, LSM labels).

use super::options::MountKind;
use super::resolve::Root;
use super::RootfsError;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, SFlag};
use nix::sys::statfs::{statfs, PROC_SUPER_MAGIC};
use std::os::fd::AsFd;
use std::path::Path;

/// Directories of the rootfs that must never be symlinks.
const SPECIAL_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// Files below /proc a bind may cover (what runc allows, for lxcfs and the like).
const PROC_BIND_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Checks one mount before it is made; `source` is the host source of a bind.
pub fn check_destination(
    root: &Root,
    dest: &Path,
    kind: &MountKind,
    source: Option<&Path>,
) -> Result<(), RootfsError> {
    for special in SPECIAL_DIRS {
        if dest.starts_with(special) {
            refuse_symlink(root, Path::new(special))?;
        }
    }
    let checked_above = SPECIAL_DIRS.iter().any(|s| dest == Path::new(s));
    if matches!(kind, MountKind::Proc | MountKind::Sysfs) && !checked_above {
        refuse_symlink(root, dest)?;
    }
    if dest.starts_with("/proc") {
        check_proc_mount(dest, kind, source)?;
    }
    Ok(())
}

/// Refuses `path` in the root when it is a symlink (a missing path is fine: it is made).
fn refuse_symlink(root: &Root, path: &Path) -> Result<(), RootfsError> {
    // Only looked at, never mounted on: no need to check where it is.
    let fd = match root.look_up(path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(RootfsError::sys("look up", root.display(path))(e)),
    };
    let st = fstat(fd.as_fd()).map_err(RootfsError::sys("stat", root.display(path)))?;
    if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFLNK {
        return Err(RootfsError::Invalid(format!(
            "rootfs: {} is a symlink; it must be a directory",
            path.display()
        )));
    }
    Ok(())
}

fn check_proc_mount(
    dest: &Path,
    kind: &MountKind,
    source: Option<&Path>,
) -> Result<(), RootfsError> {
    if *kind == MountKind::Proc && dest == Path::new("/proc") {
        return Ok(());
    }
    if *kind == MountKind::Bind {
        let from_procfs = source
            .and_then(|s| statfs(s).ok())
            .is_some_and(|st| st.filesystem_type() == PROC_SUPER_MAGIC);
        if from_procfs || PROC_BIND_ALLOWED.iter().any(|p| dest == Path::new(p)) {
            return Ok(());
        }
    }
    Err(RootfsError::Invalid(format!(
        "mount {} ({}): only procfs may be mounted on or under /proc",
        dest.display(),
        kind.name()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_mount_rules() {
        let proc = Path::new("/proc");
        check_proc_mount(proc, &MountKind::Proc, None).unwrap();
        check_proc_mount(proc, &MountKind::Bind, Some(Path::new("/proc"))).unwrap();
        assert!(check_proc_mount(proc, &MountKind::Bind, Some(Path::new("/tmp"))).is_err());
        assert!(check_proc_mount(proc, &MountKind::Tmpfs, None).is_err());
        assert!(check_proc_mount(Path::new("/proc/sys"), &MountKind::Tmpfs, None).is_err());
        assert!(check_proc_mount(Path::new("/proc/self"), &MountKind::Proc, None).is_err());
        check_proc_mount(
            Path::new("/proc/meminfo"),
            &MountKind::Bind,
            Some(Path::new("/etc/hostname")),
        )
        .unwrap();
        assert!(check_proc_mount(
            Path::new("/proc/sys/kernel/core_pattern"),
            &MountKind::Bind,
            Some(Path::new("/etc/hostname")),
        )
        .is_err());
    }

    #[test]
    fn symlinked_special_dirs_are_refused() {
        let dir = std::env::temp_dir().join(format!("berth-guard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sys")).unwrap();
        std::fs::create_dir_all(dir.join("root/fake")).unwrap();
        std::os::unix::fs::symlink("/fake", dir.join("root/proc")).unwrap();
        let root = Root::open(&dir.join("root")).unwrap();
        let e = check_destination(&root, Path::new("/proc"), &MountKind::Proc, None);
        assert!(e.unwrap_err().to_string().contains("symlink"));
        let e = check_destination(&root, Path::new("/proc/cpuinfo"), &MountKind::Bind, None);
        assert!(e.is_err());
        check_destination(&root, Path::new("/sys"), &MountKind::Sysfs, None).unwrap();
        check_destination(&root, Path::new("/dev"), &MountKind::Tmpfs, None).unwrap();
        std::os::unix::fs::symlink("/fake", dir.join("root/x")).unwrap();
        let e = check_destination(&root, Path::new("/x"), &MountKind::Sysfs, None);
        assert!(e.is_err(), "sysfs on a symlink");
        check_destination(&root, Path::new("/x"), &MountKind::Tmpfs, None).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
