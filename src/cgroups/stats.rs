//! Resource usage numbers of a container's cgroup, shaped like the `data` of runc's
//! `events --stats` (field names and units as runc prints them: CPU times in
//! nanoseconds, memory in bytes), read from v1 controllers or the v2 directory.

use super::{fsio, CgroupError, CgroupManager, Layout};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(default, rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(default, rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Bytes; a limit of "max" is u64::MAX.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    #[serde(
        default,
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(
        default,
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HugetlbStats {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Reads the stats of `mgr`'s cgroup. Controllers the host lacks leave their section
/// zero.
pub fn collect(mgr: &CgroupManager) -> Result<Stats, CgroupError> {
    let mut stats = Stats::default();
    if mgr.layout == Layout::V2 {
        if let Some(dir) = mgr.unified_dir() {
            v2(dir, &mut stats)?;
        }
        return Ok(stats);
    }
    if let Some(dir) = mgr.controller_dir("cpuacct") {
        v1_cpuacct(dir, &mut stats.cpu.usage)?;
    }
    if let Some(dir) = mgr.controller_dir("cpu") {
        if let Some(text) = fsio::read_optional(dir, "cpu.stat")? {
            stats.cpu.throttling = Throttling {
                periods: fsio::keyed(&text, "nr_periods").unwrap_or(0),
                throttled_periods: fsio::keyed(&text, "nr_throttled").unwrap_or(0),
                throttled_time: fsio::keyed(&text, "throttled_time").unwrap_or(0),
            };
        }
    }
    if let Some(dir) = mgr.controller_dir("memory") {
        v1_memory(dir, &mut stats.memory)?;
    }
    if let Some(dir) = mgr.controller_dir("pids") {
        stats.pids = pids(dir)?;
    }
    if let Some(dir) = mgr.controller_dir("blkio") {
        v1_blkio(dir, &mut stats.blkio)?;
    }
    if let Some(dir) = mgr.controller_dir("hugetlb") {
        stats.hugetlb = hugetlb(dir, false)?;
    } else if let Some(dir) = mgr.unified_dir() {
        stats.hugetlb = hugetlb(dir, true)?;
    }
    Ok(stats)
}

fn optional_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    Ok(fsio::read_optional(dir, file)?
        .and_then(|t| fsio::parse_u64(t.trim()))
        .unwrap_or(0))
}

/// A space-separated list of numbers (cpuacct.usage_percpu).
pub fn parse_list(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn v1_cpuacct(dir: &Path, usage: &mut CpuUsage) -> Result<(), CgroupError> {
    usage.total = optional_u64(dir, "cpuacct.usage")?;
    usage.kernel = optional_u64(dir, "cpuacct.usage_sys")?;
    usage.user = optional_u64(dir, "cpuacct.usage_user")?;
    for (file, list) in [
        ("cpuacct.usage_percpu", &mut usage.percpu),
        ("cpuacct.usage_percpu_sys", &mut usage.percpu_kernel),
        ("cpuacct.usage_percpu_user", &mut usage.percpu_user),
    ] {
        *list = parse_list(&fsio::read_optional(dir, file)?.unwrap_or_default());
    }
    Ok(())
}

fn v1_entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    Ok(MemoryEntry {
        limit: optional_u64(dir, &format!("{prefix}limit_in_bytes"))?,
        usage: optional_u64(dir, &format!("{prefix}usage_in_bytes"))?,
        max: optional_u64(dir, &format!("{prefix}max_usage_in_bytes"))?,
        failcnt: optional_u64(dir, &format!("{prefix}failcnt"))?,
    })
}

/// Every "key value" line of a flat keyed file.
pub fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), fsio::parse_u64(v.trim())?))
        })
        .collect()
}

fn v1_memory(dir: &Path, m: &mut MemoryStats) -> Result<(), CgroupError> {
    m.usage = v1_entry(dir, "memory.")?;
    m.swap = v1_entry(dir, "memory.memsw.")?;
    m.kernel = v1_entry(dir, "memory.kmem.")?;
    m.kernel_tcp = v1_entry(dir, "memory.kmem.tcp.")?;
    m.raw = parse_keyed(&fsio::read_optional(dir, "memory.stat")?.unwrap_or_default());
    m.cache = m
        .raw
        .get("total_cache")
        .or_else(|| m.raw.get("cache"))
        .copied()
        .unwrap_or(0);
    Ok(())
}

fn pids(dir: &Path) -> Result<PidsStats, CgroupError> {
    let limit = optional_u64(dir, "pids.max")?;
    Ok(PidsStats {
        current: optional_u64(dir, "pids.current")?,
        limit: if limit == u64::MAX { 0 } else { limit },
    })
}

/// v1 blkio lines: "8:0 Read 4096" (a "Total N" line is skipped).
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let op = f.next()?;
            let value = f.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

fn v1_blkio(dir: &Path, b: &mut BlkioStats) -> Result<(), CgroupError> {
    // The scheduler's own counters when it has them, else the throttle layer's.
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let bytes = fsio::read_optional(dir, &format!("{prefix}io_service_bytes_recursive"))?;
        let Some(bytes) = bytes else { continue };
        let bytes = parse_blkio_v1(&bytes);
        if bytes.is_empty() && prefix != "blkio.throttle." {
            continue;
        }
        b.io_service_bytes_recursive = bytes;
        let ios = fsio::read_optional(dir, &format!("{prefix}io_serviced_recursive"))?;
        b.io_serviced_recursive = parse_blkio_v1(&ios.unwrap_or_default());
        break;
    }
    Ok(())
}

/// v2 io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", as runc's
/// Read/Write entries of bytes and of operations.
pub fn parse_io_stat(text: &str) -> BlkioStats {
    let mut b = BlkioStats::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    b
}

/// hugetlb.<size>.* of every page size the directory has (v1 names, or v2's when
/// `v2`).
fn hugetlb(dir: &Path, v2: bool) -> Result<BTreeMap<String, HugetlbStats>, CgroupError> {
    let usage_suffix = if v2 { ".current" } else { ".usage_in_bytes" };
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|source| CgroupError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(usage_suffix))
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let stats = if v2 {
            // v2 counts hitting the limit in hugetlb.<size>.events "max".
            let events = fsio::read_optional(dir, &format!("hugetlb.{size}.events"))?;
            HugetlbStats {
                usage: optional_u64(dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: events.and_then(|t| fsio::keyed(&t, "max")).unwrap_or(0),
            }
        } else {
            HugetlbStats {
                usage: optional_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: optional_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: optional_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        out.insert(size.to_string(), stats);
    }
    Ok(out)
}

fn v2(dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    if let Some(text) = fsio::read_optional(dir, "cpu.stat")? {
        let usec = |k: &str| fsio::keyed(&text, k).unwrap_or(0).saturating_mul(1000);
        s.cpu.usage.total = usec("usage_usec");
        s.cpu.usage.user = usec("user_usec");
        s.cpu.usage.kernel = usec("system_usec");
        s.cpu.throttling = Throttling {
            periods: fsio::keyed(&text, "nr_periods").unwrap_or(0),
            throttled_periods: fsio::keyed(&text, "nr_throttled").unwrap_or(0),
            throttled_time: usec("throttled_usec"),
        };
    }
    let events = fsio::read_optional(dir, "memory.events")?.unwrap_or_default();
    s.memory.usage = MemoryEntry {
        limit: optional_u64(dir, "memory.max")?,
        usage: optional_u64(dir, "memory.current")?,
        max: optional_u64(dir, "memory.peak")?,
        failcnt: fsio::keyed(&events, "max").unwrap_or(0),
    };
    s.memory.swap = MemoryEntry {
        limit: optional_u64(dir, "memory.swap.max")?,
        usage: optional_u64(dir, "memory.swap.current")?,
        max: optional_u64(dir, "memory.swap.peak")?,
        failcnt: 0,
    };
    s.memory.raw = parse_keyed(&fsio::read_optional(dir, "memory.stat")?.unwrap_or_default());
    s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
    s.pids = pids(dir)?;
    s.blkio = parse_io_stat(&fsio::read_optional(dir, "io.stat")?.unwrap_or_default());
    s.hugetlb = hugetlb(dir, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Member, TestCgroup};
    use super::*;

    #[test]
    fn parses_kernel_formats() {
        let v1 = "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\nTotal 4609\n";
        let e = parse_blkio_v1(v1);
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 4096)
        );
        let b = parse_io_stat("8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.io_service_bytes_recursive.len(), 2);
        assert_eq!(b.io_service_bytes_recursive[1].op, "Write");
        assert_eq!(b.io_service_bytes_recursive[1].value, 20);
        assert_eq!(b.io_serviced_recursive[0].value, 1);
        assert_eq!(parse_list("1 2 3 \n"), vec![1, 2, 3]);
        let raw = parse_keyed("cache 5\nrss 7\nbad\n");
        assert_eq!(raw.get("rss"), Some(&7));
        assert_eq!(raw.len(), 2);
    }

    #[test]
    fn json_has_runc_shape() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.throttling.throttled_periods = 2;
        s.memory.usage.limit = 100;
        s.memory.kernel_tcp.failcnt = 1;
        s.pids.current = 3;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpu"]["usage"]["total"], 5);
        assert_eq!(v["cpu"]["usage"]["kernel"], 0);
        assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(v["memory"]["usage"]["limit"], 100);
        assert_eq!(v["memory"]["kernelTCP"]["failcnt"], 1);
        assert_eq!(v["pids"]["current"], 3);
        assert!(v["pids"].get("limit").is_none());
    }

    #[test]
    fn reads_live_numbers() {
        let cg = TestCgroup::new();
        let r: oci_spec::runtime::LinuxResources =
            serde_json::from_str(r#"{"memory": {"limit": 67108864}, "pids": {"limit": 7}}"#)
                .unwrap();
        cg.mgr.create(Some(&r)).unwrap();
        let _member = Member::spawn(&cg.mgr);
        let s = cg.mgr.stats().unwrap();
        assert_eq!(s.pids.current, 1);
        assert_eq!(s.pids.limit, 7);
        assert_eq!(s.memory.usage.limit, 67108864);
        assert!(!s.memory.raw.is_empty());
        assert!(!s.cpu.usage.percpu.is_empty());
    }
}
