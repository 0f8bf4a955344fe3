//! Takes the container's namespace teardown off `run`'s critical path.
//!
//! When a container's last process exits, the kernel tears its namespaces down in that
//! process's exit path, before the process becomes a zombie its parent can reap. For a mount
//! namespace that includes a synchronous RCU grace period (several ms here, more after an
//! idle moment), so a foreground `run` would report the exit that much later, and every
//! runtime pays it.
//!
//! berth's foreground `run` instead:
//!
//! ```text
//!  berth run (parent of the init)               detached dropper (fork of berth run)
//!  ──────────────────────────────               ─────────────────────────────────────
//!  create, open /proc/<init>/ns/{mnt,net}
//!  start, wait for the init (its exit no longer
//!    tears the namespaces down: we hold them)
//!  delete (cgroups, state dir)
//!  pipe(), fork ─────────────────────────────▶  close every fd but the namespace fds
//!  close our namespace fds and the pipe's           and the pipe's read end
//!    read end; exit (which closes the write end) ▶ read() sees end of file, _exit:
//!                                                   the last references drop here, and
//!                                                   nobody waits for this process
//! ```
//!
//! The containerd shim holds the same references from Create until the init's exit is
//! reported, and drops them on a thread of its own ([`NamespaceHold::release_on_thread`]).
//!
//! The dropper is reparented to the nearest subreaper (or pid 1) when `run` exits, which
//! reaps it. It holds no stdio, so a caller reading `run`'s output sees end of file when
//! `run` exits. If it cannot be forked, `run` drops the namespaces itself (the old cost, no
//! leak). The container's mounts therefore disappear a few milliseconds after `run` has
//! returned instead of before; they live in the container's own mount namespace, never in
//! the caller's, so nothing is visible in the meantime.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Namespaces whose teardown the exit of a container's last process would otherwise wait for.
const HELD: [&str; 2] = ["mnt", "net"];

/// Open references to a container init's namespaces.
#[derive(Debug, Default)]
pub struct NamespaceHold {
    fds: Vec<OwnedFd>,
}

impl NamespaceHold {
    /// Opens the namespaces of process `pid`; the ones that cannot be opened (a process
    /// already gone, no permission) are simply not held.
    pub fn take(pid: i32) -> Self {
        let mut fds = Vec::with_capacity(HELD.len());
        for ns in HELD {
            let path = format!("/proc/{pid}/ns/{ns}\0");
            // SAFETY: a NUL-terminated path we own; the result is checked.
            let fd = unsafe {
                libc::open(
                    path.as_ptr().cast(),
                    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
                )
            };
            if fd >= 0 {
                // SAFETY: open just returned this descriptor to us alone.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        NamespaceHold { fds }
    }

    /// How many namespaces are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.fds.len()
    }

    /// True when nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Hands the references to a forked process that drops them once this process has
    /// exited. Must be called from a single-threaded process (berth never starts threads).
    pub(crate) fn release_detached(self) {
        if self.fds.is_empty() {
            return;
        }
        let mut pipe = [-1 as RawFd; 2];
        // SAFETY: pipe2 fills the array we own; the result is checked.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return; // dropping self here pays the teardown in this process: no leak
        }
        // SAFETY: both descriptors were just created for us alone.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        let mut keep: Vec<RawFd> = self.fds.iter().map(|f| f.as_raw_fd()).collect();
        keep.push(read_end.as_raw_fd());
        keep.sort_unstable();
        // SAFETY: berth is single-threaded here; the child only calls close_range, read
        // and _exit, which are async-signal-safe, and never returns into Rust code.
        match unsafe { libc::fork() } {
            0 => dropper(&keep, read_end.as_raw_fd()),
            -1 => {} // fork failed: drop in this process
            _ => {
                // Our copies go now; the write end goes when this process exits.
                drop(read_end);
                drop(self.fds);
                std::mem::forget(write_end);
            }
        }
    }

    /// For a multi-threaded holder (the containerd shim): drops the references on a
    /// short-lived thread. Closing the last one makes the closing thread run the
    /// teardown on its way back to user space; that thread is then nobody's critical path.
    pub fn release_on_thread(self) {
        if self.fds.is_empty() {
            return;
        }
        // Spawning failed: the closure (and the fds in it) is dropped here instead.
        let _ = std::thread::Builder::new()
            .name("ns-release".into())
            .spawn(move || drop(self));
    }
}

/// The forked child: keep only `keep`, wait for end of file on `read_end`, exit.
fn dropper(keep: &[RawFd], read_end: RawFd) -> ! {
    let mut from: u32 = 0;
    for &fd in keep {
        if fd as u32 > from {
            // SAFETY: closing descriptors of this (forked, single-threaded) process.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd as u32 - 1, 0) };
        }
        from = fd as u32 + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
    let mut byte = 0u8;
    loop {
        // SAFETY: reading one byte into a local.
        let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
        if n < 0 && nix::Error::last() == nix::Error::EINTR {
            continue;
        }
        break;
    }
    // SAFETY: _exit never returns and runs no destructors or atexit handlers.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_opens_the_namespaces_of_a_live_process() {
        let hold = NamespaceHold::take(std::process::id() as i32);
        assert_eq!(hold.len(), HELD.len());
    }

    #[test]
    fn take_of_a_missing_process_holds_nothing() {
        // pid_max is at most 2^22, so this pid never exists.
        let hold = NamespaceHold::take(i32::MAX);
        assert!(hold.is_empty());
    }
}
