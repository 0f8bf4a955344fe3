//! Test helpers: a cgroup under a unique `/berth-test-<random>` parent in every
//! hierarchy, removed (with anything left in it) when dropped.

use super::CgroupManager;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique top-level name: berth-test-<pid>-<nanos>-<n>.
pub fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "berth-test-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A manager for `/berth-test-<random>/ctr`; Drop kills what is left in it and removes
/// both levels in every hierarchy.
pub struct TestCgroup {
    pub mgr: CgroupManager,
    pub top: String,
}

impl TestCgroup {
    pub fn new() -> Self {
        assert!(nix::unistd::geteuid().is_root(), "cgroup tests run as root");
        let top = unique_name();
        let mgr = CgroupManager::new(Some(&format!("/{top}/ctr")), "unused").unwrap();
        TestCgroup { mgr, top }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Ok(pids) = self.mgr.pids() {
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for h in &self.mgr.hierarchies {
            if !h.unified && h.controllers.iter().any(|c| c == "freezer") {
                let _ = std::fs::write(h.dir.join("freezer.state"), "THAWED");
            }
            if h.unified {
                let _ = std::fs::write(h.dir.join("cgroup.freeze"), "0");
            }
        }
        let _ = self.mgr.destroy();
        for h in &self.mgr.hierarchies {
            let top = h.mount_point.join(&self.top);
            for dir in [top.join("ctr"), top] {
                for _ in 0..50 {
                    match std::fs::remove_dir(&dir) {
                        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                            std::thread::sleep(std::time::Duration::from_millis(20))
                        }
                        _ => break,
                    }
                }
            }
        }
    }
}

/// A forked child that joined the test cgroup with `join_self` and then runs a body
/// (which must not allocate: the test process has threads); killed and reaped on drop
/// unless already reaped.
pub struct Member {
    pub pid: nix::unistd::Pid,
    mgr: CgroupManager,
    reaped: bool,
}

fn pause_forever() -> i32 {
    loop {
        nix::unistd::pause();
    }
}

impl Member {
    /// A child that joins and sleeps; returns once it shows in the cgroup.
    pub fn spawn(mgr: &CgroupManager) -> Self {
        let member = Self::run(mgr, pause_forever);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !mgr
            .pids()
            .unwrap_or_default()
            .contains(&member.pid.as_raw())
        {
            assert!(std::time::Instant::now() < deadline, "child never joined");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        member
    }

    /// A child that joins, runs `body` and exits with its result (100 if joining
    /// failed).
    pub fn run(mgr: &CgroupManager, body: fn() -> i32) -> Self {
        Self::run_joining(mgr, CgroupManager::join_self, body)
    }

    /// [`Member::run`] joining with `join` (`join_self` or `join_self_v1`).
    pub fn run_joining(
        mgr: &CgroupManager,
        join: fn(&CgroupManager) -> Result<(), super::CgroupError>,
        body: fn() -> i32,
    ) -> Self {
        // SAFETY: the child only calls `join` (no allocation on success), `body`
        // (allocation-free by contract) and _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = if join(mgr).is_ok() { body() } else { 100 };
                // SAFETY: leaving the forked child without running the parent's atexit
                // handlers or destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => Member {
                pid: child,
                mgr: mgr.clone(),
                reaped: false,
            },
        }
    }

    /// Waits for the child; its exit code (panics if it was killed).
    pub fn exit_code(&mut self) -> i32 {
        let status = nix::sys::wait::waitpid(self.pid, None).unwrap();
        self.reaped = true;
        match status {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        }
    }
}

impl Member {
    /// Waits for the child; the signal that killed it (panics if it exited).
    pub fn killed_by(&mut self) -> nix::sys::signal::Signal {
        let status = nix::sys::wait::waitpid(self.pid, None).unwrap();
        self.reaped = true;
        match status {
            nix::sys::wait::WaitStatus::Signaled(_, signal, _) => signal,
            other => panic!("child ended with {other:?}"),
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.mgr.thaw();
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// 0 when /dev/null opens and /dev/zero is refused with EPERM.
pub fn null_but_not_zero() -> i32 {
    // SAFETY: open with static NUL-terminated paths; fds are closed again.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        let zero = libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY);
        let zero_errno = std::io::Error::last_os_error().raw_os_error();
        if null >= 0 {
            libc::close(null);
        }
        if zero >= 0 {
            libc::close(zero);
        }
        i32::from(!(null >= 0 && zero < 0 && zero_errno == Some(libc::EPERM)))
    }
}
