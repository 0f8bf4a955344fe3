//! The default container configuration (what `runc spec` writes, minus the terminal) and
//! helpers to tweak it.

use serde_json::{json, Value};

/// A config.json like `runc spec` makes, running `args` without a terminal, with a rootfs
/// at "rootfs" and the given cgroups path.
pub fn default_config(args: &[&str], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth-conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Appends a mount entry.
pub fn add_mount(
    config: &mut Value,
    destination: &str,
    kind: &str,
    source: &str,
    options: &[&str],
) {
    mounts(config).push(json!({
        "destination": destination, "type": kind, "source": source, "options": options
    }));
}

/// The `mounts` array, created when missing.
pub fn mounts(config: &mut Value) -> &mut Vec<Value> {
    if !config["mounts"].is_array() {
        config["mounts"] = json!([]);
    }
    config["mounts"].as_array_mut().expect("mounts is an array")
}

/// Removes the mount entry with this destination.
pub fn remove_mount(config: &mut Value, destination: &str) {
    mounts(config).retain(|m| m["destination"] != destination);
}

/// The `linux.namespaces` array.
pub fn namespaces(config: &mut Value) -> &mut Vec<Value> {
    config["linux"]["namespaces"]
        .as_array_mut()
        .expect("linux.namespaces is an array")
}

/// Adds a namespace of this type (optionally joined by path), replacing one of the same type.
pub fn set_namespace(config: &mut Value, kind: &str, path: Option<&str>) {
    let list = namespaces(config);
    list.retain(|n| n["type"] != kind);
    let mut ns = json!({"type": kind});
    if let Some(path) = path {
        ns["path"] = json!(path);
    }
    list.push(ns);
}

/// Removes the namespace of this type.
pub fn remove_namespace(config: &mut Value, kind: &str) {
    namespaces(config).retain(|n| n["type"] != kind);
}

/// Adds a hook of `kind` running `path args…` with an optional timeout in seconds.
pub fn add_hook(config: &mut Value, kind: &str, path: &str, args: &[&str], timeout: Option<u64>) {
    if !config["hooks"].is_object() {
        config["hooks"] = json!({});
    }
    if !config["hooks"][kind].is_array() {
        config["hooks"][kind] = json!([]);
    }
    let mut hook = json!({"path": path, "args": args});
    if let Some(t) = timeout {
        hook["timeout"] = json!(t);
    }
    config["hooks"][kind]
        .as_array_mut()
        .expect("hooks kind is an array")
        .push(hook);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_helpers_replace_and_remove() {
        let mut c = default_config(&["true"], "/x");
        set_namespace(&mut c, "uts", Some("/proc/1/ns/uts"));
        let uts: Vec<&Value> = namespaces(&mut c)
            .iter()
            .filter(|n| n["type"] == "uts")
            .collect();
        assert_eq!(uts.len(), 1);
        assert_eq!(uts[0]["path"], "/proc/1/ns/uts");
        remove_namespace(&mut c, "uts");
        assert!(!namespaces(&mut c).iter().any(|n| n["type"] == "uts"));
        remove_mount(&mut c, "/sys/fs/cgroup");
        assert_eq!(mounts(&mut c).len(), 6);
        add_hook(&mut c, "prestart", "/bin/true", &["true"], Some(3));
        assert_eq!(c["hooks"]["prestart"][0]["timeout"], 3);
    }
}
