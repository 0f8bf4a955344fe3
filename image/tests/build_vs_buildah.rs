//! `dock build` against buildah (Debian's, `buildah bud` with its own --root/--runroot under a
//! temp dir, vfs storage, runc): the same Dockerfiles and context give equivalent images — the
//! same files (paths, types, modes, owners, content or link target) and the same config (Env,
//! Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels, Volumes, StopSignal).
//!
//! Known, deliberate differences that are normalised here: buildah leaves the runtime's mount
//! points (/dev, /proc, /sys, /run, /etc/hostname, /etc/hosts, /etc/resolv.conf, empty) in its
//! layers where dock removes them, and adds its `io.buildah.version` label. Times are not
//! compared (dock's are the epoch by design).

mod common;

use common::{require_tool, Fixture};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// One file of a flattened image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    /// sha256 of the content, or the link target.
    data: String,
}

fn clean(p: &str) -> String {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// The image's files, layers applied in order with their whiteouts.
fn flatten(layout: &Path, manifest: &Value) -> BTreeMap<String, Node> {
    let mut tree: BTreeMap<String, Node> = BTreeMap::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let data = blob(layout, layer["digest"].as_str().unwrap());
        let mut raw = Vec::new();
        if data.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(&data[..])
                .read_to_end(&mut raw)
                .unwrap();
        } else {
            raw = data;
        }
        let mut entries = Vec::new();
        for e in tar::Archive::new(&raw[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let path = clean(&e.path().unwrap().to_string_lossy());
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            let data = match kind {
                'l' | 'h' => e
                    .link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                'f' => {
                    let mut content = Vec::new();
                    e.read_to_end(&mut content).unwrap();
                    common::sha256(&content)
                }
                _ => String::new(),
            };
            entries.push((
                path,
                Node {
                    kind,
                    mode: h.mode().unwrap() & 0o7777,
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    data,
                },
            ));
        }
        // Opaque directories hide what lower layers had below them.
        for (path, _) in &entries {
            if let Some(dir) = path.strip_suffix(".wh..wh..opq") {
                let dir = dir.trim_end_matches('/').to_string();
                tree.retain(|p, _| !p.starts_with(&format!("{dir}/")));
            }
        }
        for (path, node) in entries {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if name == ".wh..wh..opq" || path.is_empty() {
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if parent.is_empty() {
                    hidden.to_string()
                } else {
                    format!("{parent}/{hidden}")
                };
                tree.retain(|p, _| *p != gone && !p.starts_with(&format!("{gone}/")));
                continue;
            }
            let node = if node.kind == 'h' {
                let target = tree.get(&clean(&node.data)).cloned().unwrap_or(node);
                Node {
                    kind: 'f',
                    ..target
                }
            } else {
                node
            };
            tree.insert(path, node);
        }
    }
    tree
}

fn config_fields(config: &Value) -> BTreeMap<&'static str, Value> {
    let c = &config["config"];
    let mut out = BTreeMap::new();
    for k in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
        "Volumes",
        "StopSignal",
    ] {
        let mut v = c.get(k).cloned().unwrap_or(Value::Null);
        if k == "Labels" {
            if let Value::Object(m) = &mut v {
                m.remove("io.buildah.version");
            }
        }
        let empty = v.is_null()
            || v.as_str() == Some("")
            || v.as_object().is_some_and(|m| m.is_empty())
            || v.as_array().is_some_and(|a| a.is_empty());
        out.insert(k, if empty { Value::Null } else { v });
    }
    out
}

/// buildah with its own storage under a temp dir.
struct Buildah {
    dir: tempfile::TempDir,
}

impl Buildah {
    fn new() -> Buildah {
        require_tool("buildah");
        require_tool("runc");
        Buildah {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("runroot"))
            .arg("--storage-driver")
            .arg("vfs");
        c
    }

    /// Build and export as an OCI layout; returns (layout, manifest, config).
    fn build(&self, ctx: &Path, extra: &[&str]) -> (std::path::PathBuf, Value, Value) {
        let out = self
            .cmd()
            .args(["bud", "--runtime", "runc", "--network", "none", "-t", "cmp"])
            .args(extra)
            .arg(ctx)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "buildah bud failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let layout = self.dir.path().join("layout");
        let _ = std::fs::remove_dir_all(&layout);
        let out = self
            .cmd()
            .arg("push")
            .arg("cmp")
            .arg(format!("oci:{}:cmp", layout.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "buildah push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let m: Value = serde_json::from_slice(&blob(
            &layout,
            index["manifests"][0]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        let c: Value =
            serde_json::from_slice(&blob(&layout, m["config"]["digest"].as_str().unwrap()))
                .unwrap();
        (layout, m, c)
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "--all"]).output();
        let _ = self.cmd().args(["rmi", "--all", "--force"]).output();
    }
}

fn dock_build(f: &Fixture, ctx: &Path, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["build", "-q", "-t", "cmp"];
    args.extend_from_slice(extra);
    let c = ctx.to_str().unwrap().to_string();
    args.push(&c);
    f.ok(&args);
    let index: Value =
        serde_json::from_slice(&std::fs::read(f.root.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"] == "docker.io/library/cmp:latest"
        })
        .unwrap()
        .clone();
    let m: Value =
        serde_json::from_slice(&blob(&f.root, entry["digest"].as_str().unwrap())).unwrap();
    let c: Value =
        serde_json::from_slice(&blob(&f.root, m["config"]["digest"].as_str().unwrap())).unwrap();
    (m, c)
}

/// Build `ctx` with both; `min_files` guards against comparing two empty trees.
fn compare(ctx: &Path, extra: &[&str], min_files: usize) {
    let f = Fixture::new();
    let bh = Buildah::new();
    let (dm, dc) = dock_build(&f, ctx, extra);
    let (layout, bm, bc) = bh.build(ctx, extra);
    let dock_tree = flatten(&f.root, &dm);
    let mut buildah_tree = flatten(&layout, &bm);
    for p in [
        "dev",
        "proc",
        "sys",
        "run",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
    ] {
        if !dock_tree.contains_key(p) {
            buildah_tree.remove(p);
        }
    }
    let mut diffs = Vec::new();
    for (p, n) in &dock_tree {
        match buildah_tree.get(p) {
            None => diffs.push(format!("only dock: {p} {n:?}")),
            Some(b) if b != n => diffs.push(format!("{p}: dock {n:?} buildah {b:?}")),
            _ => {}
        }
    }
    for (p, n) in &buildah_tree {
        if !dock_tree.contains_key(p) {
            diffs.push(format!("only buildah: {p} {n:?}"));
        }
    }
    assert!(diffs.is_empty(), "file trees differ:\n{}", diffs.join("\n"));
    assert!(dock_tree.len() >= min_files, "{} files", dock_tree.len());
    assert_eq!(config_fields(&dc), config_fields(&bc));
}

fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    std::fs::copy("/bin/busybox", c.join("busybox")).expect("busybox-static at /bin/busybox");
    std::fs::create_dir_all(c.join("files/sub")).unwrap();
    std::fs::write(c.join("files/one"), "one\n").unwrap();
    std::fs::write(c.join("files/sub/two"), "two\n").unwrap();
    std::os::unix::fs::symlink("one", c.join("files/link")).unwrap();
    std::fs::write(c.join("a.txt"), "alpha\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(c.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    ctx
}

#[test]
fn single_stage_images_match_buildah() {
    let ctx = context();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc /tmp /var/lib/app /home/app && \
    echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && \
    echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd && \
    printf 'root:x:0:\napp:x:1000:\n' > /etc/group && chmod 1777 /tmp
COPY --chown=app:app files/ /srv/files/
COPY a.txt /srv/a.txt
RUN rm /bin/grep && ln -s /srv/a.txt /srv/link && chmod 700 /var/lib/app && \
    chown 1000:1000 /var/lib/app && echo data > /var/lib/app/d && rm -r /srv/files/sub
ENV APP_HOME=/srv PATH=/bin
USER app
EXPOSE 8080/tcp 9090/udp
LABEL a=b "c d"=e
VOLUME /data
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"#,
    )
    .unwrap();
    compare(ctx.path(), &[], 250);
}

#[test]
fn multi_stage_images_with_build_args_match_buildah() {
    let ctx = context();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        r#"ARG FLAVOUR=plain
FROM scratch AS tools
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG FLAVOUR
RUN mkdir -p /out/deep && echo "built $FLAVOUR" > /out/artifact && chmod 750 /out/artifact && \
    echo x > /out/deep/y
FROM scratch
COPY --from=tools /bin/busybox /bin/busybox
COPY --from=tools /out/ /opt/
ARG GREETING=hello
ENV GREETING=$GREETING
WORKDIR /opt
CMD ["/bin/busybox", "cat", "/opt/artifact"]
"#,
    )
    .unwrap();
    compare(
        ctx.path(),
        &[
            "--build-arg",
            "GREETING=hey",
            "--build-arg",
            "FLAVOUR=spicy",
        ],
        5,
    );
}
