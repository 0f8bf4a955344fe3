//! Control groups: placement of a container on the host's layout (v1, hybrid, v2),
//! and (with issue #3) resources, freeze/thaw, stats and kill-all.
//!
//! Contract used by the runtime core (keep these signatures):
//! * [`CgroupManager::new`] in the `create` parent, from `linux.cgroupsPath` and the ID;
//!   nothing is touched on disk yet.
//! * [`CgroupManager::create`] in the parent before the clone: makes the directories in every
//!   hierarchy and applies `linux.resources`. On error it removes what it made.
//! * [`CgroupManager::join_self`] in the container's init right after the clone: writes "0"
//!   into `cgroup.procs` (or `tasks`) of every hierarchy, so the kernel moves the caller
//!   without the RCU grace-period wait a parent pays when it writes a child's pid.
//! * [`CgroupManager::destroy`] at delete and on create failure: removes every directory made.
//! * The manager is serialisable, so `state.json` records exactly what to clean up.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Invalid(String),
}

/// What the host mounts at /sys/fs/cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    V1,
    Hybrid,
    V2,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupManager {
    /// The cgroup path relative to each hierarchy's root, e.g. "/berth/ID".
    pub path: String,
    pub layout: Layout,
    /// Absolute directories that `create` made (or would make), one per hierarchy.
    pub dirs: Vec<PathBuf>,
}

impl CgroupManager {
    /// `cgroups_path` is `linux.cgroupsPath` (None or empty: a default under "/berth/<id>").
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        let path = match cgroups_path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("/berth/{id}"),
        };
        Ok(CgroupManager { path, layout: Layout::V1, dirs: Vec::new() })
    }

    pub fn create(
        &self,
        resources: Option<&oci_spec::runtime::LinuxResources>,
    ) -> Result<(), CgroupError> {
        let _ = resources;
        Ok(())
    }

    /// Called in the container init after the clone; must not fork or take locks.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        Ok(())
    }

    /// Pids in the container's cgroup (from the pids/freezer/first v1 hierarchy, or v2).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Ok(Vec::new())
    }

    /// True when the cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.freeze 1).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }

    /// Sends `signal` to every process in the cgroup; an empty or missing cgroup is fine.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let _ = signal;
        Ok(())
    }

    /// Moves `pid` into the cgroup (used when the init cannot join by itself).
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let _ = pid;
        Ok(())
    }

    /// The v2 directory to open for clone3's CLONE_INTO_CGROUP.
    pub fn v2_dir(&self) -> Option<PathBuf> {
        None
    }

    /// Removes every directory made by `create`; missing ones are not an error.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }
}
