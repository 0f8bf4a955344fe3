//! Kubernetes CRI: containerd 1.6's CRI plugin with a RuntimeClass handler `berth`, driven
//! by a small CRI client (k8s-cri's generated tonic client over containerd's unix socket)
//! through one pod's life as the kubelet would: RunPodSandbox (host network, a locally made
//! pause image), CreateContainer, StartContainer, ExecSync, ContainerStats,
//! UpdateContainerResources, StopContainer, RemoveContainer, StopPodSandbox,
//! RemovePodSandbox. The handler runs the runtime under test through the stock runc shim
//! (BinaryName), and through our containerd-shim-berth-v2 (runtime type
//! io.containerd.berth.v2, its options in a ConfigPath file). A private containerd (conformance/src/containerd.rs) serves each test; the test
//! fails if a process, mount, runtime state dir or cgroup is left behind.

use berth_conformance::containerd::{Containerd, Options, CTR};
use berth_conformance::image_archive::{self, ImageSpec};
use berth_conformance::leftovers::{CgroupParent, Leftovers};
use berth_conformance::locate;
use berth_conformance::tempdir::TempDir;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatsRequest,
    ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ExecSyncResponse,
    ImageSpec as CriImage, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListContainersRequest, ListPodSandboxRequest, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StatusRequest, StopContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// The RuntimeClass handler name (a `runtimes.<name>` table in the CRI config).
const HANDLER: &str = "berth";
/// The locally made pause image: busybox `sleep`, which CRI stops with SIGKILL.
const PAUSE_IMAGE: &str = "docker.io/library/berth-pause:latest";
/// The locally made busybox image the pod's container runs.
const IMAGE: &str = "docker.io/library/berth-busybox:latest";
/// containerd's namespace for everything the CRI plugin makes.
const CRI_NAMESPACE: &str = "k8s.io";
const TIMEOUT: Duration = Duration::from_secs(60);

/// A container that exits 0 on SIGTERM, so StopContainer's exit code shows the signal came.
const TRAPPING: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

/// Which shim the `berth` handler runs.
#[derive(Clone, Copy)]
enum Shim {
    /// containerd's stock runc shim with BinaryName = the runtime under test.
    Runc,
    /// Our `containerd-shim-berth-v2` (runtime type io.containerd.berth.v2).
    Berth,
}

/// One CRI world: a private containerd with the CRI plugin and the `berth` handler, its
/// runtime root, pod log dir and cgroup parent, and the local images imported.
struct CriWorld {
    containerd: Option<Containerd>,
    cgroup_parent: CgroupParent,
    dir: TempDir,
}

impl CriWorld {
    /// The handler `berth` runs the runtime under test through `shim`.
    fn start(label: &str, shim: Shim) -> CriWorld {
        let dir = TempDir::new(&format!("cri-{label}"));
        for sub in [
            "runtime-root",
            "logs",
            "cni-bin",
            "cni-conf",
            "images",
            "bin",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir cri dirs");
        }
        let cgroup_parent = CgroupParent::new("cri");
        let d = dir.path().display();
        let binary = locate::runtime().display().to_string();
        let (runtime_type, options) = match shim {
            // The stock runc shim takes runc's options: the binary and its --root.
            Shim::Runc => (
                "io.containerd.runc.v2",
                format!("BinaryName = \"{binary}\"\n        Root = \"{d}/runtime-root\""),
            ),
            // Other runtime types get runtimeoptions' ConfigPath: a TOML file of the same
            // keys, which our shim reads.
            Shim::Berth => {
                let config = dir.path().join("berth-runtime.toml");
                std::fs::write(
                    &config,
                    format!("BinaryName = \"{binary}\"\nRoot = \"{d}/runtime-root\"\n"),
                )
                .expect("write runtime config");
                std::os::unix::fs::symlink(
                    locate::berth_shim(),
                    dir.path().join("bin/containerd-shim-berth-v2"),
                )
                .expect("link the shim into containerd's PATH");
                (
                    "io.containerd.berth.v2",
                    format!("ConfigPath = \"{}\"", config.display()),
                )
            }
        };
        let cri = r#"plugins."io.containerd.grpc.v1.cri""#;
        let extra_config = format!(
            r#"[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # This host has no CAP_SYS_RESOURCE: the pause container's oom_score_adj of -998
  # would fail; restricted, it is clamped to containerd's own.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    # Naming a runtimes table replaces the default one, so the default must be ours.
    default_runtime_name = "{HANDLER}"
    [{cri}.containerd.runtimes.{HANDLER}]
      runtime_type = "{runtime_type}"
      [{cri}.containerd.runtimes.{HANDLER}.options]
        {options}
  [{cri}.cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
"#
        );
        let world_bin = dir.path().join("bin");
        let containerd = Containerd::start(
            label,
            &Options {
                extra_config,
                cri: true,
                // containerd finds a shim binary by its runtime type on its PATH.
                path_prepend: vec![world_bin.clone()],
            },
        );
        let world = CriWorld {
            containerd: Some(containerd),
            cgroup_parent,
            dir,
        };
        for (name, cmd) in [
            (PAUSE_IMAGE, vec!["sleep", "2147483647"]),
            (IMAGE, vec!["sh"]),
        ] {
            let work = world
                .dir()
                .join("images")
                .join(name.replace(['/', ':'], "_"));
            std::fs::create_dir_all(&work).expect("mkdir image work dir");
            let spec = ImageSpec {
                name: name.to_string(),
                with_checker: false,
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
            };
            let archive = image_archive::build_in(&spec, &work);
            let out = world
                .ctr()
                .args(["images", "import"])
                .arg(&archive)
                .output()
                .expect("run ctr images import");
            assert!(
                out.status.success(),
                "ctr images import {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        world
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn containerd(&self) -> &Containerd {
        self.containerd.as_ref().expect("containerd running")
    }

    /// Where the runc shim has the runtime keep its state for CRI's namespace.
    fn runtime_root(&self) -> PathBuf {
        self.dir().join("runtime-root").join(CRI_NAMESPACE)
    }

    /// `ctr` on this containerd, in CRI's namespace.
    fn ctr(&self) -> Command {
        let mut cmd = Command::new(CTR);
        cmd.arg("--address")
            .arg(&self.containerd().address)
            .args(["--namespace", CRI_NAMESPACE])
            .stdin(Stdio::null());
        cmd
    }

    fn ctr_list(&self, what: &str) -> Vec<String> {
        self.ctr()
            .args([what, "ls", "-q"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pod's namespaces, as the kubelet sends them for a pod with `hostNetwork: true`
    /// and `shareProcessNamespace: true`, for the sandbox and each container alike.
    fn namespaces() -> NamespaceOption {
        NamespaceOption {
            network: NamespaceMode::Node as i32,
            pid: NamespaceMode::Pod as i32,
            ipc: NamespaceMode::Pod as i32,
            ..Default::default()
        }
    }

    /// A pod on the host network, under our cgroup parent, logging into our dir.
    fn pod_config(&self) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: "berth-pod".into(),
                uid: format!("berth-pod-{}", std::process::id()),
                namespace: "default".into(),
                attempt: 0,
            }),
            log_directory: self.dir().join("logs").display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.path().into(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(CriWorld::namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Connects a CRI client to containerd's socket and waits until the runtime is ready.
    async fn client(&self) -> RuntimeServiceClient<Channel> {
        let socket = self.containerd().address.clone();
        let channel = Endpoint::try_from("http://[::]")
            .expect("static endpoint URI")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .expect("connect to containerd's CRI socket");
        let mut client = RuntimeServiceClient::new(channel);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let ready = client
                .status(StatusRequest { verbose: false })
                .await
                .ok()
                .and_then(|r| r.into_inner().status)
                .is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.r#type == "RuntimeReady" && c.status)
                });
            if ready {
                return client;
            }
            assert!(
                Instant::now() < deadline,
                "CRI runtime not ready; containerd log:\n{}",
                self.containerd().log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for CriWorld {
    fn drop(&mut self) {
        let mut left = Leftovers::new();
        if self.containerd.is_some() {
            // What a failed test left in CRI's namespace: kill and remove it through ctr.
            for id in self.ctr_list("tasks") {
                left.record(format!("CRI task left: {id}"));
                let _ = self
                    .ctr()
                    .args(["tasks", "kill", "--all", "--signal", "SIGKILL", &id])
                    .status();
                let _ = self
                    .ctr()
                    .args(["tasks", "delete", "--force", &id])
                    .status();
            }
            for id in self.ctr_list("containers") {
                left.record(format!("CRI container left: {id}"));
                let _ = self.ctr().args(["containers", "delete", &id]).status();
            }
        }
        // Stops the daemon, kills its shims, detaches mounts under its dir.
        self.containerd = None;
        left.processes(self.dir(), Duration::from_secs(20));
        left.berth_state(locate::runtime(), &self.runtime_root(), Path::new("/"));
        left.mounts(self.dir());
        self.cgroup_parent.tidy(&[], &mut left);
        left.finish("CRI");
    }
}

async fn exec_sync(
    client: &mut RuntimeServiceClient<Channel>,
    id: &str,
    cmd: &[&str],
) -> ExecSyncResponse {
    client
        .exec_sync(ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 30,
        })
        .await
        .unwrap_or_else(|e| panic!("ExecSync {cmd:?}: {e}"))
        .into_inner()
}

async fn container_state(client: &mut RuntimeServiceClient<Channel>, id: &str) -> (i32, i32) {
    let status = client
        .container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    (status.state, status.exit_code)
}

/// One pod with one container through its whole CRI life.
async fn pod_lifecycle(world: &CriWorld) {
    let mut client = world.client().await;
    let pod_config = world.pod_config();
    let pod = client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod_config.clone()),
            runtime_handler: HANDLER.into(),
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RunPodSandbox: {e}\ncontainerd log:\n{}",
                world.containerd().log()
            )
        })
        .into_inner()
        .pod_sandbox_id;
    // The pause container is the runtime under test's.
    assert!(
        world.runtime_root().join(&pod).join("state.json").is_file(),
        "no runtime state for the sandbox under {}",
        world.runtime_root().display()
    );

    let container = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: "app".into(),
                    attempt: 0,
                }),
                image: Some(CriImage {
                    image: IMAGE.into(),
                    ..Default::default()
                }),
                command: vec!["sh".into(), "-c".into(), TRAPPING.into()],
                log_path: "app.log".into(),
                linux: Some(LinuxContainerConfig {
                    resources: Some(LinuxContainerResources {
                        memory_limit_in_bytes: 128 << 20,
                        ..Default::default()
                    }),
                    security_context: Some(LinuxContainerSecurityContext {
                        namespace_options: Some(CriWorld::namespaces()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            sandbox_config: Some(pod_config),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}"))
        .into_inner()
        .container_id;
    client
        .start_container(StartContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StartContainer: {e}"));
    assert_eq!(
        container_state(&mut client, &container).await.0,
        ContainerState::ContainerRunning as i32
    );
    assert!(world
        .runtime_root()
        .join(&container)
        .join("state.json")
        .is_file());

    // ExecSync: output and exit code come back.
    let out = exec_sync(
        &mut client,
        &container,
        &["sh", "-c", "echo hello from cri; id -u; exit 3"],
    )
    .await;
    assert_eq!(out.exit_code, 3, "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from cri\n0\n");
    // The pod shares one pid namespace: the pause process is its pid 1.
    let out = exec_sync(&mut client, &container, &["cat", "/proc/1/cmdline"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sleep\0"),
        "{out:?}"
    );

    // ContainerStats: the shim reads the container's cgroup.
    let stats = client
        .container_stats(ContainerStatsRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("ContainerStats: {e}"))
        .into_inner()
        .stats
        .expect("stats");
    assert_eq!(
        stats.attributes.as_ref().map(|a| a.id.as_str()),
        Some(container.as_str())
    );
    let working_set = stats
        .memory
        .as_ref()
        .and_then(|m| m.working_set_bytes.as_ref())
        .map(|v| v.value)
        .unwrap_or(0);
    assert!(working_set > 0, "memory stats: {:?}", stats.memory);
    assert!(stats.cpu.is_some(), "cpu stats missing: {stats:?}");

    // The limit from CreateContainer, then UpdateContainerResources (runtime `update`).
    let limit_cmd = [
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || \
         cat /sys/fs/cgroup/memory.max",
    ];
    let out = exec_sync(&mut client, &container, &limit_cmd).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "134217728");
    client
        .update_container_resources(UpdateContainerResourcesRequest {
            container_id: container.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: 64 << 20,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("UpdateContainerResources: {e}"));
    let out = exec_sync(&mut client, &container, &limit_cmd).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "67108864",
        "{out:?}"
    );

    // StopContainer: SIGTERM through the runtime; the trap makes the exit code 0.
    client
        .stop_container(StopContainerRequest {
            container_id: container.clone(),
            timeout: 30,
        })
        .await
        .unwrap_or_else(|e| panic!("StopContainer: {e}"));
    assert_eq!(
        container_state(&mut client, &container).await,
        (ContainerState::ContainerExited as i32, 0)
    );
    client
        .remove_container(RemoveContainerRequest {
            container_id: container.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemoveContainer: {e}"));
    client
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("StopPodSandbox: {e}"));
    client
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("RemovePodSandbox: {e}"));

    let containers = client
        .list_containers(ListContainersRequest { filter: None })
        .await
        .expect("ListContainers")
        .into_inner()
        .containers;
    assert!(containers.is_empty(), "{containers:?}");
    let pods = client
        .list_pod_sandbox(ListPodSandboxRequest { filter: None })
        .await
        .expect("ListPodSandbox")
        .into_inner()
        .items;
    assert!(pods.is_empty(), "{pods:?}");
    for id in [&pod, &container] {
        assert!(
            !world.runtime_root().join(id).exists(),
            "runtime state left for {id}"
        );
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

#[test]
fn cri_pod_lifecycle_runc_shim_with_berth_binary() {
    let world = CriWorld::start("cri-runc-shim", Shim::Runc);
    block_on(pod_lifecycle(&world));
}

#[test]
fn cri_pod_lifecycle_berth_shim() {
    let world = CriWorld::start("cri-berth-shim", Shim::Berth);
    block_on(pod_lifecycle(&world));
}
