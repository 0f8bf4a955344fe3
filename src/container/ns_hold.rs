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
//!  berth run (parent of the init)               detached dropper (clone of berth run)
//!  ──────────────────────────────               ─────────────────────────────────────
//!  create, open /proc/<init>/ns/{mnt,net}
//!  start, wait for the init (its exit no longer
//!    tears the namespaces down: we hold them)
//!  delete (cgroups, state dir)
//!  pipe(), clone(CLONE_VM) ──────────────────▶  close every fd but the namespace fds
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
//! `run` exits. If it cannot be cloned, `run` drops the namespaces itself (the old cost, no
//! leak). The dropper shares `run`'s memory (CLONE_VM, on a static stack, doing nothing but
//! system calls), so cloning it copies no page tables, and `run`'s own exit no longer
//! unmaps its address space: the dropper, the last user, does that too. The container's
//! mounts therefore disappear a few milliseconds after `run` has returned instead of
//! before; they live in the container's own mount namespace, never in the caller's, so
//! nothing is visible in the meantime.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

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

    /// Hands the references to a detached process that drops them once this process has
    /// exited. Must be called from a single-threaded process (berth never starts threads),
    /// at most once per process (the dropper's stack and arguments are static).
    pub(crate) fn release_detached(self) {
        if self.fds.is_empty() || self.fds.len() > MAX_HELD {
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
        let mut keep = [RawFd::MAX; MAX_HELD + 1];
        for (slot, fd) in keep.iter_mut().zip(self.fds.iter()) {
            *slot = fd.as_raw_fd();
        }
        keep[self.fds.len()] = read_end.as_raw_fd();
        keep.sort_unstable();
        let Some(args) = DROPPER.claim(DropperArgs {
            keep,
            read_end: read_end.as_raw_fd(),
        }) else {
            return; // a second call: drop in this process
        };
        // SAFETY: berth is single-threaded here. The child shares our memory (CLONE_VM)
        // but touches only its own static stack and the static arguments, which nothing
        // writes again; it calls only close_range, read and exit and never returns into
        // Rust code. It gets its own copy of our descriptor table (no CLONE_FILES).
        let child = unsafe {
            libc::clone(
                dropper,
                DROPPER.stack_top(),
                libc::CLONE_VM | libc::SIGCHLD,
                args.cast(),
            )
        };
        if child > 0 {
            // Our copies go now; the write end goes when this process exits. Sharing
            // our memory, the dropper also takes the unmapping of it off our exit.
            drop(read_end);
            drop(self.fds);
            std::mem::forget(write_end);
        }
        // clone failed: self drops here, paying the teardown in this process.
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

/// Most namespaces [`NamespaceHold::release_detached`] hands over.
const MAX_HELD: usize = HELD.len();

/// What the dropper keeps open: the namespace fds and the pipe's read end (ascending,
/// unused slots `RawFd::MAX`), and which of them is the read end.
#[derive(Clone, Copy)]
struct DropperArgs {
    keep: [RawFd; MAX_HELD + 1],
    read_end: RawFd,
}

/// Enough for close_range, read and exit (the C library's clone trampoline included).
const DROPPER_STACK: usize = 16 * 1024;

/// The dropper's stack and arguments, in .bss: it shares our memory, so nothing it uses
/// may be freed or reused by this process after the clone.
#[repr(C, align(16))]
struct DropperMemory {
    stack: UnsafeCell<[u8; DROPPER_STACK]>,
    args: UnsafeCell<MaybeUninit<DropperArgs>>,
    claimed: AtomicBool,
}

// SAFETY: `args` is written once, by the caller that wins `claimed`, before the clone that
// starts its only reader; `stack` is used by that child alone.
unsafe impl Sync for DropperMemory {}

static DROPPER: DropperMemory = DropperMemory {
    stack: UnsafeCell::new([0; DROPPER_STACK]),
    args: UnsafeCell::new(MaybeUninit::uninit()),
    claimed: AtomicBool::new(false),
};

impl DropperMemory {
    /// Stores `args` for the one dropper of this process; None when already claimed.
    fn claim(&self, args: DropperArgs) -> Option<*mut DropperArgs> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let slot = self.args.get();
        // SAFETY: the claim above makes this the only writer, and no reader exists yet.
        unsafe { (*slot).write(args) };
        Some(slot.cast())
    }

    /// The top of the dropper's stack (stacks grow down on every target berth builds for).
    fn stack_top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the array is a valid pointer to form; the array
        // starts the 16-aligned struct and its length is a multiple of 16.
        unsafe { self.stack.get().cast::<u8>().add(DROPPER_STACK).cast() }
    }
}

/// The cloned child: keeps only the fds in its arguments, waits for end of file on the
/// read end, exits. It runs on the static stack, in memory shared with its parent: no
/// allocation, no Rust runtime, only system calls. (A failing call would set the C
/// library's errno, which the parent's thread shares; none fails on these descriptors.)
extern "C" fn dropper(args: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `args` points to the static arguments `claim` wrote before the clone.
    let args = unsafe { *args.cast::<DropperArgs>() };
    let mut from: u32 = 0;
    for fd in args.keep.into_iter().filter(|&fd| fd != RawFd::MAX) {
        if fd as u32 > from {
            // SAFETY: closing descriptors of our own (unshared) descriptor table.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd as u32 - 1, 0) };
        }
        from = fd as u32 + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0) };
    let mut byte = 0u8;
    // SAFETY: reads one byte into a local; any result (end of file once the parent is
    // gone, or an error) ends the wait.
    unsafe { libc::read(args.read_end, (&mut byte as *mut u8).cast(), 1) };
    // SAFETY: ends this task alone, running no destructors and no atexit handlers (they
    // would run on the parent's memory).
    unsafe { libc::syscall(libc::SYS_exit, 0) };
    0
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
