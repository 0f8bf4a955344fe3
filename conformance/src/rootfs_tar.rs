//! A busybox root filesystem as a plain tar file, the input of `podman import` and
//! `docker import`: images are made locally, nothing is pulled.

use crate::rootfs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the suite's busybox rootfs (busybox-static, applet links, berth-check, passwd)
/// in `work/rootfs` and packs it into `work/rootfs.tar`, which it returns.
pub fn busybox(work: &Path) -> PathBuf {
    let tree = work.join("rootfs");
    rootfs::build(&tree);
    let tar = work.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("--numeric-owner")
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("cannot run tar (Debian package tar): {e}"));
    assert!(
        status.success(),
        "tar of {} failed: {status}",
        tree.display()
    );
    tar
}
