//! `dock run` and its friends end to end on berth, as root: exit codes and streams, the image
//! config (Env, Cmd, Entrypoint, WorkingDir, User, Labels, StopSignal), detached containers and
//! their logs, ps, stop (with a trap on the image's stop signal, and the SIGKILL fallback),
//! kill, rm -f, exec, volumes, resource limits, ttys, inspect, pulling a missing image from
//! our registry, and bad input that leaves nothing behind. Images are made locally.

mod common;

use common::{default_config, Fixture};
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Wait (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn foreground_exit_codes_and_streams() {
    let f = Fixture::with_image();
    let out = f.run(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = f.run(&["run", "--rm", "bb", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("nosuchcommand"),
        "{}",
        text(&out.stderr)
    );
    let out = f.run(&["run", "--rm", "bb", "/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    // Signals to a foreground `dock run` reach the container.
    let mut child = f
        .command(&[
            "run",
            "--rm",
            "bb",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 9' TERM; echo ready; while true; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "got TERM\n");
    assert_eq!(child.wait().unwrap().code(), Some(9));
    assert!(
        f.container_dirs().is_empty(),
        "--rm left {:?}",
        f.container_dirs()
    );
}

#[test]
fn image_config_decides_env_cmd_workdir_user_and_entrypoint() {
    let f = Fixture::with_image();
    assert_eq!(f.ok(&["run", "--rm", "bb"]), "hello from 1\n");
    let out = f.ok(&[
        "run",
        "--rm",
        "-e",
        "IMG=flag",
        "-e",
        "NEW=x",
        "bb",
        "sh",
        "-c",
        "echo $IMG $NEW $HOME $HOSTNAME; pwd",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let words: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(&words[..3], ["flag", "x", "/root"]);
    assert_eq!(words[3].len(), 12, "HOSTNAME is the short id: {out}");
    assert_eq!(lines[1], "/work", "the image's WorkingDir is made and used");
    assert_eq!(
        f.ok(&["run", "--rm", "-w", "/made/here", "bb", "pwd"]),
        "/made/here\n"
    );
    assert_eq!(
        f.ok(&[
            "run",
            "--rm",
            "-u",
            "app",
            "bb",
            "sh",
            "-c",
            "id; echo $HOME"
        ]),
        "uid=1000(app) gid=1000(app) groups=10(wheel)\n/home/app\n"
    );
    assert_eq!(
        f.ok(&["run", "--rm", "-u", "4242:10", "bb", "id", "-u"]),
        "4242\n"
    );
    let out = f.run(&["run", "--rm", "-u", "nosuchuser", "bb", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nosuchuser"),
        "{}",
        text(&out.stderr)
    );
    // --entrypoint replaces the entrypoint and drops the image's Cmd.
    assert_eq!(
        f.ok(&["run", "--rm", "--entrypoint", "/bin/echo", "bb", "a", "b"]),
        "a b\n"
    );
    assert_eq!(
        f.ok(&["run", "--rm", "--entrypoint", "/bin/echo", "bb"]),
        "\n"
    );
    f.add_image(
        "ep",
        serde_json::json!({"Entrypoint": ["/bin/echo", "ep:"], "Cmd": ["default"]}),
    );
    assert_eq!(f.ok(&["run", "--rm", "ep"]), "ep: default\n");
    assert_eq!(f.ok(&["run", "--rm", "ep", "mine"]), "ep: mine\n");
    assert_eq!(
        f.ok(&["run", "--rm", "--entrypoint", "", "ep", "echo", "plain"]),
        "plain\n"
    );
    f.add_image("nocmd", serde_json::json!({}));
    let out = f.run(&["run", "--rm", "nocmd"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("no command"),
        "{}",
        text(&out.stderr)
    );
    assert!(f.container_dirs().is_empty());
}

#[test]
fn detached_container_logs_ps_and_stop_with_its_stop_signal() {
    let f = Fixture::with_image();
    // The image's StopSignal is SIGUSR1: the trap proves stop sent it.
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "bb",
        "sh",
        "-c",
        "trap 'echo stopping >&2; exit 7' USR1; echo ready; while true; do sleep 0.05; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64);
    eventually("ready in the log", || f.ok(&["logs", "web"]) == "ready\n");
    let rows = f.ps();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ID"], id.as_str());
    assert_eq!(rows[0]["Names"], "web");
    assert_eq!(rows[0]["State"], "running");
    let table = f.ok(&["ps"]);
    assert!(table.starts_with("CONTAINER ID   IMAGE"), "{table}");
    assert!(
        table.contains(&id[..12]) && table.contains(" Up "),
        "{table}"
    );
    // Names are unique.
    let out = f.run(&["run", "-d", "--name", "web", "bb", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("already in use"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(f.ok(&["stop", &id[..8]]), format!("{}\n", &id[..8]));
    let rows = f.ps();
    assert_eq!(rows[0]["State"], "exited");
    assert_eq!(rows[0]["ExitCode"], 7);
    assert!(
        f.ok(&["ps"]).lines().count() == 1,
        "ps without -a lists only running ones"
    );
    let out = f.run(&["logs", "web"]);
    assert_eq!(text(&out.stdout), "ready\n");
    assert_eq!(text(&out.stderr), "stopping\n");
    let stamped = f.ok(&["logs", "-t", "web"]);
    assert!(
        stamped.starts_with("20") && stamped.ends_with(" ready\n"),
        "{stamped}"
    );
    f.ok(&["rm", "web"]);
    f.assert_gone(&id);
}

#[test]
fn stop_falls_back_to_sigkill_and_logs_follow_to_the_end() {
    let f = Fixture::with_image();
    let id = f.ok(&[
        "run",
        "-d",
        "bb",
        "sh",
        "-c",
        "trap '' USR1 TERM; echo up; while true; do sleep 0.05; done",
    ]);
    let id = id.trim();
    eventually("up", || f.ok(&["logs", id]) == "up\n");
    f.ok(&["stop", "-t", "1", id]);
    assert_eq!(f.ps()[0]["ExitCode"], 137);
    let id2 = f.ok(&[
        "run",
        "-d",
        "bb",
        "sh",
        "-c",
        "echo one; sleep 0.3; echo two; sleep 0.3; echo three",
    ]);
    assert_eq!(f.ok(&["logs", "-f", id2.trim()]), "one\ntwo\nthree\n");
}

#[test]
fn kill_rm_and_rm_force() {
    let f = Fixture::with_image();
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        "k",
        "bb",
        "sh",
        "-c",
        "trap 'echo hup; exit 4' HUP; echo up; while true; do sleep 0.05; done",
    ]);
    let id = id.trim().to_string();
    eventually("up", || f.ok(&["logs", "k"]) == "up\n");
    let out = f.run(&["rm", "k"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("running"),
        "{}",
        text(&out.stderr)
    );
    assert!(!f.run(&["kill", "-s", "NOSUCHSIG", "k"]).status.success());
    f.ok(&["kill", "-s", "HUP", "k"]);
    eventually("exit after HUP", || f.ps()[0]["State"] == "exited");
    assert_eq!(f.ps()[0]["ExitCode"], 4);
    let out = f.run(&["kill", "k"]);
    assert!(
        text(&out.stderr).contains("not running"),
        "{}",
        text(&out.stderr)
    );
    f.ok(&["rm", "k"]);
    f.assert_gone(&id);
    let id = f.ok(&["run", "-d", "bb", "sleep", "1000"]);
    let id = id.trim().to_string();
    f.ok(&["rm", "-f", &id[..12]]);
    f.assert_gone(&id);
    assert!(f.ps().is_empty());
    assert!(!f.run(&["rm", "nosuch"]).status.success());
}

#[test]
fn exec_runs_in_the_container_with_its_environment() {
    let f = Fixture::with_image();
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        "x",
        "-e",
        "FROM_RUN=1",
        "bb",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let out = f.ok(&[
        "exec",
        "x",
        "sh",
        "-c",
        "echo $FROM_RUN $IMG; pwd; hostname",
    ]);
    assert_eq!(out, format!("1 1\n/work\n{}\n", &id[..12]));
    assert_eq!(
        f.ok(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "E=2",
            "x",
            "sh",
            "-c",
            "id -u; pwd; echo $E"
        ]),
        "1000\n/tmp\n2\n"
    );
    assert_eq!(
        f.run(&["exec", "x", "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    // Same pid namespace: the container's init is pid 1 there.
    assert!(f.ok(&["exec", "x", "ps"]).contains("sleep 1000"));
    let out = f
        .command(&["exec", "-i", "x", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = out.unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"via stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "via stdin\n");
    let out = f.ok(&["exec", "-t", "x", "sh", "-c", "tty; echo $TERM"]);
    assert!(
        out.starts_with("/dev/pts/") && out.contains("xterm"),
        "{out:?}"
    );
    f.ok(&["rm", "-f", "x"]);
    assert!(!f.run(&["exec", "x", "true"]).status.success());
}

#[test]
fn stdin_only_with_i_and_tty_with_t() {
    let f = Fixture::with_image();
    let run_with_input = |args: &[&str]| {
        let mut child = f
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
        text(&child.wait_with_output().unwrap().stdout)
    };
    assert_eq!(
        run_with_input(&["run", "--rm", "-i", "bb", "cat"]),
        "typed\n"
    );
    assert_eq!(run_with_input(&["run", "--rm", "bb", "cat"]), "");
    let out = f.ok(&["run", "--rm", "-t", "bb", "sh", "-c", "tty; echo $TERM"]);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.contains("xterm"), "{out:?}");
    let id = f.ok(&["run", "-d", "-t", "bb", "sh", "-c", "tty"]);
    eventually("tty in the log", || {
        f.ok(&["logs", id.trim()]).starts_with("/dev/pts/")
    });
}

#[test]
fn volumes_and_resource_limits() {
    let f = Fixture::with_image();
    let host = f.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let ro = format!("{}:/data:ro", host.display());
    let out = f.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "bb",
        "sh",
        "-c",
        "cat /data/in; touch /data/new",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "from host\n");
    assert!(
        text(&out.stderr).contains("Read-only"),
        "{}",
        text(&out.stderr)
    );
    let rw = format!("{}:/data", host.display());
    f.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "bb",
        "sh",
        "-c",
        "echo made > /data/new",
    ]);
    assert_eq!(std::fs::read_to_string(host.join("new")).unwrap(), "made\n");
    let missing = f.dir.path().join("made-by-run");
    f.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "bb",
        "true",
    ]);
    assert!(
        missing.is_dir(),
        "a missing host directory is made, as docker does"
    );
    let out = f.ok(&["run", "--rm", "-m", "64m", "--cpus", "0.5", "--pids-limit", "12", "bb", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(out, format!("{}\n50000\n100000\n12\n", 64 << 20));
    // The pids limit holds.
    let out = f.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "bb",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
    ]);
    assert!(
        text(&out.stderr).contains("fork") || text(&out.stderr).contains("resource"),
        "no fork failure under --pids-limit 5: {}",
        text(&out.stderr)
    );
}

#[test]
fn network_none_has_loopback_only_and_host_shares_the_host() {
    let f = Fixture::with_image();
    let out = f.ok(&["run", "--rm", "bb", "ls", "/sys/class/net"]);
    assert_eq!(out, "lo\n");
    let out = f.ok(&[
        "run",
        "--rm",
        "bb",
        "cat",
        "/sys/class/net/lo/operstate",
        "/etc/hosts",
    ]);
    assert!(out.contains("localhost"), "{out}");
    let host_ifaces = std::fs::read_dir("/sys/class/net").unwrap().count();
    let out = f.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(out.lines().count(), host_ifaces);
}

#[test]
fn docker_default_security_settings() {
    let f = Fixture::with_image();
    let out = f.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status",
    ]);
    // docker's 14 default capabilities.
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    // Masked and read-only paths.
    let out = f.run(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "cat /proc/kcore | wc -c; echo x > /proc/sysrq-trigger",
    ]);
    assert_eq!(text(&out.stdout), "0\n");
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn inspect_containers_and_images() {
    let f = Fixture::with_image();
    let id = f.ok(&[
        "run", "-d", "--name", "ins", "-m", "32m", "bb", "sleep", "1000",
    ]);
    let id = id.trim();
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["inspect", "ins"])).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], id);
    assert_eq!(c["Name"], "/ins");
    assert_eq!(c["Path"], "sleep");
    assert_eq!(c["Args"], serde_json::json!(["1000"]));
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(c["Config"]["Labels"]["org.example.kind"], "test");
    assert_eq!(c["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(c["Config"]["WorkingDir"], "/work");
    assert_eq!(c["HostConfig"]["Memory"], 32 << 20);
    assert_eq!(c["HostConfig"]["NetworkMode"], "none");
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
    // Labels are the bundle's annotations.
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c["BundleConfig"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(bundle["annotations"]["org.example.kind"], "test");
    // ("bb" alone could be a container id prefix, as in docker: containers are looked up first.)
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["inspect", "bb:latest"])).unwrap();
    assert_eq!(v[0]["Id"], c["Image"]);
    assert_eq!(v[0]["RepoTags"], serde_json::json!(["bb:latest"]));
    assert_eq!(v[0]["Config"]["Cmd"][0], "sh");
    let v: serde_json::Value = serde_json::from_str(&f.ok(&[
        "inspect",
        "--type",
        "image",
        &c["Image"].as_str().unwrap()[7..19],
    ]))
    .unwrap();
    assert_eq!(v[0]["Id"], c["Image"]);
    let out = f.run(&["inspect", "nosuch"]);
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout).trim(), "[]");
    f.ok(&["stop", "-t", "0", "ins"]);
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["inspect", "ins"])).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["ExitCode"], 137);
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let f = Fixture::with_image();
    for (args, needle) in [
        (vec!["run", "-m", "lots", "bb"], "--memory"),
        (vec!["run", "--cpus", "0", "bb"], "--cpus"),
        (vec!["run", "-v", "relative:/x", "bb"], "--volume"),
        (vec!["run", "-v", "/tmp:rel", "bb"], "--volume"),
        (vec!["run", "-w", "relative", "bb"], "--workdir"),
        (vec!["run", "--name", "bad/name", "bb"], "name"),
        (
            vec!["run", "--runtime", "/nonexistent/berth", "bb"],
            "--runtime",
        ),
    ] {
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            err.lines().count() <= 3,
            "{args:?}: not a short error: {err}"
        );
    }
    // A missing image is pulled; a registry that does not answer fails the run.
    let out = f.run(&["run", "127.0.0.1:1/nosuchimage:v9"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("nosuchimage"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        f.container_dirs().is_empty(),
        "left {:?}",
        f.container_dirs()
    );
}

#[test]
fn run_pulls_a_missing_image_from_a_registry() {
    common::require_tool("skopeo");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg_dir = tempfile::tempdir().unwrap();
    let server = rt
        .block_on(dock_registry::start(dock_registry::ServeOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            root: reg_dir.path().join("root"),
            config: None,
            tls_cert: None,
            tls_key: None,
            insecure_anonymous: false,
        }))
        .unwrap();
    let f = Fixture::new();
    let layout = f.dir.path().join("layout");
    common::busybox_layout(&layout, "v1", default_config());
    let image = format!("{}/test/bb:v1", server.addr);
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = f.run(&["run", "--rm", &image]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from 1\n");
    assert!(
        text(&out.stderr).contains("Unable to find image"),
        "{}",
        text(&out.stderr)
    );
    assert!(f.ok(&["images"]).contains("test/bb"));
    server.abort();
}

#[test]
fn a_killed_dock_run_loses_neither_output_nor_exit_code() {
    let f = Fixture::with_image();
    let mut child = f
        .command(&[
            "run",
            "--name",
            "survivor",
            "bb",
            "sh",
            "-c",
            "echo first; sleep 0.5; echo second; exit 3",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "first\n");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdout);
    // The monitor carries on: the container finishes, its output and exit code are kept.
    eventually("the container to exit", || f.ps()[0]["State"] == "exited");
    assert_eq!(f.ps()[0]["ExitCode"], 3);
    assert_eq!(f.ok(&["logs", "survivor"]), "first\nsecond\n");
}

#[test]
fn interactive_tty_in_the_foreground() {
    use nix::pty::openpty;
    use std::io::{Read, Write};
    let f = Fixture::with_image();
    let pty = openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut child = f
        .command(&["run", "--rm", "-it", "bb", "sh"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(b"echo answer=$((6*7)); tty; exit 5\n")
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    // Everything dock wrote is buffered in the pty; our copy of the slave is gone, so the
    // read ends with EIO after the data.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let seen = text(&seen);
    assert!(seen.contains("answer=42"), "{seen:?}");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
}

#[test]
fn system_prune_removes_stopped_containers_and_unused_images() {
    let f = Fixture::with_image();
    f.add_image("other", serde_json::json!({"Cmd": ["true"]}));
    let running = f.ok(&["run", "-d", "bb", "sleep", "1000"]);
    let running = running.trim().to_string();
    f.ok(&["run", "--name", "done", "bb", "true"]);
    assert_eq!(f.ps().len(), 2);
    let done_id = f.ps().iter().find(|r| r["Names"] == "done").unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let out = f.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains(&done_id), "{out}");
    f.assert_gone(&done_id);
    let rows = f.ps();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ID"], running.as_str());
    let images = f.ok(&["images"]);
    assert!(
        images.contains("bb") && !images.contains("other"),
        "{images}"
    );
    // Without -f it asks, and "no" (here: no answer) changes nothing.
    f.ok(&["run", "--name", "kept", "bb", "true"]);
    f.ok(&["system", "prune"]);
    assert_eq!(f.ps().len(), 2);
}
