//! Snapshots end to end on a real store: unpack once, whiteouts in overlayfs form, failed
//! unpacks leave nothing, overlay and copy rootfs give the same tree, sweeps keep what images
//! and live containers use.

use super::*;
use crate::manifest::Descriptor;
use crate::reference::Reference;
use dock::unpack::Limits;
use dock_registry::digest::{Algorithm, Digest};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn tar_of(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        match content {
            Some(c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(c.len() as u64);
                h.set_mtime(1_600_000_000);
                b.append_data(&mut h, name, c.as_bytes()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(1_600_000_000);
                b.append_data(&mut h, name, &[][..]).unwrap();
            }
        }
    }
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    gz.finish().unwrap()
}

fn put(store: &Store, data: &[u8]) -> Digest {
    let d = Digest::of_bytes(Algorithm::Sha256, data);
    store.put_blob(&d, data).unwrap();
    d
}

fn layer(store: &Store, entries: &[(&str, Option<&str>)]) -> Descriptor {
    let data = tar_of(entries);
    Descriptor {
        media_type: LAYER.into(),
        digest: put(store, &data),
        size: data.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
    }
}

/// Name an image made of `layers`.
fn name_image(store: &Store, name: &str, layers: &[Descriptor]) {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let c = put(store, config);
    let m = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": layers,
    })
    .to_string();
    let desc = Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: put(store, m.as_bytes()),
        size: m.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
    };
    store
        .set_name(&Reference::parse(name).unwrap(), &desc, None)
        .unwrap();
}

/// Base: /etc/{a,b}, /opq/{old1,old2}. Top: deletes /etc/a, makes /opq opaque with /opq/new.
fn two_layers(store: &Store) -> Vec<Descriptor> {
    vec![
        layer(
            store,
            &[
                ("etc", None),
                ("etc/a", Some("a")),
                ("etc/b", Some("b")),
                ("opq", None),
                ("opq/old1", Some("1")),
                ("opq/old2", Some("2")),
            ],
        ),
        layer(
            store,
            &[
                ("etc/.wh.a", Some("")),
                ("opq", None),
                ("opq/.wh..wh..opq", Some("")),
                ("opq/new", Some("new")),
            ],
        ),
    ]
}

/// A tree as path → description (type, mode, owner, content, target), root excluded.
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
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!("{:?}", std::fs::read(&p).unwrap_or_default())
            };
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                rel,
                format!("{what} {:o} {}:{}", md.mode(), md.uid(), md.gid()),
            );
        }
    }
    out
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "snapshot tests need root (overlayfs whiteouts are 0:0 character devices); run as root"
    );
}

#[test]
fn unpacks_once_with_overlay_whiteouts() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshots::open(&store).unwrap();
    let layers = two_layers(&store);
    let dirs = snaps.ensure_image(&store, &layers).unwrap();
    assert_eq!(dirs.len(), 2);
    let ids = chain_ids(&layers);
    assert_eq!(dirs[1], snaps.root().join(&ids[1]).join("fs"));
    assert_eq!(std::fs::read_to_string(dirs[0].join("etc/a")).unwrap(), "a");
    let wh = std::fs::symlink_metadata(dirs[1].join("etc/a")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let opq = dock_xattr(&dirs[1].join("opq"), "trusted.overlay.opaque");
    assert_eq!(opq.as_deref(), Some(&b"y"[..]));
    // A second call unpacks nothing: the same inode is still there.
    let ino = std::fs::metadata(dirs[0].join("etc/b")).unwrap().ino();
    let again = snaps.ensure_image(&store, &layers).unwrap();
    assert_eq!(again, dirs);
    assert_eq!(std::fs::metadata(dirs[0].join("etc/b")).unwrap().ino(), ino);
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(snaps.root().join(&ids[1]).join("layer.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["parent"], ids[0].as_str());
}

#[test]
fn a_failed_unpack_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshots::open(&store).unwrap().with_limits(Limits {
        max_bytes: 4,
        max_entries: 100,
    });
    let layers = vec![layer(&store, &[("big", Some("more than four bytes"))])];
    let err = snaps.ensure_image(&store, &layers).unwrap_err().to_string();
    assert!(
        err.contains("limit of 4 bytes") && err.contains("/big"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(snaps.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["leases".to_string()],
        "partial snapshot left behind"
    );
}

#[test]
fn overlay_and_copy_give_the_same_rootfs() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshots::open(&store).unwrap();
    let dirs = snaps.ensure_image(&store, &two_layers(&store)).unwrap();
    let snapshot_trees = || dirs.iter().map(|d| tree(d)).collect::<Vec<_>>();
    let before = snapshot_trees();

    let c_copy = dir.path().join("c-copy");
    let copy = snaps
        .prepare_rootfs_with(&dirs, &c_copy, Some(Backend::Copy))
        .unwrap();
    let c_ovl = dir.path().join("c-overlay");
    let ovl = snaps
        .prepare_rootfs_with(&dirs, &c_ovl, Some(Backend::Overlay))
        .expect("overlayfs must mount here (kernel with overlay, running as root)");
    let merged = tree(&copy);
    assert_eq!(merged, tree(&ovl));
    let names: Vec<_> = merged.keys().cloned().collect();
    assert_eq!(names, ["etc", "etc/b", "opq", "opq/new"]);

    // Writes stay in the container: the snapshots are untouched.
    std::fs::write(ovl.join("etc/b"), "changed").unwrap();
    std::fs::remove_file(ovl.join("opq/new")).unwrap();
    std::fs::write(copy.join("etc/b"), "changed").unwrap();
    assert_eq!(
        snapshot_trees(),
        before,
        "a container wrote into a snapshot"
    );
    assert_eq!(
        std::fs::read_to_string(c_ovl.join("upper/etc/b")).unwrap(),
        "changed"
    );

    for c in [&c_copy, &c_ovl] {
        snaps.release_rootfs(c).unwrap();
        snaps.release_rootfs(c).unwrap();
        assert!(!c.join("rootfs").exists() && !c.join("upper").exists());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&c_ovl.display().to_string()),
        "overlay left mounted"
    );
}

#[test]
fn a_layer_with_an_opaque_root_hides_everything_below_in_both_backends() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshots::open(&store).unwrap();
    let mut layers = two_layers(&store);
    layers.push(layer(
        &store,
        &[(".wh..wh..opq", Some("")), ("fresh", Some("f"))],
    ));
    let dirs = snaps.ensure_image(&store, &layers).unwrap();
    let mut trees = Vec::new();
    for (name, backend) in [("copy", Backend::Copy), ("overlay", Backend::Overlay)] {
        let c = dir.path().join(name);
        let rootfs = snaps.prepare_rootfs_with(&dirs, &c, Some(backend)).unwrap();
        trees.push(tree(&rootfs));
        snaps.release_rootfs(&c).unwrap();
    }
    assert_eq!(trees[0].keys().collect::<Vec<_>>(), ["fresh"]);
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn sweeps_keep_what_images_and_containers_use() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshots::open(&store).unwrap();
    let layers = two_layers(&store);
    name_image(&store, "both", &layers);
    name_image(&store, "base", &layers[..1]);
    let ids = chain_ids(&layers);
    let dirs = snaps.ensure_image(&store, &layers).unwrap();
    std::fs::create_dir(snaps.root().join("tmp-crashed-1-0")).unwrap();
    assert_eq!(
        snaps.sweep_unreferenced(&store).unwrap(),
        ["tmp-crashed-1-0"]
    );

    // "both" goes, but a container still runs on it: its top snapshot stays.
    let container = dir.path().join("ctr");
    snaps
        .prepare_rootfs_with(&dirs, &container, Some(Backend::Copy))
        .unwrap();
    store
        .remove_name(&Reference::parse("both").unwrap())
        .unwrap();
    assert!(snaps.sweep_unreferenced(&store).unwrap().is_empty());
    snaps.release_rootfs(&container).unwrap();
    assert_eq!(snaps.sweep_unreferenced(&store).unwrap(), [ids[1].clone()]);
    assert!(snaps.root().join(&ids[0]).exists());
    store
        .remove_name(&Reference::parse("base").unwrap())
        .unwrap();
    assert_eq!(snaps.sweep_unreferenced(&store).unwrap(), [ids[0].clone()]);
}

fn dock_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 64];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf; both strings are
    // NUL-terminated and outlive the call.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}
