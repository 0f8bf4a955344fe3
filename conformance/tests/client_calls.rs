//! The call sequences real clients make (shared/client-calls.md): containerd's runc shim,
//! conmon/podman and the CRI plugin, with their exact flag forms.

use berth_conformance::{host, Test};
use std::time::Duration;

fn shim_globals(t: &Test) -> Vec<String> {
    vec![
        "--root".into(),
        t.root.display().to_string(),
        "--log".into(),
        t.bundle.join("log.json").display().to_string(),
        "--log-format".into(),
        "json".into(),
    ]
}

#[test]
fn client_containerd_shim_sequence() {
    let mut t = Test::new("client_containerd_shim_sequence");
    t.globals = Some(shim_globals(&t));
    t.checker(&["--trap"]);
    let id = t.id.clone();
    t.write_config(&id);
    let pid_file = t.bundle.join("init.pid").display().to_string();
    let bundle = t.bundle.display().to_string();
    let mut cmd = t.command();
    cmd.args(["create", "--bundle", &bundle, "--pid-file", &pid_file, &id]);
    t.run_create_command(&id, cmd).assert_ok();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(host::alive(pid));
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    t.call(&["kill", &id, "15"]).assert_ok();
    assert!(host::wait_gone(pid, Duration::from_secs(20)));
    // `kill --all <id> 9` reaches containers that already stopped and must succeed.
    t.call(&["kill", "--all", &id, "9"]).assert_ok();
    t.call(&["delete", &id]).assert_ok();
    let out = t.call(&["delete", "--force", &id]);
    assert!(out.elapsed < Duration::from_secs(10), "{}", out.describe());
    assert_eq!(
        berth_conformance::Facts::parse(&t.output(&id)).signals(),
        vec![15]
    );
    t.assert_nothing_left(&id);
}

#[test]
fn client_ctr_run_rm_sequence() {
    let mut t = Test::new("client_ctr_run_rm_sequence");
    t.globals = Some(shim_globals(&t));
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    let _ = t.call(&["delete", "--force", &id]);
    t.assert_nothing_left(&id);
}

#[test]
fn client_cri_kill_all_on_stopped_then_delete() {
    let mut t = Test::new("client_cri_kill_all_on_stopped_then_delete");
    t.globals = Some(shim_globals(&t));
    t.checker(&["--trap"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    t.call(&["kill", &id, "15"]).assert_ok();
    t.wait_stopped(&id);
    t.call(&["kill", "--all", &id, "9"]).assert_ok();
    t.call(&["kill", "--all", &id, "9"]).assert_ok();
    t.delete(&id).assert_ok();
    let _ = t.call(&["delete", "--force", &id]);
    t.assert_nothing_left(&id);
}

#[test]
fn client_conmon_log_format_equals_form() {
    let mut t = Test::new("client_conmon_log_format_equals_form");
    let log = t.dir().join("oci-log").display().to_string();
    t.globals = Some(vec![
        format!("--root={}", t.root.display()),
        "--log-format=json".into(),
        "--log".into(),
        log,
    ]);
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    t.call(&["kill", &id, "9"]).assert_ok();
    t.wait_stopped(&id);
    t.delete_force(&id);
    let out = t.call(&["state", &id]);
    out.assert_failed();
    assert!(out.stderr.contains("does not exist"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn client_flag_equals_forms() {
    let mut t = Test::new("client_flag_equals_forms");
    t.globals = Some(vec![format!("--root={}", t.root.display())]);
    let id = t.id.clone();
    t.write_config(&id);
    let mut cmd = t.command();
    cmd.arg("create")
        .arg(format!("--bundle={}", t.bundle.display()))
        .arg(format!("--pid-file={}", t.io_path(&id, "pid").display()))
        .arg(&id);
    t.run_create_command(&id, cmd).assert_ok();
    assert_eq!(t.state(&id)["pid"], t.pid(&id));
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn client_log_json_error_lines() {
    let mut t = Test::new("client_log_json_error_lines");
    let log = t.dir().join("log.json");
    t.globals = Some(vec![
        "--root".into(),
        t.root.display().to_string(),
        "--log".into(),
        log.display().to_string(),
        "--log-format".into(),
        "json".into(),
    ]);
    std::fs::remove_dir_all(t.bundle.join("rootfs")).unwrap();
    let id = t.id.clone();
    t.create_id(&id, &[]).assert_failed();
    let text = std::fs::read_to_string(&log).expect("log file written");
    let mut last_error = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        for key in ["level", "msg", "time"] {
            assert!(v[key].is_string(), "log line lacks {key}: {line}");
        }
        if v["level"] == "error" {
            last_error = Some(v);
        }
    }
    let last = last_error.expect("an error line in the log");
    // containerd reports only the last error line: the real cause must be in it.
    assert!(last["msg"].as_str().unwrap().contains("rootfs"), "{last}");
    t.assert_nothing_left(&id);
}

#[test]
fn client_podman_default_root() {
    let mut t = Test::new("client_podman_default_root");
    t.globals = Some(vec!["--log-format=json".into()]);
    let id = t.id.clone();
    t.create();
    let default_root = std::path::Path::new("/run").join(berth_conformance::runtime_name());
    assert!(
        default_root.join(&id).exists(),
        "no --root: state belongs under {}",
        default_root.display()
    );
    t.call(&["kill", &id, "9"]).assert_ok();
    t.delete_force(&id);
    assert!(!default_root.join(&id).exists());
    t.assert_nothing_left(&id);
}
