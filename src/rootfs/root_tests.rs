//! Tests that need root: each forks a child that unshares its mount namespace (so nothing
//! it mounts is seen by the host), runs prepare/pivot/finalize on a temporary rootfs holding
//! /bin/busybox, checks the result from inside and reports back through a pipe.

use super::*;
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{lstat, stat, SFlag};
use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, ForkResult};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const DEVPTS_MAGIC: FsType = FsType(0x1cd1);
const PROC_MAGIC: FsType = FsType(0x9fa0);
const MQUEUE_MAGIC: FsType = FsType(0x1980_0202);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary bundle with a rootfs holding busybox; removed on drop.
struct Bundle {
    dir: PathBuf,
}

impl Bundle {
    fn new() -> Bundle {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("berth-rootfs-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [
            "rootfs/bin",
            "rootfs/proc",
            "rootfs/sys",
            "rootfs/etc",
            "host",
        ] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
        std::fs::write(dir.join("host/hello"), "hi").unwrap();
        std::fs::create_dir_all(dir.join("host/sub")).unwrap();
        Bundle { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `prepare` with nothing to enter late.
fn prepare_all(s: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    prepare(s, rootfs, opts, || Ok(()))
}

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("skipped: needs root");
        false
    }
}

/// Runs `body` in a forked child with private mount, UTS and IPC namespaces. The child's
/// list of failed checks (or its error) comes back as the Err text.
fn in_child(body: impl FnOnce() -> Vec<String>) -> Result<(), String> {
    in_child_with(false, body)
}

/// Enters a new user namespace mapping only root to root (all a process may map alone).
fn enter_user_namespace() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| format!("unshare user: {e}"))?;
    for (file, text) in [
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", "0 0 1"),
        ("/proc/self/gid_map", "0 0 1"),
    ] {
        std::fs::write(file, text).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}

/// [`in_child`], first entering a new user namespace when `userns`.
fn in_child_with(userns: bool, body: impl FnOnce() -> Vec<String>) -> Result<(), String> {
    let (rd, wr) = pipe().unwrap();
    // SAFETY: the child only runs the test body and then _exit()s; glibc keeps malloc usable
    // after fork, and nothing else in the child depends on the parent's other threads.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(rd);
            let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if userns {
                    enter_user_namespace()?;
                }
                unshare(
                    CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC,
                )
                .map_err(|e| format!("unshare: {e}"))?;
                // Never let anything propagate back to the host.
                nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| format!("rslave: {e}"))?;
                Ok::<_, String>(body())
            }));
            let text = match report {
                Ok(Ok(failures)) => failures.join("\n"),
                Ok(Err(e)) => e,
                Err(_) => "child panicked".to_string(),
            };
            let mut f = std::fs::File::from(wr);
            let _ = f.write_all(text.as_bytes());
            drop(f);
            // SAFETY: ends the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut text = String::new();
            std::fs::File::from(rd).read_to_string(&mut text).unwrap();
            let status = waitpid(child, None).unwrap();
            assert_eq!(status, WaitStatus::Exited(child, 0));
            if text.is_empty() {
                Ok(())
            } else {
                Err(text)
            }
        }
    }
}

/// Collects failed checks.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, name: &str, ok: bool) {
        if !ok {
            self.0.push(format!("check failed: {name}"));
        }
    }
    fn step<T>(&mut self, name: &str, r: Result<T, RootfsError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(format!("{name}: {e}"));
                None
            }
        }
    }
}

fn spec(json: serde_json::Value) -> Spec {
    serde_json::from_value(json).unwrap()
}

fn is_fs(path: &str, magic: FsType) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == magic)
}

fn write_fails_with(path: &str, errno: i32) -> bool {
    match std::fs::write(path, "x") {
        Ok(()) => false,
        Err(e) => e.raw_os_error() == Some(errno),
    }
}

fn char_dev(path: &str, major: u64, minor: u64, mode: u32) -> bool {
    stat(path).is_ok_and(|s| {
        SFlag::from_bits_truncate(s.st_mode & libc::S_IFMT) == SFlag::S_IFCHR
            && libc::major(s.st_rdev) as u64 == major
            && libc::minor(s.st_rdev) as u64 == minor
            && s.st_mode & 0o7777 == mode
    })
}

fn link_to(path: &str, target: &str) -> bool {
    std::fs::read_link(path).is_ok_and(|t| t == Path::new(target))
}

#[test]
fn full_setup_inside_container() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let host = b.dir.join("host");
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=1m"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/ovl", "type": "overlay", "source": "overlay",
             "options": [format!("lowerdir={}", b.dir.join("host").display()),
                         format!("upperdir={}", b.dir.join("upper").display()),
                         format!("workdir={}", b.dir.join("work").display())]},
            {"destination": "data2", "type": "bind", "source": "host", "options": ["bind"]},
            {"destination": "/dev/full", "type": "bind", "source": "/dev/null",
             "options": ["bind"]},
            {"destination": "/var", "type": "tmpfs", "source": "tmpfs",
             "options": ["tmpcopyup", "mode=755"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/data", "type": "bind", "source": "host",
             "options": ["rbind", "ro", "nosuid"]},
            {"destination": "/etc/hello", "type": "bind", "source": host.join("hello"),
             "options": ["bind", "rw"]},
            {"destination": "/keep", "type": "bind", "source": host.join("sub"),
             "options": ["bind", "ro"]},
            {"destination": "/rec", "type": "bind", "source": host,
             "options": ["rbind", "rro", "rprivate"]}
        ],
        "linux": {
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                         "fileMode": 0o600, "uid": 0, "gid": 0}],
            "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/proc/scsi", "/bin/busybox/x", "/does/not/exist", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/bus"],
            "sysctl": {"kernel.domainname": "berth.test"}
        }
    }));
    validate(&s).unwrap();
    std::fs::create_dir_all(b.dir.join("upper")).unwrap();
    std::fs::create_dir_all(b.dir.join("work")).unwrap();
    let rootfs = b.rootfs();
    let opts = RootfsOptions {
        bundle: b.dir.clone(),
        ..Default::default()
    };
    std::fs::create_dir_all(rootfs.join("var/lib")).unwrap();
    std::fs::write(rootfs.join("var/lib/state"), "image").unwrap();
    let host_sub = b.dir.join("host/sub");
    let result = in_child(|| {
        let mut c = Checks::default();
        // A submount in the bind source: rro must reach it, ro alone must not.
        if let Err(e) = nix::mount::mount(
            Some("tmpfs"),
            &host_sub,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            None::<&str>,
        ) {
            return vec![format!("submount: {e}")];
        }
        if c.step("prepare", prepare_all(&s, &rootfs, &opts)).is_none()
            || c.step("pivot", pivot(&rootfs, false)).is_none()
            || c.step("finalize", finalize(&s)).is_none()
        {
            return c.0;
        }
        c.check("busybox at /bin", Path::new("/bin/busybox").exists());
        c.check("old root gone", !Path::new(&rootfs).exists());
        c.check("/proc is proc", is_fs("/proc", PROC_MAGIC));
        c.check("/dev is tmpfs", is_fs("/dev", TMPFS_MAGIC));
        c.check("/dev/pts is devpts", is_fs("/dev/pts", DEVPTS_MAGIC));
        c.check("/dev/shm is tmpfs", is_fs("/dev/shm", TMPFS_MAGIC));
        c.check("/tmp is tmpfs", is_fs("/tmp", TMPFS_MAGIC));
        c.check(
            "/tmp mode 1777",
            stat("/tmp").is_ok_and(|s| s.st_mode & 0o7777 == 0o1777),
        );
        for (p, min) in [
            ("/dev/null", 3),
            ("/dev/zero", 5),
            ("/dev/random", 8),
            ("/dev/urandom", 9),
        ] {
            c.check(p, char_dev(p, 1, min, 0o666));
        }
        c.check("/dev/tty", char_dev("/dev/tty", 5, 0, 0o666));
        c.check(
            "a config mount on /dev/full is kept",
            char_dev("/dev/full", 1, 3, 0o666),
        );
        c.check(
            "/dev/fuse from linux.devices",
            char_dev("/dev/fuse", 10, 229, 0o600),
        );
        c.check("/dev/ptmx link", link_to("/dev/ptmx", "pts/ptmx"));
        c.check("/dev/fd link", link_to("/dev/fd", "/proc/self/fd"));
        c.check("/dev/stdin link", link_to("/dev/stdin", "/proc/self/fd/0"));
        c.check(
            "/dev/stdout link",
            link_to("/dev/stdout", "/proc/self/fd/1"),
        );
        c.check(
            "/dev/stderr link",
            link_to("/dev/stderr", "/proc/self/fd/2"),
        );
        c.check(
            "/dev/null writable",
            std::fs::write("/dev/null", "x").is_ok(),
        );
        c.check(
            "bind source readable",
            std::fs::read_to_string("/data/hello").is_ok_and(|t| t == "hi"),
        );
        c.check("ro bind", write_fails_with("/data/hello", libc::EROFS));
        c.check(
            "ro bind: submount untouched",
            std::fs::write("/data/sub/f", "x").is_ok(),
        );
        c.check(
            "rro reaches submount",
            write_fails_with("/rec/sub/g", libc::EROFS),
        );
        c.check(
            "ro bind keeps the source's nosuid,nodev",
            nix::sys::statvfs::statvfs("/keep").is_ok_and(|v| {
                use nix::sys::statvfs::FsFlags;
                v.flags()
                    .contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_RDONLY)
            }),
        );
        c.check("file bind rw", std::fs::write("/etc/hello", "hi").is_ok());
        c.check("readonly root", write_fails_with("/newfile", libc::EROFS));
        c.check(
            "sysctl written",
            std::fs::read_to_string("/proc/sys/kernel/domainname")
                .is_ok_and(|t| t.trim() == "berth.test"),
        );
        c.check(
            "/proc/sys read-only",
            write_fails_with("/proc/sys/kernel/domainname", libc::EROFS),
        );
        c.check(
            "/proc/timer_list masked",
            std::fs::read("/proc/timer_list").is_ok_and(|d| d.is_empty()),
        );
        c.check(
            "/sys/firmware masked (empty dir)",
            std::fs::read_dir("/sys/firmware").is_ok_and(|mut d| d.next().is_none()),
        );
        c.check(
            "sysfs read-only",
            write_fails_with("/sys/kernel/uevent_helper", libc::EROFS),
        );
        c.check(
            "cgroup memory hierarchy",
            Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists(),
        );
        c.check(
            "cgroup read-only",
            write_fails_with("/sys/fs/cgroup/memory/cgroup.procs", libc::EROFS),
        );
        c.check(
            "cgroup tmpfs read-only",
            std::fs::create_dir("/sys/fs/cgroup/new").is_err(),
        );
        c.check(
            "overlay shows the lower layer",
            std::fs::read_to_string("/ovl/hello").is_ok_and(|t| t == "hi"),
        );
        c.check("overlay writable", std::fs::write("/ovl/new", "x").is_ok());
        c.check(
            "relative destination is under /",
            Path::new("/data2/hello").is_file(),
        );
        c.check("/var is tmpfs", is_fs("/var", TMPFS_MAGIC));
        c.check(
            "tmpcopyup copied the image's /var",
            std::fs::read_to_string("/var/lib/state").is_ok_and(|t| t == "image"),
        );
        c.check("mqueue mounted", is_fs("/dev/mqueue", MQUEUE_MAGIC));
        let out = std::process::Command::new("/bin/busybox")
            .args(["cat", "/proc/self/mountinfo"])
            .output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let host_only = text.lines().any(|l| l.contains(" /work"));
                c.check("host mounts not visible", !host_only);
            }
            other => c.0.push(format!("busybox: {other:?}")),
        }
        c.0
    });
    assert_eq!(result, Ok(()));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(b.dir.to_str().unwrap()),
        "mounts leaked to the host"
    );
}

#[test]
fn symlink_escape_stays_inside_rootfs() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let outside = format!("/tmp/berth-escape-{}-{n}", std::process::id());
    let outside_rel = format!("../../../../../../../..{outside}-rel");
    std::os::unix::fs::symlink(&outside, b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink(&outside_rel, b.rootfs().join("evil2")).unwrap();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/evil2/y", "type": "bind", "source": b.dir.join("host"),
             "options": ["bind"]},
            {"destination": "/evil2/file", "type": "bind",
             "source": b.dir.join("host/hello"), "options": ["bind"]}
        ]
    }));
    let rootfs = b.rootfs();
    let opts = RootfsOptions::default();
    let (outside_c, rootfs_c) = (outside.clone(), rootfs.clone());
    let result = in_child(move || {
        let mut c = Checks::default();
        if c.step("prepare", prepare_all(&s, &rootfs_c, &opts))
            .is_none()
        {
            return c.0;
        }
        let inside = rootfs_c.join(outside_c.trim_start_matches('/'));
        c.check(
            "tmpfs landed inside",
            is_fs(inside.join("x").to_str().unwrap_or(""), TMPFS_MAGIC),
        );
        let inside_rel = rootfs_c.join(format!("{}-rel", outside_c.trim_start_matches('/')));
        c.check("bind landed inside", inside_rel.join("y/hello").is_file());
        c.check(
            "file bind landed inside",
            std::fs::read_to_string(inside_rel.join("file")).is_ok_and(|t| t == "hi"),
        );
        c.check("nothing on the host", !Path::new(&outside_c).exists());
        c.check(
            "nothing on the host (relative)",
            !Path::new(&format!("{outside_c}-rel")).exists(),
        );
        c.check(
            "evil still a symlink",
            lstat(&rootfs_c.join("evil")).is_ok(),
        );
        c.0
    });
    assert_eq!(result, Ok(()));
    assert!(!Path::new(&outside).exists());
    assert!(!Path::new(&format!("{outside}-rel")).exists());
}

/// `enter_late` runs once, right before the first mount that shows the process's network
/// namespace or cgroup (sysfs here), so what comes before it is mounted and what comes
/// after is not; without such a mount it runs after the last one.
#[test]
fn enter_late_runs_before_the_first_sysfs_or_cgroup_mount() {
    if !is_root() {
        return;
    }
    let is_tmpfs = |p: &Path| statfs(p).is_ok_and(|f| f.filesystem_type() == TMPFS_MAGIC);
    for with_sysfs in [true, false] {
        let b = Bundle::new();
        let mut mounts = vec![serde_json::json!(
            {"destination": "/a", "type": "tmpfs", "source": "tmpfs"})];
        if with_sysfs {
            mounts.push(serde_json::json!(
                {"destination": "/sys", "type": "sysfs", "source": "sysfs"}));
        }
        mounts.push(serde_json::json!(
            {"destination": "/b", "type": "tmpfs", "source": "tmpfs"}));
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "mounts": mounts
        }));
        let rootfs = b.rootfs();
        let result = in_child(|| {
            let mut c = Checks::default();
            let mut seen = None;
            let mut calls = 0;
            let done = prepare(&s, &rootfs, &RootfsOptions::default(), || {
                calls += 1;
                seen = Some((
                    is_tmpfs(&rootfs.join("a")),
                    is_tmpfs(&rootfs.join("b")),
                    Path::new(&rootfs.join("sys/kernel")).exists(),
                ));
                Ok::<(), RootfsError>(())
            });
            if c.step("prepare", done).is_none() {
                return c.0;
            }
            c.check("called once", calls == 1);
            let (a, b_mounted, sys) = seen.unwrap_or_default();
            c.check("/a mounted before", a);
            c.check("sysfs not yet mounted", !sys);
            c.check(
                "/b after the sysfs mount, else before the call",
                b_mounted != with_sysfs,
            );
            c.0
        });
        assert_eq!(result, Ok(()), "with sysfs: {with_sysfs}");
    }
}

#[test]
fn failing_mount_names_destination_and_type() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/bad", "type": "nosuchfs", "source": "x"}]
    }));
    let rootfs = b.rootfs();
    let result = in_child(
        || match prepare_all(&s, &rootfs, &RootfsOptions::default()) {
            Ok(()) => vec![],
            Err(e) => vec![e.to_string()],
        },
    );
    let err = result.unwrap_err();
    assert!(err.contains("/bad") && err.contains("nosuchfs"), "{err}");
}

/// pivot_root refuses a rootfs whose parent mount is shared: whatever propagation the
/// config asks for (recursive or not), prepare leaves that mount unshared, reading
/// mountinfo for it only when the propagation change did not already.
#[test]
fn pivot_works_when_the_rootfs_sits_on_a_shared_mount() {
    if !is_root() {
        return;
    }
    for propagation in ["rslave", "rprivate", "private", "slave"] {
        let b = Bundle::new();
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "linux": {"rootfsPropagation": propagation}
        }));
        let rootfs = b.rootfs();
        let dir = b.dir.clone();
        let result = in_child(|| {
            let mut c = Checks::default();
            let shared = nix::mount::mount(
                Some(&dir),
                &dir,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .and_then(|()| {
                nix::mount::mount(
                    None::<&str>,
                    &dir,
                    None::<&str>,
                    nix::mount::MsFlags::MS_SHARED,
                    None::<&str>,
                )
            });
            c.check("bundle on a shared mount", shared.is_ok());
            if c.step(
                "prepare",
                prepare_all(&s, &rootfs, &RootfsOptions::default()),
            )
            .is_none()
                || c.step("pivot", pivot(&rootfs, false)).is_none()
            {
                return c.0;
            }
            c.check("busybox at /bin", Path::new("/bin/busybox").exists());
            c.0
        });
        assert_eq!(result, Ok(()), "propagation={propagation}");
    }
}

/// Device nodes get their exact modes whatever the umask (which is left as it was),
/// owners where asked, set-user-ID and set-group-ID bits kept across the chown, and a node
/// already there stays as it is.
#[test]
fn device_nodes_exact_modes_owners_and_umask_kept() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "linux": {"devices": [
            {"path": "/dev/sgid-null", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o6750, "uid": 0, "gid": 5},
            {"path": "/dev/sub/zero2", "type": "c", "major": 1, "minor": 5,
             "fileMode": 0o600, "uid": 7, "gid": 7},
            {"path": "/dev/sub/zero2", "type": "c", "major": 1, "minor": 7,
             "fileMode": 0o644, "uid": 0, "gid": 0}
        ]}
    }));
    let rootfs = b.rootfs();
    let result = in_child(|| {
        let mut c = Checks::default();
        let before = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let done = prepare_all(&s, &rootfs, &RootfsOptions::default());
        let after = nix::sys::stat::umask(before);
        if c.step("prepare", done).is_none() {
            return c.0;
        }
        c.check("umask restored", after.bits() == 0o077);
        let node = |p: &str| stat(&rootfs.join(p)).ok();
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let st = node(&format!("dev/{name}"));
            c.check(
                &format!("/dev/{name} 0666 root:root"),
                st.is_some_and(|st| {
                    st.st_mode & 0o7777 == 0o666 && st.st_uid == 0 && st.st_gid == 0
                }),
            );
        }
        let st = node("dev/sgid-null");
        c.check(
            "/dev/sgid-null 06750 0:5",
            st.is_some_and(|st| st.st_mode & 0o7777 == 0o6750 && st.st_gid == 5),
        );
        let st = node("dev/sub/zero2");
        c.check(
            "/dev/sub/zero2: the first entry, 0600 7:7",
            st.is_some_and(|st| {
                st.st_mode & 0o7777 == 0o600
                    && (st.st_uid, st.st_gid) == (7, 7)
                    && st.st_rdev == nix::sys::stat::makedev(1, 5)
            }),
        );
        c.0
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn no_pivot_and_shared_propagation() {
    if !is_root() {
        return;
    }
    for (no_pivot, propagation) in [(true, "rslave"), (false, "shared"), (false, "rprivate")] {
        let b = Bundle::new();
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"rootfsPropagation": propagation}
        }));
        let rootfs = b.rootfs();
        let result = in_child(|| {
            let mut c = Checks::default();
            if c.step(
                "prepare",
                prepare_all(&s, &rootfs, &RootfsOptions::default()),
            )
            .is_none()
                || c.step("pivot", pivot(&rootfs, no_pivot)).is_none()
                || c.step("finalize", finalize(&s)).is_none()
            {
                return c.0;
            }
            c.check("busybox at /bin", Path::new("/bin/busybox").exists());
            c.check("/proc mounted", is_fs("/proc", PROC_MAGIC));
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            let root_line = info
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/"))
                .unwrap_or("");
            let want_shared = propagation == "shared";
            c.check(
                "root propagation",
                root_line.contains("shared:") == want_shared,
            );
            c.0
        });
        assert_eq!(
            result,
            Ok(()),
            "no_pivot={no_pivot} propagation={propagation}"
        );
    }
}

#[test]
fn user_namespace_mode_binds_host_devices_and_sys() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}
        ]
    }));
    let rootfs = b.rootfs();
    let opts = RootfsOptions {
        in_user_namespace: true,
        ..Default::default()
    };
    let result = in_child(|| {
        let mut c = Checks::default();
        if c.step("prepare", prepare_all(&s, &rootfs, &opts)).is_none()
            || c.step("pivot", pivot(&rootfs, false)).is_none()
        {
            return c.0;
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounted = |p: &str| info.lines().any(|l| l.split(' ').nth(4) == Some(p));
        c.check("/dev/null is a bind mount", mounted("/dev/null"));
        c.check("/dev/null usable", std::fs::write("/dev/null", "x").is_ok());
        c.check("/sys rbind keeps submounts", mounted("/sys/fs/cgroup"));
        c.check(
            "/sys read-only",
            write_fails_with("/sys/kernel/uevent_helper", libc::EROFS),
        );
        c.0
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn real_user_namespace() {
    if !is_root() {
        return;
    }
    let b = Bundle::new();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/data", "type": "bind", "source": b.dir.join("host"),
             "options": ["rbind", "ro"]}
        ],
        "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}, {"type": "ipc"}]}
    }));
    let rootfs = b.rootfs();
    let opts = RootfsOptions {
        in_user_namespace: true,
        ..Default::default()
    };
    let result = in_child_with(true, || {
        let mut c = Checks::default();
        if c.step("prepare", prepare_all(&s, &rootfs, &opts)).is_none()
            || c.step("pivot", pivot(&rootfs, false)).is_none()
            || c.step("finalize", finalize(&s)).is_none()
        {
            return c.0;
        }
        c.check("/tmp is tmpfs", is_fs("/tmp", TMPFS_MAGIC));
        c.check("/dev/pts is devpts", is_fs("/dev/pts", DEVPTS_MAGIC));
        c.check("/dev/mqueue is mqueue", is_fs("/dev/mqueue", MQUEUE_MAGIC));
        c.check("/dev/null usable", std::fs::write("/dev/null", "x").is_ok());
        c.check(
            "/data read-only",
            write_fails_with("/data/hello", libc::EROFS),
        );
        c.check(
            "/sys read-only",
            write_fails_with("/sys/kernel/uevent_helper", libc::EROFS),
        );
        c.check("readonly root", write_fails_with("/newfile", libc::EROFS));
        c.0
    });
    assert_eq!(result, Ok(()));
}

#[test]
fn cgroup_mount_in_cgroup_namespace() {
    if !is_root() {
        return;
    }
    const CGROUP_MAGIC: FsType = FsType(0x0027_e0eb);
    const CGROUP2_MAGIC: FsType = FsType(0x6367_7270);
    let b = Bundle::new();
    let s = spec(serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "mounts": [
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev"]}
        ]
    }));
    let rootfs = b.rootfs();
    let opts = RootfsOptions {
        in_cgroup_namespace: true,
        ..Default::default()
    };
    let result = in_child(|| {
        let mut c = Checks::default();
        if let Err(e) = unshare(CloneFlags::CLONE_NEWCGROUP) {
            return vec![format!("unshare cgroup: {e}")];
        }
        if c.step("prepare", prepare_all(&s, &rootfs, &opts)).is_none()
            || c.step("pivot", pivot(&rootfs, false)).is_none()
        {
            return c.0;
        }
        c.check(
            "cpu is a cgroup mount",
            is_fs("/sys/fs/cgroup/cpu", CGROUP_MAGIC),
        );
        c.check(
            "memory has cgroup.procs",
            Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists(),
        );
        c.check(
            "unified is cgroup2",
            is_fs("/sys/fs/cgroup/unified", CGROUP2_MAGIC),
        );
        c.check(
            "read-only by default",
            write_fails_with("/sys/fs/cgroup/memory/cgroup.procs", libc::EROFS),
        );
        c.0
    });
    assert_eq!(result, Ok(()));
}
