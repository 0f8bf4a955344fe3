//! A real client: skopeo copies a locally built OCI image into the registry and back out, and
//! the digests must be identical. Fails with an install hint when skopeo is missing (CI
//! installs it).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn require_skopeo() {
    let found = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "skopeo is not installed: apt-get install -y skopeo");
}

/// Write an OCI image layout at `dir` with one layer (a tar made here) tagged `tag`; returns
/// the manifest digest.
fn make_oci_layout(dir: &Path, tag: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello.txt"), "hello from berth\n").unwrap();
    // Gzip-compressed, as skopeo would otherwise compress it on push and change the digest.
    let tar_path = dir.join("layer.tar.gz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tar_path)
        .arg("-C")
        .arg(&content)
        .arg("hello.txt")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar failed");
    let layer = std::fs::read(&tar_path).unwrap();
    std::fs::remove_file(&tar_path).unwrap();
    std::fs::remove_dir_all(&content).unwrap();
    let put = |data: &[u8]| {
        let d = sha256(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
        d
    };
    let layer_d = put(&layer);
    let diff_id = gunzip_digest(dir, &layer_d);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let config_d = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_d = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": manifest_d, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_d
}

/// Digest of the uncompressed layer (the config's diff_id), via `gzip -dc`.
fn gunzip_digest(dir: &Path, layer: &str) -> String {
    let path = dir
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    sha256(&out.stdout)
}

/// Run skopeo with `args` off the async runtime; panics with its stderr on failure.
async fn skopeo(auth_file: &Path, args: Vec<String>) -> String {
    let auth_file = auth_file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("skopeo")
            .arg("--insecure-policy")
            .args(&args)
            .env("REGISTRY_AUTH_FILE", &auth_file)
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

fn index_digest(dir: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    v["manifests"][0]["digest"].as_str().unwrap().to_string()
}

async fn roundtrip(reg: &TestRegistry, creds: Option<&str>) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let back = work.path().join("back");
    let auth_file = work.path().join("auth.json");
    let digest = make_oci_layout(&src, "v1");
    let remote = format!("docker://{}/test/img:v1", reg.server.addr);
    let mut push = vec!["copy".to_string(), "--dest-tls-verify=false".to_string()];
    let mut pull = vec!["copy".to_string(), "--src-tls-verify=false".to_string()];
    let mut inspect = vec!["inspect".to_string(), "--tls-verify=false".to_string()];
    if let Some(c) = creds {
        push.push(format!("--dest-creds={c}"));
        pull.push(format!("--src-creds={c}"));
        inspect.push(format!("--creds={c}"));
    }
    push.extend([format!("oci:{}:v1", src.display()), remote.clone()]);
    pull.extend([remote.clone(), format!("oci:{}:v1", back.display())]);
    inspect.push(remote);
    skopeo(&auth_file, push).await;
    let info: serde_json::Value = serde_json::from_str(&skopeo(&auth_file, inspect).await).unwrap();
    assert_eq!(info["Digest"], digest.as_str());
    skopeo(&auth_file, pull).await;
    assert_eq!(index_digest(&back), digest);
    for entry in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name();
        let a = std::fs::read(src.join("blobs/sha256").join(&name)).unwrap();
        let b = std::fs::read(back.join("blobs/sha256").join(&name)).unwrap();
        assert_eq!(a, b, "blob {name:?} differs after the round trip");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copy_in_and_out_anonymous() {
    require_skopeo();
    let reg = open().await;
    roundtrip(&reg, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copy_with_token_auth() {
    require_skopeo();
    let reg = start(r#"{"access_log": false}"#, &[("alice", "wonderland")]).await;
    // Without credentials the push is refused.
    let work = tempfile::tempdir().unwrap();
    make_oci_layout(&work.path().join("src"), "v1");
    let auth_file = work.path().join("auth.json");
    let denied = tokio::task::spawn_blocking({
        let src = work.path().join("src");
        let addr = reg.server.addr;
        move || {
            Command::new("skopeo")
                .args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:v1", src.display()))
                .arg(format!("docker://{addr}/test/img:v1"))
                .env("REGISTRY_AUTH_FILE", auth_file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!denied.status.success(), "anonymous push was accepted");
    roundtrip(&reg, Some("alice:wonderland")).await;
}
