//! A private dockerd (Debian's docker.io 20.10, /usr/sbin/dockerd with /usr/bin/docker)
//! with the runtime under test added as `berth` (`--add-runtime`): its own data root, exec
//! root, pid file, unix socket, daemon.json (also moving its trust key out of /etc/docker),
//! client config dir and cgroup parent under one test dir; no iptables, no bridge, and the
//! containerd it starts and manages itself. The image is a busybox rootfs made with
//! `docker import`. On drop every container is removed, the daemon is stopped, and the test
//! fails if it or the runtime left a process, mount, runtime state dir or cgroup behind.

use crate::exec::{self, Outcome, Running};
use crate::leftovers::{CgroupParent, HostDirClaim, Leftovers};
use crate::tempdir::TempDir;
use crate::{host, locate, rootfs_tar};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The locally imported busybox image every docker test runs.
pub const IMAGE: &str = "berth-busybox:test";

/// The name the runtime under test is added as.
pub const RUNTIME: &str = "berth";

/// How long the daemon may take to answer after it starts, and to stop.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Dockerd {
    daemon: Option<Running>,
    cgroup_parent: CgroupParent,
    calls: AtomicU32,
    _run_dirs: HostDirClaim,
    dir: TempDir,
}

impl Dockerd {
    /// Starts a private dockerd, waits until it answers, and imports [`IMAGE`].
    pub fn start(label: &str) -> Dockerd {
        let dockerd = locate::tool("/usr/sbin/dockerd", "docker.io");
        locate::tool("/usr/bin/docker", "docker.io");
        locate::tool("/usr/bin/containerd", "containerd");
        let dir = TempDir::new(label);
        for sub in ["data", "exec", "cli", "calls"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir dockerd dirs");
        }
        let d = dir.path();
        // The trust key defaults to /etc/docker/key.json; only daemon.json can move it.
        let config = serde_json::json!({"deprecated-key-path": d.join("key.json")});
        std::fs::write(d.join("daemon.json"), config.to_string()).expect("write daemon.json");
        // dockerd makes its plugin socket dir at this fixed path whatever it is told.
        let run_dirs = HostDirClaim::new(&["/run/docker/plugins", "/run/docker"]);
        let cgroup_parent = CgroupParent::new("docker");
        let mut cmd = Command::new(dockerd);
        cmd.arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--bridge=none",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
            ])
            .arg("--cgroup-parent")
            .arg(cgroup_parent.path())
            .arg("--add-runtime")
            .arg(format!("{RUNTIME}={}", locate::runtime().display()));
        let daemon = exec::spawn(cmd, &d.join("dockerd.out"), &d.join("dockerd.log"));
        let dockerd = Dockerd {
            daemon: Some(daemon),
            cgroup_parent,
            calls: AtomicU32::new(0),
            _run_dirs: run_dirs,
            dir,
        };
        dockerd.wait_ready();
        let tar = rootfs_tar::busybox(dockerd.dir());
        dockerd
            .docker(&["import", &tar.display().to_string(), IMAGE])
            .assert_ok();
        dockerd
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            let out = self.docker(&["version", "--format", "{{.Server.Version}}"]);
            if out.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within {DAEMON_TIMEOUT:?}: {}\nlog: {}",
                out.describe(),
                exec::read_lossy(&self.dir().join("dockerd.log"))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The private dir holding everything of this daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cgroup parent of its containers.
    pub fn cgroup_parent(&self) -> &str {
        self.cgroup_parent.path()
    }

    /// Where the runc shim under dockerd keeps the runtime's state (`--root`): dockerd 20.10
    /// gives every runtime added with `--add-runtime` the same root as runc's.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir().join("exec").join("runtime-runc").join("moby")
    }

    /// `/usr/bin/docker` talking to this daemon only.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir().join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", self.dir().join("cli"));
        cmd
    }

    /// Runs the docker client with `args` to completion.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.command();
        cmd.args(args);
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let calls = self.dir().join("calls");
        exec::run(
            cmd,
            &calls.join(format!("{n}.out")),
            &calls.join(format!("{n}.err")),
        )
    }

    /// `docker run --runtime berth --network none <args…>`: args are docker's run options,
    /// the image and the command.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--runtime", RUNTIME, "--network", "none"];
        all.extend_from_slice(args);
        self.docker(&all)
    }

    /// `docker inspect --format <format> <name>`, trimmed; panics when it fails.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.docker(&["inspect", "--format", format, name]);
        out.assert_ok();
        out.stdout.trim().to_string()
    }

    fn stop_daemon(&mut self, left: &mut Leftovers) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        host::kill(daemon.pid(), libc::SIGTERM);
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            match daemon.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = daemon.child.kill();
                    let _ = daemon.child.wait();
                    left.record(format!(
                        "dockerd did not stop within {DAEMON_TIMEOUT:?} of SIGTERM"
                    ));
                    return;
                }
            }
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let mut left = Leftovers::new();
        let ids: Vec<String> = self
            .docker(&["ps", "--all", "--quiet"])
            .stdout
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "--force"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.docker(&args);
        }
        self.stop_daemon(&mut left);
        // Its containerd and the shims go with it.
        left.processes(self.dir(), Duration::from_secs(20));
        left.berth_state(locate::runtime(), &self.runtime_root(), self.dir());
        left.mounts(self.dir());
        self.cgroup_parent.tidy(&[], &mut left);
        left.finish("dockerd");
    }
}
