//! RUN: the command in a berth container whose rootfs is the step's merged overlay, made with
//! dock's bundle code (docker's default mounts, capabilities, seccomp profile), the stage's
//! environment plus the ARGs in scope, its user (resolved in the tree being built) and working
//! directory (made when missing), network none unless `--network host`. berth runs it in the
//! foreground (`berth run`: create, start, wait, delete), so a finished step leaves no
//! container and no cgroup; its output is streamed to ours as it comes.
//!
//! The mount points the runtime makes in the rootfs (/proc, /sys, /dev, /etc/hosts,
//! /etc/resolv.conf, /etc/hostname, and /etc when it was missing) are removed again when they
//! did not exist before and are still empty, so they never end up in the layer. The hosts and
//! resolv.conf the command saw are bind mounts of files in the step directory.

use crate::bundle::image_config::ImageDefaults;
use crate::bundle::spec::{self, Network, RunConfig, DEFAULT_CAPS};
use crate::bundle::{environment, in_root, resolve_user, write_etc_files};
use crate::containers::meta::Volume;
use crate::runtime::Runtime;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The hostname RUN commands see.
pub const BUILD_HOSTNAME: &str = "dock-build";

/// How much of a quiet build's RUN output is kept to show when the step fails.
const KEPT_OUTPUT: usize = 256 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// argv.
    pub args: Vec<String>,
    /// The stage's Env, then `K=V` of each ARG in scope that ENV does not set.
    pub env: Vec<String>,
    /// USER (`""` = root).
    pub user: String,
    /// Absolute working directory.
    pub workdir: String,
    /// none or host.
    pub network: Network,
    /// Keep the output instead of streaming it.
    pub quiet: bool,
    /// Extra read-only binds (a heredoc script).
    pub binds: Vec<Volume>,
}

/// How the command ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// Exit status (128+N for a signal).
    pub status: i32,
    /// The output when it was not streamed (quiet builds), at most the last 256 KiB.
    pub output: Vec<u8>,
}

/// Paths the runtime may create in the rootfs as mount points, parents first.
const MOUNT_POINTS: [&str; 7] = [
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
];

fn exists_in(merged: &Path, p: &str) -> bool {
    merged
        .join(p.trim_start_matches('/'))
        .symlink_metadata()
        .is_ok()
}

/// Remove the mount points the run created (empty files and directories only), children first.
fn remove_created(merged: &Path, created: &[&str]) {
    for p in created.iter().rev() {
        let path = merged.join(p.trim_start_matches('/'));
        let Ok(md) = path.symlink_metadata() else {
            continue;
        };
        if md.is_dir() {
            // Fails (and keeps it) when the command put something there.
            let _ = std::fs::remove_dir(&path);
        } else if md.is_file() && md.len() == 0 {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Run `spec` in a container over `merged`; `dir` holds the bundle and /etc files.
pub fn run(rt: &Runtime, dir: &Path, merged: &Path, spec: &RunSpec) -> Result<RunOutcome> {
    let user = resolve_user(merged, &spec.user)?;
    in_root::mkdir_all(merged, &spec.workdir)
        .with_context(|| format!("creating the working directory {}", spec.workdir))?;
    let created: Vec<&str> = MOUNT_POINTS
        .iter()
        .copied()
        .filter(|p| !exists_in(merged, p))
        .collect();
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(&bundle).with_context(|| format!("creating {}", bundle.display()))?;
    let etc_files = write_etc_files(dir, BUILD_HOSTNAME, spec.network)?;
    let defaults = ImageDefaults {
        env: Some(spec.env.clone()),
        ..Default::default()
    };
    let env = environment(&defaults, BUILD_HOSTNAME, false, &[], &user.home);
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let seccomp = serde_json::to_value(berth_seccomp::default_profile(&caps))?;
    let rc = RunConfig {
        hostname: BUILD_HOSTNAME.into(),
        rootfs: merged.to_path_buf(),
        args: spec.args.clone(),
        env,
        cwd: spec.workdir.clone(),
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids,
        tty: false,
        network: spec.network,
        volumes: spec.binds.clone(),
        etc_files,
        annotations: Default::default(),
        memory: None,
        swap_accounting: false,
        cpu_quota: None,
        pids_limit: None,
        cgroupns: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        seccomp,
    };
    let config = bundle.join("config.json");
    std::fs::write(&config, serde_json::to_vec(&spec::config(&rc))?)
        .with_context(|| format!("writing {}", config.display()))?;
    let id = container_id(&rt.state)?;
    let outcome = run_container(rt, &bundle, &id, spec.quiet);
    if outcome.as_ref().map_or(true, |o| o.status != 0) {
        // berth run deletes what it made; this covers a berth that died on the way.
        let _ = rt
            .command(["delete", "--force", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    remove_created(merged, &created);
    outcome
}

/// `dock-build-<root tag>-<random>`: the tag (a hash of berth's state dir, so of the dock
/// root) lets whoever owns a root find its build containers' cgroups among other builds'.
pub fn container_id(state: &Path) -> Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let tag = dock_registry::digest::Digest::of_bytes(
        dock_registry::digest::Algorithm::Sha256,
        state.as_os_str().as_bytes(),
    );
    let random = crate::containers::ids::new_id().context("making a container id")?;
    Ok(format!("dock-build-{}-{}", &tag.hex()[..8], &random[..16]))
}

fn run_container(rt: &Runtime, bundle: &Path, id: &str, quiet: bool) -> Result<RunOutcome> {
    let (reader, writer) = std::io::pipe().context("making the output pipe")?;
    let writer2 = writer.try_clone().context("making the output pipe")?;
    let mut cmd = rt.command(["run", "--bundle"]);
    cmd.arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", rt.bin.display()))?;
    // The pipe's write ends now live only in berth and the container.
    drop(cmd);
    let mut kept: Vec<u8> = Vec::new();
    let mut reader = reader;
    let mut buf = [0u8; 16 * 1024];
    let stdout = std::io::stdout();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the RUN output"),
        };
        if quiet {
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > KEPT_OUTPUT {
                kept.drain(..kept.len() - KEPT_OUTPUT);
            }
        } else {
            let mut out = stdout.lock();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
    }
    let status = child.wait().context("waiting for berth")?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(RunOutcome {
        status: code,
        output: kept,
    })
}

/// A heredoc script file for `RUN <<EOF` whose body starts with `#!`: written into `dir` and
/// bound read-only at `/dev/.dock-run/NAME` (under /dev's tmpfs, so never in the layer).
pub fn script_bind(dir: &Path, name: &str, body: &str) -> Result<(Volume, String)> {
    use std::os::unix::fs::PermissionsExt;
    let scripts: PathBuf = dir.join("scripts");
    std::fs::create_dir_all(&scripts)?;
    let path = scripts.join(name);
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    let dest = format!("/dev/.dock-run/{name}");
    Ok((
        Volume {
            source: path,
            destination: dest.clone(),
            read_only: true,
        },
        dest,
    ))
}
