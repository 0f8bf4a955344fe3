//! A private podman (Debian's 4.3 with conmon) driving the runtime under test: its own
//! `--root`, `--runroot`, containers.conf (CONTAINERS_CONF), storage.conf, registries.conf,
//! temp, events and network config dirs under one test dir; cgroupfs with a cgroup parent
//! of its own; the vfs storage driver (no mounts to leave behind); no network. The image is
//! a busybox rootfs imported with `podman import`. On drop every container is removed and
//! the test fails if podman, conmon or the runtime left a process, mount, berth state dir
//! or cgroup behind.

use crate::exec::{self, Outcome};
use crate::leftovers::{CgroupParent, HostDirClaim, Leftovers};
use crate::tempdir::TempDir;
use crate::{locate, rootfs_tar};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The locally imported busybox image every podman test runs.
pub const IMAGE: &str = "localhost/berth-busybox:test";

/// podman asks for nofile and nproc 1048576 by default; this host's hard nofile limit is
/// 20000 and nothing here holds CAP_SYS_RESOURCE, so raising a hard limit fails (in runc
/// as in berth). These fit under any sane host's limits.
const DEFAULT_ULIMITS: &str = r#"["nofile=1024:1024", "nproc=4096:4096"]"#;

pub struct Podman {
    dir: TempDir,
    cgroup_parent: CgroupParent,
    calls: AtomicU32,
    _run_dirs: HostDirClaim,
}

impl Podman {
    /// A fresh private podman with [`IMAGE`] imported.
    pub fn new(label: &str) -> Podman {
        locate::tool("/usr/bin/podman", "podman");
        locate::tool("/usr/bin/conmon", "conmon");
        let dir = TempDir::new(label);
        // podman refuses a runroot over 50 bytes (conmon's socket paths live under it).
        let runroot_len = dir.path().join("runroot").as_os_str().len();
        assert!(
            runroot_len <= 50,
            "podman test label {label:?} too long: runroot would be {runroot_len} bytes, podman allows 50"
        );
        for sub in ["root", "runroot", "tmp", "net", "calls"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir podman dirs");
        }
        // podman 4.3 makes netavark's run dir at this fixed path whatever it is told.
        let run_dirs = HostDirClaim::new(&["/run/containers/networks", "/run/containers"]);
        let podman = Podman {
            cgroup_parent: CgroupParent::new("podman"),
            dir,
            calls: AtomicU32::new(0),
            _run_dirs: run_dirs,
        };
        podman.write_configs();
        let tar = rootfs_tar::busybox(podman.dir());
        podman
            .podman(&["import", &tar.display().to_string(), IMAGE])
            .assert_ok();
        podman
    }

    fn write_configs(&self) {
        let d = self.dir().display();
        let containers_conf = format!(
            r#"[containers]
default_ulimits = {DEFAULT_ULIMITS}
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
image_copy_tmp_dir = "{d}/tmp"
# berth writes runc's JSON error lines to --log; podman then shows just the message.
runtime_supports_json = ["berth"]

[network]
network_config_dir = "{d}/net"
"#
        );
        let storage_conf = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n"
        );
        let registries_conf = "unqualified-search-registries = []\n";
        for (name, text) in [
            ("containers.conf", containers_conf.as_str()),
            ("storage.conf", storage_conf.as_str()),
            ("registries.conf", registries_conf),
        ] {
            std::fs::write(self.dir().join(name), text)
                .unwrap_or_else(|e| panic!("write {name}: {e}"));
        }
    }

    /// The private dir holding everything of this podman.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cgroup parent its containers (and conmon) are placed under.
    pub fn cgroup_parent(&self) -> &str {
        self.cgroup_parent.path()
    }

    /// `podman --root … --runroot … --storage-driver vfs --runtime <runtime under test>`
    /// with the private config files in its environment.
    pub fn command(&self) -> Command {
        let d = self.dir();
        let mut cmd = Command::new("/usr/bin/podman");
        cmd.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .arg("--runtime")
            .arg(locate::runtime())
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .env("TMPDIR", d.join("tmp"));
        cmd
    }

    /// Runs podman with `args` to completion.
    #[track_caller]
    pub fn podman(&self, args: &[&str]) -> Outcome {
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

    /// Flags every `podman run` here takes: no network, our cgroup parent, never pull.
    pub fn run_flags(&self) -> Vec<String> {
        vec![
            "--network".into(),
            "none".into(),
            "--cgroup-parent".into(),
            self.cgroup_parent().into(),
            "--pull".into(),
            "never".into(),
        ]
    }

    /// `podman run <run_flags> <args…>`: args are podman's run options, the image and
    /// the command.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut all: Vec<String> = vec!["run".into()];
        all.extend(self.run_flags());
        all.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.podman(&refs)
    }

    /// `podman inspect --format <format> <name>`, trimmed; panics when it fails.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.podman(&["inspect", "--format", format, name]);
        out.assert_ok();
        out.stdout.trim().to_string()
    }

    /// Where the runtime keeps container state under podman, which passes no `--root`:
    /// the runtime's default, `/run/<name>`.
    pub fn runtime_root() -> PathBuf {
        Path::new("/run").join(locate::runtime_name())
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        let mut left = Leftovers::new();
        // conmon and `podman container cleanup` outlive the podman call that started them.
        left.processes(self.dir(), Duration::from_secs(20));
        left.berth_state(locate::runtime(), &Podman::runtime_root(), self.dir());
        left.mounts(self.dir());
        self.cgroup_parent.tidy(&["conmon"], &mut left);
        left.finish("podman");
    }
}
