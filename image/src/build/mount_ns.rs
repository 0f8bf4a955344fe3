//! Entering a private mount namespace: `dock build` does it once for the whole build (its
//! overlays and containers' rootfs mounts then vanish with the process, even if it is
//! killed), and the layer tests do it on a thread of their own.

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Unshare the mount namespace of the calling thread (the whole process when it has one
/// thread) and make every mount in it private, so nothing mounted afterwards propagates back
/// to the host.
pub fn enter_private_mount_namespace() -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}
