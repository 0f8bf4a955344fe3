//! The container process (config.md "Process", config-linux.md rlimits/capabilities):
//! what it runs as and what it inherits.

use berth_conformance::console::ConsoleSocket;
use berth_conformance::exec::pass_fds;
use berth_conformance::facts::cap_mask;
use berth_conformance::{json, Test};
use std::io::Read;
use std::time::Duration;

#[test]
fn process_args_env_cwd() {
    let mut t = Test::new("process_args_env_cwd");
    t.checker(&["--exit", "0", "two words", "ünïcode"]);
    t.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"]);
    t.config["process"]["cwd"] = json!("/tmp");
    let f = t.run_checker();
    assert_eq!(
        f.strings("argv"),
        vec!["/bin/berth-check", "--exit", "0", "two words", "ünïcode"]
    );
    let env = f.env();
    for kv in ["PATH=/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"] {
        assert!(env.iter().any(|e| e == kv), "{kv} missing from {env:?}");
    }
    assert_eq!(f.str("cwd"), "/tmp");
}

#[test]
fn process_user_uid_gid_additional_gids() {
    let mut t = Test::new("process_user_uid_gid_additional_gids");
    t.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    let f = t.run_checker();
    assert_eq!(f.report["uids"], json!([1000, 1000, 1000, 1000]));
    assert_eq!(f.report["gids"], json!([1001, 1001, 1001, 1001]));
    let groups = f.groups();
    assert!(groups.contains(&10) && groups.contains(&20), "{groups:?}");
    assert!(!groups.contains(&0), "root group kept: {groups:?}");
}

#[test]
fn process_umask() {
    let mut t = Test::new("process_umask");
    t.config["process"]["user"]["umask"] = json!(0o027);
    let f = t.run_checker();
    assert_eq!(f.status("Umask"), "0027");
}

fn five_sets(t: &mut Test) {
    t.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
}

#[test]
fn process_capabilities_five_sets_root() {
    let mut t = Test::new("process_capabilities_five_sets_root");
    five_sets(&mut t);
    t.config["process"]["noNewPrivileges"] = json!(true);
    let f = t.run_checker();
    let bounding = cap_mask(&[
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
    ]);
    assert_eq!(f.caps("CapBnd"), bounding);
    assert_eq!(f.caps("CapInh"), cap_mask(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(f.caps("CapAmb"), cap_mask(&["CAP_NET_BIND_SERVICE"]));
    // uid 0 would gain its whole bounding set across execve, but no_new_privs caps the
    // gain at the permitted set the runtime applied before exec.
    let permitted = cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    assert_eq!(f.caps("CapPrm"), permitted);
    assert_eq!(f.caps("CapEff"), permitted);
}

#[test]
fn process_capabilities_five_sets_non_root() {
    let mut t = Test::new("process_capabilities_five_sets_non_root");
    five_sets(&mut t);
    t.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let f = t.run_checker();
    let ambient = cap_mask(&["CAP_NET_BIND_SERVICE"]);
    assert_eq!(
        f.caps("CapBnd"),
        cap_mask(&[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_SETUID"
        ])
    );
    assert_eq!(f.caps("CapInh"), ambient);
    assert_eq!(f.caps("CapAmb"), ambient);
    // A non-root execve keeps only the ambient set as permitted and effective.
    assert_eq!(f.caps("CapPrm"), ambient);
    assert_eq!(f.caps("CapEff"), ambient);
}

#[test]
fn process_capabilities_unknown_name_is_error() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 warns about unknown capabilities and ignores them"
    );
    let mut t = Test::new("process_capabilities_unknown_name_is_error");
    t.config["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_BERTH_BOGUS"]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(out.stderr.contains("CAP_BERTH_BOGUS"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn process_rlimits() {
    let mut t = Test::new("process_rlimits");
    t.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 1024, "hard": 4096},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
    ]);
    let f = t.run_checker();
    assert_eq!(f.rlimit("RLIMIT_NOFILE"), (512, 1024));
    assert_eq!(f.rlimit("RLIMIT_CORE"), (1024, 4096));
    assert_eq!(f.rlimit("RLIMIT_NPROC"), (300, 400));
}

/// The host's RLIMIT_NOFILE hard limit is 20000 and there is no CAP_SYS_RESOURCE, so
/// raising it must fail at create.
fn raise_nofile(name: &str) -> (Test, berth_conformance::Outcome) {
    let mut t = Test::new(name);
    t.config["process"]["rlimits"] =
        json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1_000_000_000u64}]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    (t, out)
}

#[test]
fn rlimit_nofile_raise_hard_fails() {
    let (t, out) = raise_nofile("rlimit_nofile_raise_hard_fails");
    out.assert_failed();
    assert!(!out.stderr.trim().is_empty());
    t.assert_nothing_left(&t.id);
}

#[test]
fn rlimit_nofile_raise_hard_fails_naming_rlimit() {
    berth_conformance::known_runc_gap!("runc 1.1.5 says 'error setting rlimit type 7'");
    let (t, out) = raise_nofile("rlimit_nofile_raise_hard_fails_naming_rlimit");
    out.assert_failed();
    assert!(out.stderr.contains("RLIMIT_NOFILE"), "{}", out.describe());
    t.assert_nothing_left(&t.id);
}

#[test]
fn rlimit_unknown_type_is_error() {
    let mut t = Test::new("rlimit_unknown_type_is_error");
    t.config["process"]["rlimits"] = json!([{"type": "RLIMIT_BERTH", "soft": 1, "hard": 1}]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(out.stderr.contains("RLIMIT_BERTH"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

#[test]
fn process_no_new_privileges() {
    for (value, want) in [(true, "1"), (false, "0")] {
        let mut t = Test::new(&format!("process_no_new_privileges_{value}"));
        t.config["process"]["noNewPrivileges"] = json!(value);
        assert_eq!(t.run_checker().status("NoNewPrivs"), want);
    }
}

#[test]
fn process_oom_score_adj() {
    let mut t = Test::new("process_oom_score_adj");
    t.config["process"]["oomScoreAdj"] = json!(512);
    assert_eq!(t.run_checker().str("oom_score_adj"), "512");
}

#[test]
fn process_apparmor_profile_without_apparmor_fails() {
    let mut t = Test::new("process_apparmor_profile_without_apparmor_fails");
    t.config["process"]["apparmorProfile"] = json!("berth-conformance");
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(
        out.stderr.to_lowercase().contains("apparmor"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn process_selinux_label_without_selinux_fails() {
    let mut t = Test::new("process_selinux_label_without_selinux_fails");
    t.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(
        out.stderr.to_lowercase().contains("selinux"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn process_no_other_fds() {
    let t = Test::new("process_no_other_fds");
    let f = t.run_checker();
    let fds: Vec<i32> = f.fds().into_iter().map(|(fd, _)| fd).collect();
    assert_eq!(fds, vec![0, 1, 2], "{:?}", f.fds());
}

#[test]
fn process_preserve_fds() {
    let t = Test::new("process_preserve_fds");
    let id = t.id.clone();
    t.write_config(&id);
    let a = std::fs::File::create(t.dir().join("preserved-a")).unwrap();
    let b = std::fs::File::create(t.dir().join("preserved-b")).unwrap();
    let mut cmd = t.create_command(&id, &["--preserve-fds", "2"]);
    pass_fds(&mut cmd, &[a, b]);
    t.run_create_command(&id, cmd).assert_ok();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let fds = t.facts(&id).fds();
    assert_eq!(
        fds.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "{fds:?}"
    );
    assert!(fds[3].1.contains("preserved-a"), "{fds:?}");
    assert!(fds[4].1.contains("preserved-b"), "{fds:?}");
    t.delete(&id).assert_ok();
}

#[test]
fn process_listen_fds_passed_on() {
    let t = Test::new("process_listen_fds_passed_on");
    let id = t.id.clone();
    t.write_config(&id);
    let a = std::fs::File::create(t.dir().join("listen-a")).unwrap();
    let b = std::fs::File::create(t.dir().join("listen-b")).unwrap();
    // LISTEN_PID must name the runtime itself, so a shell sets it to its own pid and
    // execs the runtime.
    let inner = t.create_command(&id, &[]);
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(inner.get_program())
        .args(inner.get_args())
        .env("LISTEN_FDS", "2");
    pass_fds(&mut cmd, &[a, b]);
    t.run_create_command(&id, cmd).assert_ok();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let f = t.facts(&id);
    assert_eq!(f.env_var("LISTEN_FDS").as_deref(), Some("2"));
    assert_eq!(f.env_var("LISTEN_PID").as_deref(), Some("1"));
    let fds = f.fds();
    assert_eq!(
        fds.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "{fds:?}"
    );
    assert!(
        fds[3].1.contains("listen-a") && fds[4].1.contains("listen-b"),
        "{fds:?}"
    );
    t.delete(&id).assert_ok();
}

#[test]
fn process_terminal_console_socket() {
    let mut t = Test::new("process_terminal_console_socket");
    t.config["process"]["terminal"] = json!(true);
    t.checker(&["--stat", "/dev/console"]);
    let id = t.id.clone();
    let sock = ConsoleSocket::bind(&t.dir().join("console.sock"));
    let sock_path = sock.path().display().to_string();
    let receiver = std::thread::spawn(move || sock.receive_master(Duration::from_secs(30)));
    t.create_id(&id, &["--console-socket", &sock_path])
        .assert_ok();
    let mut master = receiver.join().expect("console socket receiver");
    let link = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&master)
    ))
    .unwrap();
    assert!(
        link.to_string_lossy().contains("ptmx"),
        "received fd is not a pty master: {link:?}"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // Reads until the slave side is closed (EIO) or EOF.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(all);
    });
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("pty output");
    let f = berth_conformance::Facts::parse(&String::from_utf8_lossy(&out));
    assert_eq!(f.get("tty"), &json!([true, true, true]));
    assert_eq!(f.stat("/dev/console")["type"], "char");
    assert_eq!(
        t.output(&id),
        "",
        "with a terminal nothing goes to the caller's stdout"
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}
