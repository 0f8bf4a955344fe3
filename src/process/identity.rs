//! The process identity: supplementary groups, gid, uid and umask, with the permitted
//! capabilities kept across the uid change so they can be set exactly afterwards.

use nix::errno::Errno;
use oci_spec::runtime::User;

use super::ProcessError;

fn prctl_keepcaps(on: bool) -> Result<(), ProcessError> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) };
    if rc != 0 {
        return Err(ProcessError::os(
            format!("prctl(PR_SET_KEEPCAPS, {})", u8::from(on)),
            Errno::last(),
        ));
    }
    Ok(())
}

/// Whether this user namespace lets us call setgroups (/proc/self/setgroups is not "deny").
/// Without /proc we cannot tell; assume allowed and let setgroups report.
fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|value| value.trim() != "deny")
        .unwrap_or(true)
}

// The raw system calls below change only the calling thread's credentials. glibc's
// wrappers would also signal every other thread glibc knows of, which after a raw clone
// are the parent's threads: the init is single-threaded, so one thread is all there is.

fn setgroups(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `groups`, which the kernel only reads.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn setresgid(gid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    let rc = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn setresuid(uid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

fn set_groups(user: &User) -> Result<(), ProcessError> {
    let groups = user.additional_gids().as_deref().unwrap_or_default();
    if !setgroups_allowed() {
        // Rule: in a user namespace with setgroups denied we keep the groups we have when
        // none were asked for (as runc does), and refuse when some were.
        if groups.is_empty() {
            return Ok(());
        }
        return Err(ProcessError::invalid(
            "process.user.additionalGids: cannot set supplementary groups: setgroups is \
             denied in this user namespace (/proc/self/setgroups is \"deny\")",
        ));
    }
    setgroups(groups).map_err(|e| ProcessError::os("setgroups", e))
}

pub(crate) fn set_identity(user: &User) -> Result<(), ProcessError> {
    prctl_keepcaps(true)?;
    set_groups(user)?;
    setresgid(user.gid()).map_err(|e| ProcessError::os(format!("setresgid {}", user.gid()), e))?;
    setresuid(user.uid()).map_err(|e| ProcessError::os(format!("setresuid {}", user.uid()), e))?;
    if let Some(umask) = user.umask() {
        // SAFETY: umask cannot fail; it only replaces the process's file mode mask.
        unsafe { libc::umask((umask & 0o777) as libc::mode_t) };
    }
    prctl_keepcaps(false)
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;
    use oci_spec::runtime::LinuxCapabilities;

    fn user(json: &str) -> User {
        serde_json::from_str(json).expect("user json")
    }

    fn status(fields: &[&str]) -> Result<String, String> {
        let values: Result<Vec<String>, String> =
            fields.iter().map(|f| test_child::status_field(f)).collect();
        Ok(values?.join("|"))
    }

    #[test]
    fn becomes_user_and_keeps_caps_for_set_capabilities() {
        let wanted = user(r#"{"uid":1000,"gid":1000,"additionalGids":[10,20],"umask":23}"#);
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],
                "effective":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],
                "permitted":["CAP_CHOWN","CAP_NET_BIND_SERVICE"],
                "inheritable":["CAP_NET_BIND_SERVICE"],
                "ambient":["CAP_NET_BIND_SERVICE"]}"#,
        )
        .expect("caps json");
        let report = test_child::run(move || {
            set_identity(&wanted).map_err(|e| e.to_string())?;
            let after_identity = status(&["Uid", "Gid", "Groups", "Umask", "CapEff"])?;
            let permitted_kept = test_child::status_field("CapPrm")? != "0000000000000000";
            super::super::set_capabilities(Some(&caps)).map_err(|e| e.to_string())?;
            let after_caps = status(&["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"])?;
            Ok(format!("{after_identity}|{permitted_kept}|{after_caps}"))
        });
        let expected = [
            "1000\t1000\t1000\t1000",
            "1000\t1000\t1000\t1000",
            "10 20",
            "0027",
            "0000000000000000",
            "true",
            "0000000000000401",
            "0000000000000401",
            "0000000000000400",
            "0000000000000401",
            "0000000000000400",
        ]
        .join("|");
        assert_eq!(report, Ok(expected));
    }

    #[test]
    fn empty_groups_clear_inherited_ones() {
        let wanted = user(r#"{"uid":0,"gid":0}"#);
        let report = test_child::run(move || {
            setgroups(&[4, 5]).map_err(|e| e.to_string())?;
            set_identity(&wanted).map_err(|e| e.to_string())?;
            test_child::status_field("Groups")
        });
        assert_eq!(report, Ok(String::new()));
    }

    /// Enters a new user namespace mapping root to root, with setgroups denied.
    fn enter_userns_with_setgroups_denied() -> Result<(), String> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(|e| e.to_string())?;
        std::fs::write("/proc/self/setgroups", "deny").map_err(|e| e.to_string())?;
        std::fs::write("/proc/self/uid_map", "0 0 1").map_err(|e| e.to_string())?;
        std::fs::write("/proc/self/gid_map", "0 0 1").map_err(|e| e.to_string())
    }

    #[test]
    fn setgroups_denied_without_groups_is_skipped() {
        let wanted = user(r#"{"uid":0,"gid":0}"#);
        let report = test_child::run(move || {
            enter_userns_with_setgroups_denied()?;
            set_identity(&wanted).map_err(|e| e.to_string())?;
            test_child::status_field("Uid")
        });
        assert_eq!(report, Ok("0\t0\t0\t0".to_string()));
    }

    #[test]
    fn setgroups_denied_with_groups_is_a_clear_error() {
        let wanted = user(r#"{"uid":0,"gid":0,"additionalGids":[0]}"#);
        let report = test_child::run(move || {
            enter_userns_with_setgroups_denied()?;
            set_identity(&wanted).map_err(|e| e.to_string())?;
            Ok("set".into())
        });
        let err = report.unwrap_err();
        assert!(
            err.starts_with("process.user.additionalGids: cannot set"),
            "{err}"
        );
        assert!(err.contains("\"deny\""), "{err}");
    }
}
