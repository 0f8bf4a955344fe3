//! Thin wrappers over the mount system calls used by the rootfs code: mount(2) on an fd,
//! remount with the flags a user namespace locks, mount_setattr(2), and /proc/self/mountinfo.

use super::options::RecursiveAttrs;
use super::resolve::fd_path;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Mounts `source` (type `fstype`, `data`) onto the object behind the O_PATH fd `target`.
pub fn mount_on(
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), Errno> {
    mount(source, &fd_path(target), fstype, flags, data)
}

/// The path that reaches `fd`: /proc/self/fd/N, or `fallback` when /proc is not mounted
/// (after pivot_root into a root without /proc, where no path can leave the root anyway).
pub fn target_path(fd: BorrowedFd<'_>, fallback: &Path) -> PathBuf {
    let path = fd_path(fd);
    if path.exists() {
        path
    } else {
        fallback.to_path_buf()
    }
}

/// mount(2) with only `flags` on the mount at `target`: propagation changes and remounts.
pub fn change_mount(target: &Path, flags: MsFlags) -> Result<(), Errno> {
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

/// The per-mount flags (MS_*) the mount at `target` has now, as remount wants them.
pub fn current_mount_flags(target: &Path) -> Result<MsFlags, Errno> {
    Ok(mount_flags_of(statvfs_flags(target)?))
}

/// statvfs(3)'s f_flag for `target`, every bit of it. nix's `Statvfs::flags` drops the bits
/// it has no name for, and on musl it names no ST_RELATIME: a relatime mount (as /sys is)
/// then read as "no atime flag", and remounting a bind of it in a user namespace, where
/// the atime mode is locked, failed with EPERM.
fn statvfs_flags(target: &Path) -> Result<libc::c_ulong, Errno> {
    let c_path =
        std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: statvfs fills the zeroed struct we own from a NUL-terminated path.
    let (rc, st) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c_path.as_ptr(), &mut st), st)
    };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(st.f_flag)
}

/// ST_* bits (statvfs f_flag) to the MS_* flags a remount takes.
fn mount_flags_of(st_flags: libc::c_ulong) -> MsFlags {
    // By value: the kernel's ST_* bits, the same on every libc (glibc and musl name
    // different subsets of them).
    const PAIRS: [(libc::c_ulong, MsFlags); 7] = [
        (1, MsFlags::MS_RDONLY),
        (2, MsFlags::MS_NOSUID),
        (4, MsFlags::MS_NODEV),
        (8, MsFlags::MS_NOEXEC),
        (1024, MsFlags::MS_NOATIME),
        (2048, MsFlags::MS_NODIRATIME),
        (4096, MsFlags::MS_RELATIME),
    ];
    let mut out = MsFlags::empty();
    for (st_flag, ms_flag) in PAIRS {
        if st_flags & st_flag != 0 {
            out |= ms_flag;
        }
    }
    out
}

const ATIME_FLAGS: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_NODIRATIME);

/// The flags to remount a fresh bind mount with: what the options ask for, plus the
/// source's nosuid/nodev/noexec/ro and atime mode unless the options turned them off or
/// chose another atime mode (a bind must not quietly lose the source's restrictions).
pub fn merged_bind_flags(current: MsFlags, requested: MsFlags, cleared: MsFlags) -> MsFlags {
    let lockable = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    let mut out = requested | (current & lockable & !cleared);
    let atime_chosen = (requested | cleared).intersects(ATIME_FLAGS);
    if !atime_chosen {
        out |= current & ATIME_FLAGS;
        if !current.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
            out |= MsFlags::MS_STRICTATIME;
        }
    }
    out
}

/// MS_REMOUNT|MS_BIND the mount at `target` with `flags`. In a user namespace the kernel
/// refuses to drop flags it locked (nosuid, nodev, noexec, ro, atime); on EPERM this
/// retries keeping the flags the mount has now.
pub fn remount_bind(target: &Path, flags: MsFlags) -> Result<(), Errno> {
    let flags = (flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND) & !MsFlags::MS_REC;
    match change_mount(target, flags) {
        Err(Errno::EPERM) => {
            let mut keep = current_mount_flags(target)?;
            if flags
                .intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME)
            {
                // An explicit atime choice replaces the old one.
                keep &= !(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME);
            }
            change_mount(target, flags | keep)
        }
        other => other,
    }
}

/// Bind-mounts the object behind `source` onto the object behind `target` with fds only
/// (open_tree(OPEN_TREE_CLONE) + move_mount): no path is looked up again, so nothing
/// swapped in meanwhile can redirect the bind, and /proc need not be mounted.
pub fn bind_fd(source: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: open_tree on a valid fd with an empty NUL-terminated path; returns a new fd.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            source.as_raw_fd(),
            c"".as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    let tree = Errno::result(tree)?;
    // SAFETY: the kernel just returned this fd for us to own.
    let tree =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(tree as i32) };
    // SAFETY: move_mount between two valid fds with empty NUL-terminated paths.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(rc).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with AT_RECURSIVE on the mount tree at `target`.
pub fn set_recursive_attrs(target: BorrowedFd<'_>, attrs: RecursiveAttrs) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: attrs.set,
        attr_clr: attrs.clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid NUL-terminated empty string, `attr` is a live, correctly
    // laid out struct mount_attr and the size passed is its size; the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// One line of /proc/self/mountinfo, the fields the rootfs code needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The path inside the file system that is mounted (field 4).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub super_options: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Parses the text of a mountinfo file.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            Some(MountInfo {
                root: unescape(left.get(3)?),
                mount_point: unescape(left.get(4)?),
                fstype: right.first()?.to_string(),
                super_options: right.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// The current process's mounts.
pub fn read_mountinfo() -> Result<Vec<MountInfo>, Errno> {
    let text = crate::small_file::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    Ok(parse_mountinfo(&text))
}

/// The mount point that holds `path` (the longest mount point that is a prefix of it).
pub fn mount_point_of(mounts: &[MountInfo], path: &Path) -> PathBuf {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
        .map(|m| m.mount_point.clone())
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_bits_map_to_remount_flags_by_value() {
        assert_eq!(
            mount_flags_of(2 | 4 | 8 | 4096),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
        );
        assert_eq!(
            mount_flags_of(1 | 1024),
            MsFlags::MS_RDONLY | MsFlags::MS_NOATIME
        );
        assert_eq!(mount_flags_of(0), MsFlags::empty());
    }

    #[test]
    fn current_flags_of_proc_keep_its_atime_mode() {
        // /proc's own options as the kernel lists them, against what we read back.
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let opts = info
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .rfind(|f| f.len() > 5 && f[4] == "/proc")
            .map(|f| f[5].to_string())
            .unwrap();
        let flags = current_mount_flags(Path::new("/proc")).unwrap();
        for (opt, flag) in [
            ("relatime", MsFlags::MS_RELATIME),
            ("noatime", MsFlags::MS_NOATIME),
            ("nosuid", MsFlags::MS_NOSUID),
            ("noexec", MsFlags::MS_NOEXEC),
        ] {
            let listed = opts.split(',').any(|o| o == opt);
            assert_eq!(flags.contains(flag), listed, "{opt} in {opts:?}: {flags:?}");
        }
    }

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:5 - cgroup cgroup rw,cpu
41 31 0:38 /sub /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:40 / /tmp/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[2].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(m[2].fstype, "cgroup");
        assert_eq!(m[2].super_options, "rw,cpu");
        assert_eq!(m[3].root, PathBuf::from("/sub"));
        assert_eq!(m[4].mount_point, PathBuf::from("/tmp/with space"));
    }

    #[test]
    fn bind_keeps_source_restrictions() {
        let current = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME;
        let out = merged_bind_flags(current, MsFlags::MS_RDONLY, MsFlags::MS_NODEV);
        assert_eq!(
            out,
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_RELATIME
        );
        let out = merged_bind_flags(current, MsFlags::MS_NOATIME, MsFlags::empty());
        assert_eq!(
            out,
            MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV
        );
        // No atime flag on the source means strictatime.
        let out = merged_bind_flags(MsFlags::empty(), MsFlags::MS_RDONLY, MsFlags::empty());
        assert_eq!(out, MsFlags::MS_RDONLY | MsFlags::MS_STRICTATIME);
    }

    #[test]
    fn finds_mount_point() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(
            mount_point_of(&m, Path::new("/sys/fs/cgroup/cpu/x")),
            PathBuf::from("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            mount_point_of(&m, Path::new("/sys/fs/cgroupx")),
            PathBuf::from("/")
        );
    }
}
