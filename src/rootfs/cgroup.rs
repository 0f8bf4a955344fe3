//! The `cgroup` mount type, shaped after the host's layout.
//!
//! cgroup v2 host: a cgroup2 mount in a cgroup namespace, else a bind of the container's own
//! cgroup directory. v1 (and hybrid) host: a tmpfs at the destination holding one entry per
//! host hierarchy (a fresh cgroup mount in a cgroup namespace, else a bind of the container's
//! own directory in that hierarchy), symlinks for co-mounted controllers, all read-only
//! unless the entry says `rw`.

use super::mounts::{reopen, MountContext};
use super::options::ParsedOptions;
use super::resolve::{fd_path, Leaf};
use super::sys::{self, MountInfo};
use super::RootfsError;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Where the host mounts its cgroup file systems.
const HOST_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One line of /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// "" for the v2 line, else the controllers ("cpu,cpuacct", "name=systemd").
    pub controllers: String,
    pub path: PathBuf,
}

/// Parses /proc/self/cgroup text.
pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = PathBuf::from(parts.next()?);
            Some(Membership { controllers, path })
        })
        .collect()
}

/// The host hierarchies under /sys/fs/cgroup (cgroup v1 mounts and a hybrid cgroup2).
pub fn host_hierarchies(mounts: &[MountInfo]) -> Vec<MountInfo> {
    let mut out: Vec<MountInfo> = Vec::new();
    for m in mounts {
        let under_root = m.mount_point.parent() == Some(Path::new(HOST_CGROUP_ROOT));
        if (m.fstype == "cgroup" || m.fstype == "cgroup2") && under_root {
            // A later mount on the same point hides the earlier one.
            out.retain(|o| o.mount_point != m.mount_point);
            out.push(m.clone());
        }
    }
    out
}

/// The membership line that belongs to hierarchy `h`.
pub fn membership_for<'a>(h: &MountInfo, members: &'a [Membership]) -> Option<&'a Membership> {
    if h.fstype == "cgroup2" {
        return members.iter().find(|m| m.controllers.is_empty());
    }
    let super_opts: Vec<&str> = h.super_options.split(',').collect();
    members.iter().find(|m| {
        !m.controllers.is_empty() && m.controllers.split(',').all(|c| super_opts.contains(&c))
    })
}

/// The host directory to bind for hierarchy `h` given the container's membership.
pub fn bind_source(h: &MountInfo, member: &Membership) -> Option<PathBuf> {
    let rel = member.path.strip_prefix(&h.root).ok()?;
    Some(h.mount_point.join(rel))
}

/// The data for a fresh v1 mount of `h`: its super options minus rw/ro.
fn v1_data(h: &MountInfo) -> String {
    h.super_options
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro")
        .collect::<Vec<_>>()
        .join(",")
}

fn errno_of(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Mounts a `cgroup` entry at `dest`.
pub fn mount_cgroup(
    ctx: &MountContext<'_>,
    dest: &Path,
    p: &ParsedOptions,
) -> Result<(), RootfsError> {
    let read_only = !p.cleared.contains(MsFlags::MS_RDONLY);
    let mut flags = p.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    let is_v2 = statfs(HOST_CGROUP_ROOT)
        .map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
        .map_err(RootfsError::mount("cgroup", dest, "statfs /sys/fs/cgroup"))?;
    let members = crate::small_file::read_to_string("/proc/self/cgroup")
        .map(|t| parse_proc_cgroup(&t))
        .map_err(|e| RootfsError::mount("cgroup", dest, "read /proc/self/cgroup")(errno_of(e)))?;
    if is_v2 {
        let host = MountInfo {
            root: PathBuf::from("/"),
            mount_point: PathBuf::from(HOST_CGROUP_ROOT),
            fstype: "cgroup2".into(),
            super_options: String::new(),
        };
        let root = sys::read_mountinfo()
            .ok()
            .and_then(|m| {
                m.into_iter()
                    .rev()
                    .find(|m| m.mount_point == Path::new(HOST_CGROUP_ROOT))
            })
            .map(|m| m.root)
            .unwrap_or_else(|| PathBuf::from("/"));
        return hierarchy(
            ctx,
            &MountInfo { root, ..host },
            &members,
            dest,
            flags,
            "cgroup2",
        );
    }

    let fd = ctx
        .root
        .create_all(dest, Leaf::Dir)
        .map_err(RootfsError::mount("cgroup", dest, "create destination"))?;
    sys::mount_on(
        Some(Path::new("tmpfs")),
        fd.as_fd(),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .map_err(RootfsError::mount("cgroup", dest, "mount tmpfs"))?;
    let mounts = sys::read_mountinfo().map_err(RootfsError::mount("cgroup", dest, "mountinfo"))?;
    for h in host_hierarchies(&mounts) {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        hierarchy(ctx, &h, &members, &sub, flags, "cgroup")?;
        let name = name.to_string_lossy();
        if name.contains(',') {
            let dir = reopen(ctx, dest, "cgroup")?;
            for part in name.split(',') {
                match nix::unistd::symlinkat(name.as_ref(), dir.as_fd(), part) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(RootfsError::mount("cgroup", &dest.join(part), "symlink")(e))
                    }
                }
            }
        }
    }
    if read_only {
        let top = reopen(ctx, dest, "cgroup")?;
        sys::remount_bind(
            &fd_path(top.as_fd()),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )
        .map_err(RootfsError::mount(
            "cgroup",
            dest,
            "remount tmpfs read-only",
        ))?;
    }
    Ok(())
}

/// One hierarchy at `dest`: fresh in a cgroup namespace, else a bind of our own directory.
fn hierarchy(
    ctx: &MountContext<'_>,
    h: &MountInfo,
    members: &[Membership],
    dest: &Path,
    flags: MsFlags,
    typ: &str,
) -> Result<(), RootfsError> {
    let fd = ctx
        .root
        .create_all(dest, Leaf::Dir)
        .map_err(RootfsError::mount(typ, dest, "create destination"))?;
    if ctx.opts.in_cgroup_namespace {
        let (fstype, data) = if h.fstype == "cgroup2" {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(v1_data(h)))
        };
        return sys::mount_on(
            Some(Path::new(fstype)),
            fd.as_fd(),
            Some(fstype),
            flags,
            data.as_deref(),
        )
        .map_err(RootfsError::mount(fstype, dest, "mount"));
    }
    let source = membership_for(h, members)
        .and_then(|m| bind_source(h, m))
        .ok_or_else(|| {
            RootfsError::Invalid(format!(
                "mount cgroup on {}: this process has no cgroup under {}",
                dest.display(),
                h.mount_point.display()
            ))
        })?;
    sys::mount_on(
        Some(&source),
        fd.as_fd(),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(RootfsError::mount(typ, dest, "bind"))?;
    let top = reopen(ctx, dest, typ)?;
    let remount = flags & (MsFlags::MS_RDONLY | super::options::REMOUNT_FLAGS);
    sys::remount_bind(
        &fd_path(top.as_fd()),
        remount | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    )
    .map_err(RootfsError::mount(typ, dest, "remount"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:39 / /sys/kernel/other rw - cgroup cgroup rw,pids
";

    const PROC_CGROUP: &str = "\
9:name=systemd:/user.slice
4:memory:/box/c1
1:cpu,cpuacct:/
0::/box/c1
";

    #[test]
    fn finds_hierarchies_and_sources() {
        let mounts = sys::parse_mountinfo(MOUNTINFO);
        let hs = host_hierarchies(&mounts);
        let points: Vec<_> = hs.iter().map(|h| h.mount_point.clone()).collect();
        assert_eq!(
            points,
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/systemd"),
                PathBuf::from("/sys/fs/cgroup/unified"),
            ]
        );
        let members = parse_proc_cgroup(PROC_CGROUP);
        let src = |i: usize| bind_source(&hs[i], membership_for(&hs[i], &members).unwrap());
        assert_eq!(src(0), Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(src(1), Some(PathBuf::from("/sys/fs/cgroup/memory/box/c1")));
        assert_eq!(
            src(2),
            Some(PathBuf::from("/sys/fs/cgroup/systemd/user.slice"))
        );
        assert_eq!(src(3), Some(PathBuf::from("/sys/fs/cgroup/unified/box/c1")));
        assert_eq!(v1_data(&hs[2]), "xattr,name=systemd");
    }

    #[test]
    fn no_membership_no_source() {
        let mounts = sys::parse_mountinfo(MOUNTINFO);
        let hs = host_hierarchies(&mounts);
        let members = parse_proc_cgroup("4:memory:/x\n");
        assert!(membership_for(&hs[0], &members).is_none());
        // A mount rooted below the cgroup path does not give a source.
        let h = MountInfo {
            root: PathBuf::from("/other"),
            ..hs[1].clone()
        };
        assert_eq!(bind_source(&h, &members[0]), None);
    }
}
