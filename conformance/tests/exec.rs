//! `exec`: a new process in a running container, as containerd's shim and conmon call it
//! (`exec --process FILE --detach --pid-file F`) and as people type it (`exec ID CMD`).

use berth_conformance::{cgroups, json, Facts, Test};

fn running(name: &str) -> (Test, String) {
    let mut t = Test::new(name);
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    (t, id)
}

#[test]
fn exec_joins_every_namespace_of_the_init() {
    let (t, id) = running("exec_joins_every_namespace_of_the_init");
    let init = t.facts(&id);
    let out = t.call(&["exec", &id, "/bin/berth-check"]);
    out.assert_ok();
    let f = Facts::parse(&out.stdout);
    for ns in ["mnt", "pid", "net", "ipc", "uts"] {
        assert_eq!(
            f.ns(ns),
            init.ns(ns),
            "{ns} namespace differs from the init's"
        );
    }
    assert_ne!(f.pid(), 1, "the exec'd process is not the init");
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn exec_exit_status_is_the_processes() {
    let (t, id) = running("exec_exit_status_is_the_processes");
    let out = t.call(&["exec", &id, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", out.describe());
    let out = t.call(&["exec", &id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137), "{}", out.describe());
    t.call(&["delete", "--force", &id]).assert_ok();
}

#[test]
fn exec_process_file_detach_pid_file_as_containerd() {
    let (t, id) = running("exec_process_file_detach_pid_file_as_containerd");
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [1001]},
        "args": ["/bin/berth-check"],
        "env": ["PATH=/bin", "FROM_PROCESS=yes"],
        "cwd": "/tmp",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true
    });
    let pfile = t.dir().join("process.json");
    std::fs::write(&pfile, process.to_string()).unwrap();
    let pid_file = t.dir().join("exec.pid");
    let out_file = t.dir().join("exec.out");
    // The detached process outlives the call, so its stdout goes to a file of ours.
    let inner = t.command();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("out=$1; shift; exec \"$@\" > \"$out\"")
        .arg("sh")
        .arg(&out_file)
        .arg(inner.get_program())
        .args(inner.get_args())
        .args(["exec", "--process"])
        .arg(&pfile)
        .arg("--detach")
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id);
    let out = t.call_cmd(cmd);
    out.assert_ok();
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    // Detached: the process may still be finishing; wait for its output to be complete.
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&out_file).unwrap_or_default();
        if text.trim_end().ends_with('}') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let f = Facts::parse(&text);
    assert_eq!(f.uid(), 1000);
    assert_eq!(f.gid(), 1000);
    assert!(f.groups().contains(&1001), "{:?}", f.groups());
    assert_eq!(f.str("cwd"), "/tmp");
    assert_eq!(f.env_var("FROM_PROCESS").as_deref(), Some("yes"));
    assert_eq!(f.status("NoNewPrivs"), "1");
    // A non-root execve keeps no permitted/effective caps without ambient ones (kernel
    // rules, as with runc); the bounding set is what the process JSON says.
    assert_eq!(
        f.caps("CapBnd"),
        berth_conformance::facts::cap_mask(&["CAP_KILL"])
    );
    assert_eq!(
        f.caps("CapInh"),
        0,
        "inheritable stays empty (CVE-2022-29162)"
    );
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn exec_user_env_cwd_flags() {
    let (t, id) = running("exec_user_env_cwd_flags");
    let out = t.call(&[
        "exec",
        "--user",
        "1000:1000",
        "--env",
        "X=1",
        "--cwd",
        "/tmp",
        &id,
        "/bin/berth-check",
    ]);
    out.assert_ok();
    let f = Facts::parse(&out.stdout);
    assert_eq!((f.uid(), f.gid()), (1000, 1000));
    assert_eq!(f.env_var("X").as_deref(), Some("1"));
    assert_eq!(f.str("cwd"), "/tmp");
    t.call(&["delete", "--force", &id]).assert_ok();
}

#[test]
fn exec_missing_program_is_a_clear_error() {
    let (t, id) = running("exec_missing_program_is_a_clear_error");
    let out = t.call(&["exec", &id, "no-such-program"]);
    out.assert_failed();
    assert!(
        out.stderr.contains("no-such-program") && out.stderr.contains("not found"),
        "{}",
        out.describe()
    );
    t.call(&["delete", "--force", &id]).assert_ok();
}

#[test]
fn exec_in_unknown_or_stopped_container_fails() {
    let mut t = Test::new("exec_in_unknown_or_stopped_container_fails");
    t.checker(&[]);
    let id = t.id.clone();
    let out = t.call(&["exec", &id, "true"]);
    out.assert_failed();
    assert!(out.stderr.contains("does not exist"), "{}", out.describe());
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.call(&["exec", &id, "true"]);
    out.assert_failed();
    assert!(out.stderr.contains("stopped"), "{}", out.describe());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn exec_no_directory_fd_leaks_into_the_process() {
    let (t, id) = running("exec_no_directory_fd_leaks_into_the_process");
    let out = t.call(&["exec", &id, "/bin/berth-check"]);
    out.assert_ok();
    let fds = Facts::parse(&out.stdout).fds();
    // The checker itself opens /proc/self/fd to list it; nothing else beyond stdio.
    let extra: Vec<_> = fds
        .iter()
        .filter(|(fd, target)| {
            *fd > 2 && !target.contains("/proc/") && !target.starts_with("/proc")
        })
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected fds in the exec'd process: {fds:?}"
    );
    t.call(&["delete", "--force", &id]).assert_ok();
}

/// Host pid from a pid file the runtime wrote.
fn pid_from(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Whether `pid` is listed in `dir`/cgroup.procs.
fn in_cgroup(dir: &std::path::Path, pid: i32) -> bool {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim() == pid.to_string())
}

#[test]
fn exec_cgroup_runs_in_the_sub_cgroup() {
    let (t, id) = running("exec_cgroup_sub");
    let dirs = cgroups::existing_dirs(&cgroups::path_for(&id));
    assert!(!dirs.is_empty(), "the container has no cgroup directory");
    for d in &dirs {
        std::fs::create_dir(d.join("sub")).unwrap();
        // A new v1 cpuset cgroup has no cpus or mems until given some.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
            }
        }
    }
    // PATH alone: the sub-cgroup in every hierarchy.
    let pid_file = t.dir().join("sub.pid");
    let pid_arg = pid_file.display().to_string();
    t.call(&[
        "exec",
        "--detach",
        "--pid-file",
        &pid_arg,
        "--cgroup",
        "sub",
        &id,
        "/bin/berth-check",
        "--sleep",
    ])
    .assert_ok();
    let pid = pid_from(&pid_file);
    for d in &dirs {
        assert!(
            in_cgroup(&d.join("sub"), pid),
            "exec --cgroup sub: pid {pid} is not in {}/sub",
            d.display()
        );
    }
    // CONTROLLER:PATH: only that controller's hierarchy moves.
    let memory = dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/memory"))
        .expect("a v1 memory hierarchy (this suite runs on v1/hybrid; v2 is the VM's)");
    let other = dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/pids"))
        .expect("a v1 pids hierarchy");
    let pid_file = t.dir().join("memory.pid");
    let pid_arg = pid_file.display().to_string();
    t.call(&[
        "exec",
        "--detach",
        "--pid-file",
        &pid_arg,
        "--cgroup",
        "memory:sub",
        &id,
        "/bin/berth-check",
        "--sleep",
    ])
    .assert_ok();
    let pid = pid_from(&pid_file);
    assert!(in_cgroup(&memory.join("sub"), pid), "not in memory/…/sub");
    assert!(
        in_cgroup(other, pid),
        "pids hierarchy: not in the container's own cgroup"
    );
    // Both are the container's: kill --all and ps see processes in sub-cgroups.
    let ps = t.call(&["ps", "--format", "json", &id]);
    ps.assert_ok();
    assert!(ps.stdout.contains(&pid.to_string()), "ps: {}", ps.stdout);
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn exec_cgroup_outside_or_missing_is_refused() {
    let (t, id) = running("exec_cgroup_refused");
    let dirs = cgroups::existing_dirs(&cgroups::path_for(&id));
    let before: Vec<i32> = dirs.iter().flat_map(|d| cgroups::pids_in(d)).collect();
    let outside = format!("/{}", cgroups::PARENT);
    for (arg, why) in [
        ("..", "not inside"),
        ("../other", "not inside"),
        ("sub/../../x", "not inside"),
        (outside.as_str(), "not inside"),
        ("missing", "missing"),
        ("memory:missing", "missing"),
    ] {
        let out = t.call(&["exec", "--cgroup", arg, &id, "/bin/true"]);
        out.assert_failed();
        if berth_conformance::is_berth() {
            assert!(
                out.stderr.contains(why) && out.stderr.contains("--cgroup"),
                "--cgroup {arg}: the error should say {why:?}: {}",
                out.stderr
            );
            assert_eq!(out.stderr_lines().len(), 1, "one line: {}", out.stderr);
        }
    }
    let after: Vec<i32> = dirs.iter().flat_map(|d| cgroups::pids_in(d)).collect();
    assert_eq!(before, after, "a refused exec left a process in the cgroup");
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}
