//! Whiteout semantics against a reference: the same layer stacks unpacked by Debian's umoci
//! (`umoci raw unpack` of an OCI layout made here) and by dock — both by applying each layer
//! onto one directory, and by the snapshot route (each layer alone with overlayfs-form
//! whiteouts, then merged as the copy fallback does) — must give the same tree: paths, types,
//! modes, owners, content and symlink targets.

use dock::unpack::{
    apply_layer, apply_layer_with, merge_overlay_dir, Limits, Options, WhiteoutMode,
};
use dock_registry::digest::{Algorithm, Digest};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use tar::{EntryType, Header};

const UMOCI: &str = "/usr/bin/umoci";
const LAYER_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str, u32),
    Owned(&'a str, &'a str, u64),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        let (name, data): (&str, &[u8]) = match e {
            E::Dir(n, m) => {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(*m);
                (n, b"")
            }
            E::File(n, c, m) => {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(*m);
                h.set_size(c.len() as u64);
                (n, c.as_bytes())
            }
            E::Owned(n, c, id) => {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(0o640);
                h.set_uid(*id);
                h.set_gid(*id);
                h.set_size(c.len() as u64);
                (n, c.as_bytes())
            }
            E::Link(n, t) => {
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(t).unwrap();
                (n, b"")
            }
            E::Hard(n, t) => {
                h.set_entry_type(EntryType::Link);
                h.set_mode(0o644);
                h.set_link_name(t).unwrap();
                (n, b"")
            }
        };
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    gz.finish().unwrap()
}

/// The stacks: each a list of layers (uncompressed tars), base first.
fn stacks() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    use E::*;
    let base = tar(&[
        Dir("etc", 0o755),
        File("etc/passwd", "root:x:0:0", 0o644),
        File("etc/shadow", "secret", 0o600),
        Owned("etc/owned", "by 1000", 1000),
        Dir("usr", 0o755),
        Dir("usr/bin", 0o755),
        File("usr/bin/tool", "#!/bin/sh", 0o4755),
        Hard("usr/bin/tool-link", "usr/bin/tool"),
        Link("usr/bin/sh", "/bin/busybox"),
        Dir("opq", 0o755),
        File("opq/old1", "1", 0o644),
        Dir("opq/sub", 0o700),
        File("opq/sub/deep", "d", 0o644),
        Dir("gone", 0o755),
        File("gone/x", "x", 0o644),
        Dir("becomes-link", 0o755),
        File("becomes-link/f", "f", 0o644),
        File("becomes-dir", "file", 0o644),
        Link("dangling", "nowhere"),
    ]);
    let middle = tar(&[
        File("etc/.wh.shadow", "", 0o644),
        File(".wh.gone", "", 0o644),
        Dir("opq", 0o750),
        File("opq/.wh..wh..opq", "", 0o644),
        File("opq/new", "new", 0o644),
        Link("becomes-link", "etc"),
        Dir("becomes-dir", 0o711),
        File("becomes-dir/inside", "in", 0o644),
        File(".wh.dangling", "", 0o644),
        File("usr/bin/.wh.sh", "", 0o644),
        File(".wh.never-existed", "", 0o644),
    ]);
    let top = tar(&[
        Dir("gone", 0o700),
        File("gone/back", "back", 0o644),
        File("etc/shadow", "new secret", 0o600),
        File("opq/.wh.new", "", 0o644),
        Dir("opq2", 0o755),
        File("opq2/.wh..wh..opq", "", 0o644),
        File("usr/bin/.wh.tool", "", 0o644),
        Dir("same-layer", 0o755),
        File(
            "same-layer/kept",
            "a whiteout in its own layer hides nothing",
            0o644,
        ),
        File("same-layer/.wh.kept", "", 0o644),
    ]);
    let shadowed = tar(&[
        Dir("a", 0o755),
        Dir("a/b", 0o755),
        File("a/b/c", "c", 0o644),
        File("a/file", "f", 0o644),
    ]);
    let replace = tar(&[
        File("a/.wh.b", "", 0o644),
        File("a/b", "now a file", 0o600),
        File(".wh..wh..opq", "", 0o644),
        Dir("a", 0o700),
        File("a/fresh", "fresh", 0o644),
    ]);
    let nested_lower = tar(&[
        Dir("d", 0o755),
        Dir("d/sub", 0o755),
        File("d/sub/old", "old", 0o644),
        File("d/lower-only", "x", 0o644),
    ]);
    let nested_upper = tar(&[
        Dir("d", 0o755),
        Dir("d/sub", 0o700),
        File("d/.wh..wh..opq", "", 0o644),
        File("d/sub/new", "new", 0o644),
    ]);
    vec![
        (
            "opaque after a relisted dir",
            vec![nested_lower, nested_upper],
        ),
        (
            "whiteouts, opaque dirs, replacements",
            vec![base, middle, top],
        ),
        (
            "opaque root and a dir whited out then remade",
            vec![shadowed, replace],
        ),
    ]
}

/// An OCI layout holding one image of `layers`, tagged `latest`.
fn oci_layout(dir: &Path, layers: &[Vec<u8>]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = Digest::of_bytes(Algorithm::Sha256, data);
        let hex = d.to_string();
        std::fs::write(blobs.join(hex.trim_start_matches("sha256:")), data).unwrap();
        (d.to_string(), data.len())
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(Digest::of_bytes(Algorithm::Sha256, l).to_string());
        let (d, size) = put(&gzip(l));
        descs.push(serde_json::json!({"mediaType": LAYER_GZ, "digest": d, "size": size}));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    })
    .to_string();
    let (cd, cs) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": descs,
    })
    .to_string();
    let (md, ms) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// path → type, mode, owner, content or target (the root itself left out).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if md.file_type().is_symlink() {
                format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
            } else if md.is_file() {
                format!(
                    "file {:?} nlink={}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()),
                    md.nlink()
                )
            } else {
                format!("special {:?}", md.file_type())
            };
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = if md.file_type().is_symlink() {
                0
            } else {
                md.mode() & 0o7777
            };
            out.insert(
                rel,
                format!("{what} mode={mode:o} owner={}:{}", md.uid(), md.gid()),
            );
        }
    }
    out
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in a {
        match b.get(k) {
            None => out += &format!("  only in umoci: {k}: {v}\n"),
            Some(w) if w != v => out += &format!("  {k}: umoci {v} / dock {w}\n"),
            _ => {}
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            out += &format!("  only in dock: {k}: {w}\n");
        }
    }
    out
}

#[test]
fn dock_and_umoci_unpack_the_same_trees() {
    assert!(
        Path::new(UMOCI).exists(),
        "{UMOCI} is missing: install Debian's umoci (.ci/run does)"
    );
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test compares owners and overlayfs-form whiteouts: run it as root"
    );
    for (name, layers) in stacks() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        oci_layout(&layout, &layers);
        let by_umoci = tmp.path().join("umoci-rootfs");
        let out = Command::new(UMOCI)
            .arg("raw")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:latest", layout.display()))
            .arg(&by_umoci)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: umoci raw unpack failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reference = tree(&by_umoci);
        assert!(
            reference.len() >= 3,
            "{name}: umoci unpacked almost nothing"
        );

        // dock, applying each layer onto one directory.
        let applied = tmp.path().join("dock-applied");
        std::fs::create_dir(&applied).unwrap();
        for l in &layers {
            apply_layer(&gzip(l)[..], LAYER_GZ, &applied, &Limits::default()).unwrap();
        }
        let d = diff(&reference, &tree(&applied));
        assert!(
            d.is_empty(),
            "{name}: dock (apply) differs from umoci:\n{d}"
        );

        // dock, the snapshot route: layers alone in overlay form, merged as the copy fallback.
        let merged = tmp.path().join("dock-merged");
        std::fs::create_dir(&merged).unwrap();
        let mut snaps: Vec<PathBuf> = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let s = tmp.path().join(format!("snap{i}"));
            std::fs::create_dir(&s).unwrap();
            let overlay = Options {
                whiteouts: WhiteoutMode::Overlay,
                lower_dirs: snaps.iter().rev().cloned().collect(),
            };
            apply_layer_with(&l[..], LAYER_GZ, &s, &Limits::default(), &overlay).unwrap();
            snaps.push(s);
        }
        for s in &snaps {
            merge_overlay_dir(s, &merged).unwrap();
        }
        let d = diff(&reference, &tree(&merged));
        assert!(
            d.is_empty(),
            "{name}: dock (snapshots merged) differs from umoci:\n{d}"
        );
    }
}
