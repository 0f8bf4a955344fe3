//! A locally made busybox image as an archive `ctr images import` (and `docker load`,
//! `podman load`) accept, with no network: one uncompressed layer holding Debian's
//! busybox-static with its applet links (and, optionally, our static `berth-check`),
//! an OCI image config for linux/amd64, and both an OCI layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) and a docker-style `manifest.json` in the same tar.

use crate::{locate, rootfs};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to put in the image.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// Full reference, e.g. `docker.io/library/berth-busybox:latest`.
    pub name: String,
    /// Add the static checker as /bin/berth-check.
    pub with_checker: bool,
    /// The image's default command.
    pub cmd: Vec<String>,
}

impl ImageSpec {
    /// `docker.io/library/<short>:latest` running `sh`, without the checker.
    pub fn busybox(short: &str) -> ImageSpec {
        ImageSpec {
            name: format!("docker.io/library/{short}:latest"),
            with_checker: false,
            cmd: vec!["sh".into()],
        }
    }
}

/// Writes the image archive to `out` (a .tar), using `work` as scratch space.
/// Panics with a clear message when busybox or tar is missing.
pub fn build(spec: &ImageSpec, work: &Path, out: &Path) {
    let rootfs = work.join("rootfs");
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("mkdir image layout");
    build_rootfs(&rootfs, spec.with_checker);

    let layer_path = work.join("layer.tar");
    tar(&rootfs, &layer_path, &["."]);
    let layer = fs::read(&layer_path).expect("read layer.tar");
    let layer_digest = sha256_hex(&layer);
    fs::write(blobs.join(&layer_digest), &layer).expect("write layer blob");

    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": spec.cmd,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
        "history": [{"created_by": "berth conformance image_archive"}],
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    let config_digest = sha256_hex(&config_bytes);
    fs::write(blobs.join(&config_digest), &config_bytes).expect("write config blob");

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest json");
    let manifest_digest = sha256_hex(&manifest_bytes);
    fs::write(blobs.join(&manifest_digest), &manifest_bytes).expect("write manifest blob");

    let tag = spec
        .name
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest_bytes.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": spec.name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    fs::write(layout.join("index.json"), index.to_string()).expect("write index.json");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{config_digest}"),
        "RepoTags": [spec.name],
        "Layers": [format!("blobs/sha256/{layer_digest}")],
    }]);
    fs::write(layout.join("manifest.json"), docker_manifest.to_string())
        .expect("write manifest.json");
    tar(
        &layout,
        out,
        &["oci-layout", "index.json", "manifest.json", "blobs"],
    );
}

/// The image's root filesystem: /bin/busybox, its applets, /etc/passwd and /etc/group,
/// the usual empty dirs, and /bin/berth-check when asked.
fn build_rootfs(dir: &Path, with_checker: bool) {
    for sub in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt", "run", "var", "home",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir rootfs/{sub}: {e}"));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod rootfs");
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    copy_exec(locate::busybox(), &dir.join("bin/busybox"));
    if with_checker {
        copy_exec(locate::checker(), &dir.join("bin/berth-check"));
    }
    for applet in rootfs::APPLETS
        .iter()
        .chain(["whoami", "stty", "tty"].iter())
    {
        symlink("busybox", dir.join("bin").join(applet))
            .unwrap_or_else(|e| panic!("link applet {applet}: {e}"));
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n\
         nobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("write group");
}

fn copy_exec(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("chmod binary");
}

/// A reproducible tar of `members` of `dir` (sorted, owner 0, mtime 0).
fn tar(dir: &Path, out: &Path, members: &[&str]) {
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
        ])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .args(members)
        .status()
        .unwrap_or_else(|e| panic!("run tar: {e}"));
    assert!(status.success(), "tar of {} failed", dir.display());
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Builds the archive for `spec` under `work` and returns its path (`work/image.tar`).
pub fn build_in(spec: &ImageSpec, work: &Path) -> PathBuf {
    let out = work.join("image.tar");
    build(spec, work, &out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn archive_holds_layout_and_docker_manifest() {
        let dir = crate::tempdir::TempDir::new("image-archive-unit");
        let out = build_in(&ImageSpec::busybox("unit"), dir.path());
        let list = Command::new("tar").arg("-tf").arg(&out).output().unwrap();
        let names = String::from_utf8_lossy(&list.stdout);
        for want in ["oci-layout", "index.json", "manifest.json", "blobs/sha256/"] {
            assert!(names.lines().any(|l| l == want), "{want} missing: {names}");
        }
        assert_eq!(
            names
                .lines()
                .filter(|l| l.starts_with("blobs/sha256/"))
                .count(),
            4
        );
    }
}
