//! The container process's attributes: identity (uid, gid, groups, umask), capabilities,
//! rlimits, no_new_privs, oom_score_adj, LSM labels, inherited fds, and the final exec.
//!
//! Contract used by the runtime core (keep these signatures). `validate` runs in the
//! `create` parent before anything is made; the rest run in the container's init, in this
//! order, after pivot_root: `set_rlimits`, `set_oom_score_adj` (parent side may also do
//! it), `check_lsm`, `prepare_fds`, `set_identity` (keeps capabilities across setuid),
//! `set_capabilities`, `set_no_new_privs`, then `exec`.

use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, Process, User};

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
}

/// Checks capability names, rlimit types, user fields, cwd, args: a clear error naming the field.
pub fn validate(process: &Process) -> Result<(), ProcessError> {
    let _ = process;
    Ok(())
}

pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), ProcessError> {
    let _ = rlimits;
    Ok(())
}

pub fn set_oom_score_adj(score: i32) -> Result<(), ProcessError> {
    let _ = score;
    Ok(())
}

/// Errors when apparmorProfile or selinuxLabel is set and the host has no such LSM.
pub fn check_lsm(process: &Process) -> Result<(), ProcessError> {
    let _ = process;
    Ok(())
}

/// Closes every fd above 2 + `preserve_fds` except `keep` (the start channel, which is
/// O_CLOEXEC); sets LISTEN_FDS/LISTEN_PID in `env` when `preserve_fds > 0`.
pub fn prepare_fds(preserve_fds: i32, keep: &[i32], env: &mut Vec<String>) -> Result<(), ProcessError> {
    let _ = (preserve_fds, keep, env);
    Ok(())
}

/// setgroups/setgid/setuid/umask, keeping permitted capabilities across the uid change.
pub fn set_identity(user: &User) -> Result<(), ProcessError> {
    let _ = user;
    Ok(())
}

/// Bounding, effective, permitted, inheritable and ambient sets exactly as configured.
pub fn set_capabilities(caps: Option<&LinuxCapabilities>) -> Result<(), ProcessError> {
    let _ = caps;
    Ok(())
}

pub fn set_no_new_privs() -> Result<(), ProcessError> {
    Ok(())
}

/// execve of args[0] (looked up in the container's PATH from `env` when it has no '/').
/// Returns only on failure.
pub fn exec(args: &[String], env: &[String]) -> ProcessError {
    let _ = (args, env);
    ProcessError::Invalid("exec not implemented".into())
}
