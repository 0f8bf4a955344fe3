//! Facts about the host seen from the test process: processes, mounts, fds.

use std::path::Path;

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Sends `sig` to `pid`, ignoring errors.
pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) takes plain integers and has no memory effects on us.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Waits until `pid` is gone or a zombie; false on timeout.
pub fn wait_gone(pid: i32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    !alive(pid)
}

/// The host's mount table as this process sees it.
pub fn mountinfo() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Host mounts whose mount point lies under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    mountinfo()
        .into_iter()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .is_some_and(|mp| mp == prefix || mp.starts_with(&format!("{prefix}/")))
        })
        .collect()
}

/// Pids of processes (other than us) whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == me || !alive(pid) {
                continue;
            }
            if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if text.contains(needle) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Number of fds open in this process.
pub fn own_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}

/// `/proc/<pid>/fd/*` → link targets, with whether each target is a directory.
pub fn fds_of(pid: i32) -> Vec<(i32, String, bool)> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let target = std::fs::read_link(&path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            let is_dir = std::fs::metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            out.push((fd, target, is_dir));
        }
    }
    out.sort();
    out
}

/// The inode link of one of our own namespaces, e.g. `ns_link("uts")`.
pub fn ns_link(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The processes' namespace links and open fds that still name the namespace `link`
/// ("mnt:[4026532…]") once none does or `patience` has passed (then: who holds it).
pub fn namespace_holders_after(link: &str, patience: std::time::Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let holders = namespace_holders(link);
        if holders.is_empty() || std::time::Instant::now() >= deadline {
            return holders;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Every process's mnt/net namespace links and open fds that name `link`.
fn namespace_holders(link: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let mut links: Vec<std::path::PathBuf> = ["mnt", "net"]
            .iter()
            .map(|ns| p.path().join("ns").join(ns))
            .collect();
        if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
            links.extend(fds.flatten().map(|f| f.path()));
        }
        for l in links {
            if std::fs::read_link(&l).is_ok_and(|t| t.to_string_lossy() == link) {
                found.push(l.display().to_string());
            }
        }
    }
    found
}
