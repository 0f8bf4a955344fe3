//! Tests of placement, joining, freezing and kill-all against the real hierarchies
//! (root, this host); each cleans up with [`TestCgroup`]'s Drop.

use super::test_support::{Member, TestCgroup};
use super::*;

const HYBRID: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";

#[test]
fn new_maps_the_path_onto_every_hierarchy() {
    let m = CgroupManager::from_mounts(mountinfo::parse(HYBRID), None, "abc").unwrap();
    assert_eq!(m.path, "/berth/abc");
    assert_eq!(m.layout, Layout::Hybrid);
    let dirs: Vec<&str> = m.dirs.iter().map(|d| d.to_str().unwrap()).collect();
    assert_eq!(
        dirs,
        [
            "/sys/fs/cgroup/cpu/berth/abc",
            "/sys/fs/cgroup/cpuset/berth/abc",
            "/sys/fs/cgroup/systemd/berth/abc",
            "/sys/fs/cgroup/unified/berth/abc"
        ]
    );
    assert_eq!(
        m.controller_dir("cpuset"),
        Some(Path::new("/sys/fs/cgroup/cpuset/berth/abc"))
    );
    assert_eq!(m.controller_dir("memory"), None);
    assert_eq!(
        m.unified_dir(),
        Some(Path::new("/sys/fs/cgroup/unified/berth/abc"))
    );
    assert_eq!(m.v2_dir(), None);
    // Hybrid: the clone places the child in the unified hierarchy, the init joins the rest.
    assert_eq!(
        m.clone_target(),
        Some(Path::new("/sys/fs/cgroup/unified/berth/abc"))
    );

    let v2 = mountinfo::parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    let m = CgroupManager::from_mounts(v2, Some("/pod/x"), "abc").unwrap();
    assert_eq!(m.layout, Layout::V2);
    assert_eq!(m.v2_dir(), Some(PathBuf::from("/sys/fs/cgroup/pod/x")));
    assert_eq!(m.clone_target(), Some(Path::new("/sys/fs/cgroup/pod/x")));
    assert_eq!(
        m.controller_dir("memory"),
        Some(Path::new("/sys/fs/cgroup/pod/x"))
    );
}

#[test]
fn new_refuses_systemd_paths() {
    let err = CgroupManager::new(Some("system.slice:berth:abc"), "abc").unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn serde_round_trip_keeps_what_was_made() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let json = serde_json::to_string(&cg.mgr).unwrap();
    let back: CgroupManager = serde_json::from_str(&json).unwrap();
    assert_eq!(back.created.get(), cg.mgr.created.get());
    assert_eq!(back.dirs, cg.mgr.dirs);
    // An older state without the new fields still loads.
    let old = r#"{"path":"/berth/x","layout":"hybrid","dirs":["/sys/fs/cgroup/cpu/berth/x"]}"#;
    let old: CgroupManager = serde_json::from_str(old).unwrap();
    assert!(old.created.get().is_none());
}

#[test]
fn create_makes_every_dir_and_destroy_removes_only_ours() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    assert_eq!(cg.mgr.layout, Layout::Hybrid, "this host is hybrid");
    for dir in &cg.mgr.dirs {
        assert!(dir.is_dir(), "{} missing", dir.display());
    }
    // Both levels were ours, in every hierarchy, parents before children.
    let created = cg.mgr.created.get().unwrap();
    assert_eq!(created.len(), cg.mgr.dirs.len() * 2);
    for h in &cg.mgr.hierarchies {
        let top = h.mount_point.join(&cg.top);
        let i = created.iter().position(|d| *d == top).unwrap();
        let j = created.iter().position(|d| *d == h.dir).unwrap();
        assert!(i < j);
    }
    // cpuset got cpus and mems.
    let cpuset = cg.mgr.controller_dir("cpuset").unwrap();
    assert!(!fsio::read(cpuset, "cpuset.cpus").unwrap().trim().is_empty());
    assert!(!fsio::read(cpuset, "cpuset.mems").unwrap().trim().is_empty());

    // A second container under the same (now existing) parent records only its leaf.
    let sibling = CgroupManager::new(Some(&format!("/{}/other", cg.top)), "x").unwrap();
    sibling.create(None).unwrap();
    assert_eq!(sibling.created.get(), Some(sibling.dirs.clone()));
    sibling.destroy().unwrap();
    for h in &sibling.hierarchies {
        assert!(!h.dir.exists());
        assert!(h.mount_point.join(&cg.top).is_dir(), "parent must stay");
    }

    cg.mgr.destroy().unwrap();
    for h in &cg.mgr.hierarchies {
        assert!(!h.mount_point.join(&cg.top).exists());
    }
    // Destroying again is fine.
    cg.mgr.destroy().unwrap();
}

#[test]
fn join_self_v1_leaves_the_cgroup2_hierarchy_to_the_clone() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let mut member = Member::run_joining(&cg.mgr, CgroupManager::join_self_v1, || loop {
        nix::unistd::pause();
    });
    let pid = member.pid.to_string();
    let holds = |dir: &Path| {
        fsio::read(dir, "cgroup.procs")
            .unwrap()
            .lines()
            .any(|l| l == pid)
    };
    let v1: Vec<_> = cg.mgr.hierarchies.iter().filter(|h| !h.unified).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !v1.iter().all(|h| holds(&h.dir)) {
        assert!(std::time::Instant::now() < deadline, "never joined v1");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for h in cg.mgr.hierarchies.iter().filter(|h| h.unified) {
        assert!(
            !holds(&h.dir),
            "{} must be left to the clone",
            h.dir.display()
        );
    }
    nix::sys::signal::kill(member.pid, Signal::SIGKILL).unwrap();
    assert_eq!(member.killed_by(), Signal::SIGKILL);
}

#[test]
fn join_self_pids_and_kill_all() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let mut member = Member::spawn(&cg.mgr);
    assert_eq!(cg.mgr.pids().unwrap(), vec![member.pid.as_raw()]);
    // Every hierarchy, the unified one included, holds the child.
    for dir in &cg.mgr.dirs {
        let procs = fsio::read(dir, "cgroup.procs").unwrap();
        assert!(
            procs.lines().any(|l| l == member.pid.to_string()),
            "{}",
            dir.display()
        );
    }
    cg.mgr.kill_all(Signal::SIGKILL).unwrap();
    assert_eq!(member.killed_by(), Signal::SIGKILL);
    assert!(!cg.mgr.is_frozen().unwrap(), "kill_all thaws again");
    // Now empty, so destroy succeeds at once.
    cg.mgr.destroy().unwrap();
    assert!(cg.mgr.dirs.iter().all(|d| !d.exists()));
}

fn process_state(pid: nix::unistd::Pid) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    after.chars().next().unwrap()
}

#[test]
fn freeze_and_thaw_v1() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let mut member = Member::spawn(&cg.mgr);
    assert!(!cg.mgr.is_frozen().unwrap());
    cg.mgr.freeze().unwrap();
    assert!(cg.mgr.is_frozen().unwrap());
    // A frozen task does not run: a signal handler-less SIGTERM is not acted on yet.
    nix::sys::signal::kill(member.pid, Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(std::path::Path::new(&format!("/proc/{}", member.pid)).exists());
    assert_ne!(process_state(member.pid), 'Z');
    cg.mgr.thaw().unwrap();
    assert!(!cg.mgr.is_frozen().unwrap());
    assert_eq!(member.killed_by(), Signal::SIGTERM);
}

#[test]
fn freeze_and_thaw_v2_on_the_unified_hierarchy() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let member = Member::spawn(&cg.mgr);
    let dir = cg.mgr.unified_dir().unwrap();
    freezer::v2_set(dir, true, SETTLE_TIMEOUT).unwrap();
    assert!(freezer::v2_is_frozen(dir).unwrap());
    assert_eq!(
        fsio::keyed(&fsio::read(dir, "cgroup.events").unwrap(), "frozen"),
        Some(1)
    );
    freezer::v2_set(dir, false, SETTLE_TIMEOUT).unwrap();
    assert!(!freezer::v2_is_frozen(dir).unwrap());
    drop(member);
}
#[test]
fn failing_create_leaves_nothing() {
    let cg = TestCgroup::new();
    let mut r = oci_spec::runtime::LinuxResources::default();
    r.set_unified(Some([("no.such_file".to_string(), "1".to_string())].into()));
    assert!(cg.mgr.create(Some(&r)).is_err());
    for h in &cg.mgr.hierarchies {
        assert!(
            !h.mount_point.join(&cg.top).exists(),
            "{}",
            h.mount_point.display()
        );
    }
}

/// A v2 manager over this host's cgroup2 hierarchy (where a hybrid manager has made
/// the directory): exercises the v2 paths of pids, freeze, kill_all (cgroup.kill) and
/// stats on the real kernel without touching the root's subtree_control.
#[test]
fn v2_manager_paths_on_the_unified_hierarchy() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let unified: Vec<mountinfo::Mount> = mountinfo::read()
        .unwrap()
        .into_iter()
        .filter(|m| m.unified)
        .collect();
    let path = format!("/{}/ctr", cg.top);
    let v2 = CgroupManager::from_mounts(unified, Some(&path), "x").unwrap();
    assert_eq!(v2.layout, Layout::V2);
    assert_eq!(v2.v2_dir().as_deref(), cg.mgr.unified_dir());

    let mut member = Member::spawn(&v2);
    assert_eq!(v2.pids().unwrap(), vec![member.pid.as_raw()]);
    v2.freeze().unwrap();
    assert!(v2.is_frozen().unwrap());
    v2.thaw().unwrap();
    assert!(!v2.is_frozen().unwrap());
    // cpu.stat is a core file of every v2 cgroup; the sleeping member used a little CPU.
    let stats = v2.stats().unwrap();
    assert!(stats.cpu.usage.total > 0);
    v2.kill_all(Signal::SIGKILL).unwrap();
    assert_eq!(member.killed_by(), Signal::SIGKILL);
}

#[test]
fn kill_all_with_another_signal_freezes_signals_and_thaws() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let mut first = Member::spawn(&cg.mgr);
    let mut second = Member::spawn(&cg.mgr);
    cg.mgr.kill_all(Signal::SIGUSR1).unwrap();
    for m in [&mut first, &mut second] {
        assert_eq!(m.killed_by(), Signal::SIGUSR1);
    }
    assert!(!cg.mgr.is_frozen().unwrap());
}

#[test]
fn destroy_of_a_busy_cgroup_says_why() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let member = Member::spawn(&cg.mgr);
    let err = cg.mgr.destroy().unwrap_err();
    assert!(err.to_string().contains("processes remain"), "{err}");
    drop(member);
    // Once the member is gone, destroy removes everything.
    cg.mgr.destroy().unwrap();
    assert!(cg.mgr.dirs.iter().all(|d| !d.exists()));
}

#[test]
fn an_existing_cgroup_is_joined_but_not_removed() {
    let cg = TestCgroup::new();
    cg.mgr.create(None).unwrap();
    let again = CgroupManager::new(Some(&cg.mgr.path), "x").unwrap();
    again.create(None).unwrap();
    assert_eq!(again.created.get(), Some(Vec::new()));
    again.destroy().unwrap();
    assert!(cg.mgr.dirs.iter().all(|d| d.is_dir()));
}

#[test]
fn the_shared_berth_parent_is_made_once_and_kept() {
    let id = format!("unit-shared-{}", std::process::id());
    let mgr = CgroupManager::new(None, &id).unwrap();
    mgr.create(None).unwrap();
    // Only the leaves are recorded: "/berth" is shared by every default path.
    assert_eq!(mgr.created.get(), Some(mgr.dirs.clone()));
    mgr.destroy().unwrap();
    for h in &mgr.hierarchies {
        assert!(!h.dir.exists(), "{} left", h.dir.display());
        assert!(
            h.mount_point.join("berth").is_dir(),
            "shared parent removed"
        );
    }
    // berth keeps it; the test leaves the host as it found it when nothing else uses it.
    for h in &mgr.hierarchies {
        let _ = std::fs::remove_dir(h.mount_point.join("berth"));
    }
}

#[test]
fn without_dirs_places_and_removes_nothing() {
    let m = CgroupManager::from_mounts(mountinfo::parse(HYBRID), None, "abc")
        .unwrap()
        .without_dirs();
    assert_eq!(m.path, "/berth/abc");
    assert!(m.dirs.is_empty());
    assert_eq!(m.v2_dir(), None);
    assert_eq!(m.clone_target(), None);
    assert_eq!(m.pids().unwrap(), Vec::<i32>::new());
    m.join_self().unwrap();
    m.join_self_v1().unwrap();
    m.add_pid(1).unwrap();
    m.kill_all(Signal::SIGKILL).unwrap();
    m.destroy().unwrap();
    assert!(!m.is_frozen().unwrap_or(false));
}

#[test]
fn permission_errors_are_told_apart() {
    let denied = CgroupError::Io {
        path: "/sys/fs/cgroup/cpu/x".into(),
        source: std::io::Error::from_raw_os_error(libc::EACCES),
    };
    assert!(denied.is_permission_denied());
    let ro = CgroupError::Write {
        path: "/sys/fs/cgroup/cpu/x/cgroup.procs".into(),
        value: "0".into(),
        source: std::io::Error::from_raw_os_error(libc::EROFS),
    };
    assert!(ro.is_permission_denied());
    let busy = CgroupError::Io {
        path: "/sys/fs/cgroup/cpu/x".into(),
        source: std::io::Error::from_raw_os_error(libc::EBUSY),
    };
    assert!(!busy.is_permission_denied());
    assert!(!CgroupError::Invalid("x".into()).is_permission_denied());
}
