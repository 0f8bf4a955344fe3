//! Security basics: what the waiting init holds after create, and what the container can
//! see of the runtime.

use berth_conformance::exec::pass_fds;
use berth_conformance::{host, Test};

/// Checks the created-but-not-started init's fds: never a directory fd (a way out of the
/// rootfs); and, with `strict`, only the expected low fds plus at most one start channel.
fn check_init_fds(t: &Test, want_low: &[i32], strict: bool) {
    let pid = t.pid(&t.id);
    let fds = host::fds_of(pid);
    for (fd, target, is_dir) in &fds {
        assert!(
            !is_dir,
            "init holds a directory fd {fd} -> {target}: {fds:?}"
        );
    }
    let numbers: Vec<i32> = fds.iter().map(|(fd, _, _)| *fd).collect();
    assert!(
        numbers.starts_with(want_low),
        "init must hold fds {want_low:?} first: {fds:?}"
    );
    if strict {
        assert!(
            numbers.len() <= want_low.len() + 1,
            "init holds more than stdio, preserved fds and one start channel: {fds:?}"
        );
    }
}

#[test]
fn security_init_holds_no_directory_fds() {
    let t = Test::new("security_init_holds_no_directory_fds");
    t.create();
    check_init_fds(&t, &[0, 1, 2], false);
    t.delete_force(&t.id);
}

#[test]
fn security_init_fds_after_create() {
    berth_conformance::known_runc_gap!("runc init (Go) also holds an epoll fd and a pipe pair");
    let t = Test::new("security_init_fds_after_create");
    t.create();
    check_init_fds(&t, &[0, 1, 2], true);
    t.delete_force(&t.id);
}

#[test]
fn security_init_fds_after_create_with_preserved_fds() {
    let t = Test::new("security_init_fds_after_create_with_preserved_fds");
    let id = t.id.clone();
    t.write_config(&id);
    let a = std::fs::File::create(t.dir().join("preserved")).unwrap();
    let mut cmd = t.create_command(&id, &["--preserve-fds", "1"]);
    pass_fds(&mut cmd, &[a]);
    t.run_create_command(&id, cmd).assert_ok();
    // runc init (Go) also holds an epoll fd and a pipe pair: a known runc gap.
    check_init_fds(
        &t,
        &[0, 1, 2, 3],
        !berth_conformance::skip_known_runc_gaps(),
    );
    t.delete_force(&id);
}

#[test]
fn security_runtime_state_invisible_inside() {
    let mut t = Test::new("security_runtime_state_invisible_inside");
    let root = t.root.display().to_string();
    let bundle = t.bundle.display().to_string();
    t.checker(&["--access", &root, "--access", &bundle]);
    let f = t.run_checker();
    assert!(
        !f.exists(&root),
        "the runtime's --root is visible in the container"
    );
    assert!(
        !f.exists(&bundle),
        "the bundle path is visible in the container"
    );
}

#[test]
fn security_init_is_not_the_runtime_binary_after_start() {
    let mut t = Test::new("security_init_is_not_the_runtime_binary_after_start");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let exe = std::fs::read_link(format!("/proc/{}/exe", t.pid(&id))).unwrap();
    assert!(exe.ends_with("bin/berth-check"), "init runs {exe:?}");
    t.delete_force(&id);
}
