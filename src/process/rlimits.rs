//! POSIX rlimits: maps config types to the kernel's resources and applies them.

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::ProcessError;

/// Every rlimit type the runtime spec names, as written in config.json.
pub(crate) const KNOWN_TYPES: [&str; 16] = [
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
];

/// The config name of a type ("RLIMIT_NOFILE").
pub(crate) fn type_name(typ: PosixRlimitType) -> String {
    typ.to_string()
}

/// The resource number setrlimit(2) takes (its C type differs between glibc and musl).
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn resource(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub(crate) fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), ProcessError> {
    for rlimit in rlimits {
        let value = libc::rlimit {
            rlim_cur: rlimit.soft(),
            rlim_max: rlimit.hard(),
        };
        // SAFETY: `value` is a valid rlimit that the kernel only reads.
        let rc = unsafe { libc::setrlimit(resource(rlimit.typ()), &value) };
        if rc != 0 {
            return Err(ProcessError::os(
                format!("error setting rlimit type {}", type_name(rlimit.typ())),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    fn rlimit(json: &str) -> PosixRlimit {
        serde_json::from_str(json).expect("rlimit json")
    }

    #[test]
    fn every_known_type_parses_and_round_trips() {
        for name in KNOWN_TYPES {
            let typ: PosixRlimitType =
                serde_json::from_value(serde_json::Value::String(name.into())).expect(name);
            assert_eq!(type_name(typ), name);
        }
    }

    #[test]
    fn lowers_limits_in_child() {
        let limits = vec![
            rlimit(r#"{"type":"RLIMIT_NOFILE","soft":512,"hard":1024}"#),
            rlimit(r#"{"type":"RLIMIT_CORE","soft":0,"hard":0}"#),
        ];
        let report = test_child::run(move || {
            set_rlimits(&limits).map_err(|e| e.to_string())?;
            let limits = std::fs::read_to_string("/proc/self/limits").map_err(|e| e.to_string())?;
            let line = |prefix: &str| {
                limits
                    .lines()
                    .find(|l| l.starts_with(prefix))
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            Ok(format!(
                "{}|{}",
                line("Max open files"),
                line("Max core file size")
            ))
        });
        assert_eq!(
            report,
            Ok("Max open files 512 1024 files|Max core file size 0 0 bytes".to_string())
        );
    }

    #[test]
    fn raising_hard_nofile_past_the_host_limit_names_the_rlimit() {
        // Without CAP_SYS_RESOURCE the hard limit cannot grow past its current value;
        // drop the capability in the child so the test holds on any host.
        let report = test_child::run(|| {
            caps::drop(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            )
            .map_err(|e| e.to_string())?;
            let mut current = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `current` is a valid out-parameter.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
            let raised = rlimit(&format!(
                r#"{{"type":"RLIMIT_NOFILE","soft":{},"hard":{}}}"#,
                current.rlim_cur,
                current.rlim_max + 10_000
            ));
            set_rlimits(&[raised]).map_err(|e| e.to_string())?;
            Ok("raised".into())
        });
        assert_eq!(
            report,
            Err("error setting rlimit type RLIMIT_NOFILE: operation not permitted".to_string())
        );
    }
}
