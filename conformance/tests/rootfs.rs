//! Root filesystem and mounts (config.md "Root", "Mounts"; config-linux.md "Devices",
//! "Default Devices", "Masked Paths", "Readonly Paths", "Sysctl").

use berth_conformance::{json, spec, Test};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs the test mounts on the host, unmounted when dropped.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "berth-conformance"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount tmpfs at {}", at.display());
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn rootfs_readonly_root() {
    let mut t = Test::new("rootfs_readonly_root");
    t.checker(&["--access", "/", "--access", "/tmp"]);
    let f = t.run_checker();
    assert!(!f.writable("/"), "root must be read-only");
    assert!(!f.writable("/tmp"), "/tmp is part of the read-only root");
    assert!(f.mount_at("/").expect("root mount").has("ro"));
}

#[test]
fn rootfs_writable_root() {
    let mut t = Test::new("rootfs_writable_root");
    t.config["root"]["readonly"] = json!(false);
    t.checker(&["--write", "/tmp/probe=written"]);
    let f = t.run_checker();
    assert_eq!(f.get("write")["/tmp/probe=written"], true);
    let host_file = t.bundle.join("rootfs/tmp/probe");
    assert_eq!(
        std::fs::read_to_string(host_file).expect("probe on host"),
        "written"
    );
}

#[test]
fn rootfs_no_pivot() {
    let mut t = Test::new("rootfs_no_pivot");
    t.checker(&["--ls", "/"]);
    let id = t.id.clone();
    t.create_id(&id, &["--no-pivot"]).assert_ok();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let f = t.facts(&id);
    assert_eq!(f.pid(), 1);
    let root = f.ls("/").expect("list /");
    assert!(root.contains(&"bin".to_string()) && root.contains(&"proc".to_string()));
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn mount_bind_ro_and_rw() {
    let mut t = Test::new("mount_bind_ro_and_rw");
    let data = t.host_dir("data");
    std::fs::write(data.join("hello"), "hi").unwrap();
    let src = data.display().to_string();
    spec::add_mount(&mut t.config, "/mnt/ro", "bind", &src, &["bind", "ro"]);
    spec::add_mount(
        &mut t.config,
        "/mnt/rw",
        "bind",
        &src,
        &["rbind", "rw", "nosuid", "nodev", "noexec"],
    );
    t.checker(&[
        "--file",
        "/mnt/ro/hello",
        "--access",
        "/mnt/ro",
        "--access",
        "/mnt/rw",
        "--write",
        "/mnt/rw/from-container=yes",
    ]);
    let f = t.run_checker();
    assert_eq!(f.file("/mnt/ro/hello").as_deref(), Some("hi"));
    assert!(!f.writable("/mnt/ro"));
    assert!(f.writable("/mnt/rw"));
    assert!(f.mount_at("/mnt/ro").expect("ro bind").has("ro"));
    let rw = f.mount_at("/mnt/rw").expect("rw bind");
    assert!(
        rw.has("rw") && rw.has("nosuid") && rw.has("nodev") && rw.has("noexec"),
        "{rw:?}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("from-container")).unwrap(),
        "yes"
    );
}

#[test]
fn mount_rbind_carries_submounts() {
    let mut t = Test::new("mount_rbind_carries_submounts");
    let tree = t.host_dir("tree");
    std::fs::create_dir(tree.join("sub")).unwrap();
    let _sub = HostMount::tmpfs(&tree.join("sub"));
    let src = tree.display().to_string();
    spec::add_mount(&mut t.config, "/mnt/rbind", "bind", &src, &["rbind"]);
    spec::add_mount(&mut t.config, "/mnt/bind", "bind", &src, &["bind"]);
    let f = t.run_checker();
    assert!(f
        .mount_at("/mnt/rbind/sub")
        .is_some_and(|m| m.fstype == "tmpfs"));
    assert!(
        f.mount_at("/mnt/bind/sub").is_none(),
        "plain bind must not carry submounts"
    );
}

#[test]
fn mount_tmpfs_options() {
    let mut t = Test::new("mount_tmpfs_options");
    spec::add_mount(
        &mut t.config,
        "/mnt/t",
        "tmpfs",
        "tmpfs",
        &["nosuid", "nodev", "noexec", "size=1m", "mode=1770"],
    );
    t.checker(&["--stat", "/mnt/t"]);
    let f = t.run_checker();
    let m = f.mount_at("/mnt/t").expect("tmpfs mounted");
    assert_eq!(m.fstype, "tmpfs");
    for opt in ["nosuid", "nodev", "noexec", "size=1024k", "mode=1770"] {
        assert!(m.has(opt), "tmpfs lacks {opt}: {m:?}");
    }
    assert_eq!(f.stat("/mnt/t")["mode"], 0o1770);
}

#[test]
fn mount_special_filesystems() {
    let t = Test::new("mount_special_filesystems");
    let f = t.run_checker();
    for (at, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        let m = f
            .mount_at(at)
            .unwrap_or_else(|| panic!("nothing mounted at {at}"));
        assert_eq!(m.fstype, fstype, "{at}");
    }
    assert!(f.mount_at("/sys").unwrap().has("ro"));
    let pts = f.mount_at("/dev/pts").unwrap();
    assert!(
        pts.has("ptmxmode=666") || pts.has("ptmxmode=0666"),
        "{pts:?}"
    );
    assert!(f.mount_at("/dev/shm").unwrap().has("size=65536k"));
}

#[test]
fn mount_cgroup_filesystem() {
    let mut t = Test::new("mount_cgroup_filesystem");
    t.checker(&["--ls", "/sys/fs/cgroup"]);
    let f = t.run_checker();
    let cgroup_mounts: Vec<_> = f
        .mounts()
        .into_iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup"))
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect();
    assert!(
        !cgroup_mounts.is_empty(),
        "no cgroup filesystem under /sys/fs/cgroup"
    );
    for m in &cgroup_mounts {
        assert!(m.has("ro"), "cgroup mount asked ro: {m:?}");
    }
    let listing = f.ls("/sys/fs/cgroup").expect("list /sys/fs/cgroup");
    assert!(
        listing.iter().any(|n| n == "memory" || n == "cgroup.procs"),
        "{listing:?}"
    );
}

/// The `cgroup` mount shows the container's own cgroup, with and without a cgroup
/// namespace: its memory limit reads back inside. (berth mounts what shows neither the
/// container's cgroup nor its network namespace before joining them: this holds the
/// order.)
#[test]
fn mount_cgroup_shows_the_containers_own_cgroup() {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    let file = if v1 {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/memory.max"
    };
    for cgroupns in [false, true] {
        let name = format!("mount_cgroup_own_{}", if cgroupns { "ns" } else { "bind" });
        let mut t = Test::new(&name);
        if cgroupns {
            spec::set_namespace(&mut t.config, "cgroup", None);
        }
        t.config["linux"]["resources"] = json!({"memory": {"limit": 48u64 << 20}});
        t.checker(&["--file", file]);
        let f = t.run_checker();
        let seen = f
            .file(file)
            .unwrap_or_else(|| panic!("{file} unreadable ({name})"));
        assert_eq!(
            seen.trim(),
            (48u64 << 20).to_string(),
            "{file} inside the container ({name})"
        );
    }
}

#[test]
fn mount_destination_created_inside_rootfs() {
    let mut t = Test::new("mount_destination_created_inside_rootfs");
    spec::add_mount(
        &mut t.config,
        "/new/deep/dir",
        "tmpfs",
        "tmpfs",
        &["size=1m"],
    );
    let f = t.run_checker();
    assert!(f
        .mount_at("/new/deep/dir")
        .is_some_and(|m| m.fstype == "tmpfs"));
    assert!(t.bundle.join("rootfs/new/deep/dir").is_dir());
}

/// Starts a created container and checks that a tmpfs is mounted (inside it) at a path
/// ending in each suffix, then deletes it.
fn confined_mounts_exist(t: &Test, id: &str, suffixes: &[&str]) {
    t.start(id).assert_ok();
    t.wait_stopped(id);
    let f = t.facts(id);
    for suffix in suffixes {
        assert!(
            f.mounts()
                .iter()
                .any(|m| m.fstype == "tmpfs" && m.mount_point.ends_with(suffix)),
            "accepted mount ending in {suffix} is missing: {:?}",
            f.mounts()
        );
    }
    t.delete(id).assert_ok();
}

#[test]
fn mount_destination_symlink_stays_in_rootfs() {
    let mut t = Test::new("mount_destination_symlink_stays_in_rootfs");
    let outside = t.host_dir("outside");
    std::os::unix::fs::symlink(&outside, t.bundle.join("rootfs/escape")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", t.bundle.join("rootfs/up")).unwrap();
    spec::add_mount(&mut t.config, "/escape/x", "tmpfs", "tmpfs", &["size=1m"]);
    spec::add_mount(
        &mut t.config,
        &format!("/up{}/y", outside.display()),
        "tmpfs",
        "tmpfs",
        &["size=1m"],
    );
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.create_raw(&id, &[]);
    let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(
        entries.is_empty(),
        "a mount destination escaped the rootfs via a symlink: {entries:?}"
    );
    if out.success() {
        // Accepted: then both tmpfs mounts must exist inside the container.
        confined_mounts_exist(&t, &id, &["/x", "/y"]);
    }
    t.assert_nothing_left(&id);
}

#[test]
fn mount_destination_dotdot_stays_in_rootfs() {
    let mut t = Test::new("mount_destination_dotdot_stays_in_rootfs");
    let outside = t.host_dir("outside");
    let dest = format!("/../../../../../../..{}/z", outside.display());
    spec::add_mount(&mut t.config, &dest, "tmpfs", "tmpfs", &["size=1m"]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(
        entries.is_empty(),
        "a '..' mount destination escaped the rootfs: {entries:?}"
    );
    if out.success() {
        confined_mounts_exist(&t, &id, &["/z"]);
    }
    t.assert_nothing_left(&id);
}

#[test]
fn rootfs_default_devices() {
    let mut t = Test::new("rootfs_default_devices");
    let devices = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = Vec::new();
    for (path, _, _) in devices {
        args.extend(["--stat", path]);
    }
    for path in [
        "/dev/ptmx",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/pts",
        "/dev/shm",
    ] {
        args.extend(["--stat", path]);
    }
    t.checker(&args);
    let f = t.run_checker();
    for (path, major, minor) in devices {
        let st = f.stat(path);
        assert_eq!(st["type"], "char", "{path}: {st}");
        assert_eq!(
            (st["major"].as_i64(), st["minor"].as_i64()),
            (Some(major), Some(minor)),
            "{path}"
        );
        assert_eq!(st["mode"], 0o666, "{path} mode: {st}");
    }
    let ptmx = f.stat("/dev/ptmx");
    assert!(
        ptmx["target"] == "pts/ptmx"
            || ptmx["target"] == "/dev/pts/ptmx"
            || (ptmx["type"] == "char" && ptmx["major"] == 5 && ptmx["minor"] == 2),
        "/dev/ptmx: {ptmx}"
    );
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        assert_eq!(f.stat(link)["target"], target, "{link}");
    }
    assert_eq!(f.stat("/dev/pts")["type"], "dir");
    assert_eq!(f.stat("/dev/shm")["type"], "dir");
}

#[test]
fn rootfs_linux_devices() {
    let mut t = Test::new("rootfs_linux_devices");
    t.config["linux"]["devices"] = json!([
        {"path": "/dev/berth-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 5},
        {"path": "/dev/sub/berth-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600, "uid": 0, "gid": 0}
    ]);
    t.checker(&["--stat", "/dev/berth-null", "--stat", "/dev/sub/berth-zero"]);
    let f = t.run_checker();
    let st = f.stat("/dev/berth-null");
    assert_eq!(st["type"], "char", "{st}");
    assert_eq!(
        (st["major"].as_i64(), st["minor"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(st["mode"], 0o640);
    assert_eq!(st["gid"], 5);
    let st = f.stat("/dev/sub/berth-zero");
    assert_eq!(
        (st["major"].as_i64(), st["minor"].as_i64()),
        (Some(1), Some(5)),
        "{st}"
    );
    assert_eq!(st["mode"], 0o600);
}

#[test]
fn rootfs_masked_paths() {
    let mut t = Test::new("rootfs_masked_paths");
    t.config["linux"]["maskedPaths"] = json!([
        "/proc/keys",
        "/sys/firmware",
        "/proc/kcore",
        "/proc/berth-does-not-exist"
    ]);
    t.checker(&[
        "--file",
        "/proc/keys",
        "--ls",
        "/sys/firmware",
        "--stat",
        "/proc/keys",
    ]);
    let f = t.run_checker();
    assert_eq!(
        f.file("/proc/keys").as_deref(),
        Some(""),
        "masked file reads empty"
    );
    assert_eq!(f.ls("/sys/firmware"), Some(vec![]), "masked dir is empty");
    assert_eq!(
        f.stat("/proc/keys")["type"],
        "char",
        "masked file is /dev/null"
    );
}

#[test]
fn rootfs_readonly_paths() {
    let mut t = Test::new("rootfs_readonly_paths");
    t.config["linux"]["readonlyPaths"] = json!([
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/berth-does-not-exist"
    ]);
    t.checker(&[
        "--access",
        "/proc/sys/kernel/hostname",
        "--access",
        "/proc/sysrq-trigger",
    ]);
    let f = t.run_checker();
    assert!(f.readable("/proc/sys/kernel/hostname"));
    assert!(
        !f.writable("/proc/sys/kernel/hostname"),
        "/proc/sys is read-only"
    );
    assert!(!f.writable("/proc/sysrq-trigger"));
    assert!(f
        .mount_at("/proc/sys")
        .expect("/proc/sys remounted")
        .has("ro"));
}

#[test]
fn rootfs_sysctl() {
    let mut t = Test::new("rootfs_sysctl");
    t.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"});
    t.checker(&[
        "--sysctl",
        "net.ipv4.ip_forward",
        "--sysctl",
        "kernel.msgmax",
    ]);
    let f = t.run_checker();
    assert_eq!(f.sysctl("net.ipv4.ip_forward").as_deref(), Some("1"));
    assert_eq!(f.sysctl("kernel.msgmax").as_deref(), Some("12345"));
}

#[test]
fn mount_rbind_recursive_readonly() {
    let mut t = Test::new("mount_rbind_recursive_readonly");
    let tree = t.host_dir("tree");
    std::fs::create_dir(tree.join("sub")).unwrap();
    let _sub = HostMount::tmpfs(&tree.join("sub"));
    let src = tree.display().to_string();
    spec::add_mount(&mut t.config, "/mnt/rro", "bind", &src, &["rbind", "rro"]);
    spec::add_mount(&mut t.config, "/mnt/ro", "bind", &src, &["rbind", "ro"]);
    t.checker(&["--access", "/mnt/rro/sub", "--access", "/mnt/ro/sub"]);
    let f = t.run_checker();
    assert!(f.mount_at("/mnt/rro/sub").expect("rro submount").has("ro"));
    assert!(!f.writable("/mnt/rro/sub"), "rro reaches submounts");
    assert!(f.mount_at("/mnt/ro").expect("ro top").has("ro"));
    assert!(
        f.writable("/mnt/ro/sub"),
        "plain ro applies to the top mount only"
    );
}

#[test]
fn mount_bind_propagation_flags() {
    let mut t = Test::new("mount_bind_propagation_flags");
    let data = t.host_dir("data");
    let src = data.display().to_string();
    spec::add_mount(
        &mut t.config,
        "/mnt/shared",
        "bind",
        &src,
        &["rbind", "rshared"],
    );
    spec::add_mount(
        &mut t.config,
        "/mnt/private",
        "bind",
        &src,
        &["rbind", "rprivate"],
    );
    let f = t.run_checker();
    let shared = f.mount_at("/mnt/shared").expect("shared bind");
    assert!(shared.is_shared(), "rshared bind is not shared: {shared:?}");
    let private = f.mount_at("/mnt/private").expect("private bind");
    assert!(
        private.optional.is_empty(),
        "rprivate bind has propagation: {private:?}"
    );
}
