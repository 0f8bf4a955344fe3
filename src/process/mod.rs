//! The container process's attributes: identity (uid, gid, groups, umask), capabilities,
//! rlimits, no_new_privs, oom_score_adj, LSM labels, inherited fds, and the final exec.
//!
//! Contract used by the runtime core (keep these signatures). `validate` runs in the
//! `create` parent before anything is made; the rest run in the container's init, in this
//! order, after pivot_root: `set_rlimits`, `set_oom_score_adj` (parent side may also do
//! it), `check_lsm`, `prepare_fds`, `set_identity` (keeps capabilities across setuid),
//! `set_capabilities`, `set_no_new_privs`, then `exec`.
//!
//! Extra steps the core may add: [`set_scheduler`] and [`set_io_priority`] (spec 1.2
//! `scheduler`/`ioPriority`, any time before exec), [`apply_lsm`] (just before exec, needs
//! /proc), [`users::resolve_user`] and [`default_home`] (for `exec --user` and $HOME).
//!
//! Everything that changes credentials uses raw system calls, never glibc's wrappers: the
//! wrappers for setuid/setgid/setgroups broadcast to every thread glibc believes exists,
//! and in a child made with a raw `clone(2)` that list is the parent's, so they could hang.
//!
//! Error messages follow runc's wording where clients match on it
//! (`error setting rlimit type RLIMIT_NOFILE: operation not permitted`,
//! `exec: "foo": executable file not found in $PATH`, `exec: "/etc": permission denied`,
//! `exec /bin/x: exec format error`), checked against runc 1.1.5 on this host.

mod capabilities;
mod env;
mod exec;
mod fds;
mod identity;
mod lsm;
mod oom;
mod rlimits;
mod scheduling;
pub mod users;
mod validate;

#[cfg(test)]
mod test_child;

use nix::errno::Errno;
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, Process, User};

pub use capabilities::{
    capability_index, known_capability_names, last_cap, set_capabilities_report,
};
pub use env::{default_home, env_value, set_env};
pub use exec::{lookup_path, DEFAULT_PATH};
pub use lsm::{apparmor_enabled, apply_lsm, selinux_enabled};
pub use scheduling::{set_io_priority, set_scheduler};
pub use validate::validate_json;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::Error,
    },
    /// A system call failed. Displays as `<what>: <errno text in lower case>`, the way Go
    /// (and so runc) prints system errors; clients match on that text.
    #[error("{what}: {}", errno_text(*.errno))]
    Os { what: String, errno: Errno },
}

impl ProcessError {
    pub(crate) fn os(what: impl Into<String>, errno: Errno) -> Self {
        ProcessError::Os {
            what: what.into(),
            errno,
        }
    }

    pub(crate) fn io(what: impl Into<String>, err: &std::io::Error) -> Self {
        let errno = err
            .raw_os_error()
            .map(Errno::from_raw)
            .unwrap_or(Errno::EIO);
        ProcessError::os(what, errno)
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ProcessError::Invalid(msg.into())
    }

    /// The errno behind this error, when a system call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            ProcessError::Os { errno, .. } => Some(*errno),
            ProcessError::Sys { source, .. } => Some(*source),
            ProcessError::Invalid(_) => None,
        }
    }
}

/// The errno's description as Go prints it: "operation not permitted", not
/// "EPERM: Operation not permitted".
pub fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match (chars.next(), chars.next()) {
        // Keep acronyms ("I/O error") as they are; lower the first letter of words.
        (Some(first), Some(second))
            if first.is_ascii_uppercase() && !second.is_ascii_uppercase() =>
        {
            let mut text = String::with_capacity(desc.len());
            text.push(first.to_ascii_lowercase());
            text.push_str(&desc[first.len_utf8()..]);
            text
        }
        _ => desc.to_string(),
    }
}

/// Checks capability names, rlimit types, user fields, cwd, args: a clear error naming the field.
///
/// Capability names and rlimit types that the typed config cannot even hold are caught
/// earlier by [`validate_json`], which the config loader should call on the raw
/// `process` object before deserializing it.
pub fn validate(process: &Process) -> Result<(), ProcessError> {
    validate::validate(process)
}

/// setrlimit for each entry, in order; the first failure is an error naming the rlimit.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), ProcessError> {
    rlimits::set_rlimits(rlimits)
}

/// Writes `score` to /proc/self/oom_score_adj.
pub fn set_oom_score_adj(score: i32) -> Result<(), ProcessError> {
    oom::set_oom_score_adj(score)
}

/// Errors when apparmorProfile or selinuxLabel is set and the host has no such LSM.
///
/// The host's answer is taken on first use, which [`validate`] makes in the runtime before
/// the init is cloned, so the init's call after pivot_root still sees the host's view.
/// Applying the labels is [`apply_lsm`].
pub fn check_lsm(process: &Process) -> Result<(), ProcessError> {
    lsm::check_lsm(process)
}

/// Closes every fd above 2 + `preserve_fds` except `keep` (the start channel, which is
/// O_CLOEXEC); sets LISTEN_FDS/LISTEN_PID in `env` when `preserve_fds > 0`.
///
/// The preserved fds 3..3+N lose FD_CLOEXEC. Fds are really closed, so the caller must
/// not use (or drop) any `OwnedFd`/`File` it still holds for a closed number afterwards:
/// pass it in `keep`, or `mem::forget` it.
pub fn prepare_fds(
    preserve_fds: i32,
    keep: &[i32],
    env: &mut Vec<String>,
) -> Result<(), ProcessError> {
    fds::prepare_fds(preserve_fds, keep, env)
}

/// setgroups/setgid/setuid/umask, keeping permitted capabilities across the uid change.
pub fn set_identity(user: &User) -> Result<(), ProcessError> {
    identity::set_identity(user)
}

/// Bounding, effective, permitted, inheritable and ambient sets exactly as configured.
///
/// `None` drops every capability. Capabilities this kernel does not know are skipped, and
/// an ambient capability the kernel refuses to raise is ignored, as runc does
/// ([`set_capabilities_report`] names those, for a warning).
pub fn set_capabilities(caps: Option<&LinuxCapabilities>) -> Result<(), ProcessError> {
    capabilities::set_capabilities_report(caps).map(|_refused_ambient| ())
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> Result<(), ProcessError> {
    // SAFETY: prctl with integer arguments only; no memory is passed to the kernel.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(ProcessError::os(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            Errno::last(),
        ));
    }
    Ok(())
}

/// execve of args[0] (looked up in the container's PATH from `env` when it has no '/').
/// Returns only on failure.
pub fn exec(args: &[String], env: &[String]) -> ProcessError {
    exec::exec(args, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text_is_lower_case_like_go() {
        assert_eq!(errno_text(Errno::EPERM), "operation not permitted");
        assert_eq!(errno_text(Errno::ENOENT), "no such file or directory");
        assert_eq!(errno_text(Errno::EACCES), "permission denied");
    }

    #[test]
    fn os_error_displays_what_and_errno_text() {
        let err = ProcessError::os("error setting rlimit type RLIMIT_NOFILE", Errno::EPERM);
        assert_eq!(
            err.to_string(),
            "error setting rlimit type RLIMIT_NOFILE: operation not permitted"
        );
        assert_eq!(err.errno(), Some(Errno::EPERM));
    }

    /// The whole init sequence in a forked child, ending in a real exec of `sh`; the
    /// program reports its own view of the attributes on stdout (a pipe to us).
    #[test]
    fn full_sequence_then_exec_as_user_1000() {
        use std::io::Read;
        use std::os::fd::AsRawFd;

        let process: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10], "umask": 18},
            "cwd": "/",
            "args": ["sh", "-c", "cat /proc/self/status; cd /proc/$$/fd; echo fds: *; cd /; \
                echo oom: $(cat /proc/self/oom_score_adj); echo listen: $LISTEN_FDS; ulimit -n"],
            "env": ["PATH=/usr/bin:/bin", "LISTEN_FDS=99"],
            "capabilities": {
                "bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
                "effective": ["CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}],
            "oomScoreAdj": 77,
            "noNewPrivileges": true
        }))
        .expect("process json");
        validate(&process).expect("valid");
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let code = test_child::exit_code(move || {
            let out = write_end.as_raw_fd();
            // SAFETY: the child owns its fd table; stdout becomes the pipe, fd 3 a preserved fd.
            unsafe {
                libc::dup2(out, 1);
                libc::dup2(out, 3);
            }
            let mut env = process.env().clone().unwrap_or_default();
            let mut steps = || -> Result<(), ProcessError> {
                set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
                set_oom_score_adj(process.oom_score_adj().unwrap_or(0))?;
                check_lsm(&process)?;
                prepare_fds(1, &[], &mut env)?;
                set_identity(process.user())?;
                set_capabilities(process.capabilities().as_ref())?;
                set_no_new_privs()?;
                Err(exec(process.args().as_deref().unwrap_or_default(), &env))
            };
            let _ = steps();
        });
        let mut output = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut output)
            .expect("read output");
        assert_eq!(code, 0, "{output}");
        let field = |name: &str| {
            output
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| format!("{name} missing"))
        };
        let bind = "0000000000000400";
        assert_eq!(field("Uid"), "1000\t1000\t1000\t1000");
        assert_eq!(field("Gid"), "1000\t1000\t1000\t1000");
        assert_eq!(field("Groups"), "10");
        assert_eq!(field("Umask"), "0022");
        assert_eq!(field("CapEff"), bind);
        assert_eq!(field("CapPrm"), bind);
        assert_eq!(field("CapInh"), bind);
        assert_eq!(field("CapAmb"), bind);
        assert_eq!(field("CapBnd"), "0000000000000420");
        assert_eq!(field("NoNewPrivs"), "1");
        // 3 is the preserved fd; 4 is the directory the shell's glob is reading.
        assert_eq!(field("fds"), "0 1 2 3 4");
        assert_eq!(field("oom"), "77");
        assert_eq!(field("listen"), "1");
        assert_eq!(output.lines().last(), Some("321"));
    }

    #[test]
    fn no_new_privs_is_set_in_child() {
        let status = test_child::run(|| {
            set_no_new_privs().map_err(|e| e.to_string())?;
            let line = test_child::status_field("NoNewPrivs")?;
            Ok(line)
        });
        assert_eq!(status, Ok("1".to_string()));
    }
}
