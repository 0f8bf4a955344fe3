//! Load (issue #5, "Faults and load"): many creates at once. Distinct ids must all succeed
//! and clean up; creates racing for one id must let exactly one win, and the others must
//! fail cleanly ("already exists"), leave nothing and not disturb the winner.

use berth_conformance::exec::{self, Outcome};
use berth_conformance::{cgroups, host, Facts, Test};
use std::path::PathBuf;

/// Parallel creates of distinct ids.
const DISTINCT: usize = 50;
/// Parallel creates of one id.
const SAME: usize = 10;

/// A bundle of its own for `id` (config.json naming the test's rootfs by absolute path and
/// the id's own cgroupsPath), so parallel creates never rewrite each other's config.
fn bundle_for(t: &Test, id: &str) -> PathBuf {
    let dir = t.host_dir(&format!("bundle-{id}"));
    let mut config = t.config.clone();
    config["root"]["path"] = t.bundle.join("rootfs").display().to_string().into();
    config["linux"]["cgroupsPath"] = cgroups::path_for(id).into();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).expect("serialize config"),
    )
    .expect("write config.json");
    dir
}

/// Runs `f(i)` for every i in 0..n on its own thread, all at once; results in order.
fn in_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

#[test]
fn load_parallel_creates_of_distinct_ids() {
    let t = Test::new("load_parallel_creates_of_distinct_ids");
    let ids: Vec<String> = (0..DISTINCT).map(|i| t.other_id(&i.to_string())).collect();
    let bundles: Vec<PathBuf> = ids.iter().map(|id| bundle_for(&t, id)).collect();
    let outs: Vec<Outcome> = in_parallel(DISTINCT, |i| {
        let mut cmd = t.command();
        cmd.arg("create")
            .arg("--bundle")
            .arg(&bundles[i])
            .arg("--pid-file")
            .arg(t.io_path(&ids[i], "pid"))
            .arg(&ids[i]);
        t.run_create_command(&ids[i], cmd)
    });
    for out in &outs {
        out.assert_ok();
    }
    let mut pids: Vec<i32> = ids.iter().map(|id| t.pid(id)).collect();
    for (id, pid) in ids.iter().zip(&pids) {
        assert!(host::alive(*pid), "init of {id} ({pid}) is not alive");
        let state = t.state(id);
        assert_eq!(state["status"], "created", "{id}: {state}");
        assert_eq!(state["pid"], *pid, "{id}: {state}");
    }
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), DISTINCT, "two containers share an init pid");
    let listed = t.call(&["list", "-q"]);
    listed.assert_ok();
    assert_eq!(listed.stdout.lines().count(), DISTINCT, "{}", listed.stdout);
    // Start them all at once too; every checker runs and reports.
    for out in in_parallel(DISTINCT, |i| t.start(&ids[i])) {
        out.assert_ok();
    }
    for id in &ids {
        t.wait_stopped(id);
        assert_eq!(t.facts(id).pid(), 1, "{id}");
    }
    for out in in_parallel(DISTINCT, |i| t.delete(&ids[i])) {
        out.assert_ok();
    }
    for id in &ids {
        t.assert_nothing_left(id);
    }
    let listed = t.call(&["list", "-q"]);
    assert_eq!(
        listed.stdout.trim(),
        "",
        "containers left: {}",
        listed.stdout
    );
}

#[test]
fn load_parallel_creates_of_one_id_one_wins() {
    let t = Test::new("load_parallel_creates_of_one_id_one_wins");
    let id = t.id.clone();
    t.write_config(&id);
    t.register(&id);
    let outs: Vec<Outcome> = in_parallel(SAME, |i| {
        let cmd = t.create_command(&id, &[]);
        // Each attempt has its own stdio files: the winner's container keeps its own.
        let io = t.host_dir("attempts");
        exec::run(
            cmd,
            &io.join(format!("{i}.out")),
            &io.join(format!("{i}.err")),
        )
    });
    let winners: Vec<&Outcome> = outs.iter().filter(|o| o.success()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create must win: {:#?}",
        outs.iter().map(Outcome::describe).collect::<Vec<_>>()
    );
    for out in outs.iter().filter(|o| !o.success()) {
        assert!(
            out.stderr.contains("already exists"),
            "a losing create must say the id already exists: {}",
            out.describe()
        );
        assert_eq!(out.code(), Some(1), "{}", out.describe());
    }
    // The winner is intact: its state, its pid file, its init, its only state entry.
    let pid = t.pid(&id);
    assert!(host::alive(pid), "the winner's init {pid} died");
    let state = t.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["pid"], pid, "{state}");
    let entries: Vec<String> = std::fs::read_dir(&t.root)
        .expect("read root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&id))
        .collect();
    assert_eq!(entries, vec![id.clone()], "state entries for {id}");
    let procs = t.runtime_processes();
    assert!(procs.is_empty(), "runtime processes left: {procs:?}");
    assert!(
        !cgroups::existing_dirs(&cgroups::path_for(&id)).is_empty(),
        "a loser removed the winner's cgroup"
    );
    // And it still runs.
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let winner = outs.iter().position(|o| o.success()).expect("a winner");
    let report = exec::read_lossy(&t.host_dir("attempts").join(format!("{winner}.out")));
    assert_eq!(
        Facts::parse(&report).pid(),
        1,
        "winner's report: {report:?}"
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}
