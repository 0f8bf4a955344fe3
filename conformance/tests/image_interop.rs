//! Issue #8's interop: images cross between dock, skopeo, podman and two registries — Debian's
//! docker-registry (distribution 2.8) and `dock registry serve` — with their manifest digests
//! unchanged, and run wherever they land:
//! 1. buildah builds a busybox image; skopeo pushes it to docker-registry;
//! 2. dock pulls it from there and runs it on the runtime under test;
//! 3. dock pushes its copy, unchanged, to our registry and back to docker-registry under
//!    another name: both keep the digest skopeo saw first;
//! 4. podman pulls each of dock's pushes and runs them (on the runtime under test).
//!
//! Every tool runs on private state (see conformance/src/registry/clients.rs and
//! conformance/src/podman.rs); both registries listen on loopback ports of their own.

use berth_conformance::exec::{run, Outcome};
use berth_conformance::locate;
use berth_conformance::podman::Podman;
use berth_conformance::registry::clients::{require_tools, Clients};
use berth_conformance::registry::http::{send, Request};
use berth_conformance::registry::{dock, Served};
use berth_conformance::tempdir::TempDir;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// Debian's docker-registry on a loopback port, its storage in a temp dir; killed on drop.
struct DistributionRegistry {
    addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl DistributionRegistry {
    fn start() -> DistributionRegistry {
        assert!(
            Path::new(DOCKER_REGISTRY).is_file(),
            "{DOCKER_REGISTRY} missing: apt-get install -y docker-registry"
        );
        let dir = TempDir::new("distribution");
        // A free port: bind to learn one, release it for the registry.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write docker-registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let mut child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(dir.path().join("registry.log"));
                panic!("docker-registry exited ({status}): {text:?}");
            }
            if std::net::TcpStream::connect(addr).is_ok()
                && send(addr, &Request::new("GET", "/v2/")).status == 200
            {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("docker-registry did not answer on {addr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        DistributionRegistry {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for DistributionRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dock <args>` on the store under `root`, with the runtime under test for `run`.
fn dock_cmd(root: &Path, calls: &Path, n: &str, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(dock());
    cmd.args(args)
        .env("DOCK_ROOT", root)
        .env("DOCK_RUNTIME", locate::runtime());
    run(
        cmd,
        &calls.join(format!("dock-{n}.out")),
        &calls.join(format!("dock-{n}.err")),
    )
}

#[test]
fn images_cross_dock_skopeo_podman_and_both_registries_with_digests_kept() {
    require_tools();
    let clients = Clients::new("interop");
    let distribution = DistributionRegistry::start();
    let ours = Served::open("interop");
    let d = distribution.addr;

    // 1. buildah builds it; skopeo pushes it to docker-registry from an OCI layout.
    clients.build_busybox("localhost/interop:v1");
    let layout = format!("oci:{}/layout:v1", clients.path().display());
    clients
        .buildah(&[
            "push",
            &clients.policy_flag(),
            "localhost/interop:v1",
            &layout,
        ])
        .assert_ok();
    let by_skopeo = format!("{d}/skopeo/bb:v1");
    clients
        .skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &layout,
            &format!("docker://{by_skopeo}"),
        ])
        .assert_ok();
    let digest = clients.remote_digest(&by_skopeo, None);
    assert!(digest.starts_with("sha256:"), "{digest}");

    // 2. dock pulls it from docker-registry and runs it on the runtime under test.
    let work = TempDir::new("interop-dock");
    let root = work.path().join("store");
    let calls = work.path();
    dock_cmd(&root, calls, "pull", &["pull", &by_skopeo]).assert_ok();
    let ran = dock_cmd(
        &root,
        calls,
        "run",
        &[
            "run",
            "--rm",
            &by_skopeo,
            "/bin/busybox",
            "echo",
            "from-dock",
        ],
    );
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "from-dock", "{}", ran.describe());
    // The image's own Cmd too (`/bin/busybox echo hi`, set by buildah).
    let ran = dock_cmd(&root, calls, "run-cmd", &["run", "--rm", &by_skopeo]);
    ran.assert_ok();
    assert_eq!(ran.stdout.trim(), "hi", "{}", ran.describe());

    // 3. dock pushes its copy, unchanged, to our registry and back to docker-registry.
    let to_ours = format!("{}/dock/bb:v1", ours.addr);
    let to_distribution = format!("{d}/dock/bb:v1");
    for (n, target) in [("tag-ours", &to_ours), ("tag-dist", &to_distribution)] {
        dock_cmd(&root, calls, n, &["tag", &by_skopeo, target]).assert_ok();
        dock_cmd(&root, calls, &format!("push-{n}"), &["push", target]).assert_ok();
        assert_eq!(
            clients.remote_digest(target, None),
            digest,
            "dock's push to {target} changed the manifest"
        );
    }

    // 4. podman pulls each push and runs it on the runtime under test.
    let podman = Podman::new("interop");
    let policy = podman.dir().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("write policy");
    let policy_flag = format!("--signature-policy={}", policy.display());
    for image in [&to_ours, &to_distribution] {
        podman
            .podman(&["pull", &policy_flag, "--tls-verify=false", image])
            .assert_ok();
        assert_eq!(
            podman.inspect(image, "{{.Digest}}"),
            digest,
            "podman sees another digest for {image}"
        );
        let out = podman.run(&["--rm", image, "/bin/busybox", "echo", "from-podman"]);
        out.assert_ok();
        assert_eq!(out.stdout.trim(), "from-podman", "{}", out.describe());
    }

    // Our registry served it all without a 5xx and with every blob intact.
    ours.finish();
}
