//! Real container clients (podman, buildah, skopeo from Debian) against a test registry, each
//! on private state: storage (vfs driver) under a temp dir, and its own storage.conf,
//! containers.conf, registries.conf, signature policy and auth file passed by environment and
//! flags. The system's /var/lib/containers, /run/containers and /etc/containers settings are
//! never used, so other test runs on the host are unaffected.

use crate::exec::{run, Outcome};
use crate::tempdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Mounts tmpfs over the system's container state dirs, then execs the tool ("$@").
const SHADOW_SCRIPT: &str = r#"
for d in /var/lib/containers /run/containers; do
    if [ -d "$d" ]; then
        mount -t tmpfs -o mode=0700 tmpfs "$d"
    else
        parent=$(dirname "$d")
        mount -t tmpfs -o mode=0755 tmpfs "$parent"
        mkdir -p "$d"
    fi
done
exec "$@"
"#;

/// The tools this module drives.
pub const TOOLS: [&str; 3] = ["podman", "buildah", "skopeo"];

/// Panics with an install hint unless every client is on PATH (CI installs them; a missing
/// tool is a failure there, never a silent skip).
pub fn require_tools() {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| {
            !Command::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "registry client tests need {missing:?}: apt-get install -y podman buildah skopeo"
    );
}

/// One private container-tools world: configuration files and two storage roots ("a" for
/// building, "b" for pulling), with an auth file of its own.
pub struct Clients {
    dir: TempDir,
    calls: AtomicU32,
}

impl Clients {
    pub fn new(label: &str) -> Clients {
        let dir = TempDir::new(&format!("clients-{label}"));
        let p = dir.path();
        let write = |name: &str, text: String| {
            std::fs::write(p.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"))
        };
        write(
            "storage.conf",
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/a/graph\"\nrunroot = \"{0}/a/run\"\n",
                p.display()
            ),
        );
        // The host's nofile hard limit is below podman's default ulimit request.
        write(
            "containers.conf",
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\"]\n\
                 [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 events_logfile_path = \"{0}/events.log\"\ntmp_dir = \"{0}/libpod-tmp\"\n",
                p.display()
            ),
        );
        write(
            "registries.conf",
            "unqualified-search-registries = []\n".into(),
        );
        write(
            "policy.json",
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#.into(),
        );
        write("auth.json", "{}".into());
        std::fs::create_dir_all(p.join("calls")).expect("mkdir calls");
        Clients {
            dir,
            calls: AtomicU32::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn auth_file(&self) -> PathBuf {
        self.path().join("auth.json")
    }

    fn policy(&self) -> String {
        self.path().join("policy.json").display().to_string()
    }

    /// `tool` inside a private mount namespace where /var/lib/containers and /run/containers
    /// (the blob-info cache and network run dir, which no flag or variable moves for root) are
    /// fresh tmpfs mounts; where one does not exist yet its parent gets the tmpfs instead, so
    /// nothing is created on the host.
    fn command(&self, tool: &str) -> Command {
        let p = self.path();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-ec"])
            .arg(SHADOW_SCRIPT)
            .arg("sh")
            .arg(tool)
            .env("CONTAINERS_STORAGE_CONF", p.join("storage.conf"))
            .env("CONTAINERS_CONF", p.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", p.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env("TMPDIR", p);
        cmd
    }

    /// Run a tool with arguments; returns its outcome (stdio kept under calls/).
    pub fn run(&self, mut cmd: Command) -> Outcome {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let calls = self.path().join("calls");
        cmd.current_dir(self.path());
        run(
            cmd,
            &calls.join(format!("{n}.out")),
            &calls.join(format!("{n}.err")),
        )
    }

    /// `buildah <args>` on storage "a" (from storage.conf).
    pub fn buildah(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.command("buildah");
        cmd.args(args);
        self.run(cmd)
    }

    /// `podman <args>` on storage `which` ("a" or "b").
    pub fn podman(&self, which: &str, args: &[&str]) -> Outcome {
        let p = self.path();
        let mut cmd = self.command("podman");
        cmd.arg("--root")
            .arg(p.join(which).join("graph"))
            .arg("--runroot")
            .arg(p.join(which).join("run"))
            .arg("--tmpdir")
            .arg(p.join(which).join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(args);
        self.run(cmd)
    }

    /// `skopeo <args>` with the private policy and auth file.
    pub fn skopeo(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.command("skopeo");
        cmd.args(["--policy", &self.policy()]).args(args);
        self.run(cmd)
    }

    /// The `--signature-policy` flag pair for buildah and podman pull/push.
    pub fn policy_flag(&self) -> String {
        format!("--signature-policy={}", self.policy())
    }

    /// Build `image` (e.g. `localhost/bb:v1`) in storage "a" with buildah: `from scratch`, the
    /// host's static busybox copied in as /bin/busybox, a command set, committed.
    #[track_caller]
    pub fn build_busybox(&self, image: &str) {
        let busybox = crate::locate::busybox().display().to_string();
        let policy = self.policy_flag();
        let ctr = self.buildah(&["from", &policy, "scratch"]);
        ctr.assert_ok();
        let ctr = ctr.stdout.trim().to_string();
        self.buildah(&["copy", &ctr, &busybox, "/bin/busybox"])
            .assert_ok();
        self.buildah(&["config", "--cmd", "/bin/busybox echo hi", &ctr])
            .assert_ok();
        self.buildah(&["commit", &policy, &ctr, image]).assert_ok();
        self.buildah(&["rm", &ctr]).assert_ok();
    }

    /// The manifest digest skopeo sees for `docker://<reference>`.
    #[track_caller]
    pub fn remote_digest(&self, reference: &str, creds: Option<&str>) -> String {
        let target = format!("docker://{reference}");
        let mut args = vec!["inspect", "--tls-verify=false"];
        let creds_arg;
        if let Some(c) = creds {
            creds_arg = format!("--creds={c}");
            args.push(&creds_arg);
        }
        args.push(&target);
        let out = self.skopeo(&args);
        out.assert_ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("skopeo inspect JSON");
        v["Digest"].as_str().expect("Digest").to_string()
    }

    /// A file's trimmed contents (for `--digestfile`).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
            .trim()
            .to_string()
    }
}
