//! What a real client (podman, dockerd, containerd) and berth under it may leave on the host
//! when a client test ends: processes, mounts, berth state dirs, cgroups under the test's own
//! cgroup parent, and the few fixed /run directories those clients insist on making. Each
//! check cleans up what it finds and records it, so the test fails naming the leftovers
//! while the host is left clean anyway.

use crate::{cgroups, host};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What one client test left behind; [`Leftovers::finish`] fails the test when not empty.
#[derive(Default)]
pub struct Leftovers(Vec<String>);

impl Leftovers {
    pub fn new() -> Leftovers {
        Leftovers::default()
    }

    /// Records a leftover described by `what`.
    pub fn record(&mut self, what: String) {
        self.0.push(what);
    }

    /// Waits up to `grace` for processes whose command line mentions `needle` (a test's
    /// private dir: conmon, shims, a daemon's children) to exit; kills and records the rest.
    pub fn processes(&mut self, needle: &Path, grace: Duration) {
        let needle = needle.display().to_string();
        let deadline = Instant::now() + grace;
        let mut pids = host::processes_mentioning(&needle);
        while !pids.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            pids = host::processes_mentioning(&needle);
        }
        for pid in pids {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            host::kill(pid, libc::SIGKILL);
            self.record(format!("process {pid} still running: {cmdline}"));
        }
    }

    /// Unmounts (detached, deepest first) and records every mount under `dir`.
    pub fn mounts(&mut self, dir: &Path) {
        let mut points: Vec<String> = host::mounts_under(dir)
            .iter()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            unmount_detached(&point);
            self.record(format!("mount left at {point}"));
        }
    }

    /// Records and force-deletes every berth container under `root` whose bundle lies
    /// inside `dir` (the test's private dir), using `runtime`.
    pub fn berth_state(&mut self, runtime: &Path, root: &Path, dir: &Path) {
        for id in containers_with_bundle_under(root, dir) {
            let _ = std::process::Command::new(runtime)
                .arg("--root")
                .arg(root)
                .args(["delete", "--force", &id])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            self.record(format!("berth state left: {}", root.join(&id).display()));
        }
    }

    /// Fails the test with every leftover, unless it is already failing (a second panic
    /// would abort and hide the first message).
    pub fn finish(self, what: &str) {
        if !self.0.is_empty() && !std::thread::panicking() {
            panic!("{what} left things behind:\n  {}", self.0.join("\n  "));
        }
    }
}

/// Detaches the mount at `point`, ignoring errors (it may be gone already).
fn unmount_detached(point: &str) {
    let Ok(c) = std::ffi::CString::new(point) else {
        return;
    };
    // SAFETY: umount2 reads a NUL-terminated path that outlives the call.
    unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
    }
}

/// Ids of the containers in a berth `root` whose state.json names a bundle under `dir`.
pub fn containers_with_bundle_under(root: &Path, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("state.json")) else {
            continue;
        };
        let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if state["bundle"]
            .as_str()
            .is_some_and(|b| Path::new(b).starts_with(dir))
        {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

/// A cgroup parent of the test's own (`/berth-clients-<label>-<pid>-<n>`), handed to the
/// client (`--cgroup-parent`) so that its containers and helpers land where nobody else's do.
pub struct CgroupParent {
    path: String,
}

impl CgroupParent {
    pub fn new(label: &str) -> CgroupParent {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        CgroupParent {
            path: format!("/berth-clients-{label}-{}-{n}", std::process::id()),
        }
    }

    /// The absolute cgroup path, e.g. `/berth-clients-podman-123-0`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Removes the parent in every hierarchy. Sub-cgroups named in `clients_own` (podman's
    /// `conmon`) are the client's and only removed; any other one is a container cgroup
    /// berth failed to delete: its processes are killed and it is recorded.
    pub fn tidy(&self, clients_own: &[&str], left: &mut Leftovers) {
        for dir in cgroups::existing_dirs(&self.path) {
            for sub in subdirs(&dir) {
                let name = sub.file_name().map(|n| n.to_string_lossy().into_owned());
                let own = name.as_deref().is_some_and(|n| clients_own.contains(&n));
                if !own {
                    left.record(format!("cgroup left: {}", sub.display()));
                }
            }
        }
        cgroups::remove(&self.path);
        for dir in cgroups::existing_dirs(&self.path) {
            left.record(format!("cgroup cannot be removed: {}", dir.display()));
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Holders of each fixed host directory, and whether it existed before the first holder.
static HOST_DIRS: Mutex<Option<HashMap<PathBuf, (usize, bool)>>> = Mutex::new(None);

/// A fixed host directory a client makes whatever it is told (podman's
/// /run/containers/networks, dockerd's /run/docker/plugins). Held while a client runs;
/// when the last holder in this process lets go, the directory and the parents listed with
/// it are removed if they did not exist before and are empty.
pub struct HostDirClaim {
    dirs: Vec<PathBuf>,
}

impl HostDirClaim {
    /// Claims `dirs`, innermost first (e.g. `/run/docker/plugins`, `/run/docker`).
    pub fn new(dirs: &[&str]) -> HostDirClaim {
        let mut guard = HOST_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        let dirs: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
        for d in &dirs {
            let entry = map.entry(d.clone()).or_insert((0, d.exists()));
            entry.0 += 1;
        }
        HostDirClaim { dirs }
    }
}

impl Drop for HostDirClaim {
    fn drop(&mut self) {
        let mut guard = HOST_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(map) = guard.as_mut() else {
            return;
        };
        for d in &self.dirs {
            if let Some(entry) = map.get_mut(d) {
                entry.0 -= 1;
                if entry.0 == 0 {
                    let existed = entry.1;
                    map.remove(d);
                    if !existed {
                        let _ = std::fs::remove_dir(d);
                    }
                }
            }
        }
    }
}
