//! Loads a compiled program with a direct seccomp(2) call, passing exactly the requested
//! flags. It never sets no_new_privs: the caller (the container init) does that if and only
//! if the OCI config says so; without it the kernel requires CAP_SYS_ADMIN.

use crate::error::{Result, SeccompError};
use crate::plan::{FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH};
use seccompiler::sock_filter;
use std::os::fd::{FromRawFd, OwnedFd};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// Installs `insns` on the calling thread (all threads with TSYNC). Returns the notify
/// listener when `flags` has SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub fn install_filter(insns: &[sock_filter], flags: u32) -> Result<Option<OwnedFd>> {
    let len = u16::try_from(insns.len()).map_err(|_| SeccompError::ProgramTooLong(insns.len()))?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads the filter; the cast is to libc's identical repr(C) struct.
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccompiler::sock_filter and libc::sock_filter are both repr(C) {u16, u8, u8,
    // u32}; `fprog` points at `len` valid instructions that outlive the call, and seccomp(2)
    // copies the program before returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(SeccompError::Install {
            flags,
            source: std::io::Error::last_os_error(),
        });
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        let fd = i32::try_from(rc).map_err(|_| SeccompError::Install {
            flags,
            source: std::io::Error::other("listener fd out of range"),
        })?;
        // SAFETY: with NEW_LISTENER a successful seccomp(2) returns a fresh fd that we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    if rc > 0 && flags & FLAG_TSYNC != 0 && flags & FLAG_TSYNC_ESRCH == 0 {
        return Err(SeccompError::TsyncFailed(rc));
    }
    Ok(None)
}
