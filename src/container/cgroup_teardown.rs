//! Removing a container's cgroup at `delete`: whatever is still inside (in the
//! container's directories or sub-cgroups it made) is frozen, SIGKILLed and thawed, then
//! the directories are removed deepest first, retried with a growing pause while the
//! kernel lets the dying processes go. A cgroup that does not empty in time is an error
//! naming the directory and the pids still in it.

use crate::cgroups::CgroupManager;
use crate::error::{Error, Result};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long delete keeps killing and retrying before it gives up.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Kills what is left in `cg` and removes its directories.
pub fn empty_and_remove(cg: &CgroupManager, id: &str) -> Result<()> {
    // Usually the container is already empty and has no sub-cgroups: plain rmdirs do.
    if cg.try_destroy_now() {
        return Ok(());
    }
    let deadline = Instant::now() + TEARDOWN_TIMEOUT;
    let mut delay = Duration::from_millis(2);
    loop {
        let left = pids_below(&cg.dirs);
        let outcome = if left.is_empty() {
            remove_sub_cgroups(&cg.dirs);
            match cg.destroy() {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            }
        } else {
            kill_all_below(cg, &left);
            format!("pids {left:?} still in it")
        };
        if Instant::now() >= deadline {
            return Err(Error::Other(format!(
                "cannot remove the cgroup of container {id} after {TEARDOWN_TIMEOUT:?} of \
                 SIGKILL and retries: {outcome}"
            )));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// SIGKILLs `pids` with the cgroup frozen, so none can fork a new one meanwhile.
fn kill_all_below(cg: &CgroupManager, pids: &[i32]) {
    let frozen = cg.freeze().is_ok();
    for &pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    if frozen {
        let _ = cg.thaw();
    }
}

/// Pids in any of `dirs` or the cgroups below them.
fn pids_below(dirs: &[PathBuf]) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in dirs {
        walk(dir, &mut |d| {
            if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        });
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Removes the sub-cgroups of each of `dirs` (not the dirs), deepest first.
fn remove_sub_cgroups(dirs: &[PathBuf]) {
    for dir in dirs {
        for sub in subdirs(dir) {
            walk_post(&sub, &mut |d| {
                let _ = std::fs::remove_dir(d);
            });
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Visits `dir` and every directory below it, parents first.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    visit(dir);
    for sub in subdirs(dir) {
        walk(&sub, visit);
    }
}

/// Visits every directory below and including `dir`, children first.
fn walk_post(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    for sub in subdirs(dir) {
        walk_post(&sub, visit);
    }
    visit(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_and_collects_pids_from_a_tree() {
        let base = std::env::temp_dir().join(format!("berth-teardown-{}", std::process::id()));
        let deep = base.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(base.join("c")).unwrap();
        std::fs::write(base.join("cgroup.procs"), "5\n3\n").unwrap();
        std::fs::write(deep.join("cgroup.procs"), "9\n3\n").unwrap();
        let pids = pids_below(std::slice::from_ref(&base));
        let mut order = Vec::new();
        walk_post(&base, &mut |d| order.push(d.to_path_buf()));
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(pids, vec![3, 5, 9]);
        assert_eq!(order.last(), Some(&base));
        let b = order.iter().position(|d| *d == deep).unwrap();
        let a = order.iter().position(|d| *d == base.join("a")).unwrap();
        assert!(b < a, "children before parents: {order:?}");
    }
}
