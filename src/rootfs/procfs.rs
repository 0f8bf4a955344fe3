//! A verified handle on procfs, for every write berth makes into /proc (sysctl,
//! oom_score_adj, LSM attributes).
//!
//! A container can make "/proc/…" lead somewhere else: /proc itself a symlink or a bind of
//! a plain directory (CVE-2019-16884, CVE-2019-19921), or a file mounted over the target
//! (CVE-2025-52881). So "/proc" is opened without following symlinks and checked to be the
//! root of a procfs (statfs PROC_SUPER_MAGIC and the procfs root inode); files below it are
//! opened with openat2 RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS, so nothing
//! mounted on the way (or over the file) and no magic link is crossed, and each file is
//! checked once more to be on procfs.

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::fstat;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The inode number of the root directory of every procfs instance.
const PROC_ROOT_INO: u64 = 1;

/// An O_PATH fd on the root of a procfs, checked.
#[derive(Debug)]
pub struct Procfs {
    fd: OwnedFd,
}

fn is_procfs(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    Ok(fstatfs(fd)?.filesystem_type() == PROC_SUPER_MAGIC)
}

impl Procfs {
    /// Opens "/proc" of the current root: refused (ENOTDIR/ELOOP/EXDEV) when it is a
    /// symlink, not procfs, or not the root of a procfs.
    pub fn open() -> Result<Procfs, Errno> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(nix::fcntl::AT_FDCWD, "/proc", how)?;
        Self::verify(fd)
    }

    /// Takes `fd` as a procfs root after checking that it is one.
    pub fn verify(fd: OwnedFd) -> Result<Procfs, Errno> {
        if !is_procfs(fd.as_fd())? || fstat(fd.as_fd())?.st_ino != PROC_ROOT_INO {
            return Err(Errno::EXDEV);
        }
        Ok(Procfs { fd })
    }

    /// Opens `rel` (e.g. "sys/kernel/hostname", "self/oom_score_adj") below this procfs root
    /// with `flags`. Plain symlinks that stay below (self, thread-self) are followed; magic
    /// links, mount crossings and anything not on procfs are refused.
    pub fn open_file(&self, rel: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_XDEV
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        let fd = openat2(self.fd.as_fd(), rel.trim_start_matches('/'), how)?;
        if !is_procfs(fd.as_fd())? {
            return Err(Errno::EXDEV);
        }
        Ok(fd)
    }

    /// Writes `value` to the procfs file `rel` in one write.
    pub fn write(&self, rel: &str, value: &[u8]) -> Result<(), Errno> {
        let fd = self.open_file(rel, OFlag::O_WRONLY)?;
        std::fs::File::from(fd)
            .write_all(value)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_proc_is_verified_and_writes_reach_procfs() {
        let proc = Procfs::open().expect("host /proc is procfs");
        let fd = proc
            .open_file("self/status", OFlag::O_RDONLY)
            .expect("self/status below /proc");
        assert!(is_procfs(fd.as_fd()).unwrap());
        // A magic link is never followed.
        assert_eq!(
            proc.open_file("self/exe", OFlag::O_RDONLY).unwrap_err(),
            Errno::ELOOP
        );
        // Escaping with ".." is refused.
        assert_eq!(
            proc.open_file("../etc/passwd", OFlag::O_RDONLY)
                .unwrap_err(),
            Errno::EXDEV
        );
    }

    #[test]
    fn a_directory_that_is_not_procfs_is_refused() {
        let fd = nix::fcntl::open(
            "/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        assert_eq!(Procfs::verify(fd).unwrap_err(), Errno::EXDEV);
        // A procfs directory that is not the root of its procfs (a bind of /proc/self).
        let sub = nix::fcntl::open(
            "/proc/self",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        assert_eq!(Procfs::verify(sub).unwrap_err(), Errno::EXDEV);
    }
}
