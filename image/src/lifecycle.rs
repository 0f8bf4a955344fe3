//! Acting on containers that exist: `stop` (the stop signal, then SIGKILL after the timeout),
//! `kill`, `rm` (`-f` kills first) and the removal both `rm` and the monitor's `--rm` use:
//! the runtime's state, the rootfs (released through the snapshotter), then the directory.
//! Signals go through `berth kill`; exits are observed through the init's pid and start time,
//! and the monitor is waited for so that its last `meta.json` update lands before removal.

use crate::containers::meta::{Meta, State};
use crate::containers::Containers;
use crate::runtime::Runtime;
use crate::snapshot::Snapshots;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How often exits are polled for.
const POLL: Duration = Duration::from_millis(10);
/// How long the monitor gets to record an exit after the init is gone.
const MONITOR_GRACE: Duration = Duration::from_secs(10);

fn runtime(root: &Path, m: &Meta) -> Runtime {
    Runtime::new(m.runtime.clone(), root)
}

/// `berth kill ID SIG`.
pub fn signal(root: &Path, m: &Meta, sig: &str) -> Result<()> {
    let out = runtime(root, m)
        .command(["kill", &m.id, sig])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", m.runtime.display()))?;
    if !out.status.success() && m.init_alive() {
        bail!(
            "signalling container {}: {}",
            m.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Wait until the init has exited (true) or `limit` passed (false).
fn wait_exit(m: &Meta, limit: Duration) -> bool {
    let start = Instant::now();
    while m.init_alive() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// Wait for the monitor to finish (it records the exit and removes `--rm` containers).
fn wait_monitor(c: &Containers, id: &str) {
    let start = Instant::now();
    while start.elapsed() < MONITOR_GRACE {
        match c.read(id) {
            Ok(m) if m.monitor_alive() => std::thread::sleep(POLL),
            _ => return,
        }
    }
}

/// `stop`: the stop signal, SIGKILL after `timeout`, then wait for the monitor.
pub fn stop(root: &Path, c: &Containers, m: &Meta, timeout: Duration) -> Result<()> {
    if m.live_state() != State::Running {
        return Ok(());
    }
    signal(root, m, &m.stop_signal)?;
    if !wait_exit(m, timeout) {
        signal(root, m, "SIGKILL")?;
        wait_exit(m, MONITOR_GRACE);
    }
    wait_monitor(c, &m.id);
    Ok(())
}

/// `kill`: only running containers.
pub fn kill(root: &Path, m: &Meta, sig: &str) -> Result<()> {
    if crate::signals::parse(sig).is_none() {
        bail!("invalid signal {sig:?}");
    }
    if m.live_state() != State::Running {
        bail!("container {} is not running", m.name);
    }
    signal(root, m, sig)
}

/// Remove the rootfs and the directory of container `id`, and first the runtime's state for
/// it when `runtime_state` (callers that just ran `berth delete`, or never created it, skip
/// that exec). Idempotent.
pub fn remove_files(root: &Path, id: &str, runtime_state: bool) -> Result<()> {
    let c = Containers::open(root)?;
    let dir = c.dir(id);
    if !dir.exists() {
        return Ok(());
    }
    if let (true, Ok(m)) = (runtime_state, c.read(id)) {
        let _ = runtime(root, &m)
            .command(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let store = Store::open(root)?;
    Snapshots::open(&store)?
        .release_rootfs(&dir)
        .with_context(|| format!("releasing the rootfs of {id}"))?;
    c.remove_dir(id)?;
    Ok(())
}

/// `rm`: a running container only with `force` (killed first).
pub fn remove(root: &Path, c: &Containers, m: &Meta, force: bool) -> Result<()> {
    if m.live_state() == State::Running {
        if !force {
            bail!(
                "you cannot remove a running container {}: stop it first, or use rm -f",
                m.id
            );
        }
        signal(root, m, "SIGKILL")?;
        wait_exit(m, MONITOR_GRACE);
    }
    wait_monitor(c, &m.id);
    remove_files(root, &m.id, true)
}
