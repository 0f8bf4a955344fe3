//! Pure conversions between OCI (cgroup v1 shaped) values and the strings the kernel's
//! control files take, on v1 and v2.
//!
//! Formulas (the same mappings runc, crun and systemd use, so a config means the same
//! on every runtime):
//! * cpu shares → v2 cpu.weight: `1 + ((shares - 2) * 9999) / 262142`, mapping v1's
//!   [2, 262144] linearly onto v2's [1, 10000] (shares 1024 → weight 39).
//! * blkio weight → v2 io.weight: `1 + ((weight - 10) * 9999) / 990`, mapping [10, 1000]
//!   onto [1, 10000] (io.bfq.weight, when present, takes the v1 value unchanged).
//! * memory swap → v2 memory.swap.max: OCI's swap is memory+swap (v1 memsw), v2 limits
//!   swap alone, so `swap.max = swap - limit`; -1 means "max".

use super::CgroupError;

/// v1 cpu.shares → v2 cpu.weight; 0 (unset) stays 0.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// v1 blkio weight → v2 io.weight; 0 (unset) stays 0.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

/// A limit for v1 files, where -1 (or any negative) is unlimited and written as "-1".
pub fn v1_limit(value: i64) -> String {
    if value < 0 {
        "-1".to_string()
    } else {
        value.to_string()
    }
}

/// A limit for v2 files, where negative is unlimited and written as "max".
pub fn v2_limit(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

/// The value for v2 memory.swap.max from OCI's memory limit and memory+swap limit, or
/// None when nothing is to be written. Zero means unset (as in runc).
pub fn swap_to_v2(limit: Option<i64>, swap: Option<i64>) -> Result<Option<String>, CgroupError> {
    let limit = limit.unwrap_or(0);
    let swap = swap.unwrap_or(0);
    if swap == 0 {
        // An unlimited memory limit with no swap setting leaves swap unlimited too, as
        // v1's memsw would be.
        return Ok((limit < 0).then(|| "max".to_string()));
    }
    if swap < 0 {
        return Ok(Some("max".to_string()));
    }
    if limit <= 0 {
        return Err(CgroupError::Invalid(
            "memory.swap needs memory.limit on cgroup v2 (swap is memory+swap)".into(),
        ));
    }
    if swap < limit {
        return Err(CgroupError::Invalid(format!(
            "memory.swap ({swap}) must not be below memory.limit ({limit})"
        )));
    }
    Ok(Some((swap - limit).to_string()))
}

/// The v2 cpu.max line from quota and period: "<quota|max> <period>". None when neither
/// is set. A period alone keeps the quota unlimited.
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    if quota.is_none() && period.is_none() {
        return None;
    }
    let quota = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    let period = period.filter(|p| *p > 0).unwrap_or(100_000);
    Some(format!("{quota} {period}"))
}

/// The v1 pids.max / v2 pids.max value: positive → the number, negative → "max",
/// zero → None (unset, as runc treats it).
pub fn pids_max(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".to_string()),
        l => Some(l.to_string()),
    }
}

/// The rdma.max line for one device.
pub fn rdma_line(device: &str, handles: Option<u32>, objects: Option<u32>) -> Option<String> {
    let mut line = device.to_string();
    if let Some(h) = handles {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = objects {
        line.push_str(&format!(" hca_object={o}"));
    }
    (handles.is_some() || objects.is_some()).then_some(line)
}

/// Checks a hugepage size like "2MB" or "1GB" (the part of hugetlb.<size>.* names).
pub fn check_hugepage_size(size: &str) -> Result<(), CgroupError> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(unit, "KB" | "MB" | "GB")
    {
        return Err(CgroupError::Invalid(format!(
            "hugepageLimits pageSize {size:?} is not like \"2MB\""
        )));
    }
    Ok(())
}

/// Checks a `unified` key names a plain control file ("controller.name", no slashes).
pub fn check_unified_key(key: &str) -> Result<(), CgroupError> {
    let ok = !key.contains('/')
        && !key.starts_with('.')
        && key
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
    if ok {
        Ok(())
    } else {
        Err(CgroupError::Invalid(format!(
            "unified key {key:?} is not a cgroup control file name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weight_range() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn blkio_weights_map_onto_io_weight_range() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_is_memory_plus_swap_on_v1_and_swap_alone_on_v2() {
        assert_eq!(
            swap_to_v2(Some(100), Some(300)).unwrap().as_deref(),
            Some("200")
        );
        assert_eq!(
            swap_to_v2(Some(100), Some(100)).unwrap().as_deref(),
            Some("0")
        );
        assert_eq!(
            swap_to_v2(Some(100), Some(-1)).unwrap().as_deref(),
            Some("max")
        );
        assert_eq!(swap_to_v2(Some(-1), None).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_to_v2(Some(100), None).unwrap(), None);
        assert_eq!(swap_to_v2(None, None).unwrap(), None);
        assert!(swap_to_v2(None, Some(100)).is_err());
        assert!(swap_to_v2(Some(200), Some(100)).is_err());
    }

    #[test]
    fn limits_and_cpu_max() {
        assert_eq!(v1_limit(-1), "-1");
        assert_eq!(v1_limit(4096), "4096");
        assert_eq!(v2_limit(-5), "max");
        assert_eq!(v2_limit(7), "7");
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max 100000"));
        assert_eq!(cpu_max(None, Some(20_000)).as_deref(), Some("max 20000"));
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(pids_max(0), None);
        assert_eq!(pids_max(-1).as_deref(), Some("max"));
        assert_eq!(pids_max(32).as_deref(), Some("32"));
    }

    #[test]
    fn rdma_and_names() {
        assert_eq!(
            rdma_line("mlx5_0", Some(3), Some(10)).as_deref(),
            Some("mlx5_0 hca_handle=3 hca_object=10")
        );
        assert_eq!(rdma_line("mlx5_0", None, None), None);
        assert!(check_hugepage_size("2MB").is_ok());
        assert!(check_hugepage_size("1GB").is_ok());
        assert!(check_hugepage_size("../x").is_err());
        assert!(check_hugepage_size("MB").is_err());
        assert!(check_unified_key("memory.high").is_ok());
        assert!(check_unified_key("../memory.high").is_err());
        assert!(check_unified_key("memory").is_err());
    }
}
