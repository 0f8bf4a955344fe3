//! Bad input (issue #2 "Bad input"): one clear error line naming the field or path, a
//! non-zero exit, and nothing left behind (no state dir, cgroup, mount or process).

use berth_conformance::{json, spec, Outcome, Test};

/// Checks the shape of a create failure and that nothing is left.
#[track_caller]
fn assert_clean_failure(t: &Test, id: &str, out: &Outcome, names: &str) {
    out.assert_failed();
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "want one error line: {}", out.describe());
    assert!(
        out.stderr.contains(names),
        "the error should name {names:?}: {}",
        out.describe()
    );
    t.assert_nothing_left(id);
}

#[test]
fn bad_input_missing_bundle() {
    let t = Test::new("bad_input_missing_bundle");
    let id = t.id.clone();
    let missing = t.dir().join("no-such-bundle");
    let mut cmd = t.command();
    cmd.args(["create", "--bundle"]).arg(&missing).arg(&id);
    let out = t.run_create_command(&id, cmd);
    assert_clean_failure(&t, &id, &out, "no-such-bundle");
}

#[test]
fn bad_input_missing_config() {
    let t = Test::new("bad_input_missing_config");
    let id = t.id.clone();
    let out = t.create_raw(&id, &[]);
    assert_clean_failure(&t, &id, &out, "config.json");
}

#[test]
fn bad_input_malformed_config() {
    let t = Test::new("bad_input_malformed_config");
    let id = t.id.clone();
    t.write_raw_config("{\"ociVersion\": \"1.0.2\", \"process\": {");
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn bad_input_malformed_config_names_file() {
    berth_conformance::known_runc_gap!("runc 1.1.5 reports only the JSON syntax error");
    let t = Test::new("bad_input_malformed_config_names_file");
    let id = t.id.clone();
    t.write_raw_config("{\"ociVersion\": \"1.0.2\", \"process\": {");
    let out = t.create_raw(&id, &[]);
    assert_clean_failure(&t, &id, &out, "config.json");
}

#[test]
fn bad_input_config_is_a_directory() {
    let t = Test::new("bad_input_config_is_a_directory");
    let id = t.id.clone();
    std::fs::create_dir(t.bundle.join("config.json")).unwrap();
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn bad_input_wrong_types() {
    let mut t = Test::new("bad_input_wrong_types");
    t.config["process"]["args"] = json!("/bin/berth-check");
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "args");
}

#[test]
fn bad_input_wrong_type_uid() {
    let mut t = Test::new("bad_input_wrong_type_uid");
    t.config["process"]["user"]["uid"] = json!("root");
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "uid");
}

#[test]
fn bad_input_id_with_slash_or_dotdot() {
    let t = Test::new("bad_input_id_with_slash_or_dotdot");
    t.write_config(&t.id);
    for bad in ["a/b", "..", "../escape", "."] {
        let out = t.create_raw(bad, &[]);
        out.assert_failed();
        assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
        assert!(
            !t.dir().join("escape").exists(),
            "state written outside --root"
        );
        assert!(!t.root.join("a").exists(), "state dir made for {bad}");
    }
    let entries = t.root_entries();
    assert!(entries.is_empty(), "--root not empty: {entries:?}");
}

#[test]
fn bad_input_duplicate_id_leaves_nothing() {
    let mut t = Test::new("bad_input_duplicate_id_leaves_nothing");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    let pid = t.pid(&id);
    let before =
        berth_conformance::cgroups::existing_dirs(&berth_conformance::cgroups::path_for(&id));
    let mut cmd = t.command();
    cmd.args(["create", "--bundle"])
        .arg(&t.bundle)
        .arg("--pid-file")
        .arg(t.dir().join("second.pid"))
        .arg(&id);
    let out = t.call_cmd(cmd);
    out.assert_failed();
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.describe());
    assert!(
        out.stderr.contains(&id) || out.stderr.contains("exists"),
        "{}",
        out.describe()
    );
    // The first container is untouched.
    let state = t.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    assert!(berth_conformance::host::alive(pid));
    assert_eq!(
        berth_conformance::cgroups::existing_dirs(&berth_conformance::cgroups::path_for(&id)),
        before
    );
    assert!(
        !t.dir().join("second.pid").exists(),
        "second create wrote a pid file"
    );
    let runtime_children = t.runtime_processes();
    assert!(runtime_children.is_empty(), "{runtime_children:?}");
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn bad_input_missing_rootfs() {
    let t = Test::new("bad_input_missing_rootfs");
    std::fs::remove_dir_all(t.bundle.join("rootfs")).unwrap();
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "rootfs");
}

#[test]
fn bad_input_missing_process_binary() {
    let mut t = Test::new("bad_input_missing_process_binary");
    t.args(&["/bin/berth-no-such-binary"]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "berth-no-such-binary");
}

#[test]
fn bad_input_mount_destination_escaping_is_error() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 silently confines '..' destinations to the rootfs"
    );
    let mut t = Test::new("bad_input_mount_destination_escaping_is_error");
    spec::add_mount(&mut t.config, "/../../escape", "tmpfs", "tmpfs", &[]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "/../../escape");
}

#[test]
fn bad_input_mount_source_missing() {
    let mut t = Test::new("bad_input_mount_source_missing");
    let missing = t.dir().join("no-such-source").display().to_string();
    spec::add_mount(&mut t.config, "/mnt/x", "bind", &missing, &["bind"]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    assert_clean_failure(&t, &id, &out, "no-such-source");
}

#[test]
fn config_accepts_any_1x_version_and_unknown_fields() {
    let mut t = Test::new("config_accepts_any_1x_version_and_unknown_fields");
    t.config["ociVersion"] = json!("1.9.42");
    t.config["berthUnknownTopLevel"] = json!({"x": 1});
    t.config["process"]["berthUnknown"] = json!(true);
    t.config["linux"]["berthUnknown"] = json!([1, 2]);
    assert_eq!(t.run_checker().pid(), 1);
}
