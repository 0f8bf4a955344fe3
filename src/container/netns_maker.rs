//! Makes the container's network namespace beside `create`, not on the init's path.
//!
//! A new network namespace is the costliest namespace the kernel makes (about 0.4 ms here:
//! every per-namespace subsystem sets itself up). In the common case (`Plan::early_unshare`)
//! the init used to unshare it first thing, and the init was then the longer branch of
//! `create`. Now a helper task makes it as soon as the config is parsed:
//!
//! ```text
//!  berth create (parent)                      netns maker (clone of the parent)
//!  ─────────────────────                      ─────────────────────────────────
//!  parse config.json, plan namespaces
//!  clone(CLONE_VM|CLONE_FILES) ─────────────▶ unshare(CLONE_NEWNET)
//!  reserve state dir, save state.json         open /proc/thread-self/ns/net: the fd
//!  clone the init (pid namespace only)          lands in the parent's descriptor table
//!  mkdir v1 cgroups, apply resources          record it, exit
//!  waitpid(maker), take the fd
//!  Go(pid) + the fd (SCM_RIGHTS) ───────────▶ init: setns(fd, CLONE_NEWNET), close it
//! ```
//!
//! The init unshares its other namespaces at once as before; it joins the made network
//! namespace after Go, which it waits for anyway. When no fd comes with Go (the maker
//! failed, or could not be started) the init unshares the network namespace itself, so the
//! outcome never depends on the maker.
//!
//! The maker shares the parent's memory and descriptor table and runs on a static stack:
//! cloning it copies nothing. It makes raw system calls only (no C library call, so it
//! never writes the `errno` it shares with the parent), allocates nothing and never
//! returns into Rust code. The namespace it makes is owned by the parent's user namespace,
//! as one the init unshares would be; `Plan::early_unshare` already excludes a new or
//! joined user namespace. Its fd is close-on-exec and is closed by the parent after Go.

use std::cell::UnsafeCell;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Enough for three system calls (the C library's clone trampoline included).
const STACK: usize = 16 * 1024;

/// What the maker left: the namespace fd, or a negative errno. Written by the maker before
/// it exits, read by the parent after reaping it.
static RESULT: AtomicI32 = AtomicI32::new(-1);

/// The maker's stack, in .bss: nothing else uses it.
#[repr(C, align(16))]
struct MakerStack {
    bytes: UnsafeCell<[u8; STACK]>,
    claimed: AtomicBool,
}

// SAFETY: the stack is handed to one child only, by the caller that wins `claimed`.
unsafe impl Sync for MakerStack {}

static MAKER_STACK: MakerStack = MakerStack {
    bytes: UnsafeCell::new([0; STACK]),
    claimed: AtomicBool::new(false),
};

/// A running (or finished, not yet reaped) netns maker.
#[derive(Debug)]
pub(crate) struct NetnsMaker {
    pid: libc::pid_t,
}

impl NetnsMaker {
    /// Starts the maker. None when this process already started one (the stack is
    /// static), the clone fails, or the architecture has no raw system call here: the
    /// init then unshares the network namespace itself. Must be called from a
    /// single-threaded process (berth never starts threads).
    pub(crate) fn spawn() -> Option<NetnsMaker> {
        if !raw::SUPPORTED || MAKER_STACK.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        RESULT.store(-1, Ordering::Relaxed);
        // SAFETY: one past the end of the static array, 16-aligned (the struct is, and the
        // array opens it with a length that is a multiple of 16); stacks grow down.
        let stack_top = unsafe { MAKER_STACK.bytes.get().cast::<u8>().add(STACK) };
        // SAFETY: berth is single-threaded here. The child shares our memory and
        // descriptor table but touches only its own static stack and `RESULT`; it makes
        // raw system calls only and ends with exit, never returning into Rust code.
        let pid = unsafe {
            libc::clone(
                maker,
                stack_top.cast(),
                libc::CLONE_VM | libc::CLONE_FILES | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        (pid > 0).then_some(NetnsMaker { pid })
    }

    /// Waits for the maker; the new network namespace, or None when it could not make one.
    pub(crate) fn finish(mut self) -> Option<OwnedFd> {
        self.reap()
    }

    fn reap(&mut self) -> Option<OwnedFd> {
        if self.pid <= 0 {
            return None;
        }
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child; `status` is a local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if rc == self.pid || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
                break;
            }
        }
        self.pid = 0;
        let fd = RESULT.swap(-1, Ordering::Acquire);
        // SAFETY: the maker opened this descriptor in our shared table and exited; we
        // are its only owner now.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Drop for NetnsMaker {
    /// A create that fails before Go still reaps the maker and closes its namespace.
    fn drop(&mut self) {
        drop(self.reap());
    }
}

/// The cloned child: makes the network namespace, opens it into the shared descriptor
/// table, records the fd (or the error) and exits.
extern "C" fn maker(_: *mut libc::c_void) -> libc::c_int {
    // SAFETY: raw system calls on constants and a static NUL-terminated path.
    let result = unsafe {
        match raw::syscall3(libc::SYS_unshare, libc::CLONE_NEWNET as usize, 0, 0) {
            0 => raw::syscall3(
                libc::SYS_openat,
                libc::AT_FDCWD as usize,
                c"/proc/thread-self/ns/net".as_ptr() as usize,
                (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
            ),
            err => err,
        }
    };
    RESULT.store(result as i32, Ordering::Release);
    // SAFETY: ends this task alone, running no destructors and no atexit handlers (they
    // would run on the parent's memory).
    unsafe { raw::syscall3(libc::SYS_exit, 0, 0, 0) };
    0
}

/// System calls without the C library: its wrappers store a failure in `errno`, which a
/// CLONE_VM child shares with its parent's thread.
mod raw {
    pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

    /// The system call `nr` with three arguments; a failure is returned as -errno.
    ///
    /// # Safety
    /// As for the system call itself: pointer arguments must be valid for it.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn syscall3(nr: libc::c_long, a1: usize, a2: usize, a3: usize) -> isize {
        let ret: isize;
        // SAFETY: the x86_64 Linux system call convention; rcx and r11 are clobbered.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a1,
                in("rsi") a2,
                in("rdx") a3,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// The system call `nr` with three arguments; a failure is returned as -errno.
    ///
    /// # Safety
    /// As for the system call itself: pointer arguments must be valid for it.
    #[cfg(target_arch = "aarch64")]
    pub unsafe fn syscall3(nr: libc::c_long, a1: usize, a2: usize, a3: usize) -> isize {
        let ret: isize;
        // SAFETY: the aarch64 Linux system call convention.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a1 as isize => ret,
                in("x1") a2,
                in("x2") a3,
                options(nostack),
            );
        }
        ret
    }

    /// Never called: [`SUPPORTED`] is false on other architectures.
    ///
    /// # Safety
    /// Trivially safe; present so the callers compile everywhere.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub unsafe fn syscall3(_nr: libc::c_long, _a1: usize, _a2: usize, _a3: usize) -> isize {
        -(libc::ENOSYS as isize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The maker makes a namespace other than ours (the unit tests run as root, as CI
    /// does; without CAP_SYS_ADMIN it reports no namespace, which the init handles).
    #[test]
    fn the_maker_hands_over_a_new_network_namespace() {
        use std::os::unix::fs::MetadataExt;
        let net_ino = || {
            std::fs::metadata("/proc/thread-self/ns/net")
                .expect("our network namespace")
                .ino()
        };
        let ours = net_ino();
        let maker = NetnsMaker::spawn().expect("first maker of this test process");
        assert!(NetnsMaker::spawn().is_none(), "one maker per process");
        let got = maker.finish();
        if !nix::unistd::geteuid().is_root() {
            assert!(got.is_none());
            return;
        }
        let fd = got.expect("root makes a network namespace");
        let theirs = nix::sys::stat::fstat(&fd).expect("fstat it").st_ino;
        assert_ne!(theirs, ours, "a new namespace, not ours");
        assert_eq!(net_ino(), ours, "only the maker moved");
    }
}
