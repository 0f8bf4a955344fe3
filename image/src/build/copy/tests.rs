//! COPY/ADD against real directories: destination rules, owners and modes, globs,
//! `.dockerignore`, symlink escapes on both sides, archives, URLs, heredocs, cache digests.

use super::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::PathBuf;

struct Fixture {
    _t: tempfile::TempDir,
    ctx: PathBuf,
    root: PathBuf,
    ignore: Dockerignore,
}

impl Fixture {
    fn new() -> Self {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        let root = t.path().join("root");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::create_dir(&root).unwrap();
        Fixture {
            ctx,
            root,
            ignore: Dockerignore::default(),
            _t: t,
        }
    }

    fn file(&self, rel: &str, body: &str, mode: u32) -> PathBuf {
        let p = self.ctx.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn from(&self) -> CopyFrom<'_> {
        CopyFrom::Context {
            dir: &self.ctx,
            ignore: &self.ignore,
        }
    }

    fn copy(&self, req: &CopyRequest) -> Result<(), CopyError> {
        copy_into(&self.root, &self.from(), req)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn meta(&self, rel: &str) -> std::fs::Metadata {
        std::fs::symlink_metadata(self.root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn exists(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.root.join(rel)).is_ok()
    }
}

fn req(sources: &[&str], dest: &str) -> CopyRequest {
    CopyRequest {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.to_string(),
        workdir: "/".to_string(),
        ..Default::default()
    }
}

fn owner_mode(m: &std::fs::Metadata) -> (u32, u32, u32) {
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn file_destinations() {
    let f = Fixture::new();
    let a = f.file("a.txt", "A", 0o751);
    nix::unistd::chown(
        &a,
        Some(nix::unistd::Uid::from_raw(1000)),
        Some(nix::unistd::Gid::from_raw(1000)),
    )
    .unwrap();
    std::fs::create_dir(f.root.join("existing")).unwrap();

    f.copy(&req(&["a.txt"], "/x")).unwrap();
    assert_eq!(f.read("x"), "A");
    // Context files become 0:0; the mode is kept.
    assert_eq!(owner_mode(&f.meta("x")), (0, 0, 0o751));

    f.copy(&req(&["a.txt"], "/new/dir/")).unwrap();
    assert_eq!(f.read("new/dir/a.txt"), "A");
    assert_eq!(owner_mode(&f.meta("new")), (0, 0, 0o755));
    assert_eq!(owner_mode(&f.meta("new/dir")), (0, 0, 0o755));

    f.copy(&req(&["a.txt"], "/existing")).unwrap();
    assert_eq!(f.read("existing/a.txt"), "A");

    let mut r = req(&["/a.txt"], "rel");
    r.workdir = "/app".into();
    f.copy(&r).unwrap();
    assert_eq!(f.read("app/rel"), "A");
    let mut r = req(&["a.txt"], ".");
    r.workdir = "/wd".into();
    f.copy(&r).unwrap();
    assert_eq!(f.read("wd/a.txt"), "A");
    // A destination that climbs above / stays at /.
    f.copy(&req(&["a.txt"], "../../../top")).unwrap();
    assert_eq!(f.read("top"), "A");

    // Several sources: a directory, trailing slash or not.
    f.file("b.txt", "B", 0o644);
    f.copy(&req(&["a.txt", "b.txt"], "/multi")).unwrap();
    assert_eq!(f.read("multi/a.txt") + &f.read("multi/b.txt"), "AB");
}

#[test]
fn directory_sources_copy_their_contents() {
    let f = Fixture::new();
    f.file("src/a", "a", 0o600);
    f.file("src/sub/b", "b", 0o644);
    symlink("a", f.ctx.join("src/link")).unwrap();
    symlink("/etc/passwd", f.ctx.join("src/abs")).unwrap();
    std::fs::set_permissions(f.ctx.join("src"), std::fs::Permissions::from_mode(0o750)).unwrap();
    f.copy(&req(&["src"], "/opt")).unwrap();
    assert_eq!(f.read("opt/a"), "a");
    assert_eq!(f.read("opt/sub/b"), "b");
    assert!(!f.exists("opt/src"));
    assert_eq!(
        std::fs::read_link(f.root.join("opt/link")).unwrap(),
        Path::new("a")
    );
    // Symlinks are copied as they are, never followed.
    assert_eq!(
        std::fs::read_link(f.root.join("opt/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    // The new destination is made 0755 like any parent, not with the source dir's 0750
    // (docker's builder and buildah agree; build_vs_buildah checks it against buildah).
    assert_eq!(owner_mode(&f.meta("opt")), (0, 0, 0o755));
    assert_eq!(owner_mode(&f.meta("opt/a")), (0, 0, 0o600));

    // An existing destination directory keeps its own mode.
    std::fs::create_dir(f.root.join("tmp")).unwrap();
    std::fs::set_permissions(f.root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    f.copy(&req(&["src"], "/tmp/")).unwrap();
    assert_eq!(f.meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(f.read("tmp/sub/b"), "b");

    // The whole context.
    f.copy(&req(&["."], "/all/")).unwrap();
    assert_eq!(f.read("all/src/sub/b"), "b");
}

#[test]
fn globs() {
    let f = Fixture::new();
    f.file("a.txt", "a", 0o644);
    f.file("b.txt", "b", 0o644);
    f.file(".hidden.txt", "h", 0o644);
    f.file("c.md", "c", 0o644);
    f.file("dir1/x.txt", "x1", 0o644);
    f.file("dir2/x.txt", "x2", 0o644);
    f.copy(&req(&["*.txt"], "/g/")).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(f.root.join("g"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // Go's filepath.Match: `*` matches a leading dot too.
    assert_eq!(names, [".hidden.txt", "a.txt", "b.txt"]);
    f.copy(&req(&["dir?/x.[t]xt"], "/g2/")).unwrap();
    // Same name twice: the later match wins, as docker copies in order.
    assert_eq!(f.read("g2/x.txt"), "x2");
    // One match, no trailing slash: a file.
    f.copy(&req(&["c.*"], "/one")).unwrap();
    assert_eq!(f.read("one"), "c");
    let e = f.copy(&req(&["*.rs"], "/none/")).unwrap_err().to_string();
    assert_eq!(e, "source *.rs: not found in the build context");
    assert!(!f.exists("none"));
    let e = f.copy(&req(&["[z-a]"], "/x")).unwrap_err().to_string();
    assert!(e.contains("source pattern"), "{e}");
}

#[test]
fn chown_by_name_and_chmod() {
    let f = Fixture::new();
    f.file("a.txt", "A", 0o644);
    f.file("d/b", "B", 0o600);
    std::fs::create_dir(f.root.join("etc")).unwrap();
    std::fs::write(
        f.root.join("etc/passwd"),
        "root:x:0:0::/:/bin/sh\napp:x:1001:1002::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(f.root.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
    let mut r = req(&["a.txt", "d"], "/data/");
    r.chown = Some("app:staff".into());
    r.chmod = Some("0640".into());
    f.copy(&r).unwrap();
    assert_eq!(owner_mode(&f.meta("data")), (1001, 50, 0o755));
    assert_eq!(owner_mode(&f.meta("data/a.txt")), (1001, 50, 0o640));
    assert_eq!(owner_mode(&f.meta("data/b")), (1001, 50, 0o640));

    let mut r = req(&["a.txt"], "/u");
    r.chown = Some("app".into());
    f.copy(&r).unwrap();
    assert_eq!(owner_mode(&f.meta("u")), (1001, 1002, 0o644));

    let mut r = req(&["a.txt"], "/nothing/here");
    r.chown = Some("ghost".into());
    let e = f.copy(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        "--chown: user ghost not found in the destination's /etc/passwd"
    );
    assert!(!f.exists("nothing"));
    let mut r = req(&["a.txt"], "/m");
    r.chmod = Some("rwx".into());
    assert!(f
        .copy(&r)
        .unwrap_err()
        .to_string()
        .starts_with("--chmod=rwx:"));
}

#[test]
fn destination_symlinks_stay_inside_the_root() {
    let f = Fixture::new();
    let unique = format!("dock-copy-test-{}", std::process::id());
    f.file(&unique, "inside", 0o644);
    // /x → /etc and /y → ../../../../tmp (relative, climbing): both resolve in the root.
    symlink("/etc", f.root.join("x")).unwrap();
    symlink("../../../../tmp", f.root.join("y")).unwrap();
    f.copy(&req(&[&unique], "/x/")).unwrap();
    f.copy(&req(&[&unique], "/y/deeper/")).unwrap();
    assert_eq!(f.read(&format!("etc/{unique}")), "inside");
    assert_eq!(f.read(&format!("tmp/deeper/{unique}")), "inside");
    assert!(!Path::new("/etc").join(&unique).exists());
    assert!(!Path::new("/tmp/deeper").join(&unique).exists());

    // A destination that is itself a symlink to a host file: the link is replaced.
    let host = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(host.path(), "host").unwrap();
    symlink(host.path(), f.root.join("victim")).unwrap();
    f.copy(&req(&[&unique], "/victim")).unwrap();
    assert_eq!(std::fs::read_to_string(host.path()).unwrap(), "host");
    assert_eq!(f.read("victim"), "inside");
    assert!(f.meta("victim").is_file());
}

#[test]
fn sources_stay_inside_the_context() {
    let f = Fixture::new();
    f.file("a", "a", 0o644);
    let e = f.copy(&req(&["../a"], "/x")).unwrap_err().to_string();
    assert_eq!(e, "source ../a: outside the build context");
    let e = f
        .copy(&req(&["sub/../../a"], "/x"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("outside the build context"), "{e}");
    // `a/../a` stays inside.
    f.copy(&req(&["a/../a"], "/ok")).unwrap();
    // A symlink in the context to a host file resolves inside the context: not found.
    symlink("/etc/hostname", f.ctx.join("host-link")).unwrap();
    symlink("/a", f.ctx.join("abs-link")).unwrap();
    let e = f.copy(&req(&["host-link"], "/h")).unwrap_err().to_string();
    assert_eq!(e, "source host-link: not found in the build context");
    // A source symlink itself is followed, inside the context.
    f.copy(&req(&["abs-link"], "/followed")).unwrap();
    assert_eq!(f.read("followed"), "a");
    assert!(f.meta("followed").is_file());
}

#[test]
fn dockerignore_is_honoured() {
    let mut f = Fixture::new();
    f.ignore = Dockerignore::parse(
        "secret\n*.log\n!keep.log\nbuild\ndocs\n!docs/keep.md\n",
        ".dockerignore",
    )
    .unwrap();
    for p in [
        "secret",
        "a.log",
        "keep.log",
        "build/out",
        "src/x",
        "docs/keep.md",
        "docs/other.md",
    ] {
        f.file(p, p, 0o644);
    }
    f.copy(&req(&["."], "/app/")).unwrap();
    assert!(f.exists("app/keep.log"));
    assert!(f.exists("app/src/x"));
    assert!(f.exists("app/docs/keep.md"));
    for gone in ["app/secret", "app/a.log", "app/build", "app/docs/other.md"] {
        assert!(!f.exists(gone), "{gone} copied");
    }
    let e = f.copy(&req(&["secret"], "/s")).unwrap_err().to_string();
    assert_eq!(
        e,
        "source secret: not found in the build context (.dockerignore excludes it)"
    );
    // An excluded directory named as a source: only what an exception keeps.
    f.copy(&req(&["docs"], "/d/")).unwrap();
    assert!(f.exists("d/keep.md"));
    assert!(!f.exists("d/other.md"));
    let e = f.copy(&req(&["build"], "/b/")).unwrap_err().to_string();
    assert!(e.contains(".dockerignore excludes it"), "{e}");
    f.copy(&req(&["*.log"], "/logs/")).unwrap();
    assert!(f.exists("logs/keep.log"));
    assert!(!f.exists("logs/a.log"));
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o640);
        h.set_uid(7);
        h.set_gid(8);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress_with(tool: &str, data: &[u8]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed for this test: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn add_extracts_local_archives() {
    let f = Fixture::new();
    let tar = tar_of(&[("dir/file", "content"), ("top", "t")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let variants = [
        ("plain.tar", tar.clone()),
        ("g.tar.gz", gz.finish().unwrap()),
        ("z.tar.zst", zstd::stream::encode_all(&tar[..], 1).unwrap()),
        ("b.tar.bz2", compress_with("bzip2", &tar)),
        ("x.tar.xz", compress_with("xz", &tar)),
    ];
    for (name, bytes) in &variants {
        std::fs::write(f.ctx.join(name), bytes).unwrap();
        let mut r = req(&[name], &format!("/ext-{name}"));
        r.add = true;
        f.copy(&r).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.read(&format!("ext-{name}/dir/file")), "content", "{name}");
        // The archive's owners and modes are kept.
        assert_eq!(
            owner_mode(&f.meta(&format!("ext-{name}/top"))),
            (7, 8, 0o640)
        );
    }
    // COPY never extracts.
    f.copy(&req(&["plain.tar"], "/copied.tar")).unwrap();
    assert_eq!(std::fs::read(f.root.join("copied.tar")).unwrap(), tar);
    // A gzip that is not a tar is copied as it is.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"just text").unwrap();
    let notar = gz.finish().unwrap();
    std::fs::write(f.ctx.join("notes.gz"), &notar).unwrap();
    let mut r = req(&["notes.gz"], "/n/");
    r.add = true;
    f.copy(&r).unwrap();
    assert_eq!(std::fs::read(f.root.join("n/notes.gz")).unwrap(), notar);
}

/// A one-file HTTP server on loopback: serves `body` at `/files/NAME` for `requests`
/// requests, 404 elsewhere; joined by the returned handle.
fn serve(body: &'static [u8], requests: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let (mut conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let reply = if first.starts_with("GET /files/") {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            conn.write_all(&reply).unwrap();
        }
    });
    (base, handle)
}

#[test]
fn add_downloads_urls_with_checksums() {
    let f = Fixture::new();
    let body: &'static [u8] = b"payload bytes";
    let good = Digest::of_bytes(Algorithm::Sha256, body).to_string();
    let bad = Digest::of_bytes(Algorithm::Sha256, b"other").to_string();
    let (base, server) = serve(body, 4);
    let url = format!("{base}/files/p.tgz");

    let mut r = req(&[&url], "/dl/");
    r.add = true;
    r.checksum = Some(good.clone());
    r.epoch = 1234;
    f.copy(&r).unwrap();
    assert_eq!(f.read("dl/p.tgz"), "payload bytes");
    // docker's 0600; a URL is never extracted.
    assert_eq!(owner_mode(&f.meta("dl/p.tgz")), (0, 0, 0o600));
    assert_eq!(f.meta("dl/p.tgz").mtime(), 1234);

    let mut r = req(&[&url], "/bad/file");
    r.add = true;
    r.checksum = Some(bad.clone());
    let e = f.copy(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("ADD {url}: checksum mismatch: expected {bad}, got {good}")
    );
    // Nothing left behind beside the destination.
    assert_eq!(std::fs::read_dir(f.root.join("bad")).unwrap().count(), 0);

    // Without --checksum the cache key is the content served now (fetched to check), so it
    // equals the key with the right checksum and differs from one with another.
    let mut r = req(&[&url], "/k");
    r.add = true;
    let fetched = inputs_digest(&f.from(), &r).unwrap();
    r.checksum = Some(good.clone());
    assert_eq!(inputs_digest(&f.from(), &r).unwrap(), fetched);
    r.checksum = Some(bad.clone());
    assert_ne!(inputs_digest(&f.from(), &r).unwrap(), fetched);

    let mut r = req(&[&format!("{base}/missing")], "/m");
    r.add = true;
    let e = f.copy(&r).unwrap_err().to_string();
    assert!(e.contains("HTTP 404"), "{e}");
    server.join().unwrap();

    // COPY of a URL, --checksum on a local file, a malformed checksum: refused up front.
    assert!(f
        .copy(&req(&[&url], "/c"))
        .unwrap_err()
        .to_string()
        .contains("ADD only"));
    f.file("local", "l", 0o644);
    let mut r = req(&["local"], "/c");
    r.add = true;
    r.checksum = Some(good);
    assert!(f
        .copy(&r)
        .unwrap_err()
        .to_string()
        .contains("not an http(s) URL"));
    let mut r = req(&[&url], "/c");
    r.add = true;
    r.checksum = Some("md5:abc".into());
    assert!(f
        .copy(&r)
        .unwrap_err()
        .to_string()
        .starts_with("--checksum=md5:abc"));
}

#[test]
fn heredocs_are_written_as_files() {
    let f = Fixture::new();
    let doc = |name: &str, body: &str| Heredoc {
        name: name.into(),
        body: body.into(),
        expand: false,
    };
    let mut r = req(&[], "/etc/motd");
    r.heredocs = vec![doc("EOF", "hello\n")];
    f.copy(&r).unwrap();
    assert_eq!(f.read("etc/motd"), "hello\n");
    assert_eq!(owner_mode(&f.meta("etc/motd")), (0, 0, 0o644));
    let mut r = req(&[], "/d");
    r.heredocs = vec![doc("one", "1"), doc("two", "2")];
    r.chmod = Some("755".into());
    f.copy(&r).unwrap();
    assert_eq!(f.read("d/one") + &f.read("d/two"), "12");
    assert_eq!(f.meta("d/two").mode() & 0o7777, 0o755);
}

#[test]
fn copy_from_a_stage_root() {
    let f = Fixture::new();
    let stage = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(stage.path().join("usr/bin")).unwrap();
    std::fs::write(stage.path().join("usr/bin/tool"), "tool").unwrap();
    nix::unistd::chown(
        &stage.path().join("usr/bin/tool"),
        Some(nix::unistd::Uid::from_raw(33)),
        Some(nix::unistd::Gid::from_raw(44)),
    )
    .unwrap();
    // /bin → usr/bin inside the stage, and an absolute link: resolved in the stage root.
    symlink("usr/bin", stage.path().join("bin")).unwrap();
    symlink("/usr/bin/tool", stage.path().join("abs")).unwrap();
    let from = CopyFrom::Root(stage.path());
    copy_into(&f.root, &from, &req(&["/bin/tool"], "/out/")).unwrap();
    copy_into(&f.root, &from, &req(&["abs"], "/viaabs")).unwrap();
    assert_eq!(f.read("out/tool"), "tool");
    assert_eq!(f.read("viaabs"), "tool");
    // Owners from the stage are kept without --chown.
    assert_eq!(owner_mode(&f.meta("out/tool")).0, 33);
    let e = copy_into(&f.root, &from, &req(&["../x"], "/x"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "source ../x: outside the source stage");
}

#[test]
fn inputs_digest_follows_content_not_mtimes() {
    let mut f = Fixture::new();
    f.ignore = Dockerignore::parse("ignored\n", ".dockerignore").unwrap();
    let a = f.file("dir/a", "one", 0o644);
    f.file("ignored", "x", 0o644);
    let r = req(&["dir", "ignored*"], "/app/");
    let d = |f: &Fixture, r: &CopyRequest| inputs_digest(&f.from(), r).unwrap_err();
    // `ignored*` matches only an ignored file: an error, like copy_into.
    assert!(d(&f, &r).to_string().contains(".dockerignore excludes it"));
    let r = req(&["dir"], "/app/");
    let key = |f: &Fixture, r: &CopyRequest| inputs_digest(&f.from(), r).unwrap();
    let k1 = key(&f, &r);
    assert!(k1.starts_with("sha256:") && k1.len() == 71, "{k1}");
    assert_eq!(k1, key(&f, &r));
    // Touched: same key.
    let t = nix::sys::time::TimeSpec::new(1_000_000, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &a,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    assert_eq!(key(&f, &r), k1);
    // An ignored file changed: same key.
    std::fs::write(f.ctx.join("ignored"), "changed").unwrap();
    assert_eq!(key(&f, &r), k1);
    // Content, mode, a new file, flags: new keys.
    std::fs::write(&a, "two").unwrap();
    let k2 = key(&f, &r);
    assert_ne!(k2, k1);
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o600)).unwrap();
    let k3 = key(&f, &r);
    assert_ne!(k3, k2);
    f.file("dir/b", "", 0o644);
    let k4 = key(&f, &r);
    assert_ne!(k4, k3);
    let mut r2 = r.clone();
    r2.chmod = Some("700".into());
    assert_ne!(key(&f, &r2), k4);
    let mut r3 = r.clone();
    r3.dest = "/other/".into();
    assert_ne!(key(&f, &r3), k4);
    assert!(d(&f, &req(&["../x"], "/")).to_string().contains("outside"));
}
