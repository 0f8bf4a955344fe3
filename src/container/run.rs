//! `run` in the foreground: create and start, forward signals to the init, wait for it,
//! delete (unless --keep), and exit with its status (128+N when killed by signal N).
//!
//! Signals are blocked before the clone (the init unblocks them) so none is lost between
//! the clone and the wait; they are then taken synchronously with sigwaitinfo.

use crate::error::{Error, Result};
use crate::state::Root;

fn all_signals() -> libc::sigset_t {
    // SAFETY: sigfillset initialises the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        set
    }
}

/// Blocks every signal in the calling (single-threaded) process.
pub fn block_signals() {
    let set = all_signals();
    // SAFETY: sigprocmask with a valid, initialised set.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Waits for our child `pid`, forwarding every other signal to it; returns the exit code
/// a shell would report.
pub fn forward_and_wait(pid: i32) -> Result<i32> {
    let set = all_signals();
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for sigwaitinfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: set and info are valid for the call.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig < 0 {
            if nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            return Err(Error::sys("sigwaitinfo", nix::Error::last()));
        }
        if sig == libc::SIGCHLD {
            if let Some(code) = reap(pid)? {
                return Ok(code);
            }
            continue;
        }
        // SAFETY: kill with a pid and a signal number.
        unsafe { libc::kill(pid, sig) };
    }
}

fn reap(pid: i32) -> Result<Option<i32>> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                return Ok(Some(128 + sig as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::Error::ECHILD) => return Ok(Some(0)),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(Error::sys("waitpid", e)),
        }
    }
}

/// Runs a created-and-started container to its end; deletes it unless `keep`.
pub fn wait_and_finish(root: &Root, id: &str, pid: i32, keep: bool) -> Result<i32> {
    let code = forward_and_wait(pid)?;
    if !keep {
        super::delete(root, id, true)?;
    }
    Ok(code)
}
