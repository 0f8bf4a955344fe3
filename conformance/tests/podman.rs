//! podman 4.3 (Debian, with conmon 2.1) driving the runtime under test with `--runtime`:
//! run (exit code, output, env, user, TTY, a failing command), a detached container's exec,
//! pause/unpause, update, stop and rm, and kill / rm --force. Each test has its own private
//! podman (conformance/src/podman.rs) and fails if anything is left behind.

use berth_conformance::podman::{Podman, IMAGE};
use berth_conformance::{host, locate};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A container that exits 0 on SIGTERM and notes SIGUSR1 in /tmp/usr1.
const TRAPPING: &str = "trap 'exit 0' TERM; trap 'echo usr1 > /tmp/usr1' USR1; \
                        while :; do sleep 0.1; done";

/// Waits until `cond` holds, polling; panics with `what` on timeout.
#[track_caller]
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The container's cgroup v1 freezer state, read from the host (None on cgroup v2).
fn freezer_state(pid: i32) -> Option<String> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cgroups
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string()))?;
    let file = PathBuf::from("/sys/fs/cgroup/freezer")
        .join(path.trim_start_matches('/'))
        .join("freezer.state");
    std::fs::read_to_string(file)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Starts a detached container running `sh -c script` and returns its full id.
#[track_caller]
fn run_detached(p: &Podman, name: &str, script: &str) -> String {
    p.run(&["--detach", "--name", name, IMAGE, "sh", "-c", script])
        .assert_ok();
    let id = p.inspect(name, "{{.Id}}");
    // The runtime under test holds it: podman recorded it, and its state dir is there.
    assert_eq!(
        p.inspect(name, "{{.OCIRuntime}}"),
        locate::runtime().display().to_string()
    );
    assert!(
        Podman::runtime_root()
            .join(&id)
            .join("state.json")
            .is_file(),
        "no runtime state for {id} under {}",
        Podman::runtime_root().display()
    );
    id
}

fn pid_of(p: &Podman, name: &str) -> i32 {
    p.inspect(name, "{{.State.Pid}}")
        .parse()
        .expect("State.Pid is a number")
}

#[test]
fn podman_run_exit_code_output_env_user_tty() {
    let p = Podman::new("pm-run");
    let out = p.run(&[
        "--rm",
        "--env",
        "GREETING=hello from podman",
        IMAGE,
        "sh",
        "-c",
        "echo $GREETING; exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "hello from podman", "{}", out.describe());

    let out = p.run(&["--rm", "--user", "1000:1000", IMAGE, "id"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("uid=1000") && out.stdout.contains("gid=1000"),
        "{}",
        out.describe()
    );

    // conmon hands the runtime a --console-socket; the process must get the pty.
    let out = p.run(&[
        "--rm",
        "--tty",
        IMAGE,
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo on-a-tty",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("on-a-tty"), "{}", out.describe());

    // A missing command: podman maps the runtime's error to 127 and shows its message.
    let out = p.run(&["--rm", IMAGE, "/no/such/command"]);
    assert_eq!(out.code(), Some(127), "{}", out.describe());
    assert!(
        out.stderr.contains("/no/such/command"),
        "{}",
        out.describe()
    );
}

#[test]
fn podman_detached_exec_pause_update_stop_rm() {
    let p = Podman::new("pm-life");
    let name = "lifecycle";
    let id = run_detached(&p, name, TRAPPING);
    let pid = pid_of(&p, name);
    assert!(host::alive(pid));

    // exec: output, exit code, environment, user, TTY (conmon passes --tty and a socket).
    let out = p.podman(&[
        "exec",
        "--env",
        "WHO=exec",
        name,
        "sh",
        "-c",
        "echo hello $WHO; exit 4",
    ]);
    assert_eq!(out.code(), Some(4), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "hello exec");
    let out = p.podman(&["exec", "--user", "1000:1000", name, "id", "-u"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1000");
    let out = p.podman(&["exec", "--tty", name, "sh", "-c", "test -t 1 && echo tty"]);
    out.assert_ok();
    assert!(out.stdout.contains("tty"), "{}", out.describe());

    // pause / unpause: podman's state and the freezer agree.
    p.podman(&["pause", name]).assert_ok();
    assert_eq!(p.inspect(name, "{{.State.Status}}"), "paused");
    if let Some(state) = freezer_state(pid) {
        assert_eq!(state, "FROZEN");
    }
    p.podman(&["unpause", name]).assert_ok();
    assert_eq!(p.inspect(name, "{{.State.Status}}"), "running");
    if let Some(state) = freezer_state(pid) {
        assert_eq!(state, "THAWED");
    }
    p.podman(&["exec", name, "true"]).assert_ok();

    // update (podman passes --resources=FILE): the limits reach the container's cgroup.
    p.podman(&[
        "update",
        "--memory",
        "64m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        name,
    ])
    .assert_ok();
    let out = p.podman(&[
        "exec",
        name,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
         2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max",
    ]);
    out.assert_ok();
    let seen: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(
        seen == ["67108864", "50000"] || seen == ["67108864", "50000", "100000"],
        "limits seen inside: {seen:?}"
    );

    // stop: SIGTERM through the runtime; the trap makes the exit code 0.
    p.podman(&["stop", "--time", "20", name]).assert_ok();
    assert_eq!(p.inspect(name, "{{.State.Status}}"), "exited");
    assert_eq!(p.inspect(name, "{{.State.ExitCode}}"), "0");
    assert!(host::wait_gone(pid, TIMEOUT));

    p.podman(&["rm", name]).assert_ok();
    let out = p.podman(&["ps", "--all", "--quiet"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "");
    wait_for("the runtime's state dir to go", || {
        !Podman::runtime_root().join(&id).exists()
    });
}

#[test]
fn podman_kill_signals_and_rm_force() {
    let p = Podman::new("pm-kill");
    let name = "killed";
    run_detached(&p, name, TRAPPING);
    let pid = pid_of(&p, name);

    // A signal by name reaches the container's process 1 (the runtime gets it as a number).
    p.podman(&["kill", "--signal", "USR1", name]).assert_ok();
    wait_for("SIGUSR1 to reach the container", || {
        p.podman(&["exec", name, "cat", "/tmp/usr1"])
            .stdout
            .contains("usr1")
    });
    // Default SIGKILL: exit code 137.
    p.podman(&["kill", name]).assert_ok();
    assert!(host::wait_gone(pid, TIMEOUT));
    wait_for("podman to see the container exit", || {
        p.inspect(name, "{{.State.Status}}") == "exited"
    });
    assert_eq!(p.inspect(name, "{{.State.ExitCode}}"), "137");
    p.podman(&["rm", name]).assert_ok();

    // rm --force on a running container: podman kills through the runtime, deletes it,
    // then asks `state` of a container that is gone ("does not exist" must be in the error).
    let name = "forced";
    let id = run_detached(&p, name, "sleep 1000");
    let pid = pid_of(&p, name);
    p.podman(&["rm", "--force", "--time", "0", name])
        .assert_ok();
    assert!(host::wait_gone(pid, TIMEOUT));
    let out = p.podman(&["ps", "--all", "--quiet"]);
    assert_eq!(out.stdout.trim(), "", "{}", out.describe());
    wait_for("the runtime's state dir to go", || {
        !Podman::runtime_root().join(&id).exists()
    });
}
