//! The one clone of the process model: clone3 with CLONE_INTO_CGROUP when a v2 cgroup fd is
//! given, plain clone otherwise (and as the fallback where clone3 is missing).

use crate::error::{Error, Result};
use std::os::fd::RawFd;

/// `struct clone_args` of clone3(2), as the kernel lays it out.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clones a child with `flags` (CLONE_NEW*) that runs `child` and exits with its code; the
/// parent gets the child's pid. Fork-like: the child runs on a copy of this stack, so the
/// caller must be single-threaded.
///
/// With `cgroup_fd` (a cgroup2 directory) the child starts in that cgroup; where the kernel
/// lacks clone3 or CLONE_INTO_CGROUP (before 5.7) it is cloned without, and `child` learns
/// whether it was placed (its argument) so it can join by itself.
pub fn clone_process(
    flags: libc::c_int,
    cgroup_fd: Option<RawFd>,
    child: impl FnOnce(bool) -> i32,
) -> Result<i32> {
    let mut args = CloneArgs {
        flags: flags as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 without CLONE_VM and with a null stack behaves like fork: the child gets
    // a copy-on-write copy of this single-threaded process and returns 0 here.
    let mut rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let mut placed = cgroup_fd.is_some();
    if rc < 0 && placed && matches!(nix::Error::last(), nix::Error::EINVAL | nix::Error::E2BIG) {
        // clone3 without CLONE_INTO_CGROUP (5.3–5.6): the same clone3, unplaced.
        args.flags &= !CLONE_INTO_CGROUP;
        args.cgroup = 0;
        placed = false;
        // SAFETY: as above.
        rc = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
    }
    if rc < 0 && nix::Error::last() == nix::Error::ENOSYS {
        placed = false;
        // SAFETY: raw clone with a null stack is fork with namespace flags (see above).
        rc = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (flags | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    if rc < 0 {
        return Err(Error::sys("clone container init", nix::Error::last()));
    }
    if rc == 0 {
        let code = child(placed);
        // SAFETY: _exit ends the child without running the parent's atexit handlers or
        // flushing buffers it inherited.
        unsafe { libc::_exit(code) }
    }
    Ok(rc as i32)
}
