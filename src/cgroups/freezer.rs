//! Freezing and thawing a cgroup: v1's freezer.state (FROZEN / FREEZING / THAWED) and
//! v2's cgroup.freeze with the settled state read from cgroup.events.

use super::{fsio, CgroupError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Sleeps growing from 1 ms to 50 ms between checks, until `deadline`.
fn wait_until(
    deadline: Duration,
    mut settled: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<bool, CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        if settled()? {
            return Ok(true);
        }
        if start.elapsed() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// v1: writes FROZEN or THAWED and waits until freezer.state reads it. FROZEN is
/// written again on each check (a task forking while FREEZING can stall the kernel's
/// first pass). A freeze that does not settle is undone and reported.
pub fn v1_set(dir: &Path, frozen: bool, timeout: Duration) -> Result<(), CgroupError> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let ok = wait_until(timeout, || {
        fsio::write(dir, "freezer.state", want)?;
        Ok(fsio::read(dir, "freezer.state")?.trim() == want)
    })?;
    if ok {
        return Ok(());
    }
    if frozen {
        let _ = fsio::write(dir, "freezer.state", "THAWED");
    }
    Err(CgroupError::Invalid(format!(
        "{}: freezer.state did not become {want} within {timeout:?}",
        dir.display()
    )))
}

pub fn v1_is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    Ok(fsio::read(dir, "freezer.state")?.trim() == "FROZEN")
}

/// v2: writes 1 or 0 to cgroup.freeze and waits for cgroup.events to say "frozen 1"/"0".
pub fn v2_set(dir: &Path, frozen: bool, timeout: Duration) -> Result<(), CgroupError> {
    let value = if frozen { "1" } else { "0" };
    fsio::write(dir, "cgroup.freeze", value)?;
    let want = u64::from(frozen);
    let ok = wait_until(timeout, || {
        Ok(fsio::keyed(&fsio::read(dir, "cgroup.events")?, "frozen") == Some(want))
    })?;
    if ok {
        return Ok(());
    }
    if frozen {
        let _ = fsio::write(dir, "cgroup.freeze", "0");
    }
    Err(CgroupError::Invalid(format!(
        "{}: cgroup.events did not report frozen {want} within {timeout:?}",
        dir.display()
    )))
}

pub fn v2_is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    Ok(fsio::read(dir, "cgroup.freeze")?.trim() == "1")
}
