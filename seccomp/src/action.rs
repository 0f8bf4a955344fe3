//! OCI `SCMP_ACT_*` actions → kernel `SECCOMP_RET_*` return values.

use oci_spec::runtime::LinuxSeccompAction as Act;
use seccompiler::SeccompAction;

/// `SECCOMP_RET_USER_NOTIF` (seccompiler 0.5 has no notify action).
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ERRNO` with no data.
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_LOG`.
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_KILL_THREAD`: what libseccomp uses for a syscall from an architecture the
/// filter does not list.
pub const SECCOMP_RET_KILL_THREAD: u32 = 0;

/// errno used when ERRNO/TRACE have no errnoRet (runc's choice).
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// Kernel return value for `action` with its (already validated, ≤ 0xffff) `errno_ret`.
pub fn ret_value(action: Act, errno_ret: Option<u32>) -> u32 {
    let data = errno_ret.unwrap_or(DEFAULT_ERRNO);
    let sa = match action {
        Act::ScmpActKill | Act::ScmpActKillThread => SeccompAction::KillThread,
        Act::ScmpActKillProcess => SeccompAction::KillProcess,
        Act::ScmpActTrap => SeccompAction::Trap,
        Act::ScmpActErrno => SeccompAction::Errno(data),
        Act::ScmpActTrace => SeccompAction::Trace(data),
        Act::ScmpActLog => SeccompAction::Log,
        Act::ScmpActAllow => SeccompAction::Allow,
        Act::ScmpActNotify => return SECCOMP_RET_USER_NOTIF,
    };
    u32::from(sa)
}

/// Whether an action takes errnoRet.
pub fn takes_errno(action: Act) -> bool {
    matches!(action, Act::ScmpActErrno | Act::ScmpActTrace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_kernel_abi() {
        assert_eq!(ret_value(Act::ScmpActErrno, None), 0x0005_0001);
        assert_eq!(ret_value(Act::ScmpActErrno, Some(38)), 0x0005_0026);
        assert_eq!(ret_value(Act::ScmpActTrace, Some(2)), 0x7ff0_0002);
        assert_eq!(ret_value(Act::ScmpActKill, None), 0);
        assert_eq!(ret_value(Act::ScmpActKillProcess, None), 0x8000_0000);
        assert_eq!(ret_value(Act::ScmpActTrap, None), 0x0003_0000);
        assert_eq!(ret_value(Act::ScmpActLog, None), SECCOMP_RET_LOG);
        assert_eq!(ret_value(Act::ScmpActAllow, None), SECCOMP_RET_ALLOW);
        assert_eq!(ret_value(Act::ScmpActNotify, None), SECCOMP_RET_USER_NOTIF);
    }
}
