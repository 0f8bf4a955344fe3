//! `linux.resources` on cgroup v2, converting OCI's v1-shaped values (formulas in
//! [`convert`](super::convert)). Settings without a v2 counterpart are errors when
//! asked for (swappiness, realtime, leafWeight, net_cls/net_prio, disableOOMKiller),
//! except the deprecated kernel memory limits, which v2 folds into memory.max and are
//! ignored. Device rules become an eBPF program ([`bpf_devices`]).

use super::{bpf_devices, convert, devices, fsio, CgroupError};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::collections::HashMap;
use std::path::Path;

pub fn apply(dir: &Path, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(dir, m, update)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        if let Some(value) = convert::pids_max(p.limit()) {
            fsio::write(dir, "pids.max", &value)?;
        }
    }
    if let Some(b) = r.block_io() {
        block_io(dir, b)?;
    }
    for l in r.hugepage_limits().iter().flatten() {
        convert::check_hugepage_size(l.page_size())?;
        let file = format!("hugetlb.{}.max", l.page_size());
        fsio::write(dir, &file, &convert::v2_limit(l.limit()))?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            return Err(no_v2(
                "net_cls.classid",
                "cgroup v2 has no net_cls controller",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(no_v2(
                "net_prio.ifpriomap",
                "cgroup v2 has no net_prio controller",
            ));
        }
    }
    if let Some(rdma) = r.rdma() {
        let mut list: Vec<_> = rdma.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        for (device, limit) in list {
            if let Some(line) = convert::rdma_line(device, limit.hca_handles(), limit.hca_objects())
            {
                fsio::write(dir, "rdma.max", &line)?;
            }
        }
    }
    if let Some(rules) = r.devices().as_ref().filter(|r| !r.is_empty()) {
        devices::check(rules)?;
        bpf_devices::apply(dir, rules)?;
    }
    if let Some(unified) = r.unified() {
        apply_unified(dir, unified)?;
    }
    Ok(())
}

fn no_v2(file: &str, why: &str) -> CgroupError {
    CgroupError::Unavailable {
        file: file.to_string(),
        why: why.to_string(),
    }
}

/// Writes the `unified` map's values to the files its keys name, in key order.
pub fn apply_unified(dir: &Path, unified: &HashMap<String, String>) -> Result<(), CgroupError> {
    let mut entries: Vec<_> = unified.iter().collect();
    entries.sort();
    for (key, _) in &entries {
        convert::check_unified_key(key)?;
    }
    for (key, value) in entries {
        fsio::write(dir, key, value)?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory, update: bool) -> Result<(), CgroupError> {
    if let (true, Some(true), Some(limit)) = (update, m.check_before_update(), m.limit()) {
        let usage = fsio::read_u64(dir, "memory.current")?;
        if limit >= 0 && (limit as u64) < usage {
            return Err(CgroupError::Invalid(format!(
                "memory limit {limit} is below the current usage {usage} (checkBeforeUpdate)"
            )));
        }
    }
    if m.swappiness().is_some() {
        return Err(no_v2(
            "memory.swappiness",
            "cgroup v2 has no per-cgroup swappiness",
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(no_v2(
            "memory.oom_control",
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    if let Some(limit) = m.limit() {
        fsio::write(dir, "memory.max", &convert::v2_limit(limit))?;
    }
    if let Some(swap) = convert::swap_to_v2(m.limit(), m.swap())? {
        fsio::write(dir, "memory.swap.max", &swap)?;
    }
    if let Some(v) = m.reservation() {
        fsio::write(dir, "memory.low", &convert::v2_limit(v))?;
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares().filter(|s| *s > 0) {
        let weight = convert::shares_to_weight(shares);
        fsio::write(dir, "cpu.weight", &weight.to_string())?;
    }
    // A period alone keeps the quota that is there.
    let quota = match (c.quota(), c.period()) {
        (None, Some(_)) => {
            let current = fsio::read(dir, "cpu.max")?;
            match current.split_whitespace().next() {
                Some("max") | None => None,
                Some(q) => q.parse().ok(),
            }
        }
        // 0 means "not set", as runc reads it.
        (q, _) => q.filter(|q| *q != 0),
    };
    if let Some(line) = convert::cpu_max(quota, c.period()) {
        fsio::write(dir, "cpu.max", &line)?;
    }
    if let Some(burst) = c.burst() {
        fsio::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if c.realtime_runtime().is_some_and(|r| r != 0) || c.realtime_period().is_some_and(|p| p != 0) {
        return Err(no_v2(
            "cpu.rt_runtime_us",
            "cgroup v2 has no realtime group scheduling",
        ));
    }
    if let Some(idle) = c.idle() {
        fsio::write(dir, "cpu.idle", &idle.to_string())?;
    }
    for (file, value) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            fsio::write(dir, file, v)?;
        }
    }
    Ok(())
}

fn block_io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // io.bfq.weight takes v1's [10, 1000] values as they are; io.weight needs converting.
    let bfq = dir.join("io.bfq.weight").exists();
    let (file, weight): (&str, fn(u16) -> u64) = if bfq {
        ("io.bfq.weight", u64::from)
    } else {
        ("io.weight", convert::blkio_weight_to_io_weight)
    };
    if let Some(w) = b.weight().filter(|w| *w > 0) {
        fsio::write(dir, file, &weight(w).to_string())?;
    }
    // 0 means "not set" for every weight, as runc reads it.
    if b.leaf_weight().is_some_and(|w| w > 0) {
        return Err(no_v2("blkio.leaf_weight", "cgroup v2 has no leaf weights"));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w > 0) {
            fsio::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), weight(w)),
            )?;
        }
        if d.leaf_weight().is_some_and(|w| w > 0) {
            return Err(no_v2(
                "blkio.leaf_weight_device",
                "cgroup v2 has no leaf weights",
            ));
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for d in list.iter().flatten() {
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            fsio::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", d.major(), d.minor()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain directory standing in for a v2 cgroup: the control files exist (empty)
    /// and keep what is written, so the values berth computes can be read back.
    struct FakeCgroup(std::path::PathBuf);

    impl FakeCgroup {
        fn new(files: &[&str]) -> Self {
            let dir = std::env::temp_dir().join(super::super::test_support::unique_name());
            std::fs::create_dir(&dir).unwrap();
            for f in files {
                std::fs::write(dir.join(f), "").unwrap();
            }
            std::fs::write(dir.join("cpu.max"), "max 100000").unwrap();
            FakeCgroup(dir)
        }
        fn read(&self, file: &str) -> String {
            std::fs::read_to_string(self.0.join(file)).unwrap()
        }
    }

    impl Drop for FakeCgroup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const FILES: &[&str] = &[
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.weight",
        "cpu.max.burst",
        "cpu.idle",
        "cpuset.cpus",
        "cpuset.mems",
        "pids.max",
        "io.weight",
        "io.max",
        "hugetlb.2MB.max",
        "rdma.max",
        "memory.high",
    ];

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn converts_v1_shaped_values() {
        let cg = FakeCgroup::new(FILES);
        let r = resources(
            r#"{
            "memory": {"limit": 1000, "swap": 3000, "reservation": 500, "kernel": 1},
            "cpu": {"shares": 1024, "quota": 20000, "period": 50000, "burst": 10, "idle": 1, "cpus": "0-1"},
            "pids": {"limit": 9},
            "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": -1}],
            "rdma": {"mlx5_0": {"hcaHandles": 2}},
            "unified": {"memory.high": "900"}
        }"#,
        );
        apply(&cg.0, &r, false).unwrap();
        assert_eq!(cg.read("memory.max"), "1000");
        assert_eq!(cg.read("memory.swap.max"), "2000");
        assert_eq!(cg.read("memory.low"), "500");
        assert_eq!(cg.read("cpu.weight"), "39");
        assert_eq!(cg.read("cpu.max"), "20000 50000");
        assert_eq!(cg.read("cpu.max.burst"), "10");
        assert_eq!(cg.read("cpu.idle"), "1");
        assert_eq!(cg.read("cpuset.cpus"), "0-1");
        assert_eq!(cg.read("pids.max"), "9");
        assert_eq!(cg.read("io.weight"), "4950");
        assert_eq!(cg.read("io.max"), "8:0 rbps=100");
        assert_eq!(cg.read("hugetlb.2MB.max"), "max");
        assert_eq!(cg.read("rdma.max"), "mlx5_0 hca_handle=2");
        assert_eq!(cg.read("memory.high"), "900");
    }

    #[test]
    fn period_alone_keeps_the_quota() {
        let cg = FakeCgroup::new(FILES);
        // Same length as what is written: the stand-in files are not truncated.
        std::fs::write(cg.0.join("cpu.max"), "30000 100000").unwrap();
        apply(&cg.0, &resources(r#"{"cpu": {"period": 600000}}"#), true).unwrap();
        assert_eq!(cg.read("cpu.max"), "30000 600000");
    }

    #[test]
    fn zero_blkio_weights_mean_unset() {
        // dockerd's spec for a container without --blkio-weight: nothing to write, and no
        // "no leaf weights on v2" error either.
        let cg = FakeCgroup::new(FILES);
        let r = resources(
            r#"{"blockIO": {"weight": 0, "leafWeight": 0,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}]}}"#,
        );
        apply(&cg.0, &r, false).unwrap();
        assert_eq!(cg.read("io.weight"), "");
    }

    #[test]
    fn refuses_what_v2_lacks() {
        let cg = FakeCgroup::new(FILES);
        for (json, file) in [
            (r#"{"memory": {"swappiness": 5}}"#, "memory.swappiness"),
            (r#"{"cpu": {"realtimeRuntime": 5}}"#, "cpu.rt_runtime_us"),
            (r#"{"network": {"classID": 1}}"#, "net_cls.classid"),
            (r#"{"blockIO": {"leafWeight": 10}}"#, "blkio.leaf_weight"),
            (
                r#"{"unified": {"memory.nonexistent": "1"}}"#,
                "memory.nonexistent",
            ),
        ] {
            let err = apply(&cg.0, &resources(json), false).unwrap_err();
            assert!(err.to_string().contains(file), "{json}: {err}");
        }
        // Swap without a memory limit cannot be expressed on v2.
        assert!(apply(&cg.0, &resources(r#"{"memory": {"swap": 10}}"#), false).is_err());
    }
}
