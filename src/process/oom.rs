//! oom_score_adj: written to /proc/self/oom_score_adj through a verified procfs handle
//! (CVE-2025-52881: nothing mounted over it can take the write); children and exec inherit it.

use crate::rootfs::procfs::Procfs;

use super::ProcessError;

const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

pub(crate) fn set_oom_score_adj(score: i32) -> Result<(), ProcessError> {
    let proc = Procfs::open().map_err(|e| ProcessError::os(format!("open {OOM_SCORE_ADJ}"), e))?;
    let fd = proc
        .open_file("self/oom_score_adj", nix::fcntl::OFlag::O_WRONLY)
        .map_err(|e| ProcessError::os(format!("open {OOM_SCORE_ADJ}"), e))?;
    std::io::Write::write_all(&mut std::fs::File::from(fd), score.to_string().as_bytes())
        .map_err(|e| ProcessError::io(format!("write {OOM_SCORE_ADJ}"), &e))
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    #[test]
    fn writes_score_in_child() {
        let report = test_child::run(|| {
            set_oom_score_adj(123).map_err(|e| e.to_string())?;
            std::fs::read_to_string(OOM_SCORE_ADJ)
                .map(|s| s.trim().to_string())
                .map_err(|e| e.to_string())
        });
        assert_eq!(report, Ok("123".to_string()));
    }

    #[test]
    fn lowering_without_cap_sys_resource_is_denied() {
        let report = test_child::run(|| {
            caps::drop(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_RESOURCE,
            )
            .map_err(|e| e.to_string())?;
            set_oom_score_adj(-500).map_err(|e| e.to_string())?;
            Ok("lowered".into())
        });
        assert_eq!(
            report,
            Err("write /proc/self/oom_score_adj: permission denied".to_string())
        );
    }

    #[test]
    fn out_of_range_is_an_error() {
        let report = test_child::run(|| {
            set_oom_score_adj(5000).map_err(|e| e.to_string())?;
            Ok("written".into())
        });
        assert_eq!(
            report,
            Err("write /proc/self/oom_score_adj: invalid argument".to_string())
        );
    }
}
