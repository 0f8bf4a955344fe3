//! Fault injection (issue #5, "Faults and load"): berth built with the `fault-injection`
//! feature dies (SIGKILL) at one phase of `create`, named by BERTH_FAULT; afterwards
//! `delete --force` with the normal berth must leave no state dir, cgroup, mount or process.
//!
//! The fault build goes to `<target>/fault-injection` (`cargo build -p berth --features
//! fault-injection`, a no-op when fresh) so the normal berth under test is never replaced;
//! `BERTH_FAULT_RUNTIME` names a prebuilt one instead. berth only: the points are berth's.

use berth_conformance::{berth_only, host, json, locate, spec, Test};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Where the phase runs: in berth create itself, or in the container's init.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Parent,
    Init,
}

/// The berth binary with fault points compiled in.
fn fault_runtime() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("BERTH_FAULT_RUNTIME") {
            return PathBuf::from(path);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| locate::workspace_dir().join("target"))
            .join("fault-injection");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(locate::workspace_dir())
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "-p", "berth", "--bin", "berth"])
            .args(["--features", "fault-injection"])
            .status()
            .expect("run cargo to build berth with fault-injection");
        assert!(
            status.success(),
            "cargo build -p berth --features fault-injection failed"
        );
        let bin = target.join("debug").join("berth");
        assert!(bin.is_file(), "{} not built", bin.display());
        bin
    })
}

/// Container inits of `id` still alive (the init renames itself "berth init <id>").
fn inits_of(id: &str) -> Vec<i32> {
    host::processes_mentioning(&format!("berth init {id}"))
}

fn killed_at(point: &str, side: Side) {
    killed_at_with(point, side, false);
}

/// `killed_at` for a container with a user namespace of its own (the parent writes the id
/// maps and places the init in its cgroup, so the phases differ).
fn killed_at_in_userns(point: &str, side: Side) {
    killed_at_with(point, side, true);
}

fn killed_at_with(point: &str, side: Side, userns: bool) {
    berth_only!("fault points are berth's");
    let bin = fault_runtime();
    let label = if userns { "faults_userns" } else { "faults" };
    let mut t = Test::new(&format!("{label}_{}", point.replace('-', "_")));
    if userns {
        spec::set_namespace(&mut t.config, "user", None);
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        t.config["linux"]["uidMappings"] = map.clone();
        t.config["linux"]["gidMappings"] = map;
        spec::remove_mount(&mut t.config, "/sys/fs/cgroup");
        spec::remove_mount(&mut t.config, "/sys");
    }
    let id = t.id.clone();
    t.write_config(&id);
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(&t.root)
        .arg("create")
        .arg("--bundle")
        .arg(&t.bundle)
        .arg("--pid-file")
        .arg(t.io_path(&id, "pid"))
        .arg(&id)
        .env("BERTH_FAULT", point);
    let out = t.run_create_command(&id, cmd);
    out.assert_failed();
    match side {
        // The fault point is what stopped create, not some other error.
        Side::Parent => assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "create was not killed at {point}: {}",
            out.describe()
        ),
        Side::Init => assert!(
            out.stderr.contains("init exited during setup"),
            "create did not see its init die at {point}: {}",
            out.describe()
        ),
    }
    if side == Side::Parent {
        // The killed create left something for delete to clean (not a vacuous test).
        assert!(
            !t.leftovers(&id).is_empty() || t.root.join(&id).exists(),
            "nothing left after a kill at {point}?"
        );
    }
    let del = t.call(&["delete", "--force", &id]);
    del.assert_ok();
    let mut alive = inits_of(&id);
    alive.retain(|pid| !host::wait_gone(*pid, Duration::from_secs(5)));
    for pid in &alive {
        host::kill(*pid, libc::SIGKILL);
    }
    assert!(
        alive.is_empty(),
        "init of {id} alive after delete --force: {alive:?}"
    );
    t.assert_nothing_left(&id);
    // The normal berth still creates the same id afterwards.
    let again = t.create_raw(&id, &[]);
    again.assert_ok();
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn faults_killed_after_reserve() {
    killed_at("reserved", Side::Parent);
}

#[test]
fn faults_killed_after_state_save() {
    killed_at("state-saved", Side::Parent);
}

#[test]
fn faults_killed_after_cgroup_create() {
    killed_at("cgroup-created", Side::Parent);
}

#[test]
fn faults_killed_after_clone() {
    killed_at("cloned", Side::Parent);
}

#[test]
fn faults_killed_after_pid_saved() {
    killed_at("pid-saved", Side::Parent);
}

#[test]
fn faults_init_killed_after_cgroup_join() {
    killed_at("init-cgroup-joined", Side::Init);
}

#[test]
fn faults_init_killed_after_mounts() {
    killed_at("init-mounted", Side::Init);
}

#[test]
fn faults_init_killed_after_pivot() {
    killed_at("init-pivoted", Side::Init);
}

#[test]
fn faults_init_killed_before_ready() {
    killed_at("init-before-ready", Side::Init);
}

#[test]
fn faults_killed_after_ready_before_state_save() {
    killed_at("ready-received", Side::Parent);
}

#[test]
fn faults_userns_killed_after_clone() {
    killed_at_in_userns("cloned", Side::Parent);
}

#[test]
fn faults_userns_killed_after_pid_saved() {
    killed_at_in_userns("pid-saved", Side::Parent);
}

#[test]
fn faults_userns_init_killed_after_mounts() {
    killed_at_in_userns("init-mounted", Side::Init);
}

#[test]
fn faults_userns_killed_after_ready_before_state_save() {
    killed_at_in_userns("ready-received", Side::Parent);
}
