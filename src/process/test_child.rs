//! Test helper: runs a closure that changes process state (credentials, capabilities,
//! rlimits, fds) in a forked child, so the test process itself is left unharmed. The child
//! reports its result through a pipe.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// In the child, the fd its report goes to (tests that close fds must keep it).
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

/// The fd the child reports through; keep it open.
pub fn report_fd() -> i32 {
    REPORT_FD.load(Ordering::SeqCst)
}

/// Runs `f` in a forked child and returns what it returned (or "panic"/"no report").
pub fn run<F>(f: F) -> Result<String, String>
where
    F: FnOnce() -> Result<String, String>,
{
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only runs `f`, writes to the pipe and _exits; glibc keeps malloc
    // usable after fork, and the child never returns into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read_end);
            // Move the report fd out of the low numbers tests like to play with.
            // SAFETY: fcntl with integer arguments; the new fd is owned by `write_end` below.
            let high = unsafe { libc::fcntl(write_end.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 900) };
            let write_end = if high >= 0 {
                // SAFETY: `high` was just created by fcntl and nothing else owns it.
                unsafe { OwnedFd::from_raw_fd(high) }
            } else {
                write_end
            };
            REPORT_FD.store(write_end.as_raw_fd(), Ordering::SeqCst);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err("panic in child".to_string()));
            let message = match result {
                Ok(text) => format!("ok:{text}"),
                Err(text) => format!("err:{text}"),
            };
            let mut pipe = std::fs::File::from(write_end);
            let _ = pipe.write_all(message.as_bytes());
            drop(pipe);
            // SAFETY: _exit never returns and skips the harness's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut pipe = std::fs::File::from(read_end);
            let mut message = String::new();
            pipe.read_to_string(&mut message).expect("read pipe");
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(status, WaitStatus::Exited(child, 0), "child exit status");
            if let Some(text) = message.strip_prefix("ok:") {
                Ok(text.to_string())
            } else if let Some(text) = message.strip_prefix("err:") {
                Err(text.to_string())
            } else {
                Err(format!("no report from child: {message:?}"))
            }
        }
    }
}

/// The value of `field` in /proc/self/status (e.g. "CapEff" → "0000000000000400").
pub fn status_field(field: &str) -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|value| value.trim().to_string())
        .ok_or_else(|| format!("{field} not in /proc/self/status"))
}

/// Runs `f` in a forked child that exits with 100 if `f` returns; gives the exit code
/// (or 128+signal). For tests of `exec`, whose success never returns.
pub fn exit_code<F: FnOnce()>(f: F) -> i32 {
    // SAFETY: as in `run`: the child runs `f` and then _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(100) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => panic!("unexpected wait status {other:?}"),
        },
    }
}

/// A directory under the system temp dir, removed with everything in it on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicI32 = AtomicI32::new(0);
        let path = std::env::temp_dir().join(format!(
            "berth-process-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
