//! `pause` and `resume`: freeze and thaw every process of a container through its cgroup
//! (v1 freezer, v2 cgroup.freeze). The status "paused" is derived from the frozen cgroup,
//! so nothing is written to state.json. Errors keep runc's wording.

use crate::error::{Error, Result};
use crate::state::{Root, State, Status};

/// `pause ID`: a running (or created) container becomes paused.
pub fn pause(root: &Root, id: &str) -> Result<()> {
    let st = root.load(id)?;
    match st.status(root) {
        Status::Running | Status::Created => cgroup_of(&st)?.freeze()?,
        _ => return Err(Error::Other("container not running".into())),
    }
    Ok(())
}

/// `resume ID`: a paused container runs again.
pub fn resume(root: &Root, id: &str) -> Result<()> {
    let st = root.load(id)?;
    if st.status(root) != Status::Paused {
        return Err(Error::Other("container not paused".into()));
    }
    cgroup_of(&st)?.thaw()?;
    Ok(())
}

fn cgroup_of(st: &State) -> Result<&crate::cgroups::CgroupManager> {
    st.cgroup
        .as_ref()
        .ok_or_else(|| Error::Other(format!("container {} has no cgroup to freeze", st.id)))
}
