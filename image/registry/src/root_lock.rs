//! An advisory `flock` on the storage root: servers hold it shared for their lifetime, offline
//! garbage collection exclusively, so `dock registry gc` never sweeps under a live server (whose
//! in-process GC lock it cannot see).

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::Path;

/// How the root is being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// A server (several may share a root).
    Serving,
    /// Offline maintenance that must run alone.
    Exclusive,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RootLockError {
    /// Someone holds a conflicting lock.
    #[error("storage root {0} is in use by another dock registry process")]
    Busy(String),
    /// Opening or locking failed.
    #[error("locking storage root: {0}")]
    Io(#[from] std::io::Error),
}

/// A held root lock, released on drop.
#[derive(Debug)]
pub struct RootLock {
    _lock: Flock<File>,
}

/// Take the root's lock without waiting.
pub fn lock_root(root: &Path, mode: LockMode) -> Result<RootLock, RootLockError> {
    std::fs::create_dir_all(root)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(".lock"))?;
    let arg = match mode {
        LockMode::Serving => FlockArg::LockSharedNonblock,
        LockMode::Exclusive => FlockArg::LockExclusiveNonblock,
    };
    match Flock::lock(file, arg) {
        Ok(lock) => Ok(RootLock { _lock: lock }),
        Err((_, Errno::EWOULDBLOCK)) => Err(RootLockError::Busy(root.display().to_string())),
        Err((_, e)) => Err(RootLockError::Io(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_and_gc_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock_root(dir.path(), LockMode::Serving).unwrap();
        let b = lock_root(dir.path(), LockMode::Serving).unwrap();
        assert!(matches!(
            lock_root(dir.path(), LockMode::Exclusive),
            Err(RootLockError::Busy(_))
        ));
        drop((a, b));
        let gc = lock_root(dir.path(), LockMode::Exclusive).unwrap();
        assert!(matches!(
            lock_root(dir.path(), LockMode::Serving),
            Err(RootLockError::Busy(_))
        ));
        drop(gc);
    }
}
