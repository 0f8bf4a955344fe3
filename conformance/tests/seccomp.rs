//! linux.seccomp (runtime-spec config-linux.md "Seccomp"): the filter is in force for the
//! container's process and for exec'd processes, actions and argument rules behave as
//! libseccomp's, and a bad profile is refused naming the field, leaving nothing behind.

use berth_conformance::{json, Facts, Test};

fn errno_for_mkdir() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]
    })
}

#[test]
fn seccomp_errno_rule_applies_to_the_process() {
    let mut t = Test::new("seccomp_errno_rule_applies_to_the_process");
    t.config["linux"]["seccomp"] = errno_for_mkdir();
    t.config["root"]["readonly"] = json!(false);
    t.args(&[
        "sh",
        "-c",
        "mkdir /tmp/blocked; echo mkdir=$?; grep ^Seccomp: /proc/self/status",
    ]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("mkdir=1"),
        "mkdir was not refused: {out:?} {}",
        t.errors(&id)
    );
    assert!(
        t.errors(&id).contains("Permission denied"),
        "errnoRet 13 is EACCES: {}",
        t.errors(&id)
    );
    assert!(out.contains("Seccomp:\t2"), "{out:?}");
    assert!(!t.bundle.join("rootfs/tmp/blocked").exists());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_argument_rule_matches_only_its_value() {
    // kill(pid, 0) is refused; kill with any other signal is allowed.
    let mut t = Test::new("seccomp_argument_rule_matches_only_its_value");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    t.args(&[
        "sh",
        "-c",
        "kill -0 $$; echo zero=$?; kill -CONT $$; echo cont=$?",
    ]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("zero=1") && out.contains("cont=0"),
        "{out:?} {}",
        t.errors(&id)
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_errno_eperm_for_mkdir() {
    let mut t = Test::new("seccomp_errno_eperm_for_mkdir");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    t.config["root"]["readonly"] = json!(false);
    t.args(&["sh", "-c", "mkdir /tmp/nope"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    // ERRNO without errnoRet is EPERM.
    assert!(
        t.errors(&id).contains("Operation not permitted"),
        "{}",
        t.errors(&id)
    );
    assert!(!t.bundle.join("rootfs/tmp/nope").exists());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_kill_action_kills_with_sigsys() {
    let mut t = Test::new("seccomp_kill_action_kills_with_sigsys");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
    });
    t.config["root"]["readonly"] = json!(false);
    // The mkdir applet is the container's process itself: it dies of SIGSYS (31).
    t.args(&["mkdir", "/tmp/killed"]);
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.call(&["run", "--bundle", t.bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(128 + 31), "{}", out.describe());
    assert!(!t.bundle.join("rootfs/tmp/killed").exists());
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_flags_are_accepted_and_unknown_ones_refused() {
    let mut t = Test::new("seccomp_flags_are_accepted_and_unknown_ones_refused");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    t.args(&["sh", "-c", "grep ^Seccomp: /proc/self/status"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    assert!(t.output(&id).contains("Seccomp:\t2"), "{}", t.output(&id));
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);

    let other = t.other_id("badflag");
    t.config["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_NOPE"]);
    t.write_config(&other);
    let out = t.create_raw(&other, &[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("SECCOMP_FILTER_FLAG_NOPE"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&other);
}

#[test]
fn seccomp_filter_applies_to_exec() {
    let mut t = Test::new("seccomp_filter_applies_to_exec");
    t.checker(&["--sleep"]);
    t.config["linux"]["seccomp"] = errno_for_mkdir();
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    let out = t.call(&["exec", &id, "/bin/berth-check"]);
    out.assert_ok();
    assert_eq!(Facts::parse(&out.stdout).status("Seccomp"), "2");
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_unknown_action_is_refused_naming_the_field() {
    let mut t = Test::new("seccomp_unknown_action_is_refused_naming_the_field");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]
    });
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("seccomp") && out.stderr.contains("SCMP_ACT_FOO"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_notify_for_write_is_refused() {
    berth_conformance::known_runc_gap!("runc 1.1.5 accepts a NOTIFY rule for write(2)");
    let mut t = Test::new("seccomp_notify_for_write_is_refused");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/nonexistent/agent.sock",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert!(out.stderr.contains("write"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_default_profile_from_berth_spec_blocks_namespace_creation() {
    berth_conformance::berth_only!("spec --default-seccomp");
    let mut t = Test::new("seccomp_default_profile_from_berth_spec_blocks_namespace_creation");
    let dir = t.dir().join("specdir");
    std::fs::create_dir_all(&dir).unwrap();
    t.call(&[
        "spec",
        "--default-seccomp",
        "--bundle",
        dir.to_str().unwrap(),
    ])
    .assert_ok();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    t.config["linux"]["seccomp"] = spec["linux"]["seccomp"].clone();
    // Even with CAP_SYS_ADMIN in the bounding set only, unshare(CLONE_NEWUSER) is refused by
    // Docker's profile without CAP_SYS_ADMIN; a plain command still works.
    t.args(&["sh", "-c", "unshare -U true; echo unshare=$?; echo alive"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("alive") && !out.contains("unshare=0"),
        "{out:?}"
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}
