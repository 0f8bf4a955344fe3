//! Entering the rootfs: pivot_root(".", ".") and a lazy unmount of the old root, or with
//! --no-pivot (a root on ramfs, where pivot_root is not allowed) MS_MOVE onto "/" + chroot.

use super::RootfsError;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use std::path::Path;

/// See [`super::pivot`].
pub fn pivot_into(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    let dir = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(RootfsError::sys("open rootfs", rootfs))?;
    fchdir(&dir).map_err(RootfsError::sys("chdir into rootfs", rootfs))?;
    if no_pivot {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(RootfsError::sys("move rootfs onto /", rootfs))?;
        chroot(".").map_err(RootfsError::sys("chroot", rootfs))?;
    } else {
        // The old root ends up mounted on top of the new one. Our cwd after pivot_root is
        // not guaranteed to be it, so step into it by fd before changing its propagation:
        // made recursively slave there, the container's own mounts keep theirs (rshared).
        let old_root = open(
            "/",
            OFlag::O_DIRECTORY | OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(RootfsError::sys("open old root", "/"))?;
        pivot_root(".", ".").map_err(RootfsError::sys("pivot_root into", rootfs))?;
        fchdir(&old_root).map_err(RootfsError::sys("chdir into old root", "/"))?;
        drop(old_root);
        // Unmounting must not reach the host's mounts through shared propagation.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(RootfsError::sys("make old root rslave", "/"))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(RootfsError::sys("unmount old root", "/"))?;
    }
    chdir("/").map_err(RootfsError::sys("chdir", "/"))
}
