//! User namespaces and rootless (issue #5, "User namespaces and rootless").
//!
//! As root: uidMappings/gidMappings with one and with several ranges, and a mapping the
//! kernel refuses failing with an error naming it. As an unprivileged user the test makes
//! (useradd; removed again when the test ends, pass or fail): `--rootless true` keeps its
//! state under $XDG_RUNTIME_DIR/berth, makes no cgroup (none is delegated), runs with the
//! config of `berth spec --rootless` (which binds /sys instead of mounting it), and maps
//! several ranges through newuidmap/newgidmap (Debian's uidmap).

use berth_conformance::{berth_only, cgroups, host, json, locate, spec, Test, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The uid_map or gid_map the checker read, as rows of numbers.
fn map_rows(text: &str) -> Vec<Vec<u64>> {
    text.lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .filter(|r: &Vec<u64>| !r.is_empty())
        .collect()
}

/// A config with a new user namespace and the given maps (sysfs and cgroupfs need a
/// network namespace and cgroup namespace owned by the user namespace: left out).
fn with_user_namespace(t: &mut Test, uids: Value, gids: Value) {
    spec::set_namespace(&mut t.config, "user", None);
    t.config["linux"]["uidMappings"] = uids;
    t.config["linux"]["gidMappings"] = gids;
    spec::remove_mount(&mut t.config, "/sys/fs/cgroup");
    spec::remove_mount(&mut t.config, "/sys");
}

#[test]
fn userns_one_range_as_root() {
    let mut t = Test::new("userns_one_range_as_root");
    let map = json!([{"containerID": 0, "hostID": 110000, "size": 2000}]);
    with_user_namespace(&mut t, map.clone(), map);
    let f = t.run_checker();
    assert_eq!(f.uid(), 0);
    assert_eq!(map_rows(&f.str("uid_map")), vec![vec![0, 110000, 2000]]);
    assert_eq!(map_rows(&f.str("gid_map")), vec![vec![0, 110000, 2000]]);
}

#[test]
fn userns_several_ranges_as_root() {
    let mut t = Test::new("userns_several_ranges_as_root");
    let uids = json!([
        {"containerID": 0, "hostID": 120000, "size": 1000},
        {"containerID": 1000, "hostID": 130000, "size": 10},
        {"containerID": 5000, "hostID": 140000, "size": 1}
    ]);
    let gids = json!([
        {"containerID": 0, "hostID": 150000, "size": 100},
        {"containerID": 100, "hostID": 160000, "size": 100}
    ]);
    with_user_namespace(&mut t, uids, gids);
    t.config["process"]["user"] = json!({"uid": 1005, "gid": 150, "additionalGids": [5]});
    let f = t.run_checker();
    assert_eq!(
        map_rows(&f.str("uid_map")),
        vec![
            vec![0, 120000, 1000],
            vec![1000, 130000, 10],
            vec![5000, 140000, 1]
        ]
    );
    assert_eq!(
        map_rows(&f.str("gid_map")),
        vec![vec![0, 150000, 100], vec![100, 160000, 100]]
    );
    // Ids in the second ranges are usable: the process runs as them.
    assert_eq!(f.uid(), 1005);
    assert_eq!(f.gid(), 150);
}

#[test]
fn userns_refused_mapping_is_named() {
    let mut t = Test::new("userns_refused_mapping_is_named");
    // Overlapping container ranges: the kernel refuses the whole map (EINVAL).
    let uids = json!([
        {"containerID": 0, "hostID": 170000, "size": 10},
        {"containerID": 5, "hostID": 180000, "size": 10}
    ]);
    let gids = json!([{"containerID": 0, "hostID": 170000, "size": 10}]);
    with_user_namespace(&mut t, uids, gids);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    t.assert_nothing_left(&id);
    berth_only!("the wording of the error");
    assert!(
        out.stderr.contains("linux.uidMappings") && out.stderr.contains("0 170000 10, 5 180000 10"),
        "the error must name the field and the mapping: {}",
        out.describe()
    );
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
}

/// An unprivileged user made for one test: removed (with its processes and subordinate
/// ids) when dropped.
struct ThrowawayUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl ThrowawayUser {
    fn new(tag: &str) -> ThrowawayUser {
        let name = format!("berth{tag}{}", std::process::id());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", &name])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name} failed");
        // From here on Drop removes the user, even if reading its ids fails.
        let mut user = ThrowawayUser {
            name,
            uid: 0,
            gid: 0,
        };
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, &user.name])
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        user.uid = uid;
        user.gid = gid;
        assert_ne!(user.uid, 0);
        user
    }

    /// The first subordinate id of the user in /etc/subuid or /etc/subgid, when it has one.
    fn subordinate(&self, file: &str) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let mut parts = l.split(':');
            if parts.next()? != self.name {
                return None;
            }
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
    }

    /// A command running `program` as this user with XDG_RUNTIME_DIR=`xdg`.
    fn command(&self, xdg: &Path, program: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg("env")
            .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
            .arg(program);
        cmd
    }

    /// Live processes whose real uid is this user's.
    fn processes(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let real_uid = status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok());
            if real_uid == Some(self.uid) && host::alive(pid) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        if self.uid != 0 {
            for pid in self.processes() {
                host::kill(pid, libc::SIGKILL);
                host::wait_gone(pid, Duration::from_secs(5));
            }
        }
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A rootless world: the user, a copy of the runtime it can execute and its
/// XDG_RUNTIME_DIR; [`rootless_world`] also puts `berth spec --rootless` (made as the
/// user) into the test's config.
struct Rootless<'u> {
    user: &'u ThrowawayUser,
    runtime: PathBuf,
    xdg: PathBuf,
}

fn chown(path: &Path, user: &ThrowawayUser) {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

fn rootless_world<'u>(t: &mut Test, user: &'u ThrowawayUser) -> Rootless<'u> {
    // The runtime under test may sit under /root (0700): give the user its own copy.
    let bin = t.host_dir("bin");
    let runtime = bin.join("berth");
    std::fs::copy(locate::runtime(), &runtime).expect("copy the runtime");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755))
        .expect("chmod runtime");
    let xdg = t.host_dir("xdg");
    chown(&xdg, user);
    std::fs::set_permissions(&xdg, std::fs::Permissions::from_mode(0o700)).expect("chmod xdg");
    // Pid files are written by the user.
    chown(&t.dir().join("io"), user);
    // The default config for rootless, made by the user (its uid/gid go into the maps).
    let spec_dir = t.host_dir("spec");
    chown(&spec_dir, user);
    let mut cmd = user.command(&xdg, &runtime);
    cmd.arg("spec")
        .arg("--rootless")
        .arg("--bundle")
        .arg(&spec_dir);
    t.call_cmd(cmd).assert_ok();
    let text = std::fs::read_to_string(spec_dir.join("config.json")).expect("spec wrote config");
    let mut config: Value = serde_json::from_str(&text).expect("spec config is JSON");
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = t.config["process"]["args"].clone();
    config["root"]["path"] = json!("rootfs");
    t.config = config;
    // The harness (as root) checks and force-deletes through the rootless state dir.
    t.root = xdg.join("berth");
    Rootless { user, runtime, xdg }
}

impl Rootless<'_> {
    /// The runtime as the user, with `--rootless true` and no --root.
    fn command(&self) -> Command {
        let mut cmd = self.user.command(&self.xdg, &self.runtime);
        cmd.arg("--rootless").arg("true");
        cmd
    }
}

/// Creates, starts, waits for and deletes `id` as the user; returns the checker's report.
fn run_rootless(t: &Test, r: &Rootless, id: &str) -> berth_conformance::Facts {
    t.write_raw_config(&serde_json::to_string_pretty(&t.config).expect("config JSON"));
    let mut cmd = r.command();
    cmd.arg("create")
        .arg("--bundle")
        .arg(&t.bundle)
        .arg("--pid-file")
        .arg(t.io_path(id, "pid"))
        .arg(id);
    t.run_create_command(id, cmd).assert_ok();
    // State under $XDG_RUNTIME_DIR/berth, owned by the user.
    let state_file = r.xdg.join("berth").join(id).join("state.json");
    let meta = std::fs::metadata(&state_file)
        .unwrap_or_else(|e| panic!("no rootless state at {}: {e}", state_file.display()));
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), r.user.uid);
    // `--rootless auto` (the default) as a non-root user finds it there too.
    let mut state = r.user.command(&r.xdg, &r.runtime);
    state.arg("state").arg(id);
    let out = t.call_cmd(state);
    out.assert_ok();
    let doc: Value = serde_json::from_str(&out.stdout).expect("state JSON");
    assert_eq!(doc["status"], "created", "{doc}");
    // No cgroup was delegated to the user: none was made.
    let cgroup = format!("/berth/{id}");
    assert_eq!(cgroups::existing_dirs(&cgroup), Vec::<PathBuf>::new());
    let mut start = r.command();
    start.arg("start").arg(id);
    t.call_cmd(start).assert_ok();
    t.wait_stopped(id);
    let facts = t.facts(id);
    let mut delete = r.command();
    delete.arg("delete").arg(id);
    t.call_cmd(delete).assert_ok();
    t.assert_nothing_left(id);
    assert_eq!(cgroups::existing_dirs(&cgroup), Vec::<PathBuf>::new());
    facts
}

#[test]
fn rootless_as_unprivileged_user() {
    berth_only!("berth's rootless state dir and spec");
    // Declared before the Test: the harness cleans up (as root) before the user goes.
    let user = ThrowawayUser::new("rl");
    let mut t = Test::new("rootless_as_unprivileged_user");
    let r = rootless_world(&mut t, &user);
    // berth spec --rootless binds the host's /sys: without a network namespace of its
    // own the container may not mount sysfs.
    let sys = spec::mounts(&mut t.config)
        .iter()
        .find(|m| m["destination"] == "/sys")
        .cloned()
        .expect("a /sys mount");
    assert_ne!(sys["type"], "sysfs", "{sys}");
    assert!(
        sys["options"].to_string().contains("bind"),
        "/sys must be a bind: {sys}"
    );
    let id = t.id.clone();
    let f = run_rootless(&t, &r, &id);
    assert_eq!(f.uid(), 0, "root in the container");
    assert_eq!(
        map_rows(&f.str("uid_map")),
        vec![vec![0, r.user.uid as u64, 1]]
    );
    assert_eq!(
        map_rows(&f.str("gid_map")),
        vec![vec![0, r.user.gid as u64, 1]]
    );
    assert_ne!(f.ns("user"), host::ns_link("user"));
    let sys_mounted = f
        .strings("mountinfo")
        .iter()
        .any(|l| l.split_whitespace().nth(4) == Some("/sys"));
    assert!(sys_mounted, "no /sys in the container");
}

#[test]
fn rootless_several_ranges_through_newuidmap() {
    berth_only!("berth's rootless mode");
    if !Path::new("/usr/bin/newuidmap").exists() || !Path::new("/usr/bin/newgidmap").exists() {
        eprintln!("skipped: newuidmap/newgidmap missing (apt-get install uidmap)");
        return;
    }
    let user = ThrowawayUser::new("rm");
    let mut t = Test::new("rootless_several_ranges_through_newuidmap");
    let r = rootless_world(&mut t, &user);
    let (sub_uid, _) = r
        .user
        .subordinate("/etc/subuid")
        .expect("useradd gave the user subordinate uids");
    let (sub_gid, _) = r
        .user
        .subordinate("/etc/subgid")
        .expect("useradd gave the user subordinate gids");
    t.config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": r.user.uid, "size": 1},
        {"containerID": 1, "hostID": sub_uid, "size": 1000}
    ]);
    t.config["linux"]["gidMappings"] = json!([
        {"containerID": 0, "hostID": r.user.gid, "size": 1},
        {"containerID": 1, "hostID": sub_gid, "size": 1000}
    ]);
    t.config["process"]["user"] = json!({"uid": 100, "gid": 100});
    let id = t.id.clone();
    let f = run_rootless(&t, &r, &id);
    assert_eq!(
        map_rows(&f.str("uid_map")),
        vec![vec![0, r.user.uid as u64, 1], vec![1, sub_uid as u64, 1000]]
    );
    assert_eq!(
        map_rows(&f.str("gid_map")),
        vec![vec![0, r.user.gid as u64, 1], vec![1, sub_gid as u64, 1000]]
    );
    assert_eq!(f.uid(), 100, "a uid from the subordinate range");
    assert_eq!(f.gid(), 100);

    // A range outside the user's subordinate ids: newuidmap refuses, and the error says so.
    t.config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": r.user.uid, "size": 1},
        {"containerID": 1, "hostID": 40000, "size": 10}
    ]);
    t.write_raw_config(&serde_json::to_string_pretty(&t.config).expect("config JSON"));
    let bad = t.other_id("bad");
    let mut cmd = r.command();
    cmd.arg("create")
        .arg("--bundle")
        .arg(&t.bundle)
        .arg("--pid-file")
        .arg(t.io_path(&bad, "pid"))
        .arg(&bad);
    let out = t.run_create_command(&bad, cmd);
    out.assert_failed();
    assert!(
        out.stderr.contains("linux.uidMappings")
            && out.stderr.contains("newuidmap")
            && out.stderr.contains("1 40000 10"),
        "the error must name the field, the helper and the mapping: {}",
        out.describe()
    );
    t.assert_nothing_left(&bad);
}
