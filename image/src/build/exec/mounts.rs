//! The overlay a layer-producing step (RUN, COPY, ADD, WORKDIR) works in: the stage's layer
//! snapshots as lower dirs, an empty `upper/` and `work/` in the step's directory, mounted on
//! `merged/`. Dropping a [`StepMount`] unmounts it and removes the step's directory, so a failed
//! step leaves nothing; [`StepMount::finish`] unmounts and hands back the upper dir.
//!
//! The build runs in its own mount namespace (see [`super::cli`]), so even a killed build leaves
//! no mount on the host; unmounting here keeps a long build from piling them up.

use crate::snapshot::Snapshots;
use anyhow::{Context, Result};
use nix::mount::{umount2, MntFlags};
use std::path::{Path, PathBuf};

/// A mounted step overlay.
#[derive(Debug)]
pub struct StepMount {
    dir: PathBuf,
    merged: PathBuf,
    mounted: bool,
}

impl StepMount {
    /// Mount `lowers` (lowest first; `empty` stands in when there are none) in the new
    /// directory `dir`.
    pub fn mount(dir: &Path, lowers: &[PathBuf], empty: &Path) -> Result<StepMount> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let merged = dir.join("merged");
        std::fs::create_dir_all(&merged)
            .with_context(|| format!("creating {}", merged.display()))?;
        let mut m = StepMount {
            dir: dir.to_path_buf(),
            merged,
            mounted: false,
        };
        let empty_lower = [empty.to_path_buf()];
        let lowers = if lowers.is_empty() {
            &empty_lower[..]
        } else {
            lowers
        };
        Snapshots::mount_overlay(lowers, dir, &m.merged)?;
        m.mounted = true;
        Ok(m)
    }

    /// The merged tree the step changes.
    pub fn merged(&self) -> &Path {
        &self.merged
    }

    /// The step's directory (bundle files may go here too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn unmount(&mut self) -> Result<()> {
        if !self.mounted {
            return Ok(());
        }
        match umount2(&self.merged, MntFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(nix::errno::Errno::EBUSY) => umount2(&self.merged, MntFlags::MNT_DETACH)
                .with_context(|| format!("unmounting {}", self.merged.display()))?,
            Err(e) => {
                return Err(e).with_context(|| format!("unmounting {}", self.merged.display()))
            }
        }
        self.mounted = false;
        Ok(())
    }

    /// Unmount; the upper dir (the step's changes, in overlayfs form) stays until drop.
    pub fn finish(&mut self) -> Result<PathBuf> {
        self.unmount()?;
        Ok(self.dir.join("upper"))
    }
}

impl Drop for StepMount {
    fn drop(&mut self) {
        let _ = self.unmount();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
