//! Stats: berth's cgroup numbers (`berth::cgroups::stats`, the same reader behind
//! `berth events --stats`) in containerd's metric types — `io.containerd.cgroups.v1.Metrics`
//! on a v1 or hybrid host, `io.containerd.cgroups.v2.Metrics` on a pure v2 host — packed in
//! an Any as `ctr task metrics`, CRI and docker stats expect.

use crate::shim_api::metrics::{v1, v2};
use crate::shim_api::pb::{Any, Message, MessageField};
use berth::cgroups::Stats;
use berth::cgroups::{CgroupManager, Layout};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cgroup of {id}: {reason}")]
    Cgroup { id: String, reason: String },
    #[error("encode metrics: {0}")]
    Encode(String),
}

/// Reads the container's cgroup (`cgroups_path` from its config.json) and packs the metrics.
pub fn collect(cgroups_path: Option<&str>, id: &str) -> Result<Any, MetricsError> {
    let err = |e: &dyn std::fmt::Display| MetricsError::Cgroup {
        id: id.to_string(),
        reason: e.to_string(),
    };
    let mgr = CgroupManager::new(cgroups_path, id).map_err(|e| err(&e))?;
    let stats = mgr.stats().map_err(|e| err(&e))?;
    if mgr.layout == Layout::V2 {
        pack("io.containerd.cgroups.v2.Metrics", &to_v2(&stats))
    } else {
        pack("io.containerd.cgroups.v1.Metrics", &to_v1(&stats))
    }
}

fn pack<M: Message>(type_url: &str, msg: &M) -> Result<Any, MetricsError> {
    let value = msg
        .write_to_bytes()
        .map_err(|e| MetricsError::Encode(e.to_string()))?;
    Ok(Any {
        type_url: type_url.to_string(),
        value,
        ..Default::default()
    })
}

fn raw(stats: &Stats, key: &str) -> u64 {
    stats.memory.raw.get(key).copied().unwrap_or(0)
}

/// cgroup v1 metrics.
pub fn to_v1(s: &Stats) -> v1::Metrics {
    let entry = |e: &berth::cgroups::MemoryEntry| v1::MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    };
    let blkio = |entries: &[berth::cgroups::BlkioEntry]| {
        entries
            .iter()
            .map(|e| v1::BlkIOEntry {
                op: e.op.clone(),
                major: e.major,
                minor: e.minor,
                value: e.value,
                ..Default::default()
            })
            .collect::<Vec<_>>()
    };
    v1::Metrics {
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v1::HugetlbStat {
                usage: h.usage,
                max: h.max,
                failcnt: h.failcnt,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        pids: MessageField::some(v1::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v1::CPUStat {
            usage: MessageField::some(v1::CPUUsage {
                total: s.cpu.usage.total,
                kernel: s.cpu.usage.kernel,
                user: s.cpu.usage.user,
                per_cpu: s.cpu.usage.percpu.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(v1::Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(v1::MemoryStat {
            cache: s.memory.cache,
            rss: raw(s, "rss"),
            rss_huge: raw(s, "rss_huge"),
            mapped_file: raw(s, "mapped_file"),
            dirty: raw(s, "dirty"),
            writeback: raw(s, "writeback"),
            pg_pg_in: raw(s, "pgpgin"),
            pg_pg_out: raw(s, "pgpgout"),
            pg_fault: raw(s, "pgfault"),
            pg_maj_fault: raw(s, "pgmajfault"),
            inactive_anon: raw(s, "inactive_anon"),
            active_anon: raw(s, "active_anon"),
            inactive_file: raw(s, "inactive_file"),
            active_file: raw(s, "active_file"),
            unevictable: raw(s, "unevictable"),
            hierarchical_memory_limit: raw(s, "hierarchical_memory_limit"),
            hierarchical_swap_limit: raw(s, "hierarchical_memsw_limit"),
            total_cache: raw(s, "total_cache"),
            total_rss: raw(s, "total_rss"),
            total_rss_huge: raw(s, "total_rss_huge"),
            total_mapped_file: raw(s, "total_mapped_file"),
            total_dirty: raw(s, "total_dirty"),
            total_writeback: raw(s, "total_writeback"),
            total_pg_pg_in: raw(s, "total_pgpgin"),
            total_pg_pg_out: raw(s, "total_pgpgout"),
            total_pg_fault: raw(s, "total_pgfault"),
            total_pg_maj_fault: raw(s, "total_pgmajfault"),
            total_inactive_anon: raw(s, "total_inactive_anon"),
            total_active_anon: raw(s, "total_active_anon"),
            total_inactive_file: raw(s, "total_inactive_file"),
            total_active_file: raw(s, "total_active_file"),
            total_unevictable: raw(s, "total_unevictable"),
            usage: MessageField::some(entry(&s.memory.usage)),
            swap: MessageField::some(entry(&s.memory.swap)),
            kernel: MessageField::some(entry(&s.memory.kernel)),
            kernel_tcp: MessageField::some(entry(&s.memory.kernel_tcp)),
            ..Default::default()
        }),
        blkio: MessageField::some(v1::BlkIOStat {
            io_service_bytes_recursive: blkio(&s.blkio.io_service_bytes_recursive),
            io_serviced_recursive: blkio(&s.blkio.io_serviced_recursive),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// cgroup v2 metrics (CPU times in microseconds, as cpu.stat has them).
pub fn to_v2(s: &Stats) -> v2::Metrics {
    let usec = |ns: u64| ns / 1000;
    let limit = |l: u64| if l == u64::MAX { 0 } else { l };
    let mut io: Vec<v2::IOEntry> = Vec::new();
    for e in &s.blkio.io_service_bytes_recursive {
        let slot = match io
            .iter_mut()
            .find(|x| x.major == e.major && x.minor == e.minor)
        {
            Some(slot) => slot,
            None => {
                io.push(v2::IOEntry {
                    major: e.major,
                    minor: e.minor,
                    ..Default::default()
                });
                let last = io.len() - 1;
                &mut io[last]
            }
        };
        match e.op.to_ascii_lowercase().as_str() {
            "read" => slot.rbytes = e.value,
            "write" => slot.wbytes = e.value,
            _ => {}
        }
    }
    for e in &s.blkio.io_serviced_recursive {
        if let Some(slot) = io
            .iter_mut()
            .find(|x| x.major == e.major && x.minor == e.minor)
        {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => slot.rios = e.value,
                "write" => slot.wios = e.value,
                _ => {}
            }
        }
    }
    v2::Metrics {
        pids: MessageField::some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v2::CPUStat {
            usage_usec: usec(s.cpu.usage.total),
            user_usec: usec(s.cpu.usage.user),
            system_usec: usec(s.cpu.usage.kernel),
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: usec(s.cpu.throttling.throttled_time),
            ..Default::default()
        }),
        memory: MessageField::some(v2::MemoryStat {
            anon: raw(s, "anon"),
            file: raw(s, "file"),
            kernel_stack: raw(s, "kernel_stack"),
            slab: raw(s, "slab"),
            sock: raw(s, "sock"),
            shmem: raw(s, "shmem"),
            file_mapped: raw(s, "file_mapped"),
            file_dirty: raw(s, "file_dirty"),
            file_writeback: raw(s, "file_writeback"),
            anon_thp: raw(s, "anon_thp"),
            inactive_anon: raw(s, "inactive_anon"),
            active_anon: raw(s, "active_anon"),
            inactive_file: raw(s, "inactive_file"),
            active_file: raw(s, "active_file"),
            unevictable: raw(s, "unevictable"),
            slab_reclaimable: raw(s, "slab_reclaimable"),
            slab_unreclaimable: raw(s, "slab_unreclaimable"),
            pgfault: raw(s, "pgfault"),
            pgmajfault: raw(s, "pgmajfault"),
            usage: s.memory.usage.usage,
            usage_limit: limit(s.memory.usage.limit),
            swap_usage: s.memory.swap.usage,
            swap_limit: limit(s.memory.swap.limit),
            max_usage: s.memory.usage.max,
            swap_max_usage: s.memory.swap.max,
            ..Default::default()
        }),
        io: MessageField::some(v2::IOStat {
            usage: io,
            ..Default::default()
        }),
        hugetlb: s
            .hugetlb
            .iter()
            .map(|(size, h)| v2::HugeTlbStat {
                current: h.usage,
                max: h.max,
                pagesize: size.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stats {
        let mut s = Stats::default();
        s.cpu.usage.total = 5_000;
        s.cpu.usage.user = 3_000;
        s.cpu.usage.kernel = 2_000;
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = u64::MAX;
        s.memory.raw.insert("total_rss".into(), 77);
        s.memory.raw.insert("anon".into(), 88);
        s.pids.current = 3;
        s.blkio
            .io_service_bytes_recursive
            .push(berth::cgroups::BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 10,
            });
        s
    }

    #[test]
    fn v1_carries_the_numbers() {
        let m = to_v1(&sample());
        assert_eq!(m.cpu.usage.total, 5_000);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.total_rss, 77);
        assert_eq!(m.pids.current, 3);
        assert_eq!(m.blkio.io_service_bytes_recursive[0].value, 10);
    }

    #[test]
    fn v2_converts_units_and_unlimited() {
        let m = to_v2(&sample());
        assert_eq!(m.cpu.usage_usec, 5);
        assert_eq!(m.cpu.user_usec, 3);
        assert_eq!(m.memory.usage_limit, 0);
        assert_eq!(m.memory.anon, 88);
        assert_eq!(m.io.usage[0].rbytes, 10);
    }
}
