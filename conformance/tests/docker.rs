//! docker 20.10 (Debian docker.io) with the runtime under test added to a private dockerd as
//! `berth` (`--add-runtime`), containers on `--network none`: run (exit code, output, env,
//! user, TTY), a detached container's exec, top, update, pause/unpause, stop and rm, and
//! kill / rm --force. Each test starts its own daemon (conformance/src/dockerd.rs) and
//! fails if anything is left behind.

use berth_conformance::dockerd::{Dockerd, IMAGE, RUNTIME};
use berth_conformance::host;
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

/// Starts a detached container running `sh -c script`; returns its full id.
#[track_caller]
fn run_detached(d: &Dockerd, name: &str, script: &str) -> String {
    d.run(&["--detach", "--name", name, IMAGE, "sh", "-c", script])
        .assert_ok();
    let id = d.inspect(name, "{{.Id}}");
    // The runtime under test holds it: docker chose it, and its state dir is there.
    assert_eq!(d.inspect(name, "{{.HostConfig.Runtime}}"), RUNTIME);
    assert!(
        d.runtime_root().join(&id).join("state.json").is_file(),
        "no runtime state for {id} under {}",
        d.runtime_root().display()
    );
    id
}

fn pid_of(d: &Dockerd, name: &str) -> i32 {
    d.inspect(name, "{{.State.Pid}}")
        .parse()
        .expect("State.Pid is a number")
}

#[test]
fn docker_run_exit_code_output_env_user_tty() {
    let d = Dockerd::start("dk-run");
    let out = d.run(&[
        "--rm",
        "--env",
        "GREETING=hello from docker",
        IMAGE,
        "sh",
        "-c",
        "echo $GREETING; exit 3",
    ]);
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "hello from docker", "{}", out.describe());

    let out = d.run(&["--rm", "--user", "1000:1000", IMAGE, "id"]);
    out.assert_ok();
    assert!(
        out.stdout.contains("uid=1000") && out.stdout.contains("gid=1000"),
        "{}",
        out.describe()
    );

    // The runc shim hands the runtime a --console-socket; the process must get the pty.
    let out = d.run(&[
        "--rm",
        "--tty",
        IMAGE,
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo on-a-tty",
    ]);
    out.assert_ok();
    assert!(out.stdout.contains("on-a-tty"), "{}", out.describe());

    // A missing command: the shim reports the runtime's last JSON log line.
    let out = d.run(&["--rm", IMAGE, "/no/such/command"]);
    assert_eq!(out.code(), Some(127), "{}", out.describe());
    assert!(
        out.stderr.contains("/no/such/command"),
        "{}",
        out.describe()
    );
}

#[test]
fn docker_detached_exec_top_update_pause_stop_rm() {
    let d = Dockerd::start("dk-life");
    let name = "lifecycle";
    let id = run_detached(&d, name, TRAPPING);
    let pid = pid_of(&d, name);
    assert!(host::alive(pid));

    // exec: output, exit code, environment, user, TTY.
    let out = d.docker(&[
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
    let out = d.docker(&["exec", "--user", "1000:1000", name, "id", "-u"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "1000");
    let out = d.docker(&["exec", "--tty", name, "sh", "-c", "test -t 1 && echo tty"]);
    out.assert_ok();
    assert!(out.stdout.contains("tty"), "{}", out.describe());

    // top: the runtime's `ps --format json` gives the pids.
    let out = d.docker(&["top", name]);
    out.assert_ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&pid.to_string())),
        "{}",
        out.describe()
    );

    // update (LinuxResources JSON on the runtime's stdin): the limits reach the cgroup.
    d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        name,
    ])
    .assert_ok();
    let out = d.docker(&[
        "exec",
        name,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
         /sys/fs/cgroup/pids/pids.max 2>/dev/null || \
         cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max",
    ]);
    out.assert_ok();
    let seen: Vec<&str> = out.stdout.split_whitespace().collect();
    assert!(
        seen == ["67108864", "50000", "50"] || seen == ["67108864", "50000", "100000", "50"],
        "limits seen inside: {seen:?}"
    );

    // pause / unpause.
    d.docker(&["pause", name]).assert_ok();
    assert_eq!(d.inspect(name, "{{.State.Status}}"), "paused");
    d.docker(&["unpause", name]).assert_ok();
    assert_eq!(d.inspect(name, "{{.State.Status}}"), "running");
    d.docker(&["exec", name, "true"]).assert_ok();

    // stop: SIGTERM through the runtime; the trap makes the exit code 0.
    d.docker(&["stop", "--time", "20", name]).assert_ok();
    assert_eq!(d.inspect(name, "{{.State.Status}}"), "exited");
    assert_eq!(d.inspect(name, "{{.State.ExitCode}}"), "0");
    assert!(host::wait_gone(pid, TIMEOUT));

    d.docker(&["rm", name]).assert_ok();
    let out = d.docker(&["ps", "--all", "--quiet"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "");
    wait_for("the runtime's state dir to go", || {
        !d.runtime_root().join(&id).exists()
    });
}

#[test]
fn docker_kill_signals_and_rm_force() {
    let d = Dockerd::start("dk-kill");
    let name = "killed";
    run_detached(&d, name, TRAPPING);
    let pid = pid_of(&d, name);

    // A named signal reaches process 1 (the shim passes it to the runtime as a number).
    d.docker(&["kill", "--signal", "USR1", name]).assert_ok();
    wait_for("SIGUSR1 to reach the container", || {
        d.docker(&["exec", name, "cat", "/tmp/usr1"])
            .stdout
            .contains("usr1")
    });
    // Default SIGKILL: exit code 137.
    d.docker(&["kill", name]).assert_ok();
    assert!(host::wait_gone(pid, TIMEOUT));
    wait_for("docker to see the container exit", || {
        d.inspect(name, "{{.State.Status}}") == "exited"
    });
    assert_eq!(d.inspect(name, "{{.State.ExitCode}}"), "137");
    d.docker(&["rm", name]).assert_ok();

    // rm --force on a running container.
    let name = "forced";
    let id = run_detached(&d, name, "sleep 1000");
    let pid = pid_of(&d, name);
    d.docker(&["rm", "--force", name]).assert_ok();
    assert!(host::wait_gone(pid, TIMEOUT));
    let out = d.docker(&["ps", "--all", "--quiet"]);
    assert_eq!(out.stdout.trim(), "", "{}", out.describe());
    wait_for("the runtime's state dir to go", || {
        !d.runtime_root().join(&id).exists()
    });
}
