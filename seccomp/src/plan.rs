//! Validates an OCI `LinuxSeccomp` and lowers it to a [`Plan`]: kernel return values,
//! architectures, filter flags and rules with 64-bit argument conditions.
//!
//! Semantics (matching runc + libseccomp where they are observable):
//! - ERRNO and TRACE without errnoRet use EPERM; errnoRet on other actions is an error.
//! - Names unknown on an architecture are skipped there; a `syscalls[i]` entry none of whose
//!   names is a syscall on any architecture berth knows is an error.
//! - Conditions inside one entry are ANDed, except when two name the same argument index:
//!   then, as runc does, each condition becomes a rule of its own (ORed).
//! - NOTIFY needs `listenerPath`, is refused as `defaultAction` and for `write`.

use crate::action::{ret_value, takes_errno, SECCOMP_RET_ALLOW, SECCOMP_RET_LOG};
use crate::arch::Arch;
use crate::error::{Result, SeccompError};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompFilterFlag as Flag,
    LinuxSeccompOperator as Op,
};

/// `SECCOMP_FILTER_FLAG_TSYNC`.
pub const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`.
pub const FLAG_LOG: u32 = 2;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
pub const FLAG_SPEC_ALLOW: u32 = 4;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub const FLAG_NEW_LISTENER: u32 = 8;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH` (required with TSYNC + NEW_LISTENER).
pub const FLAG_TSYNC_ESRCH: u32 = 16;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

const ENOSYS_RET: u32 = crate::action::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// Argument comparison operator (the OCI one, hashable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ArgOp {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

impl From<Op> for ArgOp {
    fn from(op: Op) -> Self {
        match op {
            Op::ScmpCmpNe => ArgOp::Ne,
            Op::ScmpCmpLt => ArgOp::Lt,
            Op::ScmpCmpLe => ArgOp::Le,
            Op::ScmpCmpEq => ArgOp::Eq,
            Op::ScmpCmpGe => ArgOp::Ge,
            Op::ScmpCmpGt => ArgOp::Gt,
            Op::ScmpCmpMaskedEq => ArgOp::MaskedEq,
        }
    }
}

/// One 64-bit argument comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cond {
    pub(crate) index: u8,
    pub(crate) op: ArgOp,
    pub(crate) value: u64,
    pub(crate) value_two: u64,
}

/// Conditions (ANDed) and the return value when they all hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Rule {
    pub(crate) conds: Vec<Cond>,
    pub(crate) action: u32,
}

/// The validated, lowered profile.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) default_action: u32,
    /// Returned for syscalls newer than every syscall the profile names (runc's -ENOSYS
    /// rule), or `None` when the default action already lets them through or is ENOSYS.
    pub(crate) enosys: Option<u32>,
    /// Architectures with tables, deduplicated, native (always present) first.
    pub(crate) archs: Vec<Arch>,
    /// `(names, rule)` in profile order.
    pub(crate) rules: Vec<(Vec<String>, Rule)>,
    /// seccomp(2) flags.
    pub(crate) flags: u32,
}

fn check_errno(field: &str, action: Act, errno: Option<u32>) -> Result<()> {
    match errno {
        Some(_) if !takes_errno(action) => Err(SeccompError::field(
            field,
            format!("only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action}"),
        )),
        Some(e) if e > 0xffff => Err(SeccompError::field(
            field,
            format!("{e} does not fit in the 16-bit SECCOMP_RET_DATA"),
        )),
        _ => Ok(()),
    }
}

/// Validates `profile` and lowers it.
pub(crate) fn plan(profile: &LinuxSeccomp) -> Result<Plan> {
    let p = "linux.seccomp";
    let default = profile.default_action();
    if default == Act::ScmpActNotify {
        return Err(SeccompError::field(
            format!("{p}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    check_errno(
        &format!("{p}.defaultErrnoRet"),
        default,
        profile.default_errno_ret(),
    )?;
    let default_action = ret_value(default, profile.default_errno_ret());

    let mut archs: Vec<Arch> = Vec::new();
    for a in profile.architectures().iter().flatten() {
        if let Some(a) = Arch::from_oci(*a) {
            if !archs.contains(&a) {
                archs.push(a);
            }
        }
    }
    // The native architecture is always filtered, as with runc (libseccomp's filter starts
    // with it and runc only adds the listed ones).
    let native = Arch::native();
    match native {
        Some(n) if !archs.contains(&n) => archs.push(n),
        Some(_) => {}
        None if archs.is_empty() => {
            return Err(SeccompError::field(
                format!("{p}.architectures"),
                "none of the listed architectures is supported by berth-seccomp",
            ))
        }
        None => {}
    }
    // Native first: the common case takes one comparison.
    archs.sort_by_key(|a| (Some(*a) != native, *a));

    let mut flags = 0;
    for f in profile.flags().iter().flatten() {
        flags |= match f {
            Flag::SeccompFilterFlagTsync => FLAG_TSYNC,
            Flag::SeccompFilterFlagLog => FLAG_LOG,
            Flag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            Flag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }

    let mut rules = Vec::new();
    let mut has_notify = false;
    for (i, sc) in profile.syscalls().iter().flatten().enumerate() {
        let sp = format!("{p}.syscalls[{i}]");
        if sc.names().is_empty() {
            return Err(SeccompError::field(format!("{sp}.names"), "empty"));
        }
        if !sc.names().iter().any(|n| Arch::known_anywhere(n)) {
            return Err(SeccompError::field(
                format!("{sp}.names"),
                format!("no known syscall among {:?}", sc.names()),
            ));
        }
        check_errno(&format!("{sp}.errnoRet"), sc.action(), sc.errno_ret())?;
        if sc.action() == Act::ScmpActNotify {
            has_notify = true;
            if sc.names().iter().any(|n| n == "write") {
                return Err(SeccompError::field(
                    format!("{sp}.names"),
                    "SCMP_ACT_NOTIFY on write(2) is refused (the agent could deadlock the runtime)",
                ));
            }
        }
        let action = ret_value(sc.action(), sc.errno_ret());
        let mut conds = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            if a.index() > 5 {
                return Err(SeccompError::field(
                    format!("{sp}.args[{j}].index"),
                    format!("{} is out of range (0..=5)", a.index()),
                ));
            }
            conds.push(Cond {
                index: a.index() as u8,
                op: a.op().into(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        let mut indices: Vec<u8> = conds.iter().map(|c| c.index).collect();
        indices.sort_unstable();
        let repeated = indices.windows(2).any(|w| w[0] == w[1]);
        if repeated {
            for c in conds {
                rules.push((
                    sc.names().clone(),
                    Rule {
                        conds: vec![c],
                        action,
                    },
                ));
            }
        } else {
            rules.push((sc.names().clone(), Rule { conds, action }));
        }
    }
    if has_notify {
        if profile.listener_path().is_none() {
            return Err(SeccompError::field(
                format!("{p}.listenerPath"),
                "required when a rule uses SCMP_ACT_NOTIFY",
            ));
        }
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    }

    let permissive = default_action == SECCOMP_RET_ALLOW || default_action == SECCOMP_RET_LOG;
    let enosys = (!permissive && default_action != ENOSYS_RET).then_some(ENOSYS_RET);
    Ok(Plan {
        default_action,
        enosys,
        archs,
        rules,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn errno_defaults_to_eperm_and_flags_lower() {
        let p = plan(&prof(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["uname"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .unwrap();
        assert_eq!(p.default_action, 0x0005_0001);
        assert_eq!(p.flags, FLAG_LOG | FLAG_SPEC_ALLOW);
        assert_eq!(p.enosys, Some(ENOSYS_RET));
    }

    #[test]
    fn allow_default_has_no_enosys_rule() {
        let p = plan(&prof(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)).unwrap();
        assert_eq!(p.enosys, None);
        let p = plan(&prof(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#,
        ))
        .unwrap();
        assert_eq!(p.enosys, None);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#,
                "linux.seccomp.defaultAction",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1}"#,
                "linux.seccomp.defaultErrnoRet",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["nope"],"action":"SCMP_ACT_ERRNO"}]}"#,
                "linux.seccomp.syscalls[1].names",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
                "linux.seccomp.syscalls[0].errnoRet",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "linux.seccomp.syscalls[0].args[0].index",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.syscalls[0].names",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "linux.seccomp.listenerPath",
            ),
        ];
        for (json, field) in cases {
            let err = plan(&prof(json)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{field}:")), "{json} → {err}");
        }
    }

    #[test]
    fn unknown_names_are_skipped_when_one_is_known() {
        let p = plan(&prof(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["uname","not_a_syscall"],"action":"SCMP_ACT_ALLOW"}]}"#,
        ))
        .unwrap();
        assert_eq!(p.rules.len(), 1);
    }

    #[test]
    fn repeated_index_splits_into_ored_rules() {
        let p = plan(&prof(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
        ))
        .unwrap();
        assert_eq!(p.rules.len(), 2);
        assert!(p.rules.iter().all(|(_, r)| r.conds.len() == 1));
    }

    #[test]
    fn notify_with_tsync_adds_esrch() {
        let p = plan(&prof(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","flags":["SECCOMP_FILTER_FLAG_TSYNC"],
               "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ))
        .unwrap();
        assert_eq!(p.flags, FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH);
    }
}
