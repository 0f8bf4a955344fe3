//! The CVE regression suite (issue #5, "Security regression suite"): one test per class of
//! container-runtime escape, named with its CVE, each written from the advisory's
//! description and asserting that the runtime is not vulnerable.
//!
//! Tests that play an attacker racing the runtime are bounded in time (the in-container
//! `berth-check --race SECS`, host helper threads that stop with a guard); every container is
//! force-deleted by the [`Test`] guard, even when an assertion fails.

use berth_conformance::exec::pass_fds;
use berth_conformance::{host, json, locate, spec, Facts, Test, Value};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the in-container attacker races the runtime.
const RACE_SECS: u64 = 6;

/// A container running `berth-check --sleep`, started.
fn running(name: &str) -> (Test, String) {
    let mut t = Test::new(name);
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    (t, id)
}

/// Asserts that creating `id` with the current config fails, and if it did not, shows what
/// the container got.
#[track_caller]
fn assert_create_refused(t: &Test, id: &str, why: &str) {
    let out = t.create_id(id, &[]);
    if out.success() {
        let _ = t.call(&["delete", "--force", id]);
        panic!("{why}: create was accepted: {}", out.describe());
    }
    t.assert_nothing_left(id);
}

// ---------------------------------------------------------------------------------------
// CVE-2024-21626: leaked host directory fds and process.cwd = /proc/self/fd/N.

#[test]
fn cve_2024_21626_init_holds_only_stdio_preserved_fds_and_start_channel() {
    let t = Test::new("cve_2024_21626_init_fds");
    let id = t.id.clone();
    t.write_config(&id);
    let preserved = std::fs::File::create(t.dir().join("preserved")).unwrap();
    let mut cmd = t.create_command(&id, &["--preserve-fds", "1"]);
    pass_fds(&mut cmd, &[preserved]);
    t.run_create_command(&id, cmd).assert_ok();
    let fds = host::fds_of(t.pid(&id));
    for (fd, target, is_dir) in &fds {
        assert!(
            !is_dir,
            "init holds a directory fd {fd} -> {target}: {fds:?}"
        );
    }
    let numbers: Vec<i32> = fds.iter().map(|(fd, _, _)| *fd).collect();
    assert!(numbers.starts_with(&[0, 1, 2, 3]), "{fds:?}");
    if !berth_conformance::skip_known_runc_gaps() {
        // runc init (Go) also holds an epoll fd and a pipe pair.
        let extra: Vec<_> = fds.iter().filter(|(fd, _, _)| *fd > 3).collect();
        assert!(
            extra.len() <= 1,
            "more than stdio, the preserved fd and the start channel: {fds:?}"
        );
    }
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn cve_2024_21626_process_cwd_proc_self_fd_refused() {
    berth_conformance::known_runc_gap!("runc 1.1.5 predates the CVE-2024-21626 fix (1.1.12)");
    let mut t = Test::new("cve_2024_21626_cwd");
    for n in 3..=9 {
        t.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let id = t.other_id(&n.to_string());
        let out = t.create_id(&id, &[]);
        if out.success() {
            t.start(&id).assert_ok();
            t.wait_stopped(&id);
            let cwd = t.facts(&id).str("cwd");
            let _ = t.call(&["delete", "--force", &id]);
            panic!("cwd /proc/self/fd/{n} was accepted; the process started in {cwd:?}");
        }
        t.assert_nothing_left(&id);
    }
}

#[test]
fn cve_2024_21626_exec_cwd_proc_self_fd_refused() {
    berth_conformance::known_runc_gap!("runc 1.1.5 predates the CVE-2024-21626 fix (1.1.12)");
    let (t, id) = running("cve_2024_21626_exec_cwd");
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = t.call(&["exec", "--cwd", &cwd, &id, "/bin/berth-check"]);
        if out.success() {
            let f = Facts::parse(&out.stdout);
            panic!(
                "exec --cwd {cwd} was accepted; it ran in {:?}",
                f.str("cwd")
            );
        }
    }
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------------------
// CVE-2019-5736 and CVE-2016-9962: the runtime binary and the runtime's processes seen
// from inside the container.

/// A copy of the runtime binary in the test dir, under the same file name, so that a runtime
/// that is vulnerable can only damage the copy.
fn runtime_copy(t: &Test) -> PathBuf {
    let dir = t.host_dir("runtime-copy");
    let copy = dir.join(locate::runtime_name());
    std::fs::copy(locate::runtime(), &copy).expect("copy runtime");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

/// (dev, ino) of a file.
fn identity(path: &Path) -> (u64, u64) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.dev(), m.ino())
}

/// Whether the file at `path` can be opened for writing and written (the byte at offset 0
/// is written back unchanged).
fn write_back_first_byte(path: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    else {
        return false;
    };
    let mut byte = [0u8; 1];
    file.read_at(&mut byte, 0).is_ok_and(|n| n == 1) && file.write_at(&byte, 0).is_ok()
}

/// Runs `exec <args>` with `runtime` over and over while the container's attacker races,
/// then returns its `race` report.
fn race_against_exec(t: &Test, id: &str, runtime: &Path, args: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(RACE_SECS + 20);
    let mut execs = 0;
    loop {
        let out = t.output(id);
        if let Some(line) = out.lines().find(|l| l.starts_with("{\"race\"")) {
            let v: Value = serde_json::from_str(line).expect("race report is JSON");
            eprintln!("{execs} execs during the race");
            return v["race"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no race report from the container: {out:?}"
        );
        let mut cmd = std::process::Command::new(runtime);
        cmd.arg("--root")
            .arg(&t.root)
            .arg("exec")
            .arg(id)
            .args(args);
        let _ = t.call_cmd(cmd);
        execs += 1;
    }
}

/// A running container whose process is the attacker (`berth-check --race`).
fn racing_container(t: &mut Test) -> String {
    let secs = RACE_SECS.to_string();
    t.checker(&["--race", &secs]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    id
}

/// The executables the attacker could open through /proc/<pid>/exe: identity, link target,
/// the comm of the process, and whether it sits on a read-only mount.
fn opened_exes(race: &Value) -> Vec<((u64, u64), String, String, bool)> {
    race["exes"]
        .as_array()
        .expect("exes")
        .iter()
        .map(|e| {
            (
                (e["dev"].as_u64().unwrap(), e["ino"].as_u64().unwrap()),
                e["target"].as_str().unwrap_or("").to_string(),
                e["comm"].as_str().unwrap_or("").to_string(),
                e["read_only"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn cve_2019_5736_waiting_init_exe_not_openable_from_exec() {
    let t = Test::new("cve_2019_5736_waiting_init");
    let id = t.id.clone();
    t.create();
    // The init waits for `start`, a clone of the runtime: try its exe from an exec'd process.
    let script = "(exec 3</proc/1/exe && readlink /proc/self/fd/3) 2>/dev/null && echo OPENED; \
                  (exec 4>>/proc/1/exe) 2>/dev/null && echo WRITABLE; \
                  readlink /proc/1/exe 2>/dev/null && echo LINK; true";
    let out = t.call(&["exec", &id, "sh", "-c", script]);
    out.assert_ok();
    assert!(
        !out.stdout.contains("WRITABLE"),
        "a container process opened the waiting init's executable for writing: {}",
        out.stdout
    );
    // runc 1.1's init runs from a read-only bind of its binary, which may be opened; berth's
    // init runs the berth binary itself, so not even a read open may succeed.
    if berth_conformance::is_berth() {
        assert!(
            !out.stdout.contains("OPENED"),
            "a container process got the waiting init's executable: {}",
            out.stdout
        );
    }
    if berth_conformance::is_berth() {
        // berth's init runs from a sealed copy of berth (a read-only overlay or a sealed
        // memfd), never from the host's file: not even the host's root can write through
        // its exe link. (No reliance on ETXTBSY, which recent kernels dropped.)
        let exe = PathBuf::from(format!("/proc/{}/exe", t.pid(&id)));
        assert_ne!(
            identity(&exe),
            identity(locate::runtime()),
            "the waiting init runs the host's berth binary"
        );
        assert!(
            !write_back_first_byte(&exe),
            "the waiting init's executable was written through /proc/<pid>/exe"
        );
    }
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn cve_2019_5736_exec_child_exe_not_openable_before_exec() {
    let mut t = Test::new("cve_2019_5736_exec_child");
    let id = racing_container(&mut t);
    let runtime = runtime_copy(&t);
    let before = std::fs::read(&runtime).unwrap();
    let race = race_against_exec(&t, &id, &runtime, &["/bin/true"]);
    eprintln!("race: {race}");
    assert!(
        race["runtime_seen"].as_u64().unwrap_or(0) > 0,
        "the attacker never saw an exec'd process before its execve: the test proved nothing"
    );
    let runtime_ids = [identity(&runtime), identity(locate::runtime())];
    for (ident, target, comm, ro) in opened_exes(&race) {
        // (A process caught inside execve may still carry the runtime's comm while its exe
        // is already the new program: only the binary's identity counts.)
        // runc 1.1 runs itself from a read-only bind of its binary: reachable, not writable.
        assert!(
            ro || !runtime_ids.contains(&ident),
            "the container opened the runtime binary {target} through /proc/<pid>/exe of {comm}"
        );
    }
    assert!(
        std::fs::read(&runtime).unwrap() == before,
        "the runtime binary changed"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

/// Copies the runtime's shared libraries (ldd) into the rootfs, so that a container program
/// that manages to execute the runtime binary really runs it.
fn install_runtime_libraries(rootfs: &Path, runtime: &Path) {
    let out = std::process::Command::new("ldd")
        .arg(runtime)
        .output()
        .expect("run ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    for word in text.split_whitespace().filter(|w| w.starts_with('/')) {
        let src = Path::new(word);
        let dst = rootfs.join(word.trim_start_matches('/'));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        if !dst.exists() {
            std::fs::copy(src, &dst).unwrap_or_else(|e| panic!("copy {word}: {e}"));
        }
    }
}

#[test]
fn cve_2019_5736_shebang_proc_self_exe_cannot_reach_runtime_binary() {
    let mut t = Test::new("cve_2019_5736_shebang");
    let runtime = runtime_copy(&t);
    let rootfs = t.bundle.join("rootfs");
    install_runtime_libraries(&rootfs, &runtime);
    // The advisory's payload: a program whose interpreter is the runtime itself.
    std::fs::write(rootfs.join("bin/evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        rootfs.join("bin/evil"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let id = racing_container(&mut t);
    let before = std::fs::read(&runtime).unwrap();
    let race = race_against_exec(&t, &id, &runtime, &["/bin/evil"]);
    eprintln!("race: {race}");
    let runtime_ids = [identity(&runtime), identity(locate::runtime())];
    for (ident, target, comm, ro) in opened_exes(&race) {
        assert!(
            ro || !runtime_ids.contains(&ident),
            "the container opened the runtime binary ({target}, exe of {comm}): it could \
             overwrite it once the runtime exits"
        );
    }
    assert!(
        std::fs::read(&runtime).unwrap() == before,
        "the runtime binary changed"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

/// Gives the container process CAP_SYS_PTRACE (as `docker run --cap-add SYS_PTRACE` does):
/// with it and no user namespace, the kernel lets a container process open
/// /proc/<pid>/exe of a non-dumpable runtime process, so only what that link points at
/// stands between the container and the runtime binary.
fn grant_sys_ptrace(t: &mut Test) {
    for set in ["bounding", "effective", "permitted", "ambient"] {
        let caps = t.config["process"]["capabilities"][set]
            .as_array_mut()
            .expect("capability set");
        caps.push(json!("CAP_SYS_PTRACE"));
    }
}

/// Waits until the file at `path` holds a JSON line whose first key is `key`, and returns
/// that key's value.
#[track_caller]
fn wait_for_line(path: &Path, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let prefix = format!("{{\"{key}\"");
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with(&prefix)) {
            let v: Value = serde_json::from_str(line).expect("attacker line is JSON");
            return v.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {key:?} line from the attacker in {}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks what `berth-check --hold-exe` got: it held at least one runtime process's exe,
/// none of them is the runtime binary, and no write through them succeeded.
#[track_caller]
fn assert_held_exes_harmless(report: &Value, runtime: &Path) {
    let exes = report["exe_hold"]["exes"].as_array().expect("exes");
    let runtime_ids = [identity(runtime), identity(locate::runtime())];
    for e in exes {
        let ident = (e["dev"].as_u64().unwrap(), e["ino"].as_u64().unwrap());
        for mode in ["wronly", "rdwr"] {
            assert!(
                e[mode]["written"] != json!(true),
                "a container process wrote to the runtime's executable through \
                 /proc/<pid>/exe ({mode}): {e}"
            );
        }
        // runc 1.1 runs from a read-only bind of its binary (same inode): writes fail with
        // EROFS, but the container holds the host's file.
        if !berth_conformance::skip_known_runc_gaps() {
            assert!(
                !runtime_ids.contains(&ident),
                "a container process holds the host's runtime binary through /proc/<pid>/exe: {e}"
            );
        }
    }
}

#[test]
fn cve_2019_5736_waiting_init_exe_held_by_privileged_exec_is_not_the_binary() {
    let mut t = Test::new("cve_2019_5736_held_init");
    grant_sys_ptrace(&mut t);
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    let runtime = runtime_copy(&t);
    let before = std::fs::read(&runtime).unwrap();
    t.write_config(&id);
    let mut create = std::process::Command::new(&runtime);
    create
        .arg("--root")
        .arg(&t.root)
        .args(["create", "--bundle"])
        .arg(&t.bundle)
        .arg("--pid-file")
        .arg(t.io_path(&id, "pid"))
        .arg(&id);
    t.run_create_command(&id, create).assert_ok();
    // The attacker: an exec'd process that grabs the waiting init's /proc/1/exe.
    let (out, err, pid_file) = (
        t.io_path("attacker", "out"),
        t.io_path("attacker", "err"),
        t.io_path("attacker", "pid"),
    );
    let mut exec = std::process::Command::new(&runtime);
    exec.arg("--root")
        .arg(&t.root)
        .args(["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "/bin/berth-check", "--hold-exe", "1"]);
    berth_conformance::exec::run(exec, &out, &err).assert_ok();
    let held = wait_for_line(&out, "held");
    eprintln!("attacker: {held}");
    assert!(
        held["held"].as_u64().unwrap_or(0) > 0,
        "the privileged attacker could not open the waiting init's exe: the test proved \
         nothing: {held}"
    );
    // The init execs its process: no runtime process runs the binary any more, so a
    // write open of the host's file would no longer be refused as busy.
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let attacker: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    host::kill(attacker, libc::SIGUSR1);
    let report = wait_for_line(&out, "exe_hold");
    eprintln!("attacker: {report}");
    assert_held_exes_harmless(&report, &runtime);
    assert!(
        std::fs::read(&runtime).unwrap() == before,
        "the runtime binary changed"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn cve_2019_5736_exec_child_exe_held_by_privileged_container_is_not_the_binary() {
    let mut t = Test::new("cve_2019_5736_held_exec");
    grant_sys_ptrace(&mut t);
    let secs = RACE_SECS.to_string();
    t.checker(&["--hold-exe", &secs]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_output_lines(&id, 1);
    let runtime = runtime_copy(&t);
    let before = std::fs::read(&runtime).unwrap();
    let out = t.io_path(&id, "out");
    let deadline = Instant::now() + Duration::from_secs(RACE_SECS + 30);
    let mut execs = 0;
    while !t.output(&id).contains("{\"held\"") {
        assert!(Instant::now() < deadline, "no held line: {}", t.output(&id));
        let mut cmd = std::process::Command::new(&runtime);
        cmd.arg("--root")
            .arg(&t.root)
            .args(["exec", &id, "/bin/true"]);
        let _ = t.call_cmd(cmd);
        execs += 1;
    }
    let held = wait_for_line(&out, "held");
    eprintln!("{execs} execs; attacker: {held}");
    assert!(
        held["held"].as_u64().unwrap_or(0) > 0,
        "the privileged attacker never opened an exec'd process's exe: the test proved \
         nothing: {held}"
    );
    // Every exec has returned: no runtime process runs the binary any more.
    t.kill(&id, "USR1").assert_ok();
    let report = wait_for_line(&out, "exe_hold");
    eprintln!("attacker: {report}");
    assert_held_exes_harmless(&report, &runtime);
    assert!(
        std::fs::read(&runtime).unwrap() == before,
        "the runtime binary changed"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

#[test]
fn cve_2016_9962_exec_child_not_traceable_nor_readable_before_exec() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5's runc:[2:INIT] is dumpable in its Go part before execve: PTRACE_SEIZE works"
    );
    let mut t = Test::new("cve_2016_9962_exec_child");
    let id = racing_container(&mut t);
    let race = race_against_exec(&t, &id, locate::runtime(), &["/bin/true"]);
    eprintln!("race: {race}");
    assert!(
        race["runtime_seen"].as_u64().unwrap_or(0) > 0,
        "the attacker never saw an exec'd process before its execve: the test proved nothing"
    );
    assert_eq!(
        race["leaks"],
        json!([]),
        "a container process read or traced the runtime's exec'd process before its execve"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------------------
// CVE-2021-30465 and CVE-2024-45310: mount destinations swapped for symlinks mid-create.

/// Flips two names in a directory (RENAME_EXCHANGE) until stopped or `max` flips; stops
/// and joins when dropped.
struct Flipper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Flipper {
    fn start(a: PathBuf, b: PathBuf, max: u64) -> Flipper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let ca = std::ffi::CString::new(a.as_os_str().as_encoded_bytes()).unwrap();
            let cb = std::ffi::CString::new(b.as_os_str().as_encoded_bytes()).unwrap();
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) && n < max {
                // SAFETY: renameat2 with two valid NUL-terminated paths.
                unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        libc::AT_FDCWD,
                        ca.as_ptr(),
                        libc::AT_FDCWD,
                        cb.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    );
                }
                n += 1;
            }
            n
        });
        Flipper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn cve_2021_30465_and_2024_45310_swapped_mount_destination_stays_in_rootfs() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 predates the CVE-2024-45310 fix (1.1.14): this race makes it create \
         files outside the rootfs"
    );
    let mut t = Test::new("cve_2021_30465_swap");
    let outside = t.host_dir("outside");
    let rootfs = t.bundle.join("rootfs");
    let src_file = t.dir().join("bind-source");
    std::fs::write(&src_file, "x").unwrap();
    let mnt = rootfs.join("mnt");
    // Two races at once: an absolute and a relative symlink, each flipped with a real dir.
    std::fs::create_dir_all(mnt.join("a")).unwrap();
    symlink(&outside, mnt.join("a-link")).unwrap();
    std::fs::create_dir_all(mnt.join("b")).unwrap();
    let up = format!("../../../../../../../../../..{}", outside.display());
    symlink(&up, mnt.join("b-link")).unwrap();
    for (dir, kind) in [("a", "tmpfs"), ("b", "tmpfs")] {
        for leaf in ["x", "y/z"] {
            spec::add_mount(
                &mut t.config,
                &format!("/mnt/{dir}/{leaf}"),
                kind,
                "tmpfs",
                &["size=64k", "mode=0711"],
            );
        }
        let src = src_file.display().to_string();
        spec::add_mount(
            &mut t.config,
            &format!("/mnt/{dir}/f"),
            "bind",
            &src,
            &["bind"],
        );
    }
    let flips = 2_000_000;
    let _fa = Flipper::start(mnt.join("a"), mnt.join("a-link"), flips);
    let _fb = Flipper::start(mnt.join("b"), mnt.join("b-link"), flips);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut creates = 0;
    for i in 0..30 {
        if Instant::now() > deadline {
            break;
        }
        let id = t.other_id(&i.to_string());
        let out = t.create_id(&id, &[]);
        creates += 1;
        let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
        let mounts = host::mounts_under(&outside);
        if out.success() {
            t.delete_force(&id);
        }
        assert!(
            entries.is_empty(),
            "create {i} made {entries:?} outside the rootfs"
        );
        assert!(mounts.is_empty(), "create {i} mounted outside: {mounts:?}");
        t.assert_nothing_left(&id);
    }
    eprintln!("{creates} creates raced");
    assert!(creates >= 5, "too few creates raced");
}

// ---------------------------------------------------------------------------------------
// CVE-2019-16884, CVE-2019-19921, CVE-2023-27561, CVE-2023-28642, CVE-2025-52881: /proc and
// /sys as symlinks or bogus mounts, and writes to /proc through a verified procfs.

#[test]
fn cve_2019_19921_2023_27561_2023_28642_proc_or_sys_symlink_refused() {
    let t = Test::new("cve_2019_19921_proc_symlink");
    let outside = t.host_dir("outside");
    let rootfs = t.bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("fakeproc")).unwrap();
    let cases: Vec<(&str, PathBuf)> = vec![
        ("proc", PathBuf::from("/fakeproc")),
        ("proc", outside.clone()),
        ("sys", PathBuf::from("/fakeproc")),
        ("sys", outside.clone()),
    ];
    for (i, (dir, target)) in cases.iter().enumerate() {
        let path = rootfs.join(dir);
        std::fs::remove_dir_all(&path).unwrap();
        symlink(target, &path).unwrap();
        assert_create_refused(
            &t,
            &t.other_id(&i.to_string()),
            &format!("/{dir} in the rootfs is a symlink to {}", target.display()),
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
        assert!(entries.is_empty(), "made {entries:?} outside the rootfs");
    }
}

#[test]
fn cve_2019_16884_bogus_proc_mounts_refused() {
    let mut t = Test::new("cve_2019_16884_bogus_proc");
    let fake = t.host_dir("fake-proc");
    std::fs::write(fake.join("attr"), "").unwrap();
    let fake_s = fake.display().to_string();
    let base = t.config.clone();
    // A directory bound over /proc: the runtime would write labels into it.
    spec::remove_mount(&mut t.config, "/proc");
    spec::add_mount(&mut t.config, "/proc", "bind", &fake_s, &["rbind"]);
    assert_create_refused(&t, &t.other_id("bind"), "a plain directory bound on /proc");
    // A tmpfs over /proc/self or /proc/sys (after the real /proc).
    berth_conformance::known_runc_gap!("runc 1.1.5 checks only binds under /proc");
    for (i, dest) in ["/proc/self", "/proc/sys"].iter().enumerate() {
        t.config = base.clone();
        spec::add_mount(&mut t.config, dest, "tmpfs", "tmpfs", &["size=64k"]);
        assert_create_refused(&t, &t.other_id(&i.to_string()), &format!("tmpfs on {dest}"));
    }
}

#[test]
fn cve_2025_52881_sysctl_written_through_verified_procfs() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 writes sysctls by path (CVE-2025-52881 fixed in 1.2.8/1.3.3)"
    );
    let mut t = Test::new("cve_2025_52881_sysctl");
    // A file bound over a sysctl (a target the runc whitelist allows for lxcfs-like tools):
    // a write by path lands in this host file instead of the kernel's.
    let decoy = t.dir().join("decoy");
    std::fs::write(&decoy, "decoy\n").unwrap();
    spec::add_mount(
        &mut t.config,
        "/proc/sys/kernel/ns_last_pid",
        "bind",
        &decoy.display().to_string(),
        &["bind"],
    );
    t.config["linux"]["sysctl"] = json!({"kernel.ns_last_pid": "4242"});
    t.config["linux"]["readonlyPaths"] = json!([]);
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    if out.success() {
        t.delete_force(&id);
    }
    assert_eq!(
        std::fs::read_to_string(&decoy).unwrap(),
        "decoy\n",
        "the sysctl write went into a file mounted over /proc (accepted: {})",
        out.success()
    );
    t.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------------------
// CVE-2025-31133: maskedPaths and a swapped /dev/null.

/// The config binds the rootfs's own /dev directory (so the test controls /dev/null).
fn dev_from_rootfs(t: &mut Test) -> PathBuf {
    let dev = t.bundle.join("rootfs/dev");
    spec::remove_mount(&mut t.config, "/dev");
    spec::remove_mount(&mut t.config, "/dev/pts");
    spec::remove_mount(&mut t.config, "/dev/shm");
    spec::remove_mount(&mut t.config, "/dev/mqueue");
    let mut list = spec::mounts(&mut t.config).clone();
    list.insert(
        1,
        json!({"destination": "/dev", "type": "bind", "source": dev.display().to_string(),
               "options": ["rbind"]}),
    );
    t.config["mounts"] = json!(list);
    dev
}

#[test]
fn cve_2025_31133_masked_paths_with_swapped_dev_null_refused() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 binds /dev/null by path (CVE-2025-31133 fixed in 1.2.8/1.3.3)"
    );
    let mut t = Test::new("cve_2025_31133_dev_null");
    let dev = dev_from_rootfs(&mut t);
    t.config["linux"]["maskedPaths"] = json!(["/proc/keys", "/proc/timer_list"]);
    t.config["linux"]["readonlyPaths"] = json!([]);
    // /dev/null a symlink to a procfs file the mask would then expose writable.
    symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    assert_create_refused(&t, &t.other_id("link"), "/dev/null is a symlink");
    std::fs::remove_file(dev.join("null")).unwrap();
    std::fs::write(dev.join("null"), "not a device").unwrap();
    assert_create_refused(&t, &t.other_id("file"), "/dev/null is a plain file");
}

// ---------------------------------------------------------------------------------------
// CVE-2025-52565: the /dev/console bind.

#[test]
fn cve_2025_52565_console_bind_onto_symlink_refused() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 binds /dev/console by path (CVE-2025-52565 fixed in 1.2.8/1.3.3)"
    );
    use berth_conformance::console::ConsoleSocket;
    let mut t = Test::new("cve_2025_52565_console");
    let dev = dev_from_rootfs(&mut t);
    spec::add_mount(
        &mut t.config,
        "/dev/pts",
        "devpts",
        "devpts",
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ],
    );
    std::fs::create_dir_all(dev.join("pts")).unwrap();
    symlink("pts/ptmx", dev.join("ptmx")).unwrap();
    std::fs::write(t.bundle.join("rootfs/tmp/victim"), "victim").unwrap();
    symlink("/tmp/victim", dev.join("console")).unwrap();
    t.config["process"]["terminal"] = json!(true);
    t.checker(&["--stat", "/tmp/victim"]);
    let id = t.id.clone();
    let sock = ConsoleSocket::bind(&t.dir().join("console.sock"));
    let sock_path = sock.path().display().to_string();
    let receiver = std::thread::spawn(move || sock.receive_master(Duration::from_secs(20)));
    t.write_config(&id);
    let out = t.create_raw(&id, &["--console-socket", &sock_path]);
    if out.success() {
        let pid = t.pid(&id);
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        let _ = receiver.join();
        t.delete_force(&id);
        panic!("/dev/console as a symlink was accepted; mounts: {mounts}");
    }
    drop(receiver);
    t.assert_nothing_left(&id);
}

#[test]
fn cve_2025_52565_console_is_the_containers_pty() {
    use berth_conformance::console::ConsoleSocket;
    let mut t = Test::new("cve_2025_52565_console_pty");
    t.config["process"]["terminal"] = json!(true);
    t.checker(&[
        "--stat",
        "/dev/console",
        "--stat",
        "/proc/self/fd/0",
        "--sleep",
    ]);
    let id = t.id.clone();
    let sock = ConsoleSocket::bind(&t.dir().join("console.sock"));
    let sock_path = sock.path().display().to_string();
    let receiver = std::thread::spawn(move || sock.receive_master(Duration::from_secs(20)));
    t.write_config(&id);
    t.create_raw(&id, &["--console-socket", &sock_path])
        .assert_ok();
    let _master = receiver.join().expect("console socket receiver");
    // The bind source must be the pty made for this container: same device as its stdin.
    let pid = t.pid(&id);
    let console = std::fs::metadata(format!("/proc/{pid}/root/dev/console")).unwrap();
    let stdin = std::fs::metadata(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(
        console.rdev(),
        stdin.rdev(),
        "/dev/console is not the container's pty"
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------------------
// CVE-2022-29162: inheritable capabilities.

#[test]
fn cve_2022_29162_inheritable_capabilities_empty_unless_configured() {
    let mut t = Test::new("cve_2022_29162_caps");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    let init = t.facts(&id);
    assert_eq!(
        init.caps("CapInh"),
        0,
        "the init has inheritable capabilities"
    );
    let out = t.call(&["exec", &id, "/bin/berth-check"]);
    out.assert_ok();
    assert_eq!(
        Facts::parse(&out.stdout).caps("CapInh"),
        0,
        "an exec'd process has inheritable capabilities"
    );
    let out = t.call(&["exec", "--cap", "CAP_CHOWN", &id, "/bin/berth-check"]);
    out.assert_ok();
    assert_eq!(
        Facts::parse(&out.stdout).caps("CapInh"),
        0,
        "exec --cap made a capability inheritable"
    );
    t.delete_force(&id);
    // Configured inheritable capabilities are honoured (the test can fail both ways).
    t.config["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    t.checker(&[]);
    let f = t.run_checker();
    assert_eq!(
        f.caps("CapInh"),
        berth_conformance::facts::cap_mask(&["CAP_KILL"])
    );
}

// ---------------------------------------------------------------------------------------
// CVE-2023-25809: the cgroup file system without a cgroup namespace.

#[test]
fn cve_2023_25809_cgroupfs_read_only_without_cgroup_namespace() {
    let mut t = Test::new("cve_2023_25809_cgroupfs");
    spec::remove_namespace(&mut t.config, "cgroup");
    t.checker(&["--sleep"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    let f = t.facts(&id);
    let cg: Vec<_> = f
        .mounts()
        .into_iter()
        .filter(|m| m.mount_point.starts_with("/sys/fs/cgroup") && m.fstype.starts_with("cgroup"))
        .collect();
    assert!(!cg.is_empty(), "no cgroup file system in the container");
    for m in &cg {
        assert!(
            m.options.iter().any(|o| o == "ro"),
            "{} is writable in the container: {m:?}",
            m.mount_point
        );
    }
    let script = "for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs \
                  /sys/fs/cgroup/*/tasks; do [ -e \"$f\" ] && (echo 0 > \"$f\") 2>/dev/null \
                  && echo \"WROTE $f\"; done; for d in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do \
                  [ -e \"$d/cgroup.procs\" ] && mkdir \"$d/x\" 2>/dev/null && echo \"MKDIR $d\"; \
                  done; true";
    let out = t.call(&["exec", &id, "sh", "-c", script]);
    out.assert_ok();
    assert!(
        !out.stdout.contains("WROTE") && !out.stdout.contains("MKDIR"),
        "the container wrote to the cgroup file system: {}",
        out.stdout
    );
    t.delete_force(&id);
    t.assert_nothing_left(&id);
}

// ---------------------------------------------------------------------------------------
// A rootfs whose /dev is a symlink.

#[test]
fn rootfs_dev_symlink_to_outside_refused() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5 follows a /dev symlink to the host and makes its /dev links there"
    );
    let t = Test::new("cve_dev_symlink");
    let outside = t.host_dir("outside");
    let dev = t.bundle.join("rootfs/dev");
    std::fs::remove_dir_all(&dev).unwrap();
    symlink(&outside, &dev).unwrap();
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    let entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(entries.is_empty(), "made {entries:?} outside the rootfs");
    assert!(host::mounts_under(&outside).is_empty());
    if out.success() {
        t.delete_force(&id);
        panic!("a rootfs whose /dev is a symlink was accepted");
    }
    t.assert_nothing_left(&id);
}
