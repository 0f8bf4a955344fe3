//! Turns `linux.cgroupsPath` into the cgroup path berth uses inside each hierarchy, and
//! maps that path onto a mounted hierarchy's directory.

use super::CgroupError;
use std::path::{Path, PathBuf};

/// Parent of the cgroups berth makes when the config gives none or a relative path.
pub const DEFAULT_PARENT: &str = "/berth";

/// The cgroup path for a container: `cgroups_path` when absolute, `/berth/<cgroups_path>`
/// when relative, `/berth/<id>` when empty. ".." components and systemd's
/// "slice:prefix:name" form are refused. The result is normalised ("/a/b", no trailing,
/// empty or "." components) and never the root itself.
pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<String, CgroupError> {
    let raw = cgroups_path.unwrap_or("").trim();
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {raw:?} is in the systemd \"slice:prefix:name\" form: \
             the systemd cgroup driver is not supported"
        )));
    }
    let joined = if raw.is_empty() {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(CgroupError::Invalid(format!(
                "container id {id:?} cannot name a cgroup"
            )));
        }
        format!("{DEFAULT_PARENT}/{id}")
    } else if raw.starts_with('/') {
        raw.to_string()
    } else {
        format!("{DEFAULT_PARENT}/{raw}")
    };
    let mut parts = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(CgroupError::Invalid(format!(
                    "cgroupsPath {raw:?} has a \"..\" component"
                )))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {raw:?} names the root cgroup"
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The directory of `cgroup` (as from [`resolve`]) in a hierarchy mounted at
/// `mount_point` whose mount shows cgroup `mount_root` (not "/" inside a cgroup
/// namespace): the part of `cgroup` below `mount_root` is what lies under the mount.
pub fn dir_in(mount_point: &Path, mount_root: &str, cgroup: &str) -> PathBuf {
    let root = mount_root.trim_end_matches('/');
    let below = match cgroup.strip_prefix(root) {
        Some(rest) if !root.is_empty() && (rest.is_empty() || rest.starts_with('/')) => rest,
        _ => cgroup,
    };
    let mut dir = mount_point.to_path_buf();
    for part in below.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_relative_paths_go_under_berth() {
        assert_eq!(resolve(None, "abc").unwrap(), "/berth/abc");
        assert_eq!(resolve(Some(""), "abc").unwrap(), "/berth/abc");
        assert_eq!(resolve(Some("pod/ctr"), "abc").unwrap(), "/berth/pod/ctr");
        assert_eq!(resolve(Some("/a//b/./c/"), "abc").unwrap(), "/a/b/c");
    }

    #[test]
    fn refuses_dotdot_systemd_and_root() {
        assert!(resolve(Some("/a/../b"), "x").is_err());
        assert!(resolve(Some("../x"), "x").is_err());
        let err = resolve(Some("system.slice:docker:abc"), "x").unwrap_err();
        assert!(err
            .to_string()
            .contains("systemd cgroup driver is not supported"));
        assert!(resolve(Some("/"), "x").is_err());
        assert!(resolve(None, "..").is_err());
        assert!(resolve(None, "").is_err());
    }

    #[test]
    fn maps_onto_mounts() {
        let m = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            dir_in(m, "/", "/berth/a"),
            PathBuf::from("/sys/fs/cgroup/memory/berth/a")
        );
        assert_eq!(
            dir_in(m, "/ns", "/ns/berth/a"),
            PathBuf::from("/sys/fs/cgroup/memory/berth/a")
        );
        assert_eq!(
            dir_in(m, "/ns", "/nsx/a"),
            PathBuf::from("/sys/fs/cgroup/memory/nsx/a")
        );
    }
}
