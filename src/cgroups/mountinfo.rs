//! Finds the host's cgroup hierarchies in /proc/self/mountinfo and tells the layout
//! (v1, hybrid or v2) from them.

use super::{CgroupError, Layout};
use std::path::PathBuf;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount_point: PathBuf,
    /// The cgroup that the mount shows as its root (not "/" inside a cgroup namespace).
    pub root: String,
    /// v1 controllers (including "name=systemd"); empty for cgroup2.
    pub controllers: Vec<String>,
    /// True for a cgroup2 mount.
    pub unified: bool,
}

/// The v1 controllers and named hierarchies we know; other super options (rw, xattr,
/// release_agent=...) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Undoes the octal escapes (`\040` for a space) mountinfo uses in paths.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of a mountinfo file into its cgroup mounts, first mount of each
/// superblock only (bind mounts of the same hierarchy are skipped).
pub fn parse(text: &str) -> Vec<Mount> {
    let mut seen_devices: Vec<&str> = Vec::new();
    let mut mounts = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let unified = match post[0] {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        let device = pre[2];
        if seen_devices.contains(&device) {
            continue;
        }
        seen_devices.push(device);
        let controllers = if unified {
            Vec::new()
        } else {
            post[2]
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        mounts.push(Mount {
            mount_point: PathBuf::from(unescape(pre[4])),
            root: unescape(pre[3]),
            controllers,
            unified,
        });
    }
    mounts
}

/// Tells the layout from the mounts: a v1 hierarchy with a real controller makes it
/// v1, or hybrid when a cgroup2 mount sits beside them; cgroup2 with at most named v1
/// hierarchies (a compatibility name=systemd mount) is v2.
pub fn layout_of(mounts: &[Mount]) -> Result<Layout, CgroupError> {
    let v1 = mounts
        .iter()
        .any(|m| !m.unified && m.controllers.iter().any(|c| !c.starts_with("name=")));
    let v2 = mounts.iter().any(|m| m.unified);
    match (v1, v2) {
        (true, true) => Ok(Layout::Hybrid),
        (true, false) => Ok(Layout::V1),
        (false, true) => Ok(Layout::V2),
        (false, false) if mounts.iter().any(|m| !m.unified) => Ok(Layout::V1),
        (false, false) => Err(CgroupError::Invalid(
            "no cgroup or cgroup2 mount in /proc/self/mountinfo".into(),
        )),
    }
}

/// The mounts berth uses for a layout: on v1 and hybrid every v1 hierarchy (only those
/// with a controller or a name) plus, on hybrid, the cgroup2 mount; on v2 the one cgroup2
/// mount.
pub fn select(mounts: Vec<Mount>, layout: Layout) -> Vec<Mount> {
    match layout {
        Layout::V1 => mounts
            .into_iter()
            .filter(|m| !m.unified && !m.controllers.is_empty())
            .collect(),
        Layout::Hybrid => {
            let mut out: Vec<Mount> = Vec::new();
            let mut have_unified = false;
            for m in mounts {
                if m.unified {
                    if !have_unified {
                        have_unified = true;
                        out.push(m);
                    }
                } else if !m.controllers.is_empty() {
                    out.push(m);
                }
            }
            out
        }
        Layout::V2 => mounts.into_iter().filter(|m| m.unified).take(1).collect(),
    }
}

/// Reads and parses /proc/self/mountinfo.
pub fn read() -> Result<Vec<Mount>, CgroupError> {
    let path = PathBuf::from("/proc/self/mountinfo");
    let text = crate::small_file::read_to_string(&path)
        .map_err(|source| CgroupError::Io { path, source })?;
    Ok(parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:5 - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 23 0:32 /sub /mnt/mem\\040dir rw - cgroup cgroup rw,memory
";

    #[test]
    fn parses_v1_controllers_and_skips_bind_mounts() {
        let m = parse(HYBRID);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].controllers, vec!["cpu"]);
        assert_eq!(m[1].controllers, vec!["cpuset"]);
        assert_eq!(m[3].controllers, vec!["net_cls", "net_prio"]);
        assert_eq!(
            m[3].mount_point,
            PathBuf::from("/sys/fs/cgroup/net_cls,net_prio")
        );
        assert_eq!(m[4].controllers, vec!["name=systemd"]);
        assert!(m[5].unified);
        assert!(m[5].controllers.is_empty());
    }

    #[test]
    fn layouts() {
        let m = parse(HYBRID);
        assert_eq!(layout_of(&m).unwrap(), Layout::Hybrid);
        let v1: Vec<Mount> = m.iter().filter(|m| !m.unified).cloned().collect();
        assert_eq!(layout_of(&v1).unwrap(), Layout::V1);
        let v2 = parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(layout_of(&v2).unwrap(), Layout::V2);
        assert!(layout_of(&[]).is_err());
        assert_eq!(select(v2, Layout::V2).len(), 1);
        assert_eq!(select(m, Layout::Hybrid).len(), 6);
        // A compatibility name=systemd v1 mount beside cgroup2 is still v2.
        let compat = parse(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
             31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
        );
        assert_eq!(layout_of(&compat).unwrap(), Layout::V2);
        assert_eq!(select(compat, Layout::V2).len(), 1);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/mnt/mem\\040dir"), "/mnt/mem dir");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/bad\\04"), "/bad\\04");
    }

    #[test]
    fn reads_this_host() {
        let mounts = read().unwrap();
        assert!(layout_of(&mounts).is_ok());
    }
}
