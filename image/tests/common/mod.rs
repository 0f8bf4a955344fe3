//! Helpers shared by dock's container tests (run.rs, archive.rs): a private dock root in a
//! temp dir, berth found next to the dock binary, and a busybox image made locally (an OCI
//! layout written here, copied into the store or a registry by skopeo). Dropping a [`Fixture`]
//! force-removes its containers and checks that nothing of them is left (cgroups, berth state,
//! mounts).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const DOCK: &str = env!("CARGO_BIN_EXE_dock");
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// berth next to dock (`cargo build --workspace` puts it there), or $DOCK_RUNTIME.
pub fn berth() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCK_RUNTIME") {
        return PathBuf::from(p);
    }
    let p = Path::new(DOCK).with_file_name("berth");
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p berth) or set DOCK_RUNTIME",
        p.display()
    );
    p
}

pub fn require_tool(tool: &str) {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{tool} is required for this test (.ci/run installs it)");
}

pub fn sha256(data: &[u8]) -> String {
    use dock_registry::digest::{Algorithm, Digest};
    Digest::of_bytes(Algorithm::Sha256, data).to_string()
}

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The busybox rootfs: /bin/busybox with applet links, /etc/passwd and /etc/group.
pub fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).expect("busybox-static at /bin/busybox");
    for applet in [
        "sh", "echo", "cat", "ls", "id", "env", "pwd", "sleep", "true", "false", "hostname", "ps",
        "grep", "wc", "head", "tty", "touch", "test", "ip",
    ] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
    )
    .unwrap();
}

/// Write an OCI layout at `layout` holding one image tagged `tag`: busybox, with `config`
/// as the image config's `config` object. Returns the manifest digest.
pub fn busybox_layout(layout: &Path, tag: &str, config: serde_json::Value) -> String {
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let tar = work.path().join("layer.tar");
    run_ok(
        Command::new("tar")
            .arg("--sort=name")
            .arg("--mtime=2024-01-01")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&rootfs)
            .arg("."),
    );
    let raw = std::fs::read(&tar).unwrap();
    let layer = run_ok(Command::new("gzip").arg("-nc").arg(&tar));
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [sha256(&raw)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
    }))
    .unwrap();
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for b in [&layer[..], &cfg[..], &manifest[..]] {
        std::fs::write(blobs.join(&sha256(b)[7..]), b).unwrap();
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    sha256(&manifest)
}

/// The config every test image has unless a test needs another.
pub fn default_config() -> serde_json::Value {
    serde_json::json!({
        "Env": ["PATH=/bin", "IMG=1"],
        "Cmd": ["sh", "-c", "echo hello from $IMG"],
        "WorkingDir": "/work",
        "Labels": {"org.example.kind": "test"},
        "StopSignal": "SIGUSR1",
    })
}

/// A dock root in a temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("dock");
        Fixture { dir, root }
    }

    /// A fixture whose store holds busybox as `bb` (docker.io/library/bb:latest).
    pub fn with_image() -> Fixture {
        let f = Fixture::new();
        f.add_image("bb", default_config());
        f
    }

    /// Put a busybox image with `config` into the store as `name`.
    pub fn add_image(&self, name: &str, config: serde_json::Value) {
        require_tool("skopeo");
        let layout = self.dir.path().join(format!("layout-{name}"));
        busybox_layout(&layout, "v1", config);
        // Make the store's layout first, then let skopeo add the image to it.
        run_ok(&mut self.command(&["images"]));
        let full = format!("docker.io/library/{name}:latest");
        run_ok(
            Command::new("skopeo")
                .arg("copy")
                .arg("--quiet")
                .arg(format!("oci:{}:v1", layout.display()))
                .arg(format!("oci:{}:{full}", self.root.display())),
        );
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCK);
        c.args(args)
            .env("DOCK_ROOT", &self.root)
            .env("DOCK_RUNTIME", berth())
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run; must succeed; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "dock {args:?} failed ({:?}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ps -a --format json` rows.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        self.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn container_dirs(&self) -> Vec<String> {
        match std::fs::read_dir(self.root.join("containers")) {
            Ok(d) => d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Assert that nothing of container `id` remains: its directory, berth state, cgroups
    /// and mounts.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.root.join("containers").join(id).exists(),
            "container dir of {id} left"
        );
        assert!(
            !self.root.join("berth").join(id).exists(),
            "berth state of {id} left"
        );
        for ctl in ["pids", "memory", "cpu", "freezer"] {
            let p = Path::new("/sys/fs/cgroup").join(ctl).join("berth").join(id);
            assert!(!p.exists(), "cgroup {} left", p.display());
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(id), "a mount of {id} is left");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let ids: Vec<String> = self.container_dirs();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.run(&args);
        }
        let _ = self.run(&["system", "prune", "-f"]);
        if !std::thread::panicking() {
            for id in &ids {
                self.assert_gone(id);
            }
        }
    }
}
