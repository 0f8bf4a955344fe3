//! `--race SECONDS`: the attacker of the CVE regression suite (CVE-2019-5736, CVE-2016-9962).
//!
//! For the given time it scans /proc over and over and, for every other process, tries what
//! a malicious container process would: open /proc/<pid>/exe (and records the device and
//! inode of every binary it got), and for runtime processes still between clone and execve
//! (comm starting with "berth" or "runc") also reads /proc/<pid>/environ, opens their fds
//! through /proc/<pid>/fd/N and tries PTRACE_SEIZE. It never writes to anything it opened.
//! At the end it prints one JSON line `{"race": {...}}` with what succeeded.

use crate::json::{s, Json};
use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Findings {
    scans: u64,
    /// Runtime processes (comm berth*/runc*) seen between clone and execve.
    runtime_seen: u64,
    /// Attempts on those refused by the kernel (EACCES/EPERM).
    runtime_denied: u64,
    /// (dev, ino, link target, comm, on a read-only mount) of every executable opened
    /// through /proc/<pid>/exe.
    exes: BTreeSet<(u64, u64, String, String, bool)>,
    /// What was read from runtime processes: "environ <comm>", "fd <comm> -> target", "ptrace".
    leaks: BTreeSet<String>,
}

fn comm_of(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
}

/// Whether the file sits on a read-only mount (then it cannot be reopened for writing).
fn read_only_mount(file: &std::fs::File) -> bool {
    // SAFETY: fstatvfs fills the zeroed struct we own from a valid fd.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::fstatvfs(file.as_raw_fd(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
}

fn denied(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

/// Whether what was read from `pid` can be blamed on the runtime: the process must still
/// be there and either refuse its exe (non-dumpable, so the read was a real leak) or run a
/// binary that is not a file of the container. A process caught inside execve (already
/// dumpable, comm not yet renamed) or gone by now proves nothing.
fn blame_runtime(pid: &str) -> bool {
    let exe = match std::fs::File::open(format!("/proc/{pid}/exe")) {
        Ok(exe) => exe,
        Err(e) => return denied(&e),
    };
    let (Ok(meta), Ok(target)) = (
        exe.metadata(),
        std::fs::read_link(format!("/proc/self/fd/{}", exe.as_raw_fd())),
    ) else {
        return false;
    };
    !std::fs::metadata(target).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
}

fn probe(pid: &str, f: &mut Findings) {
    let comm = comm_of(pid).unwrap_or_default();
    let runtime = comm.starts_with("berth") || comm.starts_with("runc");
    if runtime {
        f.runtime_seen += 1;
    }
    match std::fs::File::open(format!("/proc/{pid}/exe")) {
        Ok(file) => {
            if let Ok(meta) = file.metadata() {
                let target = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let ro = read_only_mount(&file);
                f.exes
                    .insert((meta.dev(), meta.ino(), target, comm.clone(), ro));
            }
        }
        Err(e) if runtime && denied(&e) => f.runtime_denied += 1,
        Err(_) => {}
    }
    if !runtime {
        return;
    }
    let mut leaks = Vec::new();
    match std::fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) if !env.is_empty() => {
            leaks.push(format!("environ of {comm}"));
        }
        Ok(_) => {}
        Err(e) if denied(&e) => f.runtime_denied += 1,
        Err(_) => {}
    }
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            let path = entry.path();
            if let Ok(target) = std::fs::read_link(&path) {
                leaks.push(format!("fd of {comm} -> {}", target.display()));
            }
            if std::fs::File::open(&path).is_ok() {
                leaks.push(format!("opened an fd of {comm}"));
            }
        }
    }
    if let Ok(n) = pid.parse::<libc::pid_t>() {
        // SAFETY: ptrace with integer arguments; a successful seize is undone at once.
        let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, n, 0, 0) };
        if rc == 0 {
            leaks.push(format!("ptrace seized {comm}"));
            release(n);
        }
    }
    if !leaks.is_empty() && blame_runtime(pid) {
        f.leaks.extend(leaks);
    }
}

/// Lets go of a seized tracee: it must be in a ptrace-stop to be detached, and a tracee
/// left attached could not be reaped by its parent until this process exits.
fn release(pid: libc::pid_t) {
    // SAFETY: ptrace/waitpid on a process we trace, with integer arguments and a status
    // integer we own.
    unsafe {
        libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0);
        let mut status = 0;
        libc::waitpid(pid, &mut status, libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
    }
}

/// Scans for `secs` seconds and returns the `{"race": …}` report.
pub fn race(secs: u64) -> Json {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut f = Findings::default();
    while Instant::now() < deadline {
        f.scans += 1;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != me && name.bytes().all(|b| b.is_ascii_digit()) {
                probe(&name, &mut f);
            }
        }
    }
    let exes = f
        .exes
        .into_iter()
        .map(|(dev, ino, target, comm, ro)| {
            Json::Obj(vec![
                ("dev".into(), Json::Int(dev.into())),
                ("ino".into(), Json::Int(ino.into())),
                ("target".into(), s(target)),
                ("comm".into(), s(comm)),
                ("read_only".into(), Json::Bool(ro)),
            ])
        })
        .collect();
    Json::Obj(vec![(
        "race".into(),
        Json::Obj(vec![
            ("scans".into(), Json::Int(f.scans.into())),
            ("runtime_seen".into(), Json::Int(f.runtime_seen.into())),
            ("runtime_denied".into(), Json::Int(f.runtime_denied.into())),
            ("exes".into(), Json::Arr(exes)),
            (
                "leaks".into(),
                Json::Arr(f.leaks.into_iter().map(s).collect()),
            ),
        ]),
    )])
}
