//! Hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): each kind runs at its
//! point, in its namespace, with the state on stdin, honouring timeouts; failing
//! poststart/poststop hooks only warn.

use berth_conformance::{host, json, spec, Test};
use std::path::Path;
use std::time::Duration;

/// A hook that records its stdin, its mount namespace, an env var and the call order in `dir`.
fn recording_hook(t: &mut Test, kind: &str, dir: &str) {
    let script = format!(
        "cat > {dir}/{kind}.json; readlink /proc/self/ns/mnt > {dir}/{kind}.mnt; \
         echo \"$BERTH_HOOK\" > {dir}/{kind}.env; echo {kind} >> {dir}/order"
    );
    spec::add_hook(
        &mut t.config,
        kind,
        "/bin/sh",
        &["sh", "-c", &script],
        Some(10),
    );
    let hooks = t.config["hooks"][kind].as_array_mut().unwrap();
    let last = hooks.last_mut().unwrap();
    last["env"] = json!([
        format!("BERTH_HOOK={kind}"),
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
    ]);
}

fn order(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn hook_state(dir: &Path, kind: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{kind}.json")))
        .unwrap_or_else(|e| panic!("{kind} hook did not record its stdin: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} stdin is not JSON ({e}): {text}"))
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// What a full lifecycle with a recording hook of every kind showed.
struct HookRun {
    t: Test,
    dir: std::path::PathBuf,
    pid: i32,
    after_create: Vec<String>,
    after_start: Vec<String>,
    after_delete: Vec<String>,
    container_mnt: String,
}

/// create, start, kill, delete with every hook kind recording into a host dir.
fn hook_run(name: &str) -> HookRun {
    let mut t = Test::new(name);
    let dir = t.host_dir("hooks");
    let host_dir = dir.display().to_string();
    spec::add_mount(&mut t.config, "/hooks", "bind", &host_dir, &["rbind", "rw"]);
    t.checker(&["--trap"]);
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        recording_hook(&mut t, kind, &host_dir);
    }
    // startContainer runs inside the container: its path and files resolve there.
    recording_hook(&mut t, "startContainer", "/hooks");
    let id = t.id.clone();
    t.create();
    let pid = t.pid(&id);
    let after_create = order(&dir);
    t.start(&id).assert_ok();
    let container_mnt = t.facts(&id).ns("mnt");
    let after_start = order(&dir);
    t.kill(&id, "TERM").assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    let after_delete = order(&dir);
    t.assert_nothing_left(&id);
    HookRun {
        t,
        dir,
        pid,
        after_create,
        after_start,
        after_delete,
        container_mnt,
    }
}

impl HookRun {
    /// Checks one hook's namespace, env and stdin state.
    fn check(&self, kind: &str, in_container: bool, statuses: &[&str]) {
        let want_mnt = if in_container {
            self.container_mnt.clone()
        } else {
            host::ns_link("mnt")
        };
        assert_eq!(
            read(&self.dir, &format!("{kind}.mnt")),
            want_mnt,
            "{kind} namespace"
        );
        assert_eq!(
            read(&self.dir, &format!("{kind}.env")),
            kind,
            "{kind} gets its env"
        );
        let state = hook_state(&self.dir, kind);
        assert_eq!(state["id"], self.t.id.as_str(), "{kind}: {state}");
        assert_eq!(
            state["bundle"],
            self.t.bundle.display().to_string(),
            "{kind}: {state}"
        );
        assert!(state["ociVersion"].is_string(), "{kind}: {state}");
        // Hooks run inside the container's pid namespace may see the init as pid 1.
        if in_container {
            assert!(
                state["pid"] == self.pid || state["pid"] == 1,
                "{kind}: {state}"
            );
        } else if kind != "poststop" {
            assert_eq!(state["pid"], self.pid, "{kind}: {state}");
        }
        let status = state["status"].as_str().unwrap_or_default();
        assert!(
            statuses.contains(&status),
            "{kind} got status {status}, want {statuses:?}"
        );
    }
}

#[test]
fn hooks_create_time_hooks_run_in_create() {
    let r = hook_run("hooks_create_time_hooks_run_in_create");
    let create_kinds: Vec<&String> = r
        .after_create
        .iter()
        .filter(|k| *k != "poststart")
        .collect();
    assert_eq!(create_kinds.len(), 3, "{:?}", r.after_create);
    let mut early = vec![create_kinds[0].clone(), create_kinds[1].clone()];
    early.sort();
    assert_eq!(
        early,
        vec!["createRuntime", "prestart"],
        "{:?}",
        r.after_create
    );
    assert_eq!(create_kinds[2], "createContainer");
    r.check("prestart", false, &["creating"]);
    r.check("createRuntime", false, &["creating"]);
    r.check("createContainer", true, &["creating"]);
}

#[test]
fn hooks_start_container_runs_in_start_inside_container() {
    let r = hook_run("hooks_start_container_runs_in_start_inside_container");
    assert!(
        !r.after_create.contains(&"startContainer".to_string()),
        "{:?}",
        r.after_create
    );
    assert!(
        r.after_start.contains(&"startContainer".to_string()),
        "{:?}",
        r.after_start
    );
    r.check("startContainer", true, &["created", "creating"]);
}

#[test]
fn hooks_poststart_runs_in_start() {
    berth_conformance::known_runc_gap!("runc 1.1.5 runs poststart hooks during create");
    let r = hook_run("hooks_poststart_runs_in_start");
    assert!(
        !r.after_create.contains(&"poststart".to_string()),
        "{:?}",
        r.after_create
    );
    let pos = |k: &str| r.after_start.iter().position(|x| x == k);
    assert!(
        pos("startContainer") < pos("poststart") && pos("poststart").is_some(),
        "{:?}",
        r.after_start
    );
    r.check("poststart", false, &["running"]);
}

#[test]
fn hooks_poststop_runs_at_delete() {
    let r = hook_run("hooks_poststop_runs_at_delete");
    assert!(
        !r.after_start.contains(&"poststop".to_string()),
        "{:?}",
        r.after_start
    );
    assert_eq!(r.after_delete.last().map(String::as_str), Some("poststop"));
    assert_eq!(r.after_delete.len(), 6, "{:?}", r.after_delete);
    r.check("poststop", false, &["stopped"]);
}

#[test]
fn hooks_create_runtime_failure_fails_create() {
    let mut t = Test::new("hooks_create_runtime_failure_fails_create");
    spec::add_hook(
        &mut t.config,
        "createRuntime",
        "/bin/sh",
        &["sh", "-c", "exit 3"],
        None,
    );
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    t.assert_nothing_left(&id);
}

#[test]
fn hooks_timeout_honoured() {
    let mut t = Test::new("hooks_timeout_honoured");
    spec::add_hook(
        &mut t.config,
        "prestart",
        "/bin/sleep",
        &["sleep", "30"],
        Some(1),
    );
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(
        out.elapsed < Duration::from_secs(15),
        "hook timeout ignored: {:?}",
        out.elapsed
    );
    t.assert_nothing_left(&id);
}

#[test]
fn hooks_failing_poststart_continues() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 kills the container when a poststart hook fails"
    );
    let mut t = Test::new("hooks_failing_poststart_continues");
    let dir = t.host_dir("hooks");
    let host_dir = dir.display().to_string();
    t.checker(&["--sleep"]);
    spec::add_hook(
        &mut t.config,
        "poststart",
        "/bin/sh",
        &["sh", "-c", "exit 1"],
        None,
    );
    recording_hook(&mut t, "poststart", &host_dir);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    assert_eq!(
        order(&dir),
        vec!["poststart"],
        "the hook after the failing one ran"
    );
    assert_eq!(t.status(&id), "running");
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn hooks_failing_poststop_continues() {
    berth_conformance::known_runc_gap!("runc 1.1.5 stops at the first failing poststop hook");
    let mut t = Test::new("hooks_failing_poststop_continues");
    let dir = t.host_dir("hooks");
    let host_dir = dir.display().to_string();
    spec::add_hook(
        &mut t.config,
        "poststop",
        "/bin/sh",
        &["sh", "-c", "exit 1"],
        None,
    );
    recording_hook(&mut t, "poststop", &host_dir);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    assert_eq!(
        order(&dir),
        vec!["poststop"],
        "the hook after the failing one ran"
    );
    t.assert_nothing_left(&id);
}

#[test]
fn hooks_keep_their_order_in_a_foreground_run() {
    // Foreground run saves its final state after releasing the init and waits for the
    // init's execve only when poststart hooks follow it (src/container/run.rs): poststart
    // must still see the container process itself and status "running".
    let mut t = Test::new("hooks_foreground_run");
    let dir = t.host_dir("hooks");
    let host_dir = dir.display().to_string();
    spec::add_mount(&mut t.config, "/hooks", "bind", &host_dir, &["rbind", "rw"]);
    t.checker(&[]);
    for kind in ["prestart", "createRuntime", "createContainer", "poststop"] {
        recording_hook(&mut t, kind, &host_dir);
    }
    recording_hook(&mut t, "startContainer", "/hooks");
    // A slow startContainer hook keeps the init from its execve for a while: a poststart
    // that did not wait for the execve would find the init still running berth.
    spec::add_hook(
        &mut t.config,
        "startContainer",
        "/bin/sh",
        &["sh", "-c", "sleep 0.3"],
        Some(10),
    );
    // poststart also records what the container's pid runs: the init is reaped only after
    // poststart, so /proc/<pid>/comm is there even when the checker has already exited.
    let script = format!(
        "cat > {host_dir}/poststart.json; \
         pid=$(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' {host_dir}/poststart.json); \
         cat /proc/$pid/comm > {host_dir}/poststart.comm; echo poststart >> {host_dir}/order"
    );
    spec::add_hook(
        &mut t.config,
        "poststart",
        "/bin/sh",
        &["sh", "-c", &script],
        Some(10),
    );
    let id = t.id.clone();
    let out = t.spawn_run(&id, &[]).wait(Duration::from_secs(60));
    out.assert_ok();
    assert_eq!(
        order(&dir),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
    );
    assert_eq!(hook_state(&dir, "poststart")["status"], "running");
    assert_eq!(
        read(&dir, "poststart.comm"),
        "berth-check",
        "poststart ran before the init's execve"
    );
    t.assert_nothing_left(&id);
}
