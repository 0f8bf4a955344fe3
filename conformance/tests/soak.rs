//! Soak: 200 create/start/kill/delete cycles, then no leaked mounts, cgroups, fds, state
//! dirs or processes. Alone in its test binary so nothing else runs beside it.

use berth_conformance::{cgroups, host, Test};
use std::collections::BTreeSet;

/// Host mount lines that could be ours: under the suite's temp dirs, the runtime's default
/// state dir, or namespace bind mounts. (Other work on the host may mount elsewhere.)
fn suspicious_mounts() -> BTreeSet<String> {
    let default_root = format!("/run/{}", berth_conformance::runtime_name());
    host::mountinfo()
        .into_iter()
        .filter(|l| {
            l.contains("/tmp/berth-conformance")
                || l.contains(&default_root)
                || l.contains(" - nsfs ")
        })
        .collect()
}

#[test]
fn soak_create_start_kill_delete_cycles() {
    let cycles: usize = std::env::var("BERTH_SOAK_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    let mut t = Test::new("soak_create_start_kill_delete_cycles");
    t.args(&["sleep", "1000"]);
    let mounts_before = host::mountinfo().len();
    let suspicious_before = suspicious_mounts();
    let fds_before = host::own_fd_count();
    let started = std::time::Instant::now();
    for n in 0..cycles {
        let id = t.other_id(&n.to_string());
        t.create_id(&id, &[]).assert_ok();
        t.start(&id).assert_ok();
        t.kill(&id, "KILL").assert_ok();
        t.wait_stopped(&id);
        t.delete(&id).assert_ok();
        assert!(
            cgroups::existing_dirs(&cgroups::path_for(&id)).is_empty(),
            "cycle {n}: cgroup left"
        );
    }
    let elapsed = started.elapsed();
    eprintln!(
        "soak: {cycles} cycles in {elapsed:?} ({:?} per cycle)",
        elapsed / cycles.max(1) as u32
    );
    let entries = t.root_entries();
    assert!(entries.is_empty(), "state left in --root: {entries:?}");
    let leaked: Vec<_> = suspicious_mounts()
        .difference(&suspicious_before)
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "mounts leaked: {leaked:#?}");
    let mounts_after = host::mountinfo().len();
    eprintln!("soak: host mountinfo lines {mounts_before} -> {mounts_after}");
    assert_eq!(
        host::own_fd_count(),
        fds_before,
        "fds leaked in the test process"
    );
    let runtime_procs = t.runtime_processes();
    assert!(
        runtime_procs.is_empty(),
        "runtime processes left: {runtime_procs:?}"
    );
    let left: Vec<_> = cgroups::hierarchies()
        .into_iter()
        .flat_map(|h| {
            std::fs::read_dir(h.join(cgroups::PARENT))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&t.id))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "cgroups leaked: {left:?}");
}
