//! Finds, empties and removes the cgroup directories a container left on this host's
//! hierarchies (every mount under /sys/fs/cgroup, v1 controllers and the unified one).

use std::path::{Path, PathBuf};

/// The parent of every cgroupsPath the suite uses.
pub const PARENT: &str = "berth-conformance";

/// The cgroupsPath for a container id.
pub fn path_for(id: &str) -> String {
    format!("/{PARENT}/{id}")
}

/// Every hierarchy mounted under /sys/fs/cgroup.
pub fn hierarchies() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/fs/cgroup") {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.push(path);
            }
        }
    }
    out
}

/// Directories named by `cgroups_path` that exist in any hierarchy.
pub fn existing_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    hierarchies()
        .into_iter()
        .map(|h| h.join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids listed in a cgroup directory (or any below it).
pub fn pids_in(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for sub in subdirs(dir) {
        pids.extend(pids_in(&sub));
    }
    pids
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

/// Kills what is inside and removes the directories, deepest first (best effort).
pub fn remove(cgroups_path: &str) {
    for dir in existing_dirs(cgroups_path) {
        for pid in pids_in(&dir) {
            crate::host::kill(pid, libc::SIGKILL);
        }
        for _ in 0..100 {
            remove_tree(&dir);
            if !dir.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

fn remove_tree(dir: &Path) {
    for sub in subdirs(dir) {
        remove_tree(&sub);
    }
    let _ = std::fs::remove_dir(dir);
}
