//! Writes a new user namespace's uid and gid maps (linux.uidMappings / gidMappings).
//!
//! As root berth writes /proc/<pid>/{uid,gid}_map itself. An unprivileged user may write
//! only a map of its own id, one range of size 1 (and for gid_map only after denying
//! setgroups); anything else goes through the setuid helpers newuidmap/newgidmap
//! (Debian's `uidmap` package), which check the ranges against /etc/subuid and
//! /etc/subgid. A mapping the kernel or a helper refuses is an error naming the field and
//! the mapping.

use crate::error::{Error, Result};
use oci_spec::runtime::{Linux, LinuxIdMapping};

/// One of the two maps.
struct MapKind {
    file: &'static str,
    helper: &'static str,
    field: &'static str,
    /// Our own effective id of this kind.
    own: u32,
}

/// Writes both maps of the user namespace of `pid`.
pub fn write(pid: i32, linux: &Linux) -> Result<()> {
    let privileged = nix::unistd::geteuid().is_root();
    let kinds = [
        (
            MapKind {
                file: "uid_map",
                helper: "newuidmap",
                field: "linux.uidMappings",
                own: nix::unistd::geteuid().as_raw(),
            },
            linux.uid_mappings(),
        ),
        (
            MapKind {
                file: "gid_map",
                helper: "newgidmap",
                field: "linux.gidMappings",
                own: nix::unistd::getegid().as_raw(),
            },
            linux.gid_mappings(),
        ),
    ];
    for (kind, maps) in kinds {
        let maps = maps.as_deref().unwrap_or_default();
        if privileged {
            write_directly(pid, &kind, maps)?;
        } else if is_own_id_only(maps, kind.own) {
            if kind.file == "gid_map" {
                // The kernel lets an unprivileged writer map its gid only with setgroups off.
                let path = format!("/proc/{pid}/setgroups");
                std::fs::write(&path, "deny").map_err(|e| Error::io(&path, e))?;
            }
            write_directly(pid, &kind, maps)?;
        } else {
            write_with_helper(pid, &kind, maps)?;
        }
    }
    Ok(())
}

/// The map file's text: one "container host size" line per range.
pub fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The mapping as one line for error messages.
fn describe(maps: &[LinuxIdMapping]) -> String {
    format_map(maps).trim_end().replace('\n', ", ")
}

/// Whether `maps` is the one range an unprivileged process may write itself.
fn is_own_id_only(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.host_id() == own && m.size() == 1)
}

fn write_directly(pid: i32, kind: &MapKind, maps: &[LinuxIdMapping]) -> Result<()> {
    let path = format!("/proc/{pid}/{}", kind.file);
    std::fs::write(&path, format_map(maps)).map_err(|e| {
        Error::invalid(format!(
            "{}: the kernel refused the mapping {:?}: {e}",
            kind.field,
            describe(maps)
        ))
    })
}

/// newuidmap/newgidmap <pid> <container> <host> <size> …
fn write_with_helper(pid: i32, kind: &MapKind, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(kind.helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.arg(m.container_id().to_string())
            .arg(m.host_id().to_string())
            .arg(m.size().to_string());
    }
    let out = cmd.output().map_err(|e| {
        Error::invalid(format!(
            "{}: the mapping {:?} needs {} (Debian package uidmap) when berth is not root: {e}",
            kind.field,
            describe(maps),
            kind.helper
        ))
    })?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "{}: {} refused the mapping {:?}: {}",
            kind.field,
            kind.helper,
            describe(maps),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(json: &str) -> Vec<LinuxIdMapping> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn map_format() {
        let m = maps(
            r#"[{"containerID":0,"hostID":100000,"size":1000},{"containerID":1000,"hostID":1000,"size":1}]"#,
        );
        assert_eq!(format_map(&m), "0 100000 1000\n1000 1000 1\n");
        assert_eq!(describe(&m), "0 100000 1000, 1000 1000 1");
    }

    #[test]
    fn only_a_single_own_id_is_written_without_a_helper() {
        assert!(is_own_id_only(
            &maps(r#"[{"containerID":0,"hostID":1001,"size":1}]"#),
            1001
        ));
        assert!(!is_own_id_only(
            &maps(r#"[{"containerID":0,"hostID":1001,"size":2}]"#),
            1001
        ));
        assert!(!is_own_id_only(
            &maps(r#"[{"containerID":0,"hostID":1002,"size":1}]"#),
            1001
        ));
        assert!(!is_own_id_only(
            &maps(
                r#"[{"containerID":0,"hostID":1001,"size":1},{"containerID":1,"hostID":100000,"size":10}]"#
            ),
            1001
        ));
        assert!(!is_own_id_only(&[], 1001));
    }
}
