//! `dock build` end to end, as root, on berth: a metadata-only Dockerfile and the config it
//! writes; RUN making files and removing a base file (a whiteout) as `dock run` then sees it;
//! COPY and ADD; cache hits, a changed file re-running from its COPY on, `--no-cache`;
//! multi-stage builds with `--target`; build-arg scoping; a failing RUN (its output, its
//! status, nothing left behind); reproducible digests across two store roots; `.dockerignore`;
//! a built image pushed to dock's registry and pulled back with its digest; an interrupted build;
//! RUN's network (none by default, host on request).
//! Base images are busybox made locally (tests/common). Every test checks that its builds left
//! no container, cgroup, mount or work directory.

mod common;

use common::{default_config, Fixture};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fixture with `bb` and a build context directory.
struct Build {
    f: Fixture,
    ctx: PathBuf,
}

impl Build {
    fn new() -> Build {
        let f = Fixture::with_image();
        let ctx = f.dir.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        Build { f, ctx }
    }

    /// Write a file in the context.
    fn file(&self, rel: &str, content: &str) {
        let p = self.ctx.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn dockerfile(&self, text: &str) {
        self.file("Dockerfile", text);
    }

    fn build_out(&self, extra: &[&str]) -> Output {
        let mut args = vec!["build"];
        args.extend_from_slice(extra);
        let ctx = self.ctx.to_str().unwrap().to_string();
        args.push(&ctx);
        let out = self.f.run(&args);
        self.assert_clean();
        out
    }

    /// Build; must succeed; (stdout, image id).
    fn build(&self, extra: &[&str]) -> (String, String) {
        let out = self.build_out(extra);
        assert!(
            out.status.success(),
            "dock build {extra:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        let id = stdout.lines().last().unwrap_or_default().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{stdout}");
        (stdout, id)
    }

    /// Nothing of any build is left: containers, berth state, cgroups, mounts, work dirs.
    fn assert_clean(&self) {
        let root = &self.f.root;
        let left = |p: &Path| -> Vec<String> {
            std::fs::read_dir(p)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let berth: Vec<String> = left(&root.join("berth"))
            .into_iter()
            .filter(|n| n.starts_with("dock-build-"))
            .collect();
        assert!(berth.is_empty(), "berth state left: {berth:?}");
        // Build containers are named dock-build-<hash of <root>/berth>-<random>.
        let tag = &common::sha256(root.join("berth").to_str().unwrap().as_bytes())[7..15];
        let prefix = format!("dock-build-{tag}-");
        for ctl in ["pids", "memory", "cpu", "freezer", "devices"] {
            let cg: Vec<String> = left(&Path::new("/sys/fs/cgroup").join(ctl).join("berth"))
                .into_iter()
                .filter(|n| n.starts_with(&prefix))
                .collect();
            assert!(cg.is_empty(), "cgroups left in {ctl}: {cg:?}");
        }
        assert!(
            left(&root.join("build")).is_empty(),
            "build work dirs left: {:?}",
            left(&root.join("build"))
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(root.to_str().unwrap()),
            "a mount under the dock root is left"
        );
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.f.root.join("index.json")).unwrap()).unwrap()
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let p = self
            .f
            .root
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        std::fs::read(p).unwrap()
    }

    /// Manifest of the image named `name` (full name).
    fn manifest(&self, name: &str) -> (String, Value) {
        let index = self.index();
        let m = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap_or_else(|| panic!("no image {name} in {index}"));
        let digest = m["digest"].as_str().unwrap().to_string();
        let manifest = serde_json::from_slice(&self.blob(&digest)).unwrap();
        (digest, manifest)
    }

    fn config(&self, name: &str) -> Value {
        let (_, m) = self.manifest(name);
        serde_json::from_slice(&self.blob(m["config"]["digest"].as_str().unwrap())).unwrap()
    }

    /// The entries of an image's top layer: (path, type byte, size).
    fn top_layer(&self, name: &str) -> Vec<(String, u8, u64)> {
        let (_, m) = self.manifest(name);
        let layers = m["layers"].as_array().unwrap();
        let data = self.blob(layers.last().unwrap()["digest"].as_str().unwrap());
        let mut gz = flate2::read::GzDecoder::new(&data[..]);
        let mut raw = Vec::new();
        gz.read_to_end(&mut raw).unwrap();
        let mut ar = tar::Archive::new(&raw[..]);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, e.header().entry_type().as_byte(), e.size())
            })
            .collect()
    }
}

fn full(name: &str) -> String {
    format!("docker.io/library/{name}:latest")
}

#[test]
fn metadata_only_dockerfile_writes_the_config_as_docker() {
    let b = Build::new();
    b.dockerfile(
        "FROM bb\n\
         ENV GREETING=hi WHO=\"the world\"\n\
         LABEL org.example.a=1 \"b c\"=\"d e\"\n\
         EXPOSE 8080 53/udp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGQUIT\n\
         USER app\n\
         HEALTHCHECK --interval=30s CMD true\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo $GREETING $WHO from $(pwd) as $(id -un)\"]\n\
         WORKDIR /srv/app\n",
    );
    let (out, id) = b.build(&["-t", "meta", "--label", "extra=yes"]);
    assert!(out.contains("STEP 1/10: FROM bb"), "{out}");
    assert!(out.contains("STEP 10/10: WORKDIR /srv/app"), "{out}");
    let c = b.config(&full("meta"));
    let cfg = &c["config"];
    assert_eq!(
        cfg["Env"],
        serde_json::json!(["PATH=/bin", "IMG=1", "GREETING=hi", "WHO=the world"])
    );
    assert_eq!(cfg["Labels"]["org.example.a"], "1");
    assert_eq!(cfg["Labels"]["b c"], "d e");
    assert_eq!(cfg["Labels"]["extra"], "yes");
    assert_eq!(
        cfg["Labels"]["org.example.kind"], "test",
        "base labels kept"
    );
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], "SIGQUIT");
    assert_eq!(cfg["User"], "app");
    assert_eq!(cfg["WorkingDir"], "/srv/app");
    assert_eq!(
        cfg["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert!(
        cfg.get("Cmd").is_none(),
        "ENTRYPOINT resets the base image's CMD"
    );
    assert_eq!(c["created"], "1970-01-01T00:00:00Z");
    // History: the base's one layer, nine empty entries, WORKDIR's layer (it made /srv/app).
    let history = c["history"].as_array().unwrap();
    let empty: Vec<bool> = history
        .iter()
        .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
        .collect();
    assert_eq!(empty.iter().filter(|e| !**e).count(), 1, "{history:?}");
    assert_eq!(history.last().unwrap()["created_by"], "WORKDIR /srv/app");
    assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        id,
        format!(
            "sha256:{}",
            &common::sha256(
                &b.blob(
                    b.manifest(&full("meta")).1["config"]["digest"]
                        .as_str()
                        .unwrap()
                )
            )[7..]
        )
    );
    assert_eq!(
        b.f.ok(&["run", "--rm", "meta"]),
        "hi the world from /srv/app as app\n"
    );
}

#[test]
fn run_makes_files_and_whiteouts_that_dock_run_sees() {
    let b = Build::new();
    b.dockerfile(
        "FROM bb\n\
         RUN echo made > /made.txt && mkdir -p /opt/d && echo x > /opt/d/f && rm /bin/grep /etc/group && echo out-of-run\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec form > /exec.txt\"]\n\
         RUN <<EOF\n\
         echo heredoc > /heredoc.txt\n\
         EOF\n\
         RUN <<SCRIPT\n\
         #!/bin/sh\n\
         echo \"shebang as $0\" > /shebang.txt\n\
         SCRIPT\n\
         RUN cat > /fed.txt <<'END'\n\
         fed $HOME\n\
         END\n\
         CMD [\"sh\", \"-c\", \"cat /made.txt /opt/d/f /exec.txt /heredoc.txt /shebang.txt /fed.txt; test -e /bin/grep || echo grep gone; test -e /etc/group || echo group gone\"]\n",
    );
    let (out, _) = b.build(&["-t", "ran"]);
    assert!(out.contains("out-of-run"), "RUN output is streamed: {out}");
    assert_eq!(
        b.f.ok(&["run", "--rm", "ran"]),
        "made\nx\nexec form\nheredoc\nshebang as /dev/.dock-run/SCRIPT\nfed $HOME\ngrep gone\ngroup gone\n"
    );
    // The first RUN's layer holds the whiteouts and none of the runtime's mount points.
    let (_, m) = b.manifest(&full("ran"));
    assert_eq!(m["layers"].as_array().unwrap().len(), 6);
    let c = b.config(&full("ran"));
    let created: Vec<&str> = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(
        created.contains(&"RUN /bin/sh -c echo exec form > /exec.txt"),
        "{created:?}"
    );
    // Renaming a directory of a lower layer is a copy and a whiteout (no overlay redirect).
    b.dockerfile("FROM bb\nRUN rm /bin/grep && touch /new && mv /tmp /moved\n");
    b.build(&["-t", "wh"]);
    let entries = b.top_layer(&full("wh"));
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert!(names.contains(&"bin/.wh.grep"), "{names:?}");
    assert!(names.contains(&"new"), "{names:?}");
    assert!(names.contains(&".wh.tmp"), "{names:?}");
    assert!(
        names.iter().any(|n| n.trim_end_matches('/') == "moved"),
        "{names:?}"
    );
    for mp in [
        "proc",
        "sys",
        "dev",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
    ] {
        assert!(
            !names.iter().any(|n| n.trim_end_matches('/') == mp),
            "{mp} is in the layer: {names:?}"
        );
    }
}

#[test]
fn copy_and_add_with_owner_mode_and_archives() {
    let b = Build::new();
    b.file("a.txt", "alpha\n");
    b.file("dir/one", "1\n");
    b.file("dir/sub/two", "2\n");
    // A small tar for ADD to extract.
    let tar_src = b.f.dir.path().join("tarsrc");
    std::fs::create_dir_all(tar_src.join("pkg")).unwrap();
    std::fs::write(tar_src.join("pkg/inside"), "from the tar\n").unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(b.ctx.join("pkg.tar.gz"))
        .arg("-C")
        .arg(&tar_src)
        .arg("pkg")
        .status()
        .unwrap();
    assert!(st.success());
    b.dockerfile(
        "FROM bb\n\
         COPY a.txt /copied/\n\
         COPY --chown=1000:10 --chmod=600 dir /tree\n\
         ADD pkg.tar.gz /unpacked/\n\
         COPY <<EOF /etc/motd\n\
         hello from a heredoc\n\
         EOF\n\
         CMD [\"sh\", \"-c\", \"cat /copied/a.txt /tree/one /tree/sub/two /unpacked/pkg/inside /etc/motd; ls -ln /tree/one\"]\n",
    );
    b.build(&["-t", "cp"]);
    let out = b.f.ok(&["run", "--rm", "cp"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        ["alpha", "1", "2", "from the tar", "hello from a heredoc"],
        "{out}"
    );
    let ls: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!((ls[0], ls[2], ls[3]), ("-rw-------", "1000", "10"), "{out}");
}

fn cached_steps(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("--> Using cache"))
        .count()
}

#[test]
fn cache_hits_changed_files_rerun_from_their_copy_and_no_cache() {
    let b = Build::new();
    b.file("input", "v1\n");
    b.dockerfile(
        "FROM bb\n\
         RUN echo first > /first\n\
         COPY input /input\n\
         RUN cat /input > /derived\n\
         CMD [\"cat\", \"/derived\"]\n",
    );
    let (out, id1) = b.build(&["-t", "c"]);
    assert_eq!(cached_steps(&out), 0, "{out}");
    let (out, id2) = b.build(&["-t", "c"]);
    assert_eq!(cached_steps(&out), 3, "{out}");
    assert_eq!(id1, id2);
    // Touching the file (same content) still hits: mtimes are not inputs.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(100);
    std::fs::File::options()
        .write(true)
        .open(b.ctx.join("input"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let (out, _) = b.build(&["-t", "c"]);
    assert_eq!(cached_steps(&out), 3, "{out}");
    // A changed file: the RUN before its COPY is cached, the COPY and what follows run again.
    b.file("input", "v2\n");
    let (out, id3) = b.build(&["-t", "c"]);
    assert_eq!(cached_steps(&out), 1, "{out}");
    assert!(
        out.find("Using cache").unwrap() < out.find("COPY input").unwrap(),
        "{out}"
    );
    assert_ne!(id3, id1);
    assert_eq!(b.f.ok(&["run", "--rm", "c"]), "v2\n");
    // --no-cache runs everything again, and the result is the same image.
    let (out, id4) = b.build(&["-t", "c", "--no-cache"]);
    assert_eq!(cached_steps(&out), 0, "{out}");
    assert_eq!(id4, id3, "a rebuild without cache gives the same bytes");
    // A build arg in scope is part of RUN's key.
    b.dockerfile("FROM bb\nARG V=1\nRUN echo $V > /v\n");
    let (_, a1) = b.build(&["-t", "arg"]);
    let (out, a2) = b.build(&["-t", "arg", "--build-arg", "V=2"]);
    assert_eq!(cached_steps(&out), 0, "{out}");
    assert_ne!(a1, a2);
    let (out, _) = b.build(&["-t", "arg", "--build-arg", "V=2"]);
    assert_eq!(cached_steps(&out), 1, "{out}");
}

#[test]
fn multi_stage_with_target_builds_only_what_it_needs() {
    let b = Build::new();
    b.dockerfile(
        "FROM bb AS build\n\
         RUN mkdir /out && echo artifact > /out/a\n\
         FROM bb AS broken\n\
         RUN echo never-run && exit 1\n\
         FROM build AS test\n\
         RUN test -f /out/a && echo tested > /out/t\n\
         FROM scratch AS final\n\
         COPY --from=build /out/a /a\n\
         COPY --from=bb /bin/busybox /bin/sh\n\
         CMD [\"/bin/sh\", \"-c\", \"read x < /a; echo $x\"]\n",
    );
    let (out, _) = b.build(&["-t", "final"]);
    assert!(!out.contains("never-run"), "an unused stage ran: {out}");
    assert_eq!(b.f.ok(&["run", "--rm", "final"]), "artifact\n");
    let (_, m) = b.manifest(&full("final"));
    assert_eq!(
        m["layers"].as_array().unwrap().len(),
        2,
        "scratch + two COPYs"
    );
    let (out, _) = b.build(&["-t", "t", "--target", "test"]);
    assert!(!out.contains("never-run"), "{out}");
    assert!(out.contains("STEP 4/4"), "{out}");
    assert_eq!(
        b.f.ok(&["run", "--rm", "t", "cat", "/out/a", "/out/t"]),
        "artifact\ntested\n"
    );
    let out = b.build_out(&["--target", "nosuch"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("--target nosuch") && err.contains("build, broken, test, final"),
        "{err}"
    );
}

#[test]
fn build_args_are_scoped_like_docker() {
    let b = Build::new();
    b.dockerfile(
        "ARG BASE=bb\n\
         ARG GLOBAL=g\n\
         ARG VER=1\n\
         FROM $BASE\n\
         ARG VER\n\
         ARG LOCAL=l\n\
         ENV FROM_ENV=$LOCAL-$VER\n\
         ARG SHADOW=arg\n\
         ENV SHADOW=env\n\
         RUN echo \"global=[$GLOBAL] ver=[$VER] local=[$LOCAL] shadow=[$SHADOW]\" > /args\n\
         CMD [\"sh\", \"-c\", \"cat /args; echo env=$FROM_ENV local=[$LOCAL]\"]\n",
    );
    b.build(&[
        "-t",
        "args",
        "--build-arg",
        "VER=2",
        "--build-arg",
        "UNUSED=x",
    ]);
    assert_eq!(
        b.f.ok(&["run", "--rm", "args"]),
        "global=[] ver=[2] local=[l] shadow=[env]\nenv=l-2 local=[]\n"
    );
    let c = b.config(&full("args"));
    let env = c["config"]["Env"].to_string();
    assert!(!env.contains("LOCAL="), "ARGs are not in the config: {env}");
    let runs: Vec<&str> = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .filter(|c| c.starts_with("RUN"))
        .collect();
    assert!(
        runs[0].starts_with("RUN |3 LOCAL=l SHADOW=arg VER=2 /bin/sh -c"),
        "{runs:?}"
    );
}

#[test]
fn failing_run_shows_output_and_status_and_leaves_nothing() {
    let b = Build::new();
    b.dockerfile(
        "FROM bb\nRUN echo fine > /ok\nRUN echo about to fail; echo on stderr >&2; exit 7\n",
    );
    let out = b.build_out(&["-t", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains("about to fail") && stdout.contains("on stderr"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "error: RUN echo about to fail; echo on stderr >&2; exit 7 (Dockerfile:3) exited with status 7"
        ),
        "{stderr}"
    );
    assert!(
        !b.index().to_string().contains("bad"),
        "a failed build named an image"
    );
    // Quiet: the failing step's output is still shown (on stderr), then the error.
    let out = b.build_out(&["-q", "-t", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("about to fail") && stderr.contains("status 7"),
        "{stderr}"
    );
    // Bad input: one clear line, nothing made.
    b.dockerfile("FROM bb\nSTOPSIGNAL NOPE\n");
    let out = b.build_out(&[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Dockerfile:2"),
        "{}",
        text(&out.stderr)
    );
    let out = b.build_out(&["--platform", "linux/arm64"]);
    assert!(
        text(&out.stderr).contains("linux/amd64"),
        "{}",
        text(&out.stderr)
    );
    b.dockerfile("FROM bb\nRUN --mount=type=cache,target=/x true\n");
    let out = b.build_out(&[]);
    assert!(
        text(&out.stderr).contains("--mount"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn reproducible_digests_across_store_roots() {
    let a = Build::new();
    let b = Build::new();
    let df = "FROM bb\n\
              COPY . /src\n\
              RUN mkdir -p /var/x && echo built > /var/x/f && chmod 640 /var/x/f && rm /bin/ps\n\
              WORKDIR /app\n\
              ENV K=v\n";
    for (i, x) in [&a, &b].iter().enumerate() {
        x.file("data/file", "same content\n");
        x.file("top", "top\n");
        x.dockerfile(df);
        // Different mtimes on each side.
        let t = std::time::SystemTime::now() + std::time::Duration::from_secs(1000 * i as u64);
        std::fs::File::options()
            .write(true)
            .open(x.ctx.join("top"))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let (_, id_a) = a.build(&["-q", "-t", "r"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, id_b) = b.build(&["-q", "-t", "r"]);
    assert_eq!(id_a, id_b);
    assert_eq!(a.manifest(&full("r")).0, b.manifest(&full("r")).0);
    // --timestamp changes the times, so the digest, and is used for created.
    let (_, id_t) = a.build(&["-q", "-t", "r2", "--timestamp", "1700000000"]);
    assert_ne!(id_t, id_a);
    assert_eq!(a.config(&full("r2"))["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn dockerignore_keeps_files_out() {
    let b = Build::new();
    b.file("keep.txt", "k\n");
    b.file("secret.env", "s\n");
    b.file("logs/a.log", "l\n");
    b.file("logs/important.log", "i\n");
    b.file(".dockerignore", "*.env\nlogs\n!logs/important.log\n");
    b.dockerfile("FROM bb\nCOPY . /ctx/\n");
    b.build(&["-t", "ign"]);
    let out = b.f.ok(&["run", "--rm", "ign", "ls", "-R", "/ctx"]);
    assert!(out.contains("keep.txt"), "{out}");
    assert!(out.contains("important.log"), "{out}");
    assert!(!out.contains("secret.env"), "{out}");
    assert!(!out.contains("a.log"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_images_run_push_and_pull_back_with_their_digest() {
    // The image config dock build writes is one dock run reads (env, cmd, workdir, user).
    let b = Build::new();
    b.f.add_image("base2", default_config());
    b.dockerfile("FROM base2\nRUN echo $IMG > /img\nCMD [\"cat\", \"/img\"]\n");
    b.build(&["-t", "example.com/team/app:v1", "-t", "app2"]);
    assert_eq!(b.f.ok(&["run", "--rm", "example.com/team/app:v1"]), "1\n");
    assert_eq!(b.f.ok(&["run", "--rm", "app2"]), "1\n");
    // dock push sends it; pulled back, it has the same manifest digest and runs.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"access_log": false}"#).unwrap();
    let server = dock_registry::start(dock_registry::ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        root: dir.path().join("root"),
        config: Some(cfg),
        tls_cert: None,
        tls_key: None,
        insecure_anonymous: false,
    })
    .await
    .unwrap();
    let remote = format!("{}/team/app:v1", server.addr);
    let (built, _) = b.manifest(&full("app2"));
    b.f.ok(&["tag", "app2", &remote]);
    b.f.ok(&["push", &remote]);
    b.f.ok(&["rmi", "app2", &remote, "example.com/team/app:v1"]);
    b.f.ok(&["pull", &remote]);
    assert_eq!(b.manifest(&remote).0, built);
    assert_eq!(b.f.ok(&["run", "--rm", &remote]), "1\n");
    server.abort();
}

#[test]
fn interrupted_build_exits_130_and_leaves_nothing() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let b = Build::new();
    b.dockerfile("FROM bb\nRUN echo started; sleep 60; echo never\n");
    // Its own process group, as a terminal's foreground job: SIGINT reaches dock and berth.
    let mut child =
        b.f.command(&["build", "-t", "intr", b.ctx.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line != "started\n" {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no RUN output");
    }
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    b.assert_clean();
    assert!(!b.index().to_string().contains("intr"));
}

#[test]
fn run_network_is_none_unless_host_is_asked_for() {
    let b = Build::new();
    b.dockerfile("FROM bb\nRUN ip -o link | wc -l > /links\nCMD [\"cat\", \"/links\"]\n");
    b.build(&["-t", "none"]);
    assert_eq!(
        b.f.ok(&["run", "--rm", "none"]).trim(),
        "1",
        "loopback only"
    );
    let host_links = std::fs::read_dir("/sys/class/net").unwrap().count();
    // As docker, the network mode is not part of the cache key: --no-cache runs it again.
    b.build(&["-t", "host", "--network", "host", "--no-cache"]);
    assert_eq!(
        b.f.ok(&["run", "--rm", "host"]).trim(),
        host_links.to_string()
    );
}
