//! The OCI runtime config (`config.json`) for a container, as docker 20.10 makes it on cgroup
//! v1/hybrid hosts: its default mounts, the 14 default capabilities (bounding, effective,
//! permitted; none inheritable or ambient), masked and read-only paths, device rules, the
//! default seccomp profile (berth's Docker-equivalent one), the unprivileged-port and ping
//! sysctls in a private network namespace, and the `-m`/`--cpus`/`--pids-limit` resources.

use crate::containers::meta::Volume;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// docker's default capabilities.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// docker's masked paths.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The PATH a container gets when neither the image nor `-e` sets one.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which network a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A new network namespace with only loopback (up).
    None,
    /// The host's.
    Host,
}

/// Everything the config is made from, already resolved.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Container hostname (the short id, as docker; the host's with `--network host`).
    pub hostname: String,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// argv.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// uid, gid, supplementary gids.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// `-t`.
    pub tty: bool,
    /// Network mode.
    pub network: Network,
    /// `-v` binds.
    pub volumes: Vec<Volume>,
    /// Files dock writes and binds: (destination, source) for /etc/hostname, hosts, resolv.conf.
    pub etc_files: Vec<(String, PathBuf)>,
    /// Image labels.
    pub annotations: BTreeMap<String, String>,
    /// `-m` bytes.
    pub memory: Option<i64>,
    /// Whether the host accounts swap (memory.memsw): docker then sets swap = 2 × memory.
    pub swap_accounting: bool,
    /// `--cpus` as a quota for [`super::flags::CPU_PERIOD`].
    pub cpu_quota: Option<i64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// A private cgroup namespace (docker's default on cgroup v2; v1 hosts share the host's).
    pub cgroupns: bool,
    /// The seccomp profile (berth's default, made for [`DEFAULT_CAPS`]).
    pub seccomp: Value,
}

fn default_mounts(network: Network) -> Vec<Value> {
    let sysfs_opts = ["nosuid", "noexec", "nodev", "ro"];
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sysfs_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    if network == Network::Host {
        // Like runc under docker: sysfs of the host's network namespace, bound read-only.
        mounts[3] = json!({"destination": "/sys", "type": "bind", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    mounts
}

fn device_rules() -> Value {
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    let allow = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| json!({"allow": true, "type": t, "major": major, "minor": minor, "access": access});
    rules.push(allow("c", None, None, "m"));
    rules.push(allow("b", None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 8),
        (1, 7),
        (5, 0),
        (1, 5),
        (1, 9),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(allow("c", Some(major), Some(minor), "rwm"));
    }
    rules.push(allow("c", Some(136), None, "rwm"));
    Value::Array(rules)
}

/// The config.json.
pub fn config(rc: &RunConfig) -> Value {
    let caps = DEFAULT_CAPS;
    let mut mounts = default_mounts(rc.network);
    for (dest, src) in &rc.etc_files {
        mounts.push(json!({"destination": dest, "type": "bind", "source": src,
                           "options": ["rbind", "rprivate"]}));
    }
    for v in &rc.volumes {
        let mut options = vec!["rbind", "rprivate"];
        if v.read_only {
            options.push("ro");
        }
        mounts.push(json!({"destination": v.destination, "type": "bind",
                           "source": v.source, "options": options}));
    }
    let mut namespaces = vec![
        json!({"type": "mount"}),
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
    ];
    if rc.network == Network::None {
        namespaces.push(json!({"type": "network"}));
    }
    if rc.cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut resources = json!({"devices": device_rules()});
    if let Some(limit) = rc.memory {
        let mut memory = json!({"limit": limit});
        if rc.swap_accounting {
            memory["swap"] = json!(limit * 2);
        }
        resources["memory"] = memory;
    }
    if let Some(quota) = rc.cpu_quota {
        resources["cpu"] = json!({"quota": quota, "period": super::flags::CPU_PERIOD});
    }
    if let Some(limit) = rc.pids_limit {
        resources["pids"] = json!({"limit": limit});
    }
    let mut linux = json!({
        "resources": resources,
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
        "seccomp": rc.seccomp,
    });
    if rc.network == Network::None {
        linux["sysctl"] = json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647",
        });
    }
    let mut user = json!({"uid": rc.uid, "gid": rc.gid});
    if !rc.additional_gids.is_empty() {
        user["additionalGids"] = json!(rc.additional_gids);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": rc.tty,
            "user": user,
            "args": rc.args,
            "env": rc.env,
            "cwd": rc.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        },
        "root": {"path": rc.rootfs, "readonly": false},
        "hostname": rc.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if !rc.annotations.is_empty() {
        spec["annotations"] = json!(rc.annotations);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc() -> RunConfig {
        RunConfig {
            hostname: "abcdefabcdef".into(),
            rootfs: "/r".into(),
            args: vec!["sh".into()],
            env: vec![DEFAULT_PATH.into()],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
            tty: false,
            network: Network::None,
            volumes: vec![Volume {
                source: "/srv".into(),
                destination: "/data".into(),
                read_only: true,
            }],
            etc_files: vec![("/etc/hostname".into(), "/c/hostname".into())],
            annotations: [("k".to_string(), "v".to_string())].into(),
            memory: Some(64 << 20),
            swap_accounting: false,
            cpu_quota: Some(50_000),
            pids_limit: Some(20),
            cgroupns: false,
            seccomp: json!({"defaultAction": "SCMP_ACT_ERRNO"}),
        }
    }

    #[test]
    fn docker_defaults_and_flags() {
        let s = config(&rc());
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert!(s["process"]["capabilities"].get("inheritable").is_none());
        assert!(s["process"]["capabilities"].get("ambient").is_none());
        assert!(s["process"].get("noNewPrivileges").is_none());
        assert_eq!(s["process"]["user"]["additionalGids"], json!([10]));
        assert_eq!(s["hostname"], "abcdefabcdef");
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "pid", "ipc", "uts", "network"]);
        let r = &s["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit": 64 << 20}));
        assert_eq!(r["cpu"], json!({"quota": 50_000, "period": 100_000}));
        assert_eq!(r["pids"]["limit"], 20);
        assert_eq!(r["devices"][0], json!({"allow": false, "access": "rwm"}));
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/hostname",
                "/data"
            ]
        );
        assert_eq!(
            s["mounts"][8]["options"],
            json!(["rbind", "rprivate", "ro"])
        );
        assert_eq!(s["annotations"]["k"], "v");
        assert_eq!(
            s["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
        assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn host_network_and_swap() {
        let mut c = rc();
        c.network = Network::Host;
        c.swap_accounting = true;
        c.cgroupns = true;
        let s = config(&c);
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        assert!(ns.iter().any(|n| n["type"] == "cgroup"));
        assert!(s["linux"].get("sysctl").is_none());
        assert_eq!(s["mounts"][3]["source"], "/sys");
        assert_eq!(s["linux"]["resources"]["memory"]["swap"], json!(128 << 20));
    }
}
