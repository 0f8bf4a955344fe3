//! Applies `linux.resources` to a container's cgroup on the host's layout: v1 (and the
//! v1 controllers of a hybrid host) through [`resources_v1`](super::resources_v1), v2
//! through [`resources_v2`](super::resources_v2). The `unified` map is cgroup2 only: on
//! hybrid it goes to the container's directory in the cgroup2 hierarchy, on v1 it is an
//! error.

use super::{resources_v1, resources_v2, CgroupError, CgroupManager, Layout};
use oci_spec::runtime::LinuxResources;

/// Applies `r`; `update` is true for the `update` command (a live cgroup), where
/// memory's checkBeforeUpdate is honoured.
pub fn apply(mgr: &CgroupManager, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
    match mgr.layout {
        Layout::V2 => {
            let dir = mgr
                .unified_dir()
                .ok_or_else(|| CgroupError::Invalid("no cgroup2 directory".into()))?;
            resources_v2::apply(dir, r, update)
        }
        Layout::V1 | Layout::Hybrid => {
            resources_v1::apply(mgr, r, update)?;
            let unified = r.unified().as_ref().filter(|u| !u.is_empty());
            match (unified, mgr.unified_dir()) {
                (None, _) => Ok(()),
                (Some(map), Some(dir)) => resources_v2::apply_unified(dir, map),
                (Some(_), None) => Err(CgroupError::Invalid(
                    "linux.resources.unified needs cgroup v2; this host has only v1".into(),
                )),
            }
        }
    }
}
