//! `linux.resources` on cgroup v1: each setting written to its controller's hierarchy.
//! A controller or file the host lacks is an error only when the config asks for it.

use super::{convert, devices, fsio, CgroupError, CgroupManager};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxHugepageLimit, LinuxMemory, LinuxNetwork,
    LinuxRdma, LinuxResources,
};
use std::collections::HashMap;
use std::path::Path;

/// What v1 reads as "no limit" (PAGE_COUNTER_MAX pages), and anything above it.
const V1_UNLIMITED: u64 = 1 << 62;

pub fn apply(mgr: &CgroupManager, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(mgr, m, update)?;
    }
    if let Some(c) = r.cpu() {
        cpu(mgr, c)?;
    }
    if let Some(p) = r.pids() {
        if let Some(value) = convert::pids_max(p.limit()) {
            fsio::write(need(mgr, "pids", "pids.max")?, "pids.max", &value)?;
        }
    }
    if let Some(b) = r.block_io() {
        block_io(mgr, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        hugetlb(mgr, h)?;
    }
    if let Some(n) = r.network() {
        network(mgr, n)?;
    }
    if let Some(rdma) = r.rdma() {
        rdma_limits(mgr, rdma)?;
    }
    if let Some(d) = r.devices() {
        device_rules(mgr, d)?;
    }
    Ok(())
}

/// The directory of `controller`, or an error naming `file` when it is not mounted.
fn need<'a>(mgr: &'a CgroupManager, controller: &str, file: &str) -> Result<&'a Path, CgroupError> {
    mgr.controller_dir(controller)
        .ok_or_else(|| CgroupError::Unavailable {
            file: file.to_string(),
            why: format!("the host mounts no {controller} cgroup hierarchy"),
        })
}

fn memory(mgr: &CgroupManager, m: &LinuxMemory, update: bool) -> Result<(), CgroupError> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    if *m == LinuxMemory::default() {
        return Ok(());
    }
    let dir = need(mgr, "memory", LIMIT)?;
    if let (true, Some(true), Some(limit)) = (update, m.check_before_update(), m.limit()) {
        let usage = fsio::read_u64(dir, "memory.usage_in_bytes")?;
        if limit >= 0 && (limit as u64) < usage {
            return Err(CgroupError::Invalid(format!(
                "memory limit {limit} is below the current usage {usage} (checkBeforeUpdate)"
            )));
        }
    }
    // memsw (memory+swap) must never be below the memory limit, so the order of the
    // two writes depends on which way the values move.
    match (m.limit(), m.swap()) {
        (Some(limit), Some(swap)) => {
            let current_memsw =
                fsio::read_u64(dir, MEMSW).map_err(|_| CgroupError::Unavailable {
                    file: MEMSW.into(),
                    why: "the kernel has no swap accounting".into(),
                })?;
            let raising = swap < 0 || (current_memsw < V1_UNLIMITED && swap as u64 > current_memsw);
            if raising {
                fsio::write(dir, MEMSW, &convert::v1_limit(swap))?;
                fsio::write(dir, LIMIT, &convert::v1_limit(limit))?;
            } else {
                fsio::write(dir, LIMIT, &convert::v1_limit(limit))?;
                fsio::write(dir, MEMSW, &convert::v1_limit(swap))?;
            }
        }
        (Some(limit), None) => {
            // An unlimited memory limit lifts memsw first (as docker expects), else the
            // kernel refuses a limit above memsw.
            if limit < 0 && dir.join(MEMSW).exists() {
                fsio::write(dir, MEMSW, "-1")?;
            }
            fsio::write(dir, LIMIT, &convert::v1_limit(limit))?;
        }
        (None, Some(swap)) => fsio::write(dir, MEMSW, &convert::v1_limit(swap))?,
        (None, None) => {}
    }
    if let Some(v) = m.reservation() {
        fsio::write(dir, "memory.soft_limit_in_bytes", &convert::v1_limit(v))?;
    }
    if let Some(v) = m.kernel() {
        fsio::write(dir, "memory.kmem.limit_in_bytes", &convert::v1_limit(v))?;
    }
    if let Some(v) = m.kernel_tcp() {
        fsio::write(dir, "memory.kmem.tcp.limit_in_bytes", &convert::v1_limit(v))?;
    }
    if let Some(v) = m.swappiness() {
        if v > 100 {
            return Err(CgroupError::Invalid(format!(
                "memory.swappiness {v} is above 100"
            )));
        }
        fsio::write(dir, "memory.swappiness", &v.to_string())?;
    }
    if let Some(v) = m.disable_oom_killer() {
        fsio::write(dir, "memory.oom_control", if v { "1" } else { "0" })?;
    }
    if let Some(v) = m.use_hierarchy() {
        // Current kernels always use the hierarchy and refuse 0; write only a change.
        let want = if v { "1" } else { "0" };
        if fsio::read(dir, "memory.use_hierarchy")?.trim() != want {
            fsio::write(dir, "memory.use_hierarchy", want)?;
        }
    }
    Ok(())
}

fn cpu(mgr: &CgroupManager, c: &LinuxCpu) -> Result<(), CgroupError> {
    let wants_cpu = c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some()
        || c.idle().is_some();
    if wants_cpu {
        let dir = need(mgr, "cpu", "cpu.shares")?;
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            fsio::write(dir, "cpu.shares", &shares.to_string())?;
        }
        // 0 means "not set", as runc reads it (dockerd sends quota 0 for no CPU limit).
        let quota = c.quota().filter(|q| *q != 0).map(convert::v1_limit);
        if let Some(period) = c.period().filter(|p| *p > 0) {
            // A period shorter than the current quota allows can be refused until the
            // quota changes: retry after writing the quota.
            if fsio::write(dir, "cpu.cfs_period_us", &period.to_string()).is_err() {
                if let Some(q) = &quota {
                    fsio::write(dir, "cpu.cfs_quota_us", q)?;
                }
                fsio::write(dir, "cpu.cfs_period_us", &period.to_string())?;
            }
        }
        if let Some(q) = &quota {
            fsio::write(dir, "cpu.cfs_quota_us", q)?;
        }
        if let Some(burst) = c.burst() {
            fsio::write(dir, "cpu.cfs_burst_us", &burst.to_string())?;
        }
        if let Some(p) = c.realtime_period().filter(|p| *p > 0) {
            fsio::write(dir, "cpu.rt_period_us", &p.to_string())?;
        }
        if let Some(r) = c.realtime_runtime() {
            fsio::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
        }
        if let Some(idle) = c.idle() {
            fsio::write(dir, "cpu.idle", &idle.to_string())?;
        }
    }
    for (file, value) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            fsio::write(need(mgr, "cpuset", file)?, file, v)?;
        }
    }
    Ok(())
}

/// blkio.weight, or blkio.bfq.weight where the BFQ scheduler replaced CFQ.
fn weight_file(dir: &Path, plain: &'static str, bfq: &'static str) -> &'static str {
    if !dir.join(plain).exists() && dir.join(bfq).exists() {
        bfq
    } else {
        plain
    }
}

fn block_io(mgr: &CgroupManager, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if *b == LinuxBlockIo::default() {
        return Ok(());
    }
    let dir = need(mgr, "blkio", "blkio.weight")?;
    // A weight of 0 means "not set", as runc reads it: dockerd always sends
    // `"blockIO": {"weight": 0}` when no weight was asked for.
    if let Some(w) = b.weight().filter(|w| *w > 0) {
        let file = weight_file(dir, "blkio.weight", "blkio.bfq.weight");
        fsio::write(dir, file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w > 0) {
        fsio::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w > 0) {
            let file = weight_file(dir, "blkio.weight_device", "blkio.bfq.weight_device");
            fsio::write(dir, file, &format!("{}:{} {w}", d.major(), d.minor()))?;
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w > 0) {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            fsio::write(dir, "blkio.leaf_weight_device", &line)?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.iter().flatten() {
            fsio::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

fn hugetlb(mgr: &CgroupManager, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    for l in limits {
        convert::check_hugepage_size(l.page_size())?;
        let file = format!("hugetlb.{}.limit_in_bytes", l.page_size());
        fsio::write(
            need(mgr, "hugetlb", &file)?,
            &file,
            &convert::v1_limit(l.limit()),
        )?;
    }
    Ok(())
}

fn network(mgr: &CgroupManager, n: &LinuxNetwork) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id() {
        let file = "net_cls.classid";
        fsio::write(need(mgr, "net_cls", file)?, file, &id.to_string())?;
    }
    for p in n.priorities().iter().flatten() {
        let file = "net_prio.ifpriomap";
        let line = format!("{} {}", p.name(), p.priority());
        fsio::write(need(mgr, "net_prio", file)?, file, &line)?;
    }
    Ok(())
}

fn rdma_limits(mgr: &CgroupManager, rdma: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limit) in devices {
        if let Some(line) = convert::rdma_line(device, limit.hca_handles(), limit.hca_objects()) {
            fsio::write(need(mgr, "rdma", "rdma.max")?, "rdma.max", &line)?;
        }
    }
    Ok(())
}

fn device_rules(mgr: &CgroupManager, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    devices::check(rules)?;
    if rules.is_empty() {
        return Ok(());
    }
    let dir = need(mgr, "devices", "devices.allow")?;
    let current = fsio::read(dir, "devices.list")?;
    let writes = devices::v1_transition(&current, rules);
    // Runs of rules for the same file go through one open of it, a write per rule.
    for run in writes.chunk_by(|a, b| a.0 == b.0) {
        let lines: Vec<&str> = run.iter().map(|(_, line)| line.as_str()).collect();
        fsio::write_each(dir, run[0].0, &lines)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{null_but_not_zero, Member, TestCgroup};
    use super::*;
    use oci_spec::runtime::LinuxResources;

    fn read(mgr: &CgroupManager, ctrl: &str, file: &str) -> String {
        fsio::read(mgr.controller_dir(ctrl).unwrap(), file)
            .unwrap()
            .trim()
            .to_string()
    }

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn zero_quota_and_period_mean_unset() {
        let cg = TestCgroup::new();
        let r = resources(r#"{"cpu": {"quota": 0, "period": 0, "shares": 0}}"#);
        cg.mgr.create(Some(&r)).unwrap();
        assert_eq!(read(&cg.mgr, "cpu", "cpu.cfs_quota_us"), "-1");
    }

    /// A block I/O weight lands in blkio.weight, or blkio.bfq.weight under BFQ; a host whose
    /// I/O scheduler offers neither refuses it naming the file, as runc does.
    #[test]
    fn block_io_weight_goes_to_the_file_the_scheduler_offers() {
        let cg = TestCgroup::new();
        let r = resources(r#"{"blockIO": {"weight": 300}}"#);
        let blkio_root = Path::new("/sys/fs/cgroup/blkio");
        let offered = blkio_root.join("blkio.weight").exists()
            || blkio_root.join("blkio.bfq.weight").exists();
        match cg.mgr.create(Some(&r)) {
            Ok(()) => {
                assert!(offered, "weight accepted on a host without a weight file");
                let blkio = cg.mgr.controller_dir("blkio").unwrap();
                let file = weight_file(blkio, "blkio.weight", "blkio.bfq.weight");
                assert!(fsio::read(blkio, file).unwrap().contains("300"));
            }
            Err(e) => {
                assert!(!offered, "weight refused on a host that offers it: {e}");
                assert!(e.to_string().contains("blkio.weight"), "{e}");
            }
        }
    }

    #[test]
    fn create_applies_and_update_changes_limits() {
        let cg = TestCgroup::new();
        let r = resources(
            r#"{
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432,
                       "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true,
                       "kernelTCP": 16777216},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 42},
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"}
            ]
        }"#,
        );
        cg.mgr.create(Some(&r)).unwrap();
        let m = &cg.mgr;
        assert_eq!(read(m, "memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(
            read(m, "memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(read(m, "memory", "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(read(m, "memory", "memory.swappiness"), "10");
        assert_eq!(
            read(m, "memory", "memory.kmem.tcp.limit_in_bytes"),
            "16777216"
        );
        assert!(read(m, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
        assert_eq!(read(m, "cpu", "cpu.shares"), "512");
        assert_eq!(read(m, "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(m, "cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read(m, "cpu", "cpu.cfs_burst_us"), "1000");
        assert_eq!(read(m, "cpuset", "cpuset.cpus"), "0");
        assert_eq!(read(m, "pids", "pids.max"), "42");
        assert_eq!(read(m, "devices", "devices.list"), "c 1:3 rwm\nc 136:* rw");

        // Shrinking memory+swap below the old memsw writes the limit first; growing
        // writes memsw first. Both must succeed.
        let smaller = resources(r#"{"memory": {"limit": 16777216, "swap": 33554432}}"#);
        m.update(&smaller).unwrap();
        assert_eq!(read(m, "memory", "memory.limit_in_bytes"), "16777216");
        assert_eq!(read(m, "memory", "memory.memsw.limit_in_bytes"), "33554432");
        let bigger = resources(r#"{"memory": {"limit": 268435456, "swap": 536870912}}"#);
        m.update(&bigger).unwrap();
        assert_eq!(read(m, "memory", "memory.limit_in_bytes"), "268435456");
        assert_eq!(
            read(m, "memory", "memory.memsw.limit_in_bytes"),
            "536870912"
        );
        let unlimited = resources(r#"{"memory": {"limit": -1}, "pids": {"limit": -1}}"#);
        m.update(&unlimited).unwrap();
        let limit: u64 = read(m, "memory", "memory.limit_in_bytes").parse().unwrap();
        assert!(limit > V1_UNLIMITED);
        assert_eq!(read(m, "pids", "pids.max"), "max");
        // A live change between deny-all lists writes only the differences.
        let other = resources(
            r#"{"devices": [{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}]}"#,
        );
        m.update(&other).unwrap();
        assert_eq!(read(m, "devices", "devices.list"), "c 1:3 rwm\nc 1:5 r");
        // Device rules again, now allowing all.
        let all = resources(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#);
        m.update(&all).unwrap();
        assert_eq!(read(m, "devices", "devices.list"), "a *:* rwm");
    }

    #[test]
    fn zero_blkio_weights_mean_unset() {
        // dockerd's spec for a container without --blkio-weight.
        let cg = TestCgroup::new();
        let r = resources(
            r#"{"blockIO": {"weight": 0, "leafWeight": 0,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}]}}"#,
        );
        cg.mgr.create(Some(&r)).unwrap();
        cg.mgr.update(&r).unwrap();
    }

    #[test]
    fn missing_files_are_errors_only_when_asked_and_named() {
        let cg = TestCgroup::new();
        cg.mgr
            .create(Some(&resources(r#"{"network": {}}"#)))
            .unwrap();
        let cases = [
            (
                r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1048576}]}"#,
                "hugetlb.2MB.limit_in_bytes",
            ),
            (r#"{"network": {"classID": 1048577}}"#, "net_cls.classid"),
            (
                r#"{"network": {"priorities": [{"name": "lo", "priority": 1}]}}"#,
                "net_prio.ifpriomap",
            ),
            (r#"{"blockIO": {"leafWeight": 300}}"#, "blkio.leaf_weight"),
            (r#"{"rdma": {"mlx5_0": {"hcaHandles": 3}}}"#, "rdma.max"),
        ];
        for (json, file) in cases {
            let err = cg.mgr.update(&resources(json)).unwrap_err();
            assert!(
                matches!(err, CgroupError::Unavailable { .. }),
                "{json}: {err}"
            );
            assert!(err.to_string().contains(file), "{json}: {err}");
        }
        let bad = resources(r#"{"memory": {"swappiness": 101}}"#);
        assert!(cg.mgr.update(&bad).is_err());
    }

    #[test]
    fn unified_goes_to_the_cgroup2_directory_on_hybrid() {
        let cg = TestCgroup::new();
        let r = resources(r#"{"unified": {"cgroup.max.descendants": "5"}}"#);
        cg.mgr.create(Some(&r)).unwrap();
        let dir = cg.mgr.unified_dir().unwrap();
        assert_eq!(
            fsio::read(dir, "cgroup.max.descendants").unwrap().trim(),
            "5"
        );
        let bad = resources(r#"{"unified": {"../cgroup.procs": "1"}}"#);
        assert!(cg.mgr.update(&bad).is_err());
    }

    /// Tries to fork: 0 when the kernel refuses with EAGAIN (pids.max reached).
    fn fork_refused() -> i32 {
        // SAFETY: plain fork; the grandchild, if any, leaves at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leaving the grandchild at once.
            unsafe { libc::_exit(0) }
        }
        let errno = std::io::Error::last_os_error().raw_os_error();
        i32::from(!(pid == -1 && errno == Some(libc::EAGAIN)))
    }

    #[test]
    fn pids_limit_stops_fork_inside() {
        let cg = TestCgroup::new();
        cg.mgr
            .create(Some(&resources(r#"{"pids": {"limit": 1}}"#)))
            .unwrap();
        assert_eq!(Member::run(&cg.mgr, fork_refused).exit_code(), 0);
        cg.mgr
            .update(&resources(r#"{"pids": {"limit": 10}}"#))
            .unwrap();
        assert_eq!(Member::run(&cg.mgr, fork_refused).exit_code(), 1);
    }

    #[test]
    fn device_rules_hold_inside() {
        let cg = TestCgroup::new();
        let rules = r#"{"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}
        ]}"#;
        cg.mgr.create(Some(&resources(rules))).unwrap();
        assert_eq!(Member::run(&cg.mgr, null_but_not_zero).exit_code(), 0);
        let all = r#"{"devices": [{"allow": true, "access": "rwm"}]}"#;
        cg.mgr.update(&resources(all)).unwrap();
        assert_eq!(Member::run(&cg.mgr, null_but_not_zero).exit_code(), 1);
    }

    /// Touches 8 MiB (with mmap, no allocator), then sleeps.
    fn hold_8mib() -> i32 {
        const LEN: usize = 8 << 20;
        // SAFETY: an anonymous private mapping; only its own pages are written.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return 3;
            }
            for off in (0..LEN).step_by(4096) {
                p.cast::<u8>().add(off).write_volatile(1);
            }
        }
        loop {
            nix::unistd::pause();
        }
    }

    #[test]
    fn check_before_update_refuses_a_limit_below_usage() {
        let cg = TestCgroup::new();
        cg.mgr.create(None).unwrap();
        let _member = Member::run(&cg.mgr, hold_8mib);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while cg.mgr.stats().unwrap().memory.usage.usage < 8 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "child never used 8 MiB"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let low = r#"{"memory": {"limit": 1048576, "checkBeforeUpdate": true}}"#;
        let err = cg.mgr.update(&resources(low)).unwrap_err();
        assert!(err.to_string().contains("checkBeforeUpdate"), "{err}");
        assert!(
            read(&cg.mgr, "memory", "memory.limit_in_bytes")
                .parse::<u64>()
                .unwrap()
                > 1 << 30
        );
        let high = r#"{"memory": {"limit": 1073741824, "checkBeforeUpdate": true}}"#;
        cg.mgr.update(&resources(high)).unwrap();
    }
}
