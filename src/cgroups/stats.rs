//! Resource usage numbers.
use super::{CgroupError, CgroupManager};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {}

pub fn collect(mgr: &CgroupManager) -> Result<Stats, CgroupError> {
    let _ = mgr;
    Ok(Stats {})
}
