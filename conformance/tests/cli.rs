//! The command line itself: `spec`, and berth-only answers (`--version`, `features`,
//! `--systemd-cgroup`).

use berth_conformance::{berth_only, Test};

#[test]
fn cli_spec_writes_default_config() {
    let t = Test::new("cli_spec_writes_default_config");
    let dir = t.host_dir("spec");
    let out = t.call(&["spec", "--bundle", &dir.display().to_string()]);
    out.assert_ok();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("spec is JSON");
    assert!(
        v["ociVersion"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.")),
        "{v}"
    );
    assert!(v["process"]["args"].is_array());
    assert_eq!(v["root"]["path"], "rootfs");
    assert!(v["linux"]["namespaces"]
        .as_array()
        .is_some_and(|n| !n.is_empty()));
}

#[test]
fn cli_spec_rootless_adds_user_namespace() {
    let t = Test::new("cli_spec_rootless_adds_user_namespace");
    let dir = t.host_dir("spec");
    t.call(&["spec", "--rootless", "--bundle", &dir.display().to_string()])
        .assert_ok();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"), "{v}");
    assert!(v["linux"]["uidMappings"].is_array());
}

#[test]
fn cli_version_names_berth_and_spec() {
    berth_only!("version text");
    let t = Test::new("cli_version_names_berth_and_spec");
    let out = t.call(&["--version"]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let first = lines.next().unwrap_or_default();
    let version = first
        .strip_prefix("berth version ")
        .expect("first line 'berth version X.Y.Z'");
    assert_eq!(version.split('.').count(), 3, "{first}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{first}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("spec: 1.2.")),
        "{}",
        out.stdout
    );
}

#[test]
fn cli_features_json() {
    berth_only!("features JSON");
    let t = Test::new("cli_features_json");
    let out = t.call(&["features"]);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("features is JSON");
    assert!(
        v["ociVersionMin"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.")),
        "{v}"
    );
    assert!(
        v["ociVersionMax"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.2")),
        "{v}"
    );
    let hooks: Vec<&str> = v["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&h), "features lacks hook {h}");
    }
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for n in ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"] {
        assert!(ns.contains(&n), "features lacks namespace {n}");
    }
    assert!(v["linux"]["capabilities"]
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x == "CAP_KILL")));
    assert!(v["mountOptions"]
        .as_array()
        .is_some_and(|m| m.iter().any(|x| x == "rbind")));
}

#[test]
fn cli_systemd_cgroup_not_supported() {
    berth_only!("--systemd-cgroup answer");
    let mut t = Test::new("cli_systemd_cgroup_not_supported");
    t.globals = Some(vec![
        "--root".into(),
        t.root.display().to_string(),
        "--systemd-cgroup".into(),
    ]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(out.stderr.contains("not supported"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn cli_log_format_json_error_has_level_msg_time() {
    berth_only!("berth's own JSON error lines on stderr-less runs");
    let mut t = Test::new("cli_log_format_json_error_has_level_msg_time");
    let log = t.dir().join("log.json");
    t.globals = Some(vec![
        "--root".into(),
        t.root.display().to_string(),
        format!("--log={}", log.display()),
        "--log-format=json".into(),
    ]);
    let out = t.call(&["state", "berth-no-such-container"]);
    out.assert_failed();
    let text = std::fs::read_to_string(&log).expect("log written");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist")),
        "{last}"
    );
    assert!(last["time"].is_string());
}

#[test]
fn cli_global_debug_and_rootless_flags_accepted() {
    let mut t = Test::new("cli_global_debug_and_rootless_flags_accepted");
    t.globals = Some(vec![
        "--debug".into(),
        "--rootless=false".into(),
        "--root".into(),
        t.root.display().to_string(),
    ]);
    let f = t.run_checker();
    assert_eq!(f.pid(), 1);
    let mut t2 = Test::new("cli_global_rootless_value_form");
    t2.globals = Some(vec![
        "--rootless".into(),
        "false".into(),
        format!("--root={}", t2.root.display()),
    ]);
    assert_eq!(t2.run_checker().pid(), 1);
}

#[test]
fn cli_trace_prints_each_phase_of_create_and_start() {
    berth_only!("--trace");
    let mut t = Test::new("cli_trace_prints_each_phase_of_create_and_start");
    t.checker(&[]);
    let id = t.id.clone();
    let out = t.create_id(&id, &["--trace"]);
    out.assert_ok();
    for phase in [
        "[create] parsed",
        "[create] cloned",
        "[init] init-mounted",
        "[create] ready-received",
    ] {
        assert!(
            out.stderr.contains(phase),
            "no {phase:?} line: {}",
            out.stderr
        );
    }
    let out = t.call(&["--trace", "start", &id]);
    out.assert_ok();
    assert!(out.stderr.contains("[start] started"), "{}", out.stderr);
    t.wait_stopped(&id);
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}
