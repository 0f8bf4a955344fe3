//! Lifecycle: create, start, state, kill, delete, list and run, as runtime-spec runtime.md
//! and runc's command line define them.

use berth_conformance::host;
use berth_conformance::{json, Test};
use std::time::Duration;

#[test]
fn lifecycle_create_start_state_delete() {
    let mut t = Test::new("lifecycle_create_start_state_delete");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    // The pid file is written before create returns and names a live init.
    let pid = t.pid(&id);
    assert!(host::alive(pid), "init {pid} not alive after create");
    let state = t.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    t.start(&id).assert_ok();
    let facts = t.facts(&id);
    assert_eq!(facts.pid(), 1, "the user process is pid 1 of its namespace");
    assert_eq!(t.status(&id), "running");
    t.kill(&id, "KILL").assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
    let gone = t.call(&["state", &id]);
    gone.assert_failed();
    assert!(
        gone.stderr.contains("does not exist"),
        "{}",
        gone.describe()
    );
}

#[test]
fn lifecycle_create_leaves_init_waiting() {
    let mut t = Test::new("lifecycle_create_leaves_init_waiting");
    t.checker(&[]);
    let id = t.id.clone();
    t.create();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(t.output(&id), "", "the user process ran before start");
    assert!(host::alive(t.pid(&id)));
    assert_eq!(t.status(&id), "created");
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    assert_eq!(t.facts(&id).pid(), 1);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_pid_file_relative_to_cwd() {
    let t = Test::new("lifecycle_pid_file_relative_to_cwd");
    let id = t.id.clone();
    t.write_config(&id);
    let cwd = t.host_dir("cwd");
    let mut cmd = t.command();
    cmd.current_dir(&cwd)
        .args(["create", "--bundle"])
        .arg(&t.bundle)
        .args(["--pid-file", "init.pid", &id]);
    t.run_create_command(&id, cmd).assert_ok();
    let pid: i32 = std::fs::read_to_string(cwd.join("init.pid"))
        .expect("relative pid file written in the caller's cwd")
        .trim()
        .parse()
        .expect("pid file holds a number");
    assert_eq!(t.state(&id)["pid"], pid);
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_state_json_fields() {
    let mut t = Test::new("lifecycle_state_json_fields");
    t.checker(&["--sleep"]);
    t.config["annotations"] = json!({"org.berth.test": "yes"});
    let id = t.id.clone();
    t.create();
    let state = t.state(&id);
    assert!(
        state["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with('1')),
        "{state}"
    );
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], t.pid(&id));
    assert_eq!(
        state["bundle"],
        t.bundle.display().to_string(),
        "bundle is the absolute bundle path"
    );
    assert_eq!(state["annotations"]["org.berth.test"], "yes");
    t.delete_force(&id);
}

#[test]
fn lifecycle_kill_default_is_term() {
    let mut t = Test::new("lifecycle_kill_default_is_term");
    t.checker(&["--trap"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    t.call(&["kill", &id]).assert_ok();
    t.wait_stopped(&id);
    assert_eq!(t.facts(&id).signals(), vec![libc::SIGTERM as i64]);
    t.delete(&id).assert_ok();
}

#[test]
fn lifecycle_kill_signal_names_and_numbers() {
    let mut t = Test::new("lifecycle_kill_signal_names_and_numbers");
    t.checker(&["--trap"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let sends = [
        ("USR1", libc::SIGUSR1),
        ("SIGUSR2", libc::SIGUSR2),
        ("1", libc::SIGHUP),
        ("SIGWINCH", libc::SIGWINCH),
        ("10", libc::SIGUSR1),
        ("TERM", libc::SIGTERM),
    ];
    for (n, (name, _)) in sends.iter().enumerate() {
        t.kill(&id, name).assert_ok();
        t.wait_output_lines(&id, n + 2);
    }
    t.wait_stopped(&id);
    let want: Vec<i64> = sends.iter().map(|(_, s)| *s as i64).collect();
    assert_eq!(t.facts(&id).signals(), want);
    t.delete(&id).assert_ok();
}

#[test]
fn lifecycle_kill_unknown_signal_fails() {
    let mut t = Test::new("lifecycle_kill_unknown_signal_fails");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.kill(&id, "SIGBOGUS").assert_failed();
    assert_eq!(t.status(&id), "created");
    t.delete_force(&id);
}

#[test]
fn lifecycle_delete_running_fails_and_changes_nothing() {
    let mut t = Test::new("lifecycle_delete_running_fails_and_changes_nothing");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let pid = t.pid(&id);
    let out = t.delete(&id);
    out.assert_failed();
    assert!(host::alive(pid), "delete of a running container killed it");
    assert_eq!(t.status(&id), "running");
    assert_eq!(t.state(&id)["pid"], pid);
    t.delete_force(&id);
    assert!(host::wait_gone(pid, Duration::from_secs(10)));
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_delete_force_created_container() {
    let t = Test::new("lifecycle_delete_force_created_container");
    let id = t.id.clone();
    t.create();
    let pid = t.pid(&id);
    t.delete_force(&id);
    assert!(host::wait_gone(pid, Duration::from_secs(10)));
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_start_running_fails() {
    let mut t = Test::new("lifecycle_start_running_fails");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    t.start(&id).assert_failed();
    assert_eq!(t.status(&id), "running");
    t.delete_force(&id);
}

#[test]
fn lifecycle_unknown_id_does_not_exist() {
    let t = Test::new("lifecycle_unknown_id_does_not_exist");
    let id = t.other_id("never-created");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
    ] {
        let out = t.call(&args);
        out.assert_failed();
        assert!(
            out.stderr.contains("does not exist"),
            "error for {args:?} must say \"does not exist\": {}",
            out.describe()
        );
    }
    // --force on a missing container may fail, but must answer promptly.
    let out = t.call(&["delete", "--force", &id]);
    assert!(out.elapsed < Duration::from_secs(10));
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_list_table_json_quiet() {
    let mut t = Test::new("lifecycle_list_table_json_quiet");
    t.checker(&["--sleep"]);
    let a = t.other_id("a");
    let b = t.other_id("b");
    t.create_id(&a, &[]).assert_ok();
    t.create_id(&b, &[]).assert_ok();
    t.start(&b).assert_ok();
    t.wait_output_lines(&b, 1);

    let quiet = t.call(&["list", "-q"]);
    quiet.assert_ok();
    let mut ids: Vec<&str> = quiet.stdout.lines().collect();
    ids.sort();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);

    let table = t.call(&["list"]);
    table.assert_ok();
    let header = table.stdout.lines().next().unwrap_or_default();
    for col in ["ID", "PID", "STATUS", "BUNDLE"] {
        assert!(header.contains(col), "table header lacks {col}: {header}");
    }
    let row_a = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&a))
        .expect("row for a");
    assert!(row_a.contains("created"), "{row_a}");
    let row_b = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&b))
        .expect("row for b");
    assert!(row_b.contains("running"), "{row_b}");

    let json_out = t.call(&["list", "--format", "json"]);
    json_out.assert_ok();
    let list: serde_json::Value = serde_json::from_str(&json_out.stdout).expect("list json");
    let entries = list.as_array().expect("json list is an array");
    assert_eq!(entries.len(), 2);
    for e in entries {
        let want = if e["id"] == a.as_str() {
            "created"
        } else {
            "running"
        };
        assert_eq!(e["status"], want, "{e}");
        assert!(e["pid"].as_i64().is_some_and(|p| p > 0), "{e}");
    }
    for id in [&a, &b] {
        t.delete_force(id);
        t.assert_nothing_left(id);
    }
    let empty = t.call(&["list", "-q"]);
    empty.assert_ok();
    assert_eq!(empty.stdout.trim(), "");
}

#[test]
fn lifecycle_run_foreground_exit_status() {
    let mut t = Test::new("lifecycle_run_foreground_exit_status");
    t.checker(&["--exit", "3"]);
    let id = t.id.clone();
    let out = t.spawn_run(&id, &[]).wait(Duration::from_secs(60));
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(t.facts(&id).pid(), 1);
    // Without --keep the container is deleted.
    let state = t.call(&["state", &id]);
    assert!(
        state.stderr.contains("does not exist"),
        "{}",
        state.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_run_foreground_signal_exit_128_plus_n() {
    let mut t = Test::new("lifecycle_run_foreground_signal_exit_128_plus_n");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    let run = t.spawn_run(&id, &[]);
    t.wait_output_lines(&id, 1);
    t.kill(&id, "KILL").assert_ok();
    let out = run.wait(Duration::from_secs(60));
    assert_eq!(out.code(), Some(128 + libc::SIGKILL), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_run_forwards_signals() {
    let mut t = Test::new("lifecycle_run_forwards_signals");
    t.checker(&["--trap"]);
    let id = t.id.clone();
    let run = t.spawn_run(&id, &[]);
    t.wait_output_lines(&id, 1);
    host::kill(run.pid(), libc::SIGUSR1);
    t.wait_output_lines(&id, 2);
    host::kill(run.pid(), libc::SIGTERM);
    let out = run.wait(Duration::from_secs(60));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    // runc (Go) also forwards the SIGURG its runtime sends itself for preemption.
    let signals: Vec<i64> = t
        .facts(&id)
        .signals()
        .into_iter()
        .filter(|s| !(*s == libc::SIGURG as i64 && berth_conformance::runtime_name() == "runc"))
        .collect();
    assert_eq!(signals, vec![libc::SIGUSR1 as i64, libc::SIGTERM as i64]);
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_run_keep_leaves_stopped_container() {
    let mut t = Test::new("lifecycle_run_keep_leaves_stopped_container");
    t.checker(&["--exit", "0"]);
    let id = t.id.clone();
    let out = t.spawn_run(&id, &["--keep"]).wait(Duration::from_secs(60));
    out.assert_ok();
    assert_eq!(t.status(&id), "stopped");
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_run_detach() {
    let mut t = Test::new("lifecycle_run_detach");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    let out = t
        .spawn_run(&id, &["--detach"])
        .wait(Duration::from_secs(60));
    out.assert_ok();
    let pid = t.pid(&id);
    assert!(host::alive(pid));
    assert_eq!(t.status(&id), "running");
    assert_eq!(t.facts(&id).pid(), 1);
    t.kill(&id, "KILL").assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_create_no_new_keyring() {
    let t = Test::new("lifecycle_create_no_new_keyring");
    let id = t.id.clone();
    t.create_id(&id, &["--no-new-keyring"]).assert_ok();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    assert_eq!(t.facts(&id).pid(), 1);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_kill_all_reaches_every_process() {
    let mut t = Test::new("lifecycle_kill_all_reaches_every_process");
    t.args(&[
        "sh",
        "-c",
        "sleep 1000 & sleep 1001 & echo '{\"ready\":1}'; wait",
    ]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let cgroup = berth_conformance::cgroups::path_for(&id);
    let pids = || -> usize {
        berth_conformance::cgroups::existing_dirs(&cgroup)
            .iter()
            .map(|d| berth_conformance::cgroups::pids_in(d).len())
            .max()
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pids() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pids(), 3, "sh and two sleeps in the container's cgroup");
    t.call(&["kill", "--all", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pids() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pids(), 0, "kill --all left processes");
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn lifecycle_run_releases_the_held_namespaces_after_it_returns() {
    // Foreground run holds the container's mount and network namespaces past the init's
    // exit and hands them to a detached process that drops them once run has exited
    // (src/container/ns_hold.rs). Nothing may keep them alive after that.
    let mut t = Test::new("lifecycle_run_releases_the_held_namespaces");
    t.checker(&[]);
    let id = t.id.clone();
    let out = t.spawn_run(&id, &[]).wait(Duration::from_secs(60));
    out.assert_ok();
    let facts = t.facts(&id);
    for kind in ["mnt", "net"] {
        let link = facts.ns(kind);
        assert!(link.starts_with(kind), "{kind}: {link:?}");
        let holders = host::namespace_holders_after(&link, Duration::from_secs(10));
        assert!(
            holders.is_empty(),
            "{link} still held 10 s after run returned: {holders:?}"
        );
    }
    t.assert_nothing_left(&id);
}
