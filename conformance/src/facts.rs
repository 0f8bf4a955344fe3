//! Reads what `berth-check` printed from inside a container.

use serde_json::Value;

/// The checker's report (its first JSON line) and any later event lines.
#[derive(Debug, Clone)]
pub struct Facts {
    pub report: Value,
    pub events: Vec<Value>,
}

/// One mount from the container's mountinfo.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub mount_point: String,
    /// Per-mount options (rw/ro, nosuid, nodev, noexec, relatime, …).
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Superblock options (size=, mode=, …).
    pub super_options: Vec<String>,
    /// Optional fields: propagation tags such as "shared:3" or "master:1".
    pub optional: Vec<String>,
}

impl Mount {
    /// Whether the mount is a peer in a shared group ("shared:N").
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }

    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|o| o == opt) || self.super_options.iter().any(|o| o == opt)
    }
}

/// Parses one /proc/<pid>/mountinfo line.
pub fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split_whitespace().collect();
    let right: Vec<&str> = right.split_whitespace().collect();
    let split = |s: Option<&&str>| -> Vec<String> {
        s.map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    Some(Mount {
        mount_point: left.get(4)?.to_string(),
        options: split(left.get(5)),
        fstype: right.first()?.to_string(),
        source: right.get(1).unwrap_or(&"").to_string(),
        super_options: split(right.get(2)),
        optional: left.iter().skip(6).map(|s| s.to_string()).collect(),
    })
}

/// Capability names in bit order (capability.h), for reading CapXxx masks.
pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The mask for a list of capability names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |mask, name| {
        let bit = CAP_NAMES
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("unknown capability {name}"));
        mask | (1 << bit)
    })
}

impl Facts {
    /// Parses the checker's output; panics (naming the output) when there is no report.
    #[track_caller]
    pub fn parse(output: &str) -> Facts {
        let mut values = output
            .lines()
            .map(|l| l.trim_matches(|c| c == '\r' || c == '\n' || c == ' '))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok());
        let report = values
            .next()
            .unwrap_or_else(|| panic!("no berth-check report in output: {output:?}"));
        Facts {
            report,
            events: values.collect(),
        }
    }

    /// Signals the checker reported in --trap mode, in order.
    pub fn signals(&self) -> Vec<i64> {
        self.events
            .iter()
            .filter_map(|e| e["signal"].as_i64())
            .collect()
    }

    pub fn get(&self, key: &str) -> &Value {
        &self.report[key]
    }

    pub fn pid(&self) -> i64 {
        self.report["pid"].as_i64().expect("pid")
    }

    /// Real uid, from the Uid: line.
    pub fn uid(&self) -> i64 {
        self.report["uids"][0].as_i64().expect("uid")
    }

    pub fn gid(&self) -> i64 {
        self.report["gids"][0].as_i64().expect("gid")
    }

    pub fn groups(&self) -> Vec<i64> {
        let mut g: Vec<i64> = self.report["groups"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        g.sort();
        g
    }

    /// A /proc/self/status field such as "NoNewPrivs", "Seccomp", "Umask".
    pub fn status(&self, key: &str) -> String {
        self.report["status"][key]
            .as_str()
            .unwrap_or_else(|| panic!("status field {key} missing"))
            .to_string()
    }

    /// A capability mask: "CapInh", "CapPrm", "CapEff", "CapBnd" or "CapAmb".
    pub fn caps(&self, set: &str) -> u64 {
        u64::from_str_radix(&self.status(set), 16).expect("hex capability mask")
    }

    /// (soft, hard) of an rlimit such as "RLIMIT_NOFILE".
    pub fn rlimit(&self, name: &str) -> (u64, u64) {
        let v = &self.report["rlimits"][name];
        (
            v[0].as_u64().expect("soft limit"),
            v[1].as_u64().expect("hard limit"),
        )
    }

    pub fn str(&self, key: &str) -> String {
        self.report[key].as_str().unwrap_or_default().to_string()
    }

    pub fn env(&self) -> Vec<String> {
        self.strings("env")
    }

    /// The value of one environment variable.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env()
            .into_iter()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        self.report[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Open fds (number → link target).
    pub fn fds(&self) -> Vec<(i32, String)> {
        let mut out: Vec<(i32, String)> = self.report["fds"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    pub fn mounts(&self) -> Vec<Mount> {
        self.strings("mountinfo")
            .iter()
            .filter_map(|l| parse_mountinfo_line(l))
            .collect()
    }

    /// The topmost mount at a mount point.
    pub fn mount_at(&self, mount_point: &str) -> Option<Mount> {
        self.mounts()
            .into_iter()
            .rev()
            .find(|m| m.mount_point == mount_point)
    }

    /// The namespace link (e.g. "uts:[4026531838]").
    pub fn ns(&self, kind: &str) -> String {
        self.report["ns"][kind]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The result of `--stat PATH`.
    pub fn stat(&self, path: &str) -> &Value {
        &self.report["stat"][path]
    }

    /// The result of `--access PATH`.
    pub fn access(&self, path: &str) -> &Value {
        &self.report["access"][path]
    }

    pub fn readable(&self, path: &str) -> bool {
        self.access(path)["readable"]
            .as_bool()
            .expect("access result")
    }

    pub fn writable(&self, path: &str) -> bool {
        self.access(path)["writable"]
            .as_bool()
            .expect("access result")
    }

    pub fn exists(&self, path: &str) -> bool {
        self.access(path)["exists"]
            .as_bool()
            .expect("access result")
    }

    pub fn sysctl(&self, name: &str) -> Option<String> {
        self.report["sysctl"][name].as_str().map(str::to_string)
    }

    pub fn file(&self, path: &str) -> Option<String> {
        self.report["file"][path].as_str().map(str::to_string)
    }

    pub fn ls(&self, path: &str) -> Option<Vec<String>> {
        self.report["ls"][path].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_lines() {
        let m = parse_mountinfo_line(
            "36 35 0:40 / /dev/shm rw,nosuid,nodev,noexec,relatime master:1 - tmpfs shm rw,size=65536k,mode=1777",
        )
        .unwrap();
        assert_eq!(m.mount_point, "/dev/shm");
        assert_eq!(m.fstype, "tmpfs");
        assert!(m.has("nosuid") && m.has("size=65536k") && !m.has("ro"));
        assert_eq!(m.optional, vec!["master:1"]);
        assert!(!m.is_shared());
    }

    #[test]
    fn cap_masks_follow_bit_numbers() {
        assert_eq!(cap_mask(&["CAP_CHOWN"]), 1);
        assert_eq!(
            cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            (1 << 5) | (1 << 10)
        );
    }

    #[test]
    fn parse_takes_report_then_events() {
        let f = Facts::parse("junk\r\n{\"pid\":1}\r\n{\"signal\":15}\n");
        assert_eq!(f.pid(), 1);
        assert_eq!(f.signals(), vec![15]);
    }
}
