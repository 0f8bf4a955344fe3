//! The device cgroup rules a container really gets: the config's rules, then (as runc does,
//! and as docker/podman/containerd expect) allow rules for the default devices berth
//! creates in /dev and for every `linux.devices` entry. Without them a config that starts
//! with "deny all" could not even mknod /dev/null.

use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// (type, major, minor, access); None = wildcard.
type Rule = (LinuxDeviceType, Option<i64>, Option<i64>, &'static str);

const DEFAULT_ALLOWED: &[Rule] = &[
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"), // null
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"), // zero
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"), // full
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"), // random
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"), // urandom
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"), // tty
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"), // console
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"), // ptmx
    (LinuxDeviceType::C, Some(136), None, "rwm"),  // pts/*
];

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// `linux.resources` with the default and configured devices allowed after the config's rules.
/// None when the config has no device rules at all (nothing is restricted then).
pub fn effective_resources(linux: &Linux) -> Option<LinuxResources> {
    let mut res = linux.resources().clone()?;
    let Some(mut rules) = res.devices().clone() else {
        return Some(res);
    };
    for (typ, major, minor, access) in DEFAULT_ALLOWED {
        rules.push(rule(*typ, *major, *minor, access));
    }
    for dev in linux.devices().clone().unwrap_or_default() {
        let typ = match dev.typ() {
            LinuxDeviceType::U => LinuxDeviceType::C,
            other => other,
        };
        rules.push(rule(typ, Some(dev.major()), Some(dev.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_gets_default_devices_appended_after_it() {
        let linux: Linux = serde_json::from_str(
            r#"{"resources":{"devices":[{"allow":false,"access":"rwm"}]},
                "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}"#,
        )
        .unwrap();
        let res = effective_resources(&linux).unwrap();
        let rules = res.devices().clone().unwrap();
        assert!(!rules[0].allow(), "config's own rule stays first");
        assert_eq!(rules.len(), 1 + DEFAULT_ALLOWED.len() + 1);
        let fuse = rules.last().unwrap();
        assert!(fuse.allow() && fuse.major() == Some(10) && fuse.minor() == Some(229));
        assert!(rules
            .iter()
            .any(|r| r.major() == Some(1) && r.minor() == Some(3) && r.allow()));
    }

    #[test]
    fn no_device_rules_means_nothing_added() {
        let linux: Linux = serde_json::from_str(r#"{"resources":{"pids":{"limit":10}}}"#).unwrap();
        assert!(effective_resources(&linux).unwrap().devices().is_none());
        let linux: Linux = serde_json::from_str(r#"{}"#).unwrap();
        assert!(effective_resources(&linux).is_none());
    }
}
