//! `dock pull`/`push`/`login`/`images`/`tag`/`rmi` against our registry on 127.0.0.1:0 (never a
//! real registry): skopeo pushes a locally made image, dock pulls it, pushes it elsewhere (mount,
//! monolithic and chunked uploads), skopeo pulls it back with identical digests; token auth with
//! `dock login`; a pull killed mid-layer completes on the next run.

use dock_registry::digest::{Algorithm, Digest};
use dock_registry::server::{users_file, RunningServer};
use dock_registry::users::Users;
use dock_registry::ServeOptions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const DOCK: &str = env!("CARGO_BIN_EXE_dock");
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A registry in a temp dir, stopped on drop.
struct Reg {
    server: RunningServer,
    _dir: tempfile::TempDir,
}

impl Drop for Reg {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Reg {
    fn host(&self) -> String {
        self.server.addr.to_string()
    }
}

async fn registry(users: &[(&str, &str)]) -> Reg {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    for (u, p) in users {
        Users::add_to_file(&users_file(&root), u, p).unwrap();
    }
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"access_log": false}"#).unwrap();
    let server = dock_registry::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        root,
        config: Some(cfg),
        tls_cert: None,
        tls_key: None,
        insecure_anonymous: false,
    })
    .await
    .unwrap();
    Reg { server, _dir: dir }
}

fn sha256(data: &[u8]) -> String {
    Digest::of_bytes(Algorithm::Sha256, data).to_string()
}

fn skopeo_available() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A dock invocation's environment: store root and docker config dir.
struct Env {
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    fn new(dir: &Path) -> Env {
        Env {
            root: dir.join("store"),
            config: dir.join("docker-config"),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCK);
        c.args(args)
            .env("DOCK_ROOT", &self.root)
            .env("DOCKER_CONFIG", &self.config)
            .stdin(Stdio::null());
        c
    }

    /// Run dock off the async runtime (the registry lives on it).
    async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "dock {args:?} failed: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    }
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A gzipped layer tar of a few files, built with tar(1).
fn layer_tar(work: &Path, noise_len: usize) -> Vec<u8> {
    let content = work.join("content");
    std::fs::create_dir_all(content.join("etc")).unwrap();
    std::fs::write(content.join("hello.txt"), "hello from berth\n").unwrap();
    std::fs::write(content.join("etc/os-release"), "ID=berth\n").unwrap();
    std::fs::write(content.join("noise.bin"), noise(noise_len, 7)).unwrap();
    let tar = work.join("layer.tar.gz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tar)
        .arg("-C")
        .arg(&content)
        .args(["hello.txt", "etc", "noise.bin"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar failed");
    let data = std::fs::read(&tar).unwrap();
    std::fs::remove_file(&tar).unwrap();
    std::fs::remove_dir_all(&content).unwrap();
    data
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Config and manifest for one gzipped layer: (config, manifest).
fn image_for(layer: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&gunzip(layer))]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer), "size": layer.len()}],
    }))
    .unwrap();
    (config, manifest)
}

/// Write an OCI layout with the image tagged `tag`; returns the manifest digest.
fn oci_layout(dir: &Path, tag: &str, layer: &[u8]) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let (config, manifest) = image_for(layer);
    for b in [layer, &config[..], &manifest[..]] {
        std::fs::write(blobs.join(&sha256(b)[7..]), b).unwrap();
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    sha256(&manifest)
}

async fn skopeo(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("skopeo")
            .arg("--insecure-policy")
            .args(&args)
            .env("REGISTRY_AUTH_FILE", "/nonexistent/auth.json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

fn remote_digest(inspect_json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(inspect_json).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

/// Every blob in the store hashes to its name and nothing is left in ingest/.
fn assert_store_consistent(root: &Path) {
    let blobs = root.join("blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let e = e.unwrap();
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            sha256(&data)[7..],
            *e.file_name().to_string_lossy(),
            "corrupt blob"
        );
    }
    assert_eq!(
        std::fs::read_dir(root.join("ingest")).unwrap().count(),
        0,
        "partial downloads left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_to_dock_to_skopeo_keeps_digests() {
    if !skopeo_available() {
        eprintln!("SKIPPED: skopeo is not installed (apt-get install -y skopeo)");
        return;
    }
    let reg = registry(&[]).await;
    let other = registry(&[]).await;
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let layer = layer_tar(work.path(), 4096);
    let src_layout = work.path().join("src");
    let digest = oci_layout(&src_layout, "v1", &layer);
    let host = reg.host();
    skopeo(vec![
        "copy".into(),
        "--dest-tls-verify=false".into(),
        format!("oci:{}:v1", src_layout.display()),
        format!("docker://{host}/test/src:v1"),
    ])
    .await;

    // Pull: the store holds the manifest under its full name, all blobs verified.
    let src = format!("{host}/test/src:v1");
    let (out, err) = env.ok(&["pull", &src]).await;
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(
        err.contains("pull complete"),
        "plain progress lines without a TTY: {err}"
    );
    assert_store_consistent(&env.root);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        src.as_str()
    );
    assert!(env.root.join("oci-layout").is_file());
    assert!(env
        .root
        .join("blobs/sha256")
        .join(&sha256(&layer)[7..])
        .is_file());
    // On a terminal the same pull draws indicatif bars (run under script(1) for a pty).
    if Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let tty_root = work.path().join("tty-store");
        let cmd = format!("{DOCK} pull --root {} {src}", tty_root.display());
        let out = tokio::task::spawn_blocking(move || {
            Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .env("DOCKER_CONFIG", "/nonexistent")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("pull complete"), "{text}");
        assert!(
            text.contains("B/") && text.contains('\u{1b}'),
            "no progress bar drawn: {text}"
        );
    } else {
        eprintln!("script(1) missing: terminal progress not checked");
    }
    // Pulling again downloads nothing.
    let (_, err) = env.ok(&["pull", &src]).await;
    assert!(
        err.contains("already exists") && !err.contains("pull complete"),
        "{err}"
    );

    let (json, _) = env.ok(&["images", "--format", "json"]).await;
    let row: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(row["Repository"], format!("{host}/test/src"));
    assert_eq!(row["Tag"], "v1");
    assert_eq!(row["Digest"], digest.as_str());
    let (table, _) = env.ok(&["images"]).await;
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(
        table.contains("test/src") && table.contains("v1"),
        "{table}"
    );

    // Push to another repository of the same registry: blobs are mounted, digest unchanged.
    let dst = format!("{host}/test/dst:v1");
    env.ok(&["tag", &src, &dst]).await;
    let (out, err) = env.ok(&["push", &dst]).await;
    assert!(out.contains(&digest), "{out}");
    assert!(err.contains("mounted from test/src"), "{err}");
    let (_, err) = env.ok(&["push", &dst]).await;
    assert!(err.contains("layer already exists"), "{err}");

    // Push to another registry in small chunks (layer) and one PUT (config).
    let chunked = format!("{}/test/chunked:v1", other.host());
    env.ok(&["tag", &src, &chunked]).await;
    let (_, err) = env.ok(&["push", "--chunk-size", "1000", &chunked]).await;
    assert!(err.contains("uploading in chunks"), "{err}");
    assert!(err.contains(": uploading"), "{err}");

    // skopeo sees the same digests and gets the same bytes back.
    for remote in [&dst, &chunked] {
        let info = skopeo(vec![
            "inspect".into(),
            "--tls-verify=false".into(),
            format!("docker://{remote}"),
        ])
        .await;
        assert_eq!(remote_digest(&info), digest, "{remote}");
    }
    let back = work.path().join("back");
    skopeo(vec![
        "copy".into(),
        "--src-tls-verify=false".into(),
        format!("docker://{chunked}"),
        format!("oci:{}:v1", back.display()),
    ])
    .await;
    let back_layer = std::fs::read(back.join("blobs/sha256").join(&sha256(&layer)[7..])).unwrap();
    assert_eq!(back_layer, layer);

    // rmi removes names; blobs go with the last one. An ID naming several images needs -f.
    let id = row["ID"].as_str().unwrap()[7..19].to_string();
    assert!(!env.run(&["rmi", &id]).await.status.success());
    env.ok(&["rmi", &dst, &chunked]).await;
    assert!(env
        .root
        .join("blobs/sha256")
        .join(&sha256(&layer)[7..])
        .is_file());
    let (out, _) = env.ok(&["rmi", &id]).await;
    assert!(out.contains(&format!("Untagged: {src}")), "{out}");
    assert!(out.contains(&format!("Deleted: {digest}")), "{out}");
    assert_eq!(
        std::fs::read_dir(env.root.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(!env.run(&["rmi", &src]).await.status.success());
}

/// Push an image over plain HTTP with reqwest (for tests that do not need skopeo).
async fn push_direct(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    tag: &str,
    layer: &[u8],
    auth: Option<(&str, &str)>,
) {
    let (config, manifest) = image_for(layer);
    let with_auth = |rb: reqwest::RequestBuilder| match auth {
        Some((u, p)) => rb.basic_auth(u, Some(p)),
        None => rb,
    };
    for blob in [&config[..], layer] {
        let r = with_auth(client.post(format!(
            "{base}/v2/{repo}/blobs/uploads/?digest={}",
            sha256(blob)
        )))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = with_auth(client.put(format!("{base}/v2/{repo}/manifests/{tag}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_with_dock_login() {
    let reg = registry(&[("alice", "wonderland")]).await;
    let host = reg.host();
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let layer = layer_tar(work.path(), 100);
    push_direct(
        &reqwest::Client::new(),
        &format!("http://{host}"),
        "team/app",
        "v1",
        &layer,
        Some(("alice", "wonderland")),
    )
    .await;
    let image = format!("{host}/team/app:v1");

    let out = env.run(&["pull", &image]).await;
    assert!(!out.status.success(), "anonymous pull accepted");

    let login = |password: &'static str| {
        let mut c = env.command(&["login", "-u", "alice", "--password-stdin", &host]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(password.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
    };
    let out = login("wrong\n").await.unwrap();
    assert!(!out.status.success(), "a wrong password logged in");
    let config_file = env.config.join("config.json");
    assert!(!config_file.exists(), "a failed login saved credentials");
    let out = login("wonderland\n").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&config_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert!(saved["auths"][&host]["auth"].is_string());

    let (out, _) = env.ok(&["pull", &image]).await;
    assert!(out.contains("Digest: sha256:"), "{out}");
    // Push needs the push grant, which the token for alice carries.
    let copy = format!("{host}/team/copy:v1");
    env.ok(&["tag", &image, &copy]).await;
    env.ok(&["push", &copy]).await;

    let (out, _) = env.ok(&["logout", &host]).await;
    assert!(out.contains("Removing login credentials"), "{out}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_file).unwrap()).unwrap();
    assert!(saved["auths"].get(&host).is_none());
    assert!(!env.run(&["push", &copy]).await.status.success());
}

/// A TCP proxy that forwards registry responses slowly, so a pull can be killed mid-layer.
async fn slow_proxy(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_pull_resumes_and_completes() {
    let reg = registry(&[]).await;
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let layer = layer_tar(work.path(), 6 * 1024 * 1024);
    push_direct(
        &reqwest::Client::new(),
        &format!("http://{}", reg.host()),
        "test/big",
        "v1",
        &layer,
        None,
    )
    .await;
    let (proxy, proxy_task) = slow_proxy(reg.server.addr).await;

    let slow_ref = format!("{proxy}/test/big:v1");
    let mut child = env
        .command(&["pull", &slow_ref])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial = env
        .root
        .join("ingest")
        .join(format!("sha256-{}", &sha256(&layer)[7..]));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if len > 512 * 1024 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the download never progressed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    proxy_task.abort();
    let left = std::fs::metadata(&partial).unwrap().len();
    assert!(left < layer.len() as u64, "killed after the layer finished");
    assert!(!env
        .root
        .join("blobs/sha256")
        .join(&sha256(&layer)[7..])
        .exists());

    let direct = format!("{}/test/big:v1", reg.host());
    let (_, err) = env.ok(&["pull", &direct]).await;
    assert!(
        err.contains("resuming at"),
        "the second pull started over: {err}"
    );
    assert_store_consistent(&env.root);
    let stored = std::fs::read(env.root.join("blobs/sha256").join(&sha256(&layer)[7..])).unwrap();
    assert_eq!(stored, layer);
    let (json, _) = env.ok(&["images", "--format", "json"]).await;
    assert!(json.contains("test/big"), "{json}");
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

async fn put_blob(client: &reqwest::Client, base: &str, repo: &str, data: &[u8]) -> String {
    let d = sha256(data);
    let r = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    d
}

async fn put_manifest(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    r: &str,
    ct: &str,
    body: &[u8],
) {
    let resp = client
        .put(format!("{base}/v2/{repo}/manifests/{r}"))
        .header("content-type", ct)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

/// A Docker schema 2 manifest for one platform; returns its bytes.
async fn docker_image(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    arch: &str,
) -> (Vec<u8>, String) {
    let layer = format!("layer for {arch}").into_bytes();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let c = put_blob(client, base, repo, &config).await;
    let l = put_blob(client, base, repo, &layer).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": l, "size": layer.len()}],
    }))
    .unwrap();
    put_manifest(
        client,
        base,
        repo,
        &sha256(&manifest),
        DOCKER_MANIFEST,
        &manifest,
    )
    .await;
    (manifest, l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_list_pull_picks_linux_amd64_and_push_keeps_its_digest() {
    let reg = registry(&[]).await;
    let host = reg.host();
    let base = format!("http://{host}");
    let client = reqwest::Client::new();
    let (arm, arm_layer) = docker_image(&client, &base, "test/multi", "arm64").await;
    let (amd, amd_layer) = docker_image(&client, &base, "test/multi", "amd64").await;
    let entry = |m: &[u8], arch: &str| {
        serde_json::json!({"mediaType": DOCKER_MANIFEST, "digest": sha256(m), "size": m.len(),
            "platform": {"os": "linux", "architecture": arch}})
    };
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [entry(&arm, "arm64"), entry(&amd, "amd64")],
    }))
    .unwrap();
    put_manifest(&client, &base, "test/multi", "v1", DOCKER_LIST, &list).await;

    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let (out, _) = env.ok(&["pull", &format!("{host}/test/multi:v1")]).await;
    assert!(out.contains(&format!("Digest: {}", sha256(&amd))), "{out}");
    let blobs = env.root.join("blobs/sha256");
    assert!(blobs.join(&amd_layer[7..]).is_file());
    assert!(
        !blobs.join(&arm_layer[7..]).exists(),
        "pulled the arm64 layer"
    );
    assert_store_consistent(&env.root);

    // Pinned by digest works too and names the same manifest.
    let pinned = format!("{host}/test/multi@{}", sha256(&amd));
    let (out, _) = env.ok(&["pull", &pinned]).await;
    assert!(out.contains(&sha256(&amd)), "{out}");

    let copy = format!("{host}/test/copy:v1");
    env.ok(&["tag", &format!("{host}/test/multi:v1"), &copy])
        .await;
    env.ok(&["push", &copy]).await;
    let r = client
        .get(format!("{base}/v2/test/copy/manifests/v1"))
        .header("accept", DOCKER_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], DOCKER_MANIFEST);
    assert_eq!(r.headers()["docker-content-digest"], sha256(&amd).as_str());
    assert_eq!(r.bytes().await.unwrap().to_vec(), amd);
}

/// A registry stand-in that only knows `GET /v2/` behind HTTP Basic auth (our registry always
/// challenges with Bearer, so Basic needs its own server).
async fn basic_auth_server(
    expected: &'static str,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
                // A TLS ClientHello (dock tries https first): hang up, as a plain server would.
                if req.first() == Some(&0x16) {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
            let authorized = text.contains(&format!(
                "authorization: basic {}",
                expected.to_ascii_lowercase()
            ));
            let resp = if authorized {
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            } else {
                "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = conn.write_all(resp.as_bytes()).await;
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_basic_auth() {
    // base64("bob:builder")
    let (addr, task) = basic_auth_server("Ym9iOmJ1aWxkZXI=").await;
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let login = |password: &'static str| {
        let mut c = env.command(&["login", "-u", "bob", "--password-stdin", &addr.to_string()]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = c.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(password.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
    };
    assert!(!login("nope\n").await.unwrap().status.success());
    let out = login("builder\n").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.config.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved["auths"][addr.to_string()]["auth"], "Ym9iOmJ1aWxkZXI=");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_share_one_download() {
    let reg = registry(&[]).await;
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let layer = layer_tar(work.path(), 4 * 1024 * 1024);
    push_direct(
        &reqwest::Client::new(),
        &format!("http://{}", reg.host()),
        "test/big",
        "v1",
        &layer,
        None,
    )
    .await;
    let (proxy, proxy_task) = slow_proxy(reg.server.addr).await;
    let slow_ref = format!("{proxy}/test/big:v1");
    let args = ["pull", slow_ref.as_str()];
    let (a, b) = tokio::join!(env.run(&args), env.run(&args));
    proxy_task.abort();
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(a.status.success(), "{}", err(&a));
    assert!(b.status.success(), "{}", err(&b));
    let both = err(&a) + &err(&b);
    assert_eq!(
        both.matches("pull complete").count(),
        2,
        "config and layer once: {both}"
    );
    assert!(both.contains("waiting for another dock process"), "{both}");
    assert_store_consistent(&env.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_registry_over_tls_is_used_before_plain_http() {
    let have_openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_openssl {
        eprintln!("SKIPPED: openssl is needed to make a certificate");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = dock_registry::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        root: dir.path().join("root"),
        config: None,
        tls_cert: Some(cert),
        tls_key: Some(key),
        insecure_anonymous: false,
    })
    .await
    .unwrap();
    let host = server.addr.to_string();
    let tls_client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let layer = layer_tar(dir.path(), 100);
    push_direct(
        &tls_client,
        &format!("https://{host}"),
        "test/tls",
        "v1",
        &layer,
        None,
    )
    .await;
    let env = Env::new(dir.path());
    // The server speaks only TLS: these work only if dock chose https (self-signed is accepted
    // for a loopback registry, as docker does for insecure registries).
    let (out, _) = env.ok(&["pull", &format!("{host}/test/tls:v1")]).await;
    assert!(out.contains("Digest: sha256:"), "{out}");
    env.ok(&[
        "tag",
        &format!("{host}/test/tls:v1"),
        &format!("{host}/test/copy:v1"),
    ])
    .await;
    env.ok(&["push", &format!("{host}/test/copy:v1")]).await;
    let r = tls_client
        .head(format!("https://{host}/v2/test/copy/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_oversized_blobs_are_refused() {
    let reg = registry(&[]).await;
    let work = tempfile::tempdir().unwrap();
    let env = Env::new(work.path());
    let layer = layer_tar(work.path(), 1000);
    push_direct(
        &reqwest::Client::new(),
        &format!("http://{}", reg.host()),
        "test/bad",
        "v1",
        &layer,
        None,
    )
    .await;
    let hex = &sha256(&layer)[7..];
    let served = reg
        ._dir
        .path()
        .join("root/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let image = format!("{}/test/bad:v1", reg.host());
    let mut corrupt = layer.clone();
    corrupt[layer.len() / 2] ^= 0xff;
    let mut longer = layer.clone();
    longer.extend_from_slice(b"trailing bytes");
    for (bytes, expect) in [
        (&corrupt, "content mismatch"),
        (&longer, "larger than its declared"),
    ] {
        std::fs::write(&served, bytes).unwrap();
        let out = env.run(&["pull", &image]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a bad blob was accepted");
        assert!(err.contains(expect), "{err}");
        assert!(!env.root.join("blobs/sha256").join(hex).exists());
        let index = std::fs::read_to_string(env.root.join("index.json")).unwrap();
        assert!(
            !index.contains("test/bad"),
            "named despite a bad layer: {index}"
        );
    }
    // Once the registry serves the right bytes the pull completes and nothing is left over.
    std::fs::write(&served, &layer).unwrap();
    env.ok(&["pull", &image]).await;
    assert_store_consistent(&env.root);

    // A poisoned partial download (right length so far, wrong bytes) is resumed, fails
    // verification, and the pull recovers by downloading afresh.
    env.ok(&["rmi", &image]).await;
    let partial = env.root.join("ingest").join(format!("sha256-{hex}"));
    std::fs::write(&partial, &corrupt[..layer.len() / 2 + 10]).unwrap();
    let (_, err) = env.ok(&["pull", &image]).await;
    assert!(
        err.contains("resuming at") && err.contains("downloading again"),
        "{err}"
    );
    assert_store_consistent(&env.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_unpack_makes_snapshots_and_rmi_sweeps_them() {
    let reg = registry(&[]).await;
    let host = reg.host();
    let base = format!("http://{host}");
    let client = reqwest::Client::new();
    let work = tempfile::tempdir().unwrap();
    let layer = layer_tar(work.path(), 64);
    let (config, manifest) = image_for(&layer);
    put_blob(&client, &base, "test/unpack", &config).await;
    let l = put_blob(&client, &base, "test/unpack", &layer).await;
    put_manifest(&client, &base, "test/unpack", "v1", OCI_MANIFEST, &manifest).await;

    let env = Env::new(work.path());
    let name = format!("{host}/test/unpack:v1");
    let (out, _) = env.ok(&["pull", "--unpack", &name]).await;
    assert!(out.contains("Unpacked: 1 layers"), "{out}");
    // A one-layer chain's id is the layer digest.
    let snap = env.root.join("snapshots").join(&l[7..]);
    assert_eq!(
        std::fs::read_to_string(snap.join("fs/hello.txt")).unwrap(),
        "hello from berth\n"
    );
    assert_eq!(
        std::fs::read_to_string(snap.join("fs/etc/os-release")).unwrap(),
        "ID=berth\n"
    );

    let (out, _) = env.ok(&["rmi", &name]).await;
    assert!(
        out.contains(&format!("Deleted snapshot: {}", &l[7..])),
        "{out}"
    );
    assert!(!snap.exists(), "snapshot left after rmi");
}
