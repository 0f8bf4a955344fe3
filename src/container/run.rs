//! `run` in the foreground: create and start, forward signals to the init, wait for it,
//! delete (unless --keep), and exit with its status (128+N when killed by signal N).
//!
//! Signals are blocked before the clone (the init unblocks them) so none is lost between
//! the clone and the wait; they are then taken synchronously with sigwaitinfo.

use super::ns_hold::NamespaceHold;
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

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
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

/// Runs a created container to its end: starts it, waits, deletes it unless `keep`.
///
/// The init's namespaces are held open from before the start and handed to a detached
/// process at the end (`ns_hold`), so the init's exit does not wait for their teardown.
///
/// `create` left the final state (`created_ok`) unsaved: it is written here after the start
/// byte, while the init execs. Without poststart hooks nothing waits for that execve; the
/// wait for the exit follows at once.
pub fn start_wait_and_finish(root: &Root, created: super::Created, keep: bool) -> Result<i32> {
    let hold = NamespaceHold::take(created.pid);
    let st = &created.state;
    let started = super::release_init(root, st).and_then(|watcher| {
        st.save(root)?;
        if super::has_poststart(st) {
            super::wait_for_exec(&watcher, &st.id)?;
            super::run_poststart(st)?;
        }
        Ok(())
    });
    if let Err(e) = started {
        let _ = super::delete(root, &st.id, true);
        return Err(e);
    }
    let code = wait_and_finish(root, created, keep);
    hold.release_detached();
    code
}

/// Runs a created-and-started container to its end; deletes it unless `keep`.
fn wait_and_finish(root: &Root, created: super::Created, keep: bool) -> Result<i32> {
    let pid = created.pid;
    let code = match created.console_relay {
        Some(relay) => relay_and_wait(pid, relay)?,
        None => forward_and_wait(pid)?,
    };
    crate::trace::mark("exited");
    if !keep {
        // The init is reaped: what delete would find is already in hand.
        super::destroy(root, &created.state)?;
        crate::trace::mark("deleted");
    }
    Ok(code)
}

/// Foreground `run` with a terminal and no --console-socket: receive the pty master, put
/// our terminal in raw mode, and relay bytes both ways while forwarding signals (SIGWINCH
/// copies our window size) until the init exits.
pub fn relay_and_wait(pid: i32, relay: std::os::fd::OwnedFd) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SigSet, SignalFd};
    use nix::sys::termios;
    use std::os::fd::{AsFd, AsRawFd};

    let master = crate::console::recv_master(relay.as_raw_fd())?;
    drop(relay);
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(orig) = &saved {
        let mut raw = orig.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        copy_winsize(master.as_raw_fd());
    }
    let sfd = SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::sys("signalfd", e))?;
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    let result = loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(e) => break Err(Error::sys("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut i = 1;
        if master_open {
            if ready[i] && !pump(master.as_raw_fd(), 1, &mut buf) {
                master_open = false;
            }
            i += 1;
        }
        if stdin_open && ready[i] && !pump(0, master.as_raw_fd(), &mut buf) {
            stdin_open = false;
        }
        if ready[0] {
            let Ok(Some(info)) = sfd.read_signal() else {
                continue;
            };
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                match reap(pid) {
                    Ok(Some(code)) => {
                        while master_open && pump(master.as_raw_fd(), 1, &mut buf) {}
                        break Ok(code);
                    }
                    Ok(None) => {}
                    Err(e) => break Err(e),
                }
            } else if sig == libc::SIGWINCH {
                copy_winsize(master.as_raw_fd());
            } else {
                // SAFETY: kill with a pid and a signal number.
                unsafe { libc::kill(pid, sig) };
            }
        }
    };
    if let Some(orig) = &saved {
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, orig);
    }
    result
}

/// Copies one read's worth from `from` to `to`; false at end of file or error.
fn pump(from: i32, to: i32, buf: &mut [u8]) -> bool {
    // SAFETY: reading into a buffer we own, of its length.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return n < 0 && nix::Error::last() == nix::Error::EINTR;
    }
    let mut off = 0usize;
    while off < n as usize {
        // SAFETY: writing the initialised part of our buffer.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w < 0 {
            if nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            return false;
        }
        off += w as usize;
    }
    true
}

fn copy_winsize(master: i32) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a winsize struct we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}
