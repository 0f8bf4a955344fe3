//! `dock save` / `dock load` with the tools that read and write the same formats: skopeo
//! inspects both archives (an OCI archive keeps the stored manifest digest), podman loads them
//! into private storage (--root/--runroot under a temp dir) under the image's name, podman's own
//! archives load back into dock, and the reloaded image runs. Garbage is refused cleanly.

mod common;

use common::Fixture;
use std::path::Path;
use std::process::Command;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// podman on its own storage under `dir`.
fn podman(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ])
        .args(args);
    c
}

fn skopeo_inspect(transport: &str) -> serde_json::Value {
    serde_json::from_str(&must(Command::new("skopeo").args(["inspect", transport]))).unwrap()
}

#[test]
fn save_is_read_by_skopeo_and_podman_and_podman_archives_load_back() {
    common::require_tool("skopeo");
    common::require_tool("podman");
    let f = Fixture::with_image();
    let d = f.dir.path();
    let images: serde_json::Value = serde_json::from_str(&format!(
        "[{}]",
        f.ok(&["images", "--format", "json"])
            .trim()
            .replace('\n', ",")
    ))
    .unwrap();
    let manifest_digest = images[0]["Digest"].as_str().unwrap().to_string();
    let image_id = images[0]["ID"].as_str().unwrap().to_string();

    let docker_tar = d.join("docker.tar");
    let oci_tar = d.join("oci.tar");
    f.ok(&["save", "-o", docker_tar.to_str().unwrap(), "bb"]);
    f.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        oci_tar.to_str().unwrap(),
        "bb:latest",
    ]);
    // stdout works too and gives the same bytes.
    let out = f.run(&["save", "bb"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, std::fs::read(&docker_tar).unwrap());

    let v = skopeo_inspect(&format!("oci-archive:{}", oci_tar.display()));
    assert_eq!(
        v["Digest"],
        manifest_digest.as_str(),
        "an OCI archive keeps the manifest digest"
    );
    assert_eq!(v["Labels"]["org.example.kind"], "test");
    let v = skopeo_inspect(&format!("docker-archive:{}", docker_tar.display()));
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(v["Labels"]["org.example.kind"], "test");

    let pm = d.join("podman");
    std::fs::create_dir(&pm).unwrap();
    let loaded = must(&mut podman(&pm, &["load", "-i", oci_tar.to_str().unwrap()]));
    assert!(loaded.contains("docker.io/library/bb:latest"), "{loaded}");
    let loaded = must(&mut podman(
        &pm,
        &["load", "-i", docker_tar.to_str().unwrap()],
    ));
    assert!(loaded.contains("bb:latest"), "{loaded}");
    let listed = must(&mut podman(
        &pm,
        &[
            "images",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
            "--no-trunc",
        ],
    ));
    assert!(
        listed.lines().all(|l| l.starts_with(&image_id)) && listed.lines().count() == 2,
        "podman's images are ours (same image id): {listed}"
    );

    // podman's archives of the image load back into a fresh dock store and run.
    let p_docker = d.join("p-docker.tar");
    let p_oci = d.join("p-oci.tar");
    must(&mut podman(
        &pm,
        &[
            "save",
            "-o",
            p_docker.to_str().unwrap(),
            "docker.io/library/bb:latest",
        ],
    ));
    must(&mut podman(
        &pm,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            p_oci.to_str().unwrap(),
            "docker.io/library/bb:latest",
        ],
    ));
    for archive in [&p_docker, &p_oci, &docker_tar] {
        let g = Fixture::new();
        let out = g.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out, "Loaded image: bb:latest\n", "{}", archive.display());
        let listed = g.ok(&["images", "--format", "json"]);
        let row: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
        if archive != &p_oci {
            // (podman rewrites the config when it writes OCI, so only the others keep the id.)
            assert_eq!(row["ID"], image_id.as_str(), "{}", archive.display());
        }
        assert_eq!(g.ok(&["run", "--rm", "bb"]), "hello from 1\n");
    }
    // A gzip'd archive on stdin.
    let g = Fixture::new();
    let gz = Command::new("gzip")
        .arg("-c")
        .arg(&oci_tar)
        .output()
        .unwrap()
        .stdout;
    let mut child = g
        .command(&["load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "Loaded image: bb:latest\n");
    let listed = g.ok(&["images", "--format", "json"]);
    assert!(
        listed.contains(&manifest_digest),
        "oci-archive load keeps the digest: {listed}"
    );
}

#[test]
fn load_refuses_garbage_and_leaves_nothing() {
    let f = Fixture::new();
    let junk = f.dir.path().join("junk.tar");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let out = f.run(&["load", "-i", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("junk.tar"),
        "{}",
        text(&out.stderr)
    );
    // A tar that is neither format.
    let other = f.dir.path().join("other.tar");
    assert!(Command::new("tar")
        .arg("-cf")
        .arg(&other)
        .arg("-C")
        .arg(f.dir.path())
        .arg("junk.tar")
        .status()
        .unwrap()
        .success());
    let out = f.run(&["load", "-i", other.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a docker-archive"),
        "{}",
        text(&out.stderr)
    );
    let ingest: Vec<_> = std::fs::read_dir(f.root.join("ingest")).unwrap().collect();
    assert!(ingest.is_empty(), "scratch left behind");
    assert!(f.ok(&["images"]).lines().count() == 1);
    let out = f.run(&["save", "-o", "/nonexistent/dir/x.tar", "nosuch"]);
    assert!(!out.status.success());
}
