//! berth under containerd 1.6 (Debian's), through `ctr`, in two stacks:
//! * our shim: `--runtime io.containerd.berth.v2`, containerd finding
//!   `containerd-shim-berth-v2` on its PATH, berth's root given by a runtime config file
//!   (`--runtime-config-path`, runtimeoptions.v1 ConfigPath); it calls berth's library for
//!   the non-forking verbs, and a few scenarios run again with `Driver = "cli"` (every call
//!   an exec of the berth CLI);
//! * the stock runc shim (`io.containerd.runc.v2`) driving berth through its BinaryName
//!   option (`--runc-binary`), root via `--runc-root`.
//!
//! Each scenario runs on a private containerd (own socket, root, state) with a locally made
//! busybox image, and checks afterwards that nothing is left: no task, container, shim
//! process, berth state, cgroup or mount.
//!
//! Needs: containerd + ctr (`apt-get install containerd`), busybox-static, the built berth
//! (RUNTIME or the target dir) and shim (SHIM_BINARY or the target dir).

use berth_conformance::containerd::{cgroup_exists, Containerd, CtrOutput, Options};
use berth_conformance::host;
use berth_conformance::image_archive::{build_in, ImageSpec};
use berth_conformance::locate;
use berth_conformance::tempdir::TempDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const IMAGE: &str = "docker.io/library/berth-shim-busybox:latest";
/// How long a task may take to reach a state (a wait for an event, not a speed check).
const SETTLE: Duration = Duration::from_secs(30);

/// The shim binary: $SHIM_BINARY, else beside the berth under test, else the target dir.
fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SHIM_BINARY") {
        return PathBuf::from(p);
    }
    let mut candidates = vec![locate::runtime().with_file_name("containerd-shim-berth-v2")];
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug/containerd-shim-berth-v2"));
    }
    candidates.push(locate::workspace_dir().join("target/debug/containerd-shim-berth-v2"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "containerd-shim-berth-v2 not built: cargo build -p containerd-shim-berth \
                 (or set SHIM_BINARY); looked at {candidates:?}"
            )
        })
}

#[derive(Clone, Copy, Debug)]
enum Stack {
    BerthShim,
    /// Our shim with `Driver = "cli"`: every berth call execs the CLI (no library calls).
    BerthShimCli,
    RuncShimWithBerth,
}

/// A private containerd with the image imported and the flags `ctr run` needs for a stack.
struct World {
    stack: Stack,
    daemon: Containerd,
    /// The dir on containerd's PATH holding the shim link; dropped after the daemon.
    _bin: TempDir,

    berth_root: PathBuf,
    run_flags: Vec<String>,
    _work: TempDir,
}

impl World {
    fn new(label: &str, stack: Stack) -> World {
        let shim = shim_binary();
        let berth = locate::runtime().to_path_buf();
        // containerd looks for containerd-shim-berth-v2 on its PATH.
        let bin = TempDir::new(&format!("{label}-bin"));
        std::os::unix::fs::symlink(&shim, bin.path().join("containerd-shim-berth-v2"))
            .expect("link shim into PATH dir");
        let daemon = Containerd::start(
            label,
            &Options {
                path_prepend: vec![bin.path().to_path_buf()],
                ..Options::default()
            },
        );
        let work = TempDir::new(&format!("{label}-image"));
        let archive = build_in(
            &ImageSpec {
                name: IMAGE.into(),
                with_checker: false,
                cmd: vec!["sh".into()],
            },
            work.path(),
        );
        daemon.import(&archive);
        let berth_root = daemon.dir().join("berth-root");
        let fifo = daemon.fifo_dir.display().to_string();
        let run_flags = match stack {
            Stack::BerthShim | Stack::BerthShimCli => {
                let config = work.path().join("berth-runtime.toml");
                let driver = match stack {
                    Stack::BerthShimCli => "Driver = \"cli\"\n",
                    _ => "",
                };
                std::fs::write(
                    &config,
                    format!(
                        "BinaryName = \"{}\"\nRoot = \"{}\"\n{driver}",
                        berth.display(),
                        berth_root.display()
                    ),
                )
                .expect("write runtime config");
                vec![
                    "--runtime".into(),
                    "io.containerd.berth.v2".into(),
                    "--runtime-config-path".into(),
                    config.display().to_string(),
                    "--fifo-dir".into(),
                    fifo,
                ]
            }
            Stack::RuncShimWithBerth => vec![
                "--runtime".into(),
                "io.containerd.runc.v2".into(),
                "--runc-binary".into(),
                berth.display().to_string(),
                "--runc-root".into(),
                berth_root.display().to_string(),
                "--fifo-dir".into(),
                fifo,
            ],
        };
        World {
            stack,
            daemon,
            _bin: bin,
            berth_root,
            run_flags,
            _work: work,
        }
    }

    /// The running task really is on this stack: berth holds its state, and the shim
    /// serving it is ours (with an owner-only filesystem socket) or runc's.
    fn assert_stack(&self, id: &str) {
        let state = self
            .berth_root
            .join(&self.daemon.namespace)
            .join(id)
            .join("state.json");
        assert!(
            state.is_file(),
            "berth has no state for {id} at {}",
            state.display()
        );
        let want = match self.stack {
            Stack::BerthShim | Stack::BerthShimCli => "containerd-shim-berth-v2",
            Stack::RuncShimWithBerth => "containerd-shim-runc-v2",
        };
        let names: Vec<String> = self
            .daemon
            .shim_pids()
            .iter()
            .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
            .filter_map(|c| {
                let argv0 = c.split(|&b| b == 0).next()?.to_vec();
                let argv0 = String::from_utf8_lossy(&argv0).into_owned();
                Some(argv0.rsplit('/').next()?.to_string())
            })
            .collect();
        assert!(
            names.iter().any(|n| n == want),
            "shims {names:?}, want {want}"
        );
        if let Stack::BerthShim | Stack::BerthShimCli = self.stack {
            let bundle = self
                .daemon
                .state
                .join("io.containerd.runtime.v2.task")
                .join(&self.daemon.namespace)
                .join(id);
            let address = std::fs::read_to_string(bundle.join("address")).expect("address file");
            let socket = address.trim().trim_start_matches("unix://");
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let meta = std::fs::metadata(socket).expect("shim socket on the filesystem");
            assert!(meta.file_type().is_socket(), "{socket} is not a socket");
            assert_eq!(Path::new(socket), self.shim_socket(id), "socket path");
            assert_eq!(
                meta.mode() & 0o077,
                0,
                "shim socket mode {:o} lets group or others in",
                meta.mode() & 0o777
            );
        }
    }

    /// Where containerd's shims put the socket of task `id`: /run/containerd/s/ + the
    /// sha256 of "<grpc address>/<namespace>/<id>".
    fn shim_socket(&self, id: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let key = self.daemon.address.join(&self.daemon.namespace).join(id);
        let hash: String = Sha256::digest(key.as_os_str().as_encoded_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        PathBuf::from("/run/containerd/s").join(hash)
    }

    fn id(&self, name: &str) -> String {
        format!("{name}-{}", std::process::id())
    }

    /// `ctr run [--rm|-d] <stack flags> EXTRA IMAGE ID ARGS…`
    fn run(&self, mode: &[&str], extra: &[&str], id: &str, argv: &[&str]) -> CtrOutput {
        let args = self.run_args(mode, extra, id, argv);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.daemon.ctr(&refs)
    }

    fn run_args(&self, mode: &[&str], extra: &[&str], id: &str, argv: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["run".into()];
        args.extend(mode.iter().map(|s| s.to_string()));
        args.extend(self.run_flags.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(IMAGE.into());
        args.push(id.into());
        args.extend(argv.iter().map(|s| s.to_string()));
        args
    }

    fn fifo_flag(&self) -> [String; 2] {
        [
            "--fifo-dir".into(),
            self.daemon.fifo_dir.display().to_string(),
        ]
    }

    /// `ctr task exec --exec-id E [EXTRA] ID ARGS…`
    fn exec(&self, extra: &[&str], exec_id: &str, id: &str, argv: &[&str]) -> CtrOutput {
        let args = self.exec_args(extra, exec_id, id, argv);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.daemon.ctr(&refs)
    }

    fn exec_args(&self, extra: &[&str], exec_id: &str, id: &str, argv: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["task".into(), "exec".into()];
        args.extend(self.fifo_flag());
        args.push("--exec-id".into());
        args.push(exec_id.into());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(id.into());
        args.extend(argv.iter().map(|s| s.to_string()));
        args
    }

    /// The task's STATUS column in `ctr task ls` ("" when there is no such task).
    fn status(&self, id: &str) -> String {
        let out = self.daemon.ctr_ok(&["task", "ls"]);
        out.lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.first() == Some(&id)).then(|| cols.get(2).unwrap_or(&"").to_string())
            })
            .next()
            .unwrap_or_default()
    }

    fn task_pid(&self, id: &str) -> i32 {
        let out = self.daemon.ctr_ok(&["task", "ls"]);
        out.lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.first() == Some(&id)).then(|| cols.get(1).and_then(|p| p.parse().ok()))
            })
            .next()
            .flatten()
            .unwrap_or_else(|| panic!("task {id} not in ctr task ls: {out}"))
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + SETTLE;
        loop {
            let now = self.status(id);
            if now == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} did not become {want} (is {now:?}); containerd log:\n{}",
                self.daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Deletes the task (must be stopped) and the container.
    fn remove(&self, id: &str) {
        self.daemon.ctr_ok(&["task", "delete", id]);
        self.daemon.ctr_ok(&["containers", "delete", id]);
    }

    /// Nothing of `id` is left: no task or container, no berth state dir, no cgroup, no
    /// rootfs mount, and (once no task is left) no shim process.
    fn assert_clean(&self, id: &str) {
        assert!(self.daemon.list("tasks").is_empty(), "tasks left");
        assert!(self.daemon.list("containers").is_empty(), "containers left");
        let state = self.berth_root.join(&self.daemon.namespace).join(id);
        assert!(!state.exists(), "berth state left: {}", state.display());
        let cgroup = format!("{}/{id}", self.daemon.namespace);
        assert!(!cgroup_exists(&cgroup), "cgroup {cgroup} left");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let rootfs = format!(
            "{}/io.containerd.runtime.v2.task/{}/{id}/rootfs",
            self.daemon.state.display(),
            self.daemon.namespace
        );
        assert!(
            !mounts.lines().any(|l| l.contains(&rootfs)),
            "{rootfs} still mounted"
        );
        let deadline = Instant::now() + SETTLE;
        if let Stack::BerthShim | Stack::BerthShimCli = self.stack {
            let socket = self.shim_socket(id);
            while socket.exists() {
                assert!(
                    Instant::now() < deadline,
                    "shim socket {} left",
                    socket.display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        while !self.daemon.shim_pids().is_empty() {
            assert!(
                Instant::now() < deadline,
                "shim processes left: {:?}",
                self.daemon.shim_pids()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn assert_ok(out: &CtrOutput) {
    assert_eq!(out.status, Some(0), "{out:?}");
}

fn run_rm_exit_codes_and_env(stack: Stack) {
    let w = World::new("run-rm", stack);
    let id = w.id("runrm");
    let out = w.run(
        &["--rm"],
        &["--env", "GREETING=hello berth"],
        &id,
        &["sh", "-c", "echo \"$GREETING\"; exit 3"],
    );
    assert_eq!(out.status, Some(3), "{out:?}");
    assert_eq!(out.stdout, "hello berth\n", "{out:?}");
    let out = w.run(&["--rm"], &[], &id, &["true"]);
    assert_ok(&out);
    let out = w.run(&["--rm"], &[], &id, &["/no/such/binary"]);
    assert_ne!(out.status, Some(0), "{out:?}");
    w.daemon.ctr(&["containers", "delete", &id]);
    w.assert_clean(&id);
}

fn run_rm_tty(stack: Stack) {
    let w = World::new("run-tty", stack);
    let id = w.id("runtty");
    let args = w.run_args(
        &["--rm", "-t"],
        &[],
        &id,
        &[
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo both-tty; exit 5",
        ],
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = w.daemon.ctr_in_pty(&refs);
    assert_eq!(out.status, Some(5), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/"), "{out:?}");
    assert!(out.stdout.contains("both-tty"), "{out:?}");
    w.assert_clean(&id);
}

fn detached_exec_ps_pause_metrics(stack: Stack) {
    let w = World::new("detached", stack);
    let id = w.id("detached");
    assert_ok(&w.run(&["-d"], &[], &id, &["sleep", "1000"]));
    w.wait_status(&id, "RUNNING");
    w.assert_stack(&id);

    let out = w.exec(&[], "e1", &id, &["sh", "-c", "echo from-exec; exit 4"]);
    assert_eq!(out.status, Some(4), "{out:?}");
    assert_eq!(out.stdout, "from-exec\n");

    let out = w.exec(&["--user", "1000"], "e2", &id, &["id", "-u"]);
    assert_ok(&out);
    assert_eq!(out.stdout.trim(), "1000");

    let args = w.exec_args(&["-t"], "e3", &id, &["sh", "-c", "tty; exit 6"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = w.daemon.ctr_in_pty(&refs);
    assert_eq!(out.status, Some(6), "{out:?}");
    assert!(out.stdout.contains("/dev/pts/"), "{out:?}");

    let pid = w.task_pid(&id);
    let ps = w.daemon.ctr_ok(&["task", "ps", &id]);
    assert!(
        ps.lines()
            .skip(1)
            .any(|l| l.split_whitespace().next() == Some(&pid.to_string())),
        "init pid {pid} not in ctr task ps: {ps}"
    );

    w.daemon.ctr_ok(&["task", "pause", &id]);
    w.wait_status(&id, "PAUSED");
    let freezer = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/{}/{id}/freezer.state",
        w.daemon.namespace
    ))
    .unwrap_or_default();
    assert!(
        freezer.is_empty() || freezer.trim() == "FROZEN",
        "freezer.state {freezer:?}"
    );
    w.daemon.ctr_ok(&["task", "resume", &id]);
    w.wait_status(&id, "RUNNING");

    let metrics = w.daemon.ctr_ok(&["task", "metrics", &id]);
    let pids_current = metrics
        .lines()
        .find(|l| l.starts_with("pids.current"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no pids.current in ctr task metrics: {metrics}"));
    assert!(pids_current >= 1, "{metrics}");
    assert!(metrics.contains("memory.usage_in_bytes"), "{metrics}");

    // Our shim holds the init's mount and network namespaces until its exit is reported,
    // then lets them go; the shim (still serving the stopped task) must not keep them.
    let links: Vec<String> = ["mnt", "net"]
        .iter()
        .map(|ns| {
            let l = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("init's ns link");
            l.display().to_string()
        })
        .collect();
    w.daemon
        .ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
    w.wait_status(&id, "STOPPED");
    for link in &links {
        let holders = host::namespace_holders_after(link, Duration::from_secs(10));
        assert!(
            holders.is_empty(),
            "{link} held after the init's exit: {holders:?}"
        );
    }
    w.remove(&id);
    w.assert_clean(&id);
}

fn kill_delivers_the_signal(stack: Stack) {
    let w = World::new("kill", stack);
    let id = w.id("kill");
    assert_ok(&w.run(
        &["-d"],
        &[],
        &id,
        &["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 1; done"],
    ));
    w.wait_status(&id, "RUNNING");
    w.daemon
        .ctr_ok(&["task", "kill", "--signal", "SIGTERM", &id]);
    w.wait_status(&id, "STOPPED");
    let out = w.daemon.ctr(&["task", "delete", &id]);
    assert!(out.stderr.contains("exit code 42"), "{out:?}");
    w.daemon.ctr_ok(&["containers", "delete", &id]);
    w.assert_clean(&id);
}

fn kill_all_and_rm_force(stack: Stack) {
    let w = World::new("killall", stack);
    let id = w.id("killall");
    assert_ok(&w.run(
        &["-d"],
        &[],
        &id,
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    ));
    w.wait_status(&id, "RUNNING");
    w.daemon
        .ctr_ok(&["task", "kill", "--all", "--signal", "SIGKILL", &id]);
    w.wait_status(&id, "STOPPED");
    w.remove(&id);
    w.assert_clean(&id);

    let id2 = w.id("rmforce");
    assert_ok(&w.run(&["-d"], &[], &id2, &["sleep", "1000"]));
    w.wait_status(&id2, "RUNNING");
    w.daemon.ctr_ok(&["task", "rm", "-f", &id2]);
    w.daemon.ctr_ok(&["containers", "rm", &id2]);
    w.assert_clean(&id2);
}

/// `ctr events` lines (topic, event JSON) about `id`, gathered while `during` runs.
fn events_during(w: &World, id: &str, during: impl FnOnce()) -> Vec<String> {
    let mut watcher = w
        .daemon
        .ctr_command()
        .arg("events")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run ctr events");
    let stdout = watcher.stdout.take().expect("events stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait until the subscription is live: a probe container's event comes through.
    let deadline = Instant::now() + SETTLE;
    let mut n = 0;
    'live: loop {
        let probe = format!("{id}-probe{n}");
        n += 1;
        w.daemon.ctr_ok(&["containers", "create", IMAGE, &probe]);
        w.daemon.ctr_ok(&["containers", "delete", &probe]);
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line.contains(&probe) {
                break 'live;
            }
        }
        assert!(
            Instant::now() < deadline,
            "ctr events never showed a probe event"
        );
    }
    during();
    // A last marker event, then stop reading once it is seen.
    let marker = format!("{id}-end");
    w.daemon.ctr_ok(&["containers", "create", IMAGE, &marker]);
    w.daemon.ctr_ok(&["containers", "delete", &marker]);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(SETTLE) {
        if line.contains(&marker) {
            break;
        }
        if line.contains(&format!("\"{id}\"")) {
            lines.push(line);
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    drop(rx);
    let _ = reader.join();
    lines
}

fn topics(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")))
        .map(str::to_string)
        .collect()
}

fn events_in_order_and_oom(stack: Stack) {
    let w = World::new("events", stack);
    let id = w.id("events");
    let lines = events_during(&w, &id, || {
        assert_ok(&w.run(&["-d"], &[], &id, &["sleep", "1000"]));
        w.wait_status(&id, "RUNNING");
        let out = w.exec(&[], "ev1", &id, &["true"]);
        assert_ok(&out);
        w.daemon.ctr_ok(&["task", "pause", &id]);
        w.daemon.ctr_ok(&["task", "resume", &id]);
        w.daemon
            .ctr_ok(&["task", "kill", "--signal", "SIGKILL", &id]);
        w.wait_status(&id, "STOPPED");
        w.remove(&id);
    });
    let got = topics(&lines);
    let want = [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/exit",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ];
    assert_eq!(got, want, "events: {lines:#?}");

    // A container over its memory limit: the kernel's OOM killer acts, the shim says so.
    let oom = w.id("oom");
    let lines = events_during(&w, &oom, || {
        let out = w.run(
            &["--rm"],
            &["--memory-limit", "16777216"],
            &oom,
            &["sh", "-c", "head -c 268435456 /dev/zero | tail"],
        );
        assert_ne!(out.status, Some(0), "{out:?}");
    });
    let got = topics(&lines);
    assert!(
        got.contains(&"/tasks/oom".to_string()),
        "no OOM event: {lines:#?}"
    );
    w.assert_clean(&oom);
}

/// A shim that dies (SIGKILL) leaves nothing: containerd runs the shim binary's `delete`
/// in the bundle, which force-deletes the container through berth.
fn killed_shim_is_cleaned_up(stack: Stack) {
    let w = World::new("shimkill", stack);
    let id = w.id("shimkill");
    assert_ok(&w.run(&["-d"], &[], &id, &["sleep", "1000"]));
    w.wait_status(&id, "RUNNING");
    w.assert_stack(&id);
    let init = w.task_pid(&id);
    let shims = w.daemon.shim_pids();
    assert!(!shims.is_empty(), "no shim serving {id}");
    for pid in shims {
        // SAFETY: kill(2) on a shim of our private containerd (its argv names our socket).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + SETTLE;
    while !w.daemon.list("tasks").is_empty() {
        assert!(
            Instant::now() < deadline,
            "task {id} still listed after its shim died; containerd log:\n{}",
            w.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + SETTLE;
    while Path::new(&format!("/proc/{init}")).exists() && is_sleep(init) {
        assert!(
            Instant::now() < deadline,
            "container init {init} outlived its shim"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    w.daemon.ctr_ok(&["containers", "delete", &id]);
    if let Stack::RuncShimWithBerth = stack {
        // containerd-shim-runc-v2 1.6 leaves a killed shim's socket behind; not ours to
        // check, but not ours to leave either.
        let _ = std::fs::remove_file(w.shim_socket(&id));
    }
    w.assert_clean(&id);
}

/// Containers carrying the CRI sandbox annotation share one shim (one per pod), which
/// stays until the last of them is deleted.
fn one_shim_per_pod(stack: Stack) {
    let w = World::new("pod", stack);
    let sandbox = w.id("podsandbox");
    let member = w.id("podmember");
    let annotation = |pod: &str| format!("io.kubernetes.cri.sandbox-id={pod}");
    let a = annotation(&sandbox);
    assert_ok(&w.run(&["-d"], &["--annotation", &a], &sandbox, &["sleep", "1000"]));
    assert_ok(&w.run(&["-d"], &["--annotation", &a], &member, &["sleep", "1000"]));
    w.wait_status(&sandbox, "RUNNING");
    w.wait_status(&member, "RUNNING");
    assert_eq!(w.daemon.shim_pids().len(), 1, "one shim for the pod");
    let out = w.exec(&[], "pe", &member, &["sh", "-c", "echo in-member"]);
    assert_ok(&out);
    assert_eq!(out.stdout, "in-member\n");
    // Removing the sandbox's task first must not take the member's shim away.
    w.daemon
        .ctr_ok(&["task", "kill", "--signal", "SIGKILL", &sandbox]);
    w.wait_status(&sandbox, "STOPPED");
    w.remove(&sandbox);
    assert_eq!(w.status(&member), "RUNNING");
    assert_eq!(
        w.daemon.shim_pids().len(),
        1,
        "the pod's shim still serves the member"
    );
    w.daemon
        .ctr_ok(&["task", "kill", "--signal", "SIGKILL", &member]);
    w.wait_status(&member, "STOPPED");
    w.remove(&member);
    w.assert_clean(&sandbox);
    w.assert_clean(&member);
}

fn is_sleep(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim() == "sleep")
        .unwrap_or(false)
}

macro_rules! both_stacks {
    ($($scenario:ident),* $(,)?) => {
        mod berth_shim {
            $(#[test] fn $scenario() { super::$scenario(super::Stack::BerthShim) })*
        }
        mod runc_shim_with_berth {
            $(#[test] fn $scenario() { super::$scenario(super::Stack::RuncShimWithBerth) })*
        }
    };
}

mod berth_shim_cli {
    #[test]
    fn run_rm_exit_codes_and_env() {
        super::run_rm_exit_codes_and_env(super::Stack::BerthShimCli)
    }
    #[test]
    fn detached_exec_ps_pause_metrics() {
        super::detached_exec_ps_pause_metrics(super::Stack::BerthShimCli)
    }
    #[test]
    fn kill_all_and_rm_force() {
        super::kill_all_and_rm_force(super::Stack::BerthShimCli)
    }
}

both_stacks!(
    run_rm_exit_codes_and_env,
    run_rm_tty,
    detached_exec_ps_pause_metrics,
    kill_delivers_the_signal,
    kill_all_and_rm_force,
    events_in_order_and_oom,
    killed_shim_is_cleaned_up,
    one_shim_per_pod,
);

#[test]
fn shim_info_reports_berth_features() {
    let out = std::process::Command::new(shim_binary())
        .arg("-info")
        .env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                parent(locate::runtime())
            ),
        )
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run shim -info");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("io.containerd.berth.v2"), "{text}");
    assert!(
        text.contains("ociVersionMin"),
        "no features JSON in: {text}"
    );
}

#[test]
fn shim_start_rejects_bootstrap_params_for_another_instance() {
    // A BootstrapParams (fields 1, 2, 5) for id "other" while the flags say "mine".
    let mut input = Vec::new();
    for (field, value) in [(1u8, "other"), (2, "ns"), (5, "/x.ttrpc")] {
        input.push(field << 3 | 2);
        input.push(value.len() as u8);
        input.extend_from_slice(value.as_bytes());
    }
    let mut child = std::process::Command::new(shim_binary())
        .args(["-namespace", "ns", "-id", "mine", "-address", "/x", "start"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run shim start");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write params");
    let out = child.wait_with_output().expect("wait shim");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not match"), "{err}");
}

fn parent(p: &Path) -> String {
    p.parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}
