//! Linux security modules: refuses AppArmor profiles and SELinux labels on hosts without
//! the module, and applies them (effective at exec) on hosts with it.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use oci_spec::runtime::Process;

use super::ProcessError;

// The answers are computed once and kept: the first call (from `validate`, in the
// runtime before it clones the init) sees the host's /sys and /proc, and the init, a
// copy of that memory, reuses the host's answer after pivot_root, where /sys is the
// container's.
static APPARMOR: OnceLock<bool> = OnceLock::new();
static SELINUX: OnceLock<bool> = OnceLock::new();

/// AppArmor is usable: securityfs shows it and the module parameter says enabled (runc's
/// test). Decided on first call and remembered.
pub fn apparmor_enabled() -> bool {
    *APPARMOR.get_or_init(|| {
        Path::new("/sys/kernel/security/apparmor").exists()
            && std::fs::read("/sys/module/apparmor/parameters/enabled")
                .map(|value| value.starts_with(b"Y"))
                .unwrap_or(false)
    })
}

/// SELinux is usable: selinuxfs is mounted. Decided on first call and remembered.
pub fn selinux_enabled() -> bool {
    *SELINUX.get_or_init(|| {
        Path::new("/sys/fs/selinux/enforce").exists()
            || crate::small_file::read_to_string("/proc/self/mountinfo")
                .map(|mounts| {
                    mounts
                        .lines()
                        .any(|line| mountinfo_fstype(line) == Some("selinuxfs"))
                })
                .unwrap_or(false)
    })
}

/// The filesystem type field of a /proc/self/mountinfo line (the first after " - ").
fn mountinfo_fstype(line: &str) -> Option<&str> {
    line.split_once(" - ")?.1.split_whitespace().next()
}

fn requested(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|value| !value.is_empty())
}

pub(crate) fn check_lsm(process: &Process) -> Result<(), ProcessError> {
    check_with(process, apparmor_enabled, selinux_enabled)
}

fn check_with(
    process: &Process,
    apparmor: impl Fn() -> bool,
    selinux: impl Fn() -> bool,
) -> Result<(), ProcessError> {
    if let Some(profile) = requested(process.apparmor_profile()) {
        if !apparmor() {
            return Err(ProcessError::invalid(format!(
                "apparmor profile \"{profile}\" requested but AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(label) = requested(process.selinux_label()) {
        if !selinux() {
            return Err(ProcessError::invalid(format!(
                "selinux label \"{label}\" requested but SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// Writes an LSM attribute under /proc through a verified procfs handle (CVE-2019-16884,
/// CVE-2025-52881: a fake /proc or a file mounted over the attribute cannot take the label).
fn write_attr(path: &str, value: &str) -> Result<(), std::io::Error> {
    let rel = path.strip_prefix("/proc/").unwrap_or(path);
    let proc = crate::rootfs::procfs::Procfs::open().map_err(std::io::Error::from)?;
    let fd = proc
        .open_file(rel, nix::fcntl::OFlag::O_WRONLY)
        .map_err(std::io::Error::from)?;
    std::fs::File::from(fd).write_all(value.as_bytes())
}

/// Arranges for the next execve to switch to the configured AppArmor profile and SELinux
/// label (writes /proc/self/attr/.../exec). Needs /proc mounted; call it last before exec.
/// Does nothing when neither is set.
pub fn apply_lsm(process: &Process) -> Result<(), ProcessError> {
    if let Some(profile) = requested(process.apparmor_profile()) {
        let value = format!("exec {profile}");
        write_attr("/proc/self/attr/apparmor/exec", &value)
            .or_else(|_| write_attr("/proc/self/attr/exec", &value))
            .map_err(|e| ProcessError::io(format!("apply apparmor profile \"{profile}\""), &e))?;
    }
    if let Some(label) = requested(process.selinux_label()) {
        write_attr("/proc/self/attr/exec", label)
            .map_err(|e| ProcessError::io(format!("set selinux exec label \"{label}\""), &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).expect("process json")
    }

    const BASE: &str = r#""user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]"#;

    #[test]
    fn apparmor_profile_without_apparmor_is_refused() {
        let p = process(&format!(r#"{{{BASE},"apparmorProfile":"docker-default"}}"#));
        let err = check_with(&p, || false, || true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "apparmor profile \"docker-default\" requested but AppArmor is not enabled on this host"
        );
        assert!(check_with(&p, || true, || false).is_ok());
    }

    #[test]
    fn selinux_label_without_selinux_is_refused() {
        let p = process(&format!(
            r#"{{{BASE},"selinuxLabel":"system_u:system_r:container_t:s0"}}"#
        ));
        let err = check_with(&p, || true, || false).unwrap_err();
        assert!(
            err.to_string()
                .contains("SELinux is not enabled on this host"),
            "{err}"
        );
        assert!(check_with(&p, || false, || true).is_ok());
    }

    #[test]
    fn nothing_requested_passes_and_empty_strings_count_as_unset() {
        let p = process(&format!(
            r#"{{{BASE},"apparmorProfile":"","selinuxLabel":""}}"#
        ));
        assert!(check_with(&p, || false, || false).is_ok());
        assert!(apply_lsm(&p).is_ok());
    }

    #[test]
    fn this_host_has_neither_lsm() {
        // RULES.md: the test VM has no AppArmor and no SELinux.
        assert!(!apparmor_enabled());
        assert!(!selinux_enabled());
        let p = process(&format!(r#"{{{BASE},"apparmorProfile":"x"}}"#));
        assert!(check_lsm(&p).is_err());
    }

    #[test]
    fn applying_a_profile_without_apparmor_fails() {
        let p = process(&format!(r#"{{{BASE},"apparmorProfile":"x"}}"#));
        let report = test_child::run(move || {
            apply_lsm(&p).map_err(|e| e.to_string())?;
            Ok("applied".into())
        });
        let err = report.unwrap_err();
        assert!(err.starts_with("apply apparmor profile \"x\": "), "{err}");
    }

    #[test]
    fn fstype_from_mountinfo() {
        let line = "36 25 0:30 / /sys/fs/selinux rw,relatime shared:7 - selinuxfs selinuxfs rw";
        assert_eq!(mountinfo_fstype(line), Some("selinuxfs"));
        assert_eq!(mountinfo_fstype("garbage"), None);
    }
}
