//! `dock build` against a reference builder: the same Dockerfiles and contexts built by
//! Debian's buildah (`buildah bud`, chroot isolation, vfs storage under a temp dir) and by
//! dock must give equivalent images:
//! * the same file tree — every path with its type, permission bits, owner, file content and
//!   symlink target. Both images are exported as OCI layouts (`buildah push oci:`, `dock save
//!   --format oci-archive`) and unpacked by the same third tool, umoci, so neither builder's
//!   own unpacker judges its own layers;
//! * the same config fields a runtime reads: Env, Cmd, Entrypoint, WorkingDir, User,
//!   ExposedPorts, Labels, Volumes, StopSignal.
//!
//! Known differences, allowed in one direction only (present in buildah's tree, absent in
//! dock's): buildah's chroot isolation leaves the mount points it made for RUN (`/dev`, `/proc`,
//! `/sys`, `/run`) and an `/etc/hostname` in the image; docker's builder does not, nor does
//! dock. buildah also adds its `io.buildah.version` label. Directory timestamps are not
//! compared (both builders set them differently, and dock clamps them for reproducibility).

mod common;

use common::{busybox_layout, default_config, require_tool, Fixture};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const UMOCI: &str = "/usr/bin/umoci";
/// Paths buildah's chroot isolation leaves behind (see the module doc).
const BUILDAH_ARTEFACTS: &[&str] = &["/dev", "/proc", "/sys", "/run", "/etc/hostname"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// One Dockerfile and its context.
struct Case {
    name: &'static str,
    dockerfile: &'static str,
    /// Context files: path → content (parents made as needed).
    files: &'static [(&'static str, &'static str)],
    dockerignore: Option<&'static str>,
    build_args: &'static [&'static str],
    target: Option<&'static str>,
    /// A gzip tar of these files is put in the context as `bundle.tar.gz` (for ADD).
    archive: &'static [(&'static str, &'static str)],
}

const NONE: Case = Case {
    name: "",
    dockerfile: "",
    files: &[],
    dockerignore: None,
    build_args: &[],
    target: None,
    archive: &[],
};

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "metadata",
            dockerfile: r#"FROM bb
ENV A=1 B="two words"
ENV C $A-x
LABEL a=b "c d"=e
WORKDIR /srv/app
USER app:app
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
ENTRYPOINT ["sh", "-c"]
CMD ["echo hi"]
"#,
            ..NONE
        },
        Case {
            name: "run",
            dockerfile: r#"FROM bb
RUN mkdir -p /d/sub /keep && touch /d/sub/x /keep/k && echo one > /f1
RUN rm /etc/group && rm -rf /d && mkdir /d && echo y > /d/y
RUN ln -s /f1 /abs-link && ln -s f1 /rel-link && ln /f1 /hard && chmod 4750 /f1 \
    && chown 1000:10 /keep/k && mkdir -m 1777 /scratch
RUN ["sh", "-c", "echo exec form > /exec"]
WORKDIR /w
RUN pwd > /where
"#,
            ..NONE
        },
        Case {
            name: "copy",
            dockerfile: r#"FROM bb
COPY a.txt /renamed
COPY a.txt b.txt /multi/
COPY dir/ /dirdst/
COPY dir /dirdst2
COPY *.txt /glob/
COPY --chown=app:app a.txt /owned/
COPY --chown=1000:10 --chmod=600 b.txt /numeric
WORKDIR /rel
COPY a.txt here/
COPY ignored/ /ign/
"#,
            files: &[
                ("a.txt", "alpha\n"),
                ("b.txt", "bravo\n"),
                ("dir/one", "1\n"),
                ("dir/sub/two", "2\n"),
                ("ignored/keep.me", "kept\n"),
                ("ignored/drop.me", "dropped\n"),
                ("secret.txt", "never\n"),
            ],
            dockerignore: Some("secret.txt\nignored/*\n!ignored/keep.me\n"),
            ..NONE
        },
        Case {
            name: "add",
            dockerfile: r#"FROM bb
ADD bundle.tar.gz /unpacked/
ADD a.txt /plain
"#,
            files: &[("a.txt", "alpha\n")],
            archive: &[("top", "t\n"), ("in/side", "s\n")],
            ..NONE
        },
        Case {
            name: "multistage",
            dockerfile: r#"ARG BASE=bb
FROM $BASE AS builder
RUN mkdir /out && echo built > /out/artifact && chmod 700 /out
FROM bb AS final
ARG VERSION=0
ENV VERSION=$VERSION
COPY --from=builder /out /final/
COPY --from=builder /out/artifact /single
RUN echo $VERSION > /version
FROM final AS later
RUN echo later > /later
"#,
            build_args: &["VERSION=7"],
            target: Some("final"),
            ..NONE
        },
    ]
}

fn write_context(case: &Case, ctx: &Path) {
    std::fs::create_dir_all(ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), case.dockerfile).unwrap();
    for (path, content) in case.files {
        let p = ctx.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    if let Some(ignore) = case.dockerignore {
        std::fs::write(ctx.join(".dockerignore"), ignore).unwrap();
    }
    if !case.archive.is_empty() {
        let src = ctx.parent().unwrap().join("archive-src");
        for (path, content) in case.archive {
            let p = src.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        must(
            Command::new("tar")
                .arg("--owner=0")
                .arg("--group=0")
                .arg("-czf")
                .arg(ctx.join("bundle.tar.gz"))
                .arg("-C")
                .arg(&src)
                .arg("."),
        );
    }
}

/// buildah with its storage, run dir and config all under `dir`.
struct Buildah {
    dir: std::path::PathBuf,
}

impl Buildah {
    fn new(dir: &Path) -> Buildah {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("storage.conf");
        std::fs::write(
            &conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                dir.join("graph").display(),
                dir.join("run").display()
            ),
        )
        .unwrap();
        Buildah {
            dir: dir.to_path_buf(),
        }
    }

    fn storage_spec(&self) -> String {
        format!(
            "containers-storage:[vfs@{}+{}]",
            self.dir.join("graph").display(),
            self.dir.join("run").display()
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("buildah");
        c.args(args)
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env("BUILDAH_ISOLATION", "chroot")
            .env("TMPDIR", &self.dir);
        c
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        // buildah's chroot isolation mounts in its own namespace; nothing to unmount here,
        // but its working containers would keep layers: remove them all.
        let _ = self.command(&["rm", "--all"]).output();
    }
}

/// Give the only image of the OCI layout at `layout` the ref name `img` (umoci takes
/// `layout:tag`, and the names the builders write contain colons).
fn rename_ref(layout: &Path) {
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifests = index["manifests"].as_array_mut().unwrap();
    assert_eq!(
        manifests.len(),
        1,
        "{}: one image expected",
        layout.display()
    );
    manifests[0]["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "img"});
    std::fs::write(&index_path, index.to_string()).unwrap();
}

/// Unpack layout:img with umoci; return the tree and the image config's `config` object.
fn unpack(layout: &Path, rootfs: &Path) -> (BTreeMap<String, String>, serde_json::Value) {
    rename_ref(layout);
    must(
        Command::new(UMOCI)
            .arg("raw")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:img", layout.display()))
            .arg(rootfs),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap(),
        )
        .unwrap()
    };
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    let config = blob(manifest["config"]["digest"].as_str().unwrap());
    (tree(rootfs), config["config"].clone())
}

/// path → "type mode uid:gid what" for everything under `root`.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = format!("/{}", path.strip_prefix(root).unwrap().display());
            let ft = meta.file_type();
            let what = if ft.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if ft.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if ft.is_file() {
                format!("file {}", common::sha256(&std::fs::read(&path).unwrap()))
            } else {
                format!("special {:o}", meta.mode() & 0o170000)
            };
            let mode = if ft.is_symlink() {
                0
            } else {
                meta.mode() & 0o7777
            };
            out.insert(
                rel,
                format!("{what} mode={mode:o} owner={}:{}", meta.uid(), meta.gid()),
            );
        }
    }
    out
}

/// The differences between buildah's tree and dock's, minus buildah's known artefacts.
fn tree_diff(buildah: &BTreeMap<String, String>, dock: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in buildah {
        match dock.get(k) {
            None if BUILDAH_ARTEFACTS.contains(&k.as_str()) => {}
            None => out += &format!("  only in buildah: {k}: {v}\n"),
            Some(w) if w != v => out += &format!("  {k}: buildah {v} / dock {w}\n"),
            Some(_) => {}
        }
    }
    for (k, v) in dock {
        if !buildah.contains_key(k) {
            out += &format!("  only in dock: {k}: {v}\n");
        }
    }
    out
}

/// The config fields a runtime reads, with absent, null and empty treated alike.
fn config_fields(config: &serde_json::Value) -> BTreeMap<&'static str, serde_json::Value> {
    let mut out = BTreeMap::new();
    for key in [
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
        let mut v = config.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if let Some(labels) = v.as_object_mut().filter(|_| key == "Labels") {
            labels.remove("io.buildah.version");
        }
        let empty = match &v {
            serde_json::Value::Null => true,
            serde_json::Value::String(s) => s.is_empty(),
            serde_json::Value::Array(a) => a.is_empty(),
            serde_json::Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            out.insert(key, v);
        }
    }
    out
}

#[test]
fn dock_and_buildah_build_equivalent_images() {
    require_tool("buildah");
    require_tool("skopeo");
    assert!(
        Path::new(UMOCI).exists(),
        "{UMOCI} is missing: install Debian's umoci (.ci/run does)"
    );
    // The base image: busybox with dock's test config, minus WorkingDir (whether a builder
    // makes the base image's missing WorkingDir on every step is a builder quirk, not a
    // Dockerfile semantic: buildah does, docker's builder only for RUN).
    let mut base_config = default_config();
    base_config.as_object_mut().unwrap().remove("WorkingDir");
    let fixture = Fixture::new();
    fixture.add_image("bb", base_config.clone());
    let work = fixture.dir.path();

    // The same base image in buildah's storage, from the same layout as dock's.
    let buildah = Buildah::new(&work.join("buildah"));
    let base = work.join("base-layout");
    busybox_layout(&base, "v1", base_config);
    must(
        Command::new("skopeo")
            .arg("copy")
            .arg("--quiet")
            .arg(format!("oci:{}:v1", base.display()))
            .arg(format!(
                "{}docker.io/library/bb:latest",
                buildah.storage_spec()
            ))
            .env("CONTAINERS_STORAGE_CONF", work.join("buildah/storage.conf")),
    );

    let mut failures = String::new();
    for case in cases() {
        let dir = work.join(case.name);
        let ctx = dir.join("context");
        write_context(&case, &ctx);
        let tag = format!("cmp-{}:latest", case.name);

        let mut args: Vec<String> = vec!["build".into(), "-q".into(), "-t".into(), tag.clone()];
        for a in case.build_args {
            args.push("--build-arg".into());
            args.push(a.to_string());
        }
        if let Some(t) = case.target {
            args.push("--target".into());
            args.push(t.into());
        }
        args.push(ctx.display().to_string());

        // buildah
        let mut b_args: Vec<String> = vec![
            "bud".into(),
            "--pull-never".into(),
            "--network".into(),
            "none".into(),
            "--layers=false".into(),
        ];
        b_args.extend(args[2..].iter().cloned());
        must(&mut buildah.command(&b_args.iter().map(String::as_str).collect::<Vec<_>>()));
        let b_layout = dir.join("buildah-layout");
        must(&mut buildah.command(&[
            "push",
            "--quiet",
            &tag,
            &format!("oci:{}:img", b_layout.display()),
        ]));
        let (b_tree, b_config) = unpack(&b_layout, &dir.join("buildah-rootfs"));

        // dock
        fixture.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let archive = dir.join("dock.tar");
        fixture.ok(&[
            "save",
            "--format",
            "oci-archive",
            "-o",
            archive.to_str().unwrap(),
            &tag,
        ]);
        let d_layout = dir.join("dock-layout");
        std::fs::create_dir_all(&d_layout).unwrap();
        must(
            Command::new("tar")
                .arg("-xf")
                .arg(&archive)
                .arg("-C")
                .arg(&d_layout),
        );
        let (d_tree, d_config) = unpack(&d_layout, &dir.join("dock-rootfs"));

        assert!(
            b_tree.len() > 20,
            "{}: buildah's image has almost nothing in it: {b_tree:?}",
            case.name
        );
        let d = tree_diff(&b_tree, &d_tree);
        if !d.is_empty() {
            failures += &format!("{}: file trees differ:\n{d}", case.name);
        }
        let (bc, dc) = (config_fields(&b_config), config_fields(&d_config));
        if bc != dc {
            failures += &format!(
                "{}: configs differ:\n  buildah {}\n  dock    {}\n",
                case.name,
                serde_json::to_string(&bc).unwrap(),
                serde_json::to_string(&dc).unwrap()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "dock and buildah disagree:\n{failures}"
    );
}
