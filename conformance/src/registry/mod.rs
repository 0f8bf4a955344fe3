//! Support for the distribution-spec suite (`tests/registry_spec.rs`): a `dock registry serve`
//! process on an ephemeral loopback port with its own root under a temp dir, a blocking HTTP
//! client, and shortcuts for pushing blobs, manifests and images.
//!
//! The server runs with its JSON access log on; [`Served::finish`] reads it back and fails the
//! test on any 5xx answer, then checks that every stored blob still hashes to its name (the
//! suite's "never a 500, nothing corrupted").

pub mod clients;
pub mod http;

use crate::tempdir::TempDir;
use http::{send, Request, Response};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// How long `dock registry serve` may take to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The dock binary: `$DOCK`, else `debug/dock` in `$CARGO_TARGET_DIR` or `<workspace>/target`.
/// Panics with the build command when none exists.
pub fn dock() -> &'static Path {
    static DOCK: OnceLock<PathBuf> = OnceLock::new();
    DOCK.get_or_init(|| {
        if let Some(path) = std::env::var_os("DOCK") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "DOCK={} does not exist or is not a file",
                path.display()
            );
            return path;
        }
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(PathBuf::from(dir).join("debug/dock"));
        }
        candidates.push(crate::locate::workspace_dir().join("target/debug/dock"));
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no dock binary: build it (`cargo build -p dock`) or set DOCK=/path/to/dock; \
                     looked at {candidates:?}"
                )
            })
    })
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A running `dock registry serve`, killed (and its root removed) on drop.
pub struct Served {
    pub addr: SocketAddr,
    child: Child,
    dir: TempDir,
    log: PathBuf,
}

/// Options for a served registry.
#[derive(Default)]
pub struct ServeConfig<'a> {
    /// Extra JSON configuration fields (merged over `{"access_log": true}`).
    pub config: Option<serde_json::Value>,
    /// Users to add with `dock registry user add` before serving.
    pub users: &'a [(&'a str, &'a str)],
}

impl Served {
    /// An anonymous registry.
    pub fn open(label: &str) -> Served {
        Served::start(label, ServeConfig::default())
    }

    /// A registry with configuration and users.
    pub fn start(label: &str, cfg: ServeConfig<'_>) -> Served {
        let dir = TempDir::new(&format!("registry-{label}"));
        let root = dir.path().join("root");
        for (user, pass) in cfg.users {
            let mut child = Command::new(dock())
                .args(["registry", "user", "add", user, "--root"])
                .arg(&root)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dock registry user add");
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("stdin");
                writeln!(stdin, "{pass}").expect("write password");
            }
            assert!(
                child.wait().expect("wait user add").success(),
                "dock registry user add {user} failed"
            );
        }
        let mut config = serde_json::json!({"access_log": true});
        if let Some(serde_json::Value::Object(extra)) = cfg.config {
            for (k, v) in extra {
                config[k] = v;
            }
        }
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("write config");
        let log = dir.path().join("serve.log");
        let log_file = std::fs::File::create(&log).expect("create serve.log");
        let mut child = Command::new(dock())
            .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(&root)
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn dock registry serve");
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(a) = text
                .lines()
                .find_map(|l| l.strip_prefix("dock registry listening on "))
            {
                break a.trim().parse().expect("listening address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dock registry serve exited ({status}) before listening: {text}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dock registry serve did not report its address within {START_TIMEOUT:?}: {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Served {
            addr,
            child,
            dir,
            log,
        }
    }

    /// The storage root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Send a request.
    pub fn send(&self, req: Request) -> Response {
        send(self.addr, &req)
    }

    /// A request with no body.
    pub fn call(&self, method: &str, target: &str) -> Response {
        self.send(Request::new(method, target))
    }

    /// Send raw bytes (see [`http::send_raw`]).
    pub fn raw(&self, bytes: &[u8], half_close: bool) -> Response {
        http::send_raw(self.addr, bytes, half_close, "")
    }

    /// Push a blob with one POST (end-4b); returns its digest.
    #[track_caller]
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        self.send(
            Request::new("POST", &format!("/v2/{repo}/blobs/uploads/?digest={d}"))
                .header("content-type", "application/octet-stream")
                .body(data),
        )
        .assert_status(201);
        d
    }

    /// Open an upload session (end-4a); returns its Location path.
    #[track_caller]
    pub fn start_upload(&self, repo: &str) -> String {
        let r = self.call("POST", &format!("/v2/{repo}/blobs/uploads/"));
        r.assert_status(202);
        r.header("location").to_string()
    }

    /// PUT a manifest (end-7).
    pub fn put_manifest(&self, repo: &str, reference: &str, ct: &str, body: &[u8]) -> Response {
        self.send(
            Request::new("PUT", &format!("/v2/{repo}/manifests/{reference}"))
                .header("content-type", ct)
                .body(body),
        )
    }

    /// Push a config, one layer and an OCI manifest naming them under `tag`; returns the
    /// manifest bytes and digest.
    #[track_caller]
    pub fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = self.push_blob(repo, config);
        let l = self.push_blob(repo, layer);
        let m = image_manifest(&c, config.len(), &l, layer.len(), None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m);
        r.assert_status(201);
        let d = r.header("docker-content-digest").to_string();
        assert_eq!(d, sha256(&m), "Docker-Content-Digest of the manifest");
        (m, d)
    }

    /// Statuses the access log recorded so far.
    pub fn logged_statuses(&self) -> Vec<(u16, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                let status = v["status"].as_u64()?;
                let what = format!("{} {}", v["method"], v["path"]);
                Some((u16::try_from(status).ok()?, what))
            })
            .collect()
    }

    /// The suite's closing checks: no request was answered 5xx, and every stored blob hashes
    /// to its name (nothing corrupted, no torn blob visible).
    #[track_caller]
    pub fn finish(&self) {
        let statuses = self.logged_statuses();
        assert!(
            !statuses.is_empty(),
            "the access log in {} recorded no requests",
            self.log.display()
        );
        let failures: Vec<_> = statuses.into_iter().filter(|(s, _)| *s >= 500).collect();
        assert!(failures.is_empty(), "server answered 5xx: {failures:?}");
        assert_blobs_intact(&self.root());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `<root>/blobs/sha256/` hashes to its own name.
#[track_caller]
pub fn assert_blobs_intact(root: &Path) {
    let base = root.join("blobs/sha256");
    let Ok(fanout) = std::fs::read_dir(&base) else {
        return;
    };
    for dir in fanout {
        let dir = dir.expect("read blobs dir").path();
        for entry in std::fs::read_dir(&dir).expect("read blob fan-out dir") {
            let path = entry.expect("blob entry").path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            let data = std::fs::read(&path).expect("read blob");
            assert_eq!(
                sha256(&data),
                format!("sha256:{name}"),
                "stored blob {} does not match its digest",
                path.display()
            );
        }
    }
}

/// An OCI image manifest with one config and one layer, plus `extra` top-level fields.
pub fn image_manifest(
    config: &str,
    config_len: usize,
    layer: &str,
    layer_len: usize,
    extra: Option<serde_json::Value>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_len}],
    });
    if let Some(serde_json::Value::Object(extra)) = extra {
        for (k, val) in extra {
            v[k] = val;
        }
    }
    serde_json::to_vec(&v).expect("manifest JSON")
}
