//! Watching a container's cgroup for OOM kills: v1 registers an eventfd on
//! memory.oom_control through cgroup.event_control; v2 watches the `oom_kill` counter
//! of memory.events (woken by the kernel's file notification, checked at least twice a
//! second). Both also tell when the cgroup is gone.

use super::{fsio, CgroupError, CgroupManager, Layout};
use nix::poll::{PollFd, PollFlags};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The kernel's OOM killer acted in the cgroup (or, on v1, the cgroup hit its
    /// limit with the OOM killer disabled).
    Oom,
    /// The cgroup was removed; no more events will come.
    Gone,
    /// Nothing happened before the timeout.
    Timeout,
}

enum Source {
    V1 {
        dir: PathBuf,
        eventfd: OwnedFd,
        /// Kept open: the registration lives as long as this fd.
        _oom_control: File,
    },
    V2 {
        events: File,
        seen: u64,
    },
}

pub struct OomWatcher {
    source: Source,
}

/// Longest single sleep in a wait, so a removed cgroup is noticed.
const SLICE: Duration = Duration::from_millis(500);

fn io_error(path: PathBuf) -> impl FnOnce(std::io::Error) -> CgroupError {
    move |source| CgroupError::Io { path, source }
}

impl OomWatcher {
    /// Starts watching `mgr`'s memory cgroup (which `create` has made).
    pub fn new(mgr: &CgroupManager) -> Result<Self, CgroupError> {
        if mgr.layout == Layout::V2 {
            let dir = mgr
                .unified_dir()
                .ok_or_else(|| CgroupError::Invalid("no cgroup2 directory".into()))?;
            let path = dir.join("memory.events");
            let events = File::open(&path).map_err(io_error(path))?;
            let seen = read_oom_kills(&events)?.unwrap_or(0);
            return Ok(OomWatcher {
                source: Source::V2 { events, seen },
            });
        }
        let dir = mgr
            .controller_dir("memory")
            .ok_or_else(|| CgroupError::Unavailable {
                file: "memory.oom_control".into(),
                why: "the host mounts no memory cgroup hierarchy".into(),
            })?
            .to_path_buf();
        let path = dir.join("memory.oom_control");
        let oom_control = File::open(&path).map_err(io_error(path))?;
        // SAFETY: eventfd takes no pointers; a negative result is handled below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(CgroupError::Invalid(format!(
                "eventfd: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: `raw` is a new descriptor nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let line = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
        fsio::write(&dir, "cgroup.event_control", &line)?;
        Ok(OomWatcher {
            source: Source::V1 {
                dir,
                eventfd,
                _oom_control: oom_control,
            },
        })
    }

    /// Waits up to `timeout` for the next OOM event.
    pub fn wait(&mut self, timeout: Duration) -> Result<OomEvent, CgroupError> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(OomEvent::Timeout);
            }
            let slice = (deadline - now).min(SLICE);
            let ms = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX).max(1);
            match &mut self.source {
                Source::V1 { dir, eventfd, .. } => {
                    let ready = poll_one(eventfd.as_fd(), PollFlags::POLLIN, ms)?;
                    if ready {
                        let mut counter = [0u8; 8];
                        nix::unistd::read(&*eventfd, &mut counter).map_err(|e| {
                            CgroupError::Invalid(format!("reading the OOM eventfd: {e}"))
                        })?;
                    }
                    // The eventfd also fires when the cgroup is removed.
                    if !dir.exists() {
                        return Ok(OomEvent::Gone);
                    }
                    if ready {
                        return Ok(OomEvent::Oom);
                    }
                }
                Source::V2 { events, seen } => {
                    poll_one(events.as_fd(), PollFlags::POLLPRI, ms)?;
                    match read_oom_kills(events)? {
                        None => return Ok(OomEvent::Gone),
                        Some(count) if count > *seen => {
                            *seen = count;
                            return Ok(OomEvent::Oom);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
}

fn poll_one(
    fd: std::os::fd::BorrowedFd<'_>,
    flags: PollFlags,
    ms: u16,
) -> Result<bool, CgroupError> {
    let mut fds = [PollFd::new(fd, flags)];
    match nix::poll::poll(&mut fds, ms) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(CgroupError::Invalid(format!("poll: {e}"))),
    }
}

/// The oom_kill counter of an open memory.events (read from offset 0, which also
/// re-arms the kernel's change notification); None once the cgroup is gone.
fn read_oom_kills(events: &File) -> Result<Option<u64>, CgroupError> {
    let mut buf = [0u8; 1024];
    match events.read_at(&mut buf, 0) {
        Ok(n) => Ok(Some(parse_oom_kills(&String::from_utf8_lossy(&buf[..n])))),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io {
            path: PathBuf::from("memory.events"),
            source,
        }),
    }
}

/// The oom_kill count in memory.events text.
pub fn parse_oom_kills(text: &str) -> u64 {
    fsio::keyed(text, "oom_kill").unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::TestCgroup;
    use super::*;

    #[test]
    fn parses_memory_events() {
        let text = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(text), 1);
        assert_eq!(parse_oom_kills(""), 0);
    }

    /// A child that joins the cgroup and touches far more memory than the limit, with
    /// mmap and no allocator (it is forked from a multi-threaded test process).
    fn spawn_hog(mgr: &CgroupManager) -> nix::unistd::Pid {
        // SAFETY: the child calls only join_self, mmap, plain stores and _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                if mgr.join_self().is_err() {
                    // SAFETY: leaving the forked child at once.
                    unsafe { libc::_exit(2) }
                }
                const LEN: usize = 256 << 20;
                // SAFETY: an anonymous private mapping; no existing memory is touched.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        LEN,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    // SAFETY: as above.
                    unsafe { libc::_exit(3) }
                }
                let bytes = p.cast::<u8>();
                for off in (0..LEN).step_by(4096) {
                    // SAFETY: `off` lies inside the mapping made above.
                    unsafe { bytes.add(off).write_volatile(1) };
                }
                // SAFETY: as above.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => child,
        }
    }

    #[test]
    fn v1_reports_an_oom_kill_and_removal() {
        let cg = TestCgroup::new();
        let r: oci_spec::runtime::LinuxResources =
            serde_json::from_str(r#"{"memory": {"limit": 16777216, "swap": 16777216}}"#).unwrap();
        cg.mgr.create(Some(&r)).unwrap();
        let mut watcher = OomWatcher::new(&cg.mgr).unwrap();
        assert_eq!(
            watcher.wait(Duration::from_millis(20)).unwrap(),
            OomEvent::Timeout
        );
        let hog = spawn_hog(&cg.mgr);
        let event = watcher.wait(Duration::from_secs(20));
        let status = nix::sys::wait::waitpid(hog, None).unwrap();
        assert_eq!(event.unwrap(), OomEvent::Oom);
        assert!(matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ));
        cg.mgr.destroy().unwrap();
        assert_eq!(
            watcher.wait(Duration::from_secs(5)).unwrap(),
            OomEvent::Gone
        );
    }

    #[test]
    fn v2_counter_rise_is_an_oom() {
        // A stand-in memory.events: regular files never signal POLLPRI, so this also
        // shows the periodic re-check works without the kernel's notification.
        let path = std::env::temp_dir().join(super::super::test_support::unique_name());
        std::fs::write(&path, "oom 0\noom_kill 0\n").unwrap();
        struct Remove(PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let _remove = Remove(path.clone());
        let events = File::open(&path).unwrap();
        let mut watcher = OomWatcher {
            source: Source::V2 { events, seen: 0 },
        };
        assert_eq!(
            watcher.wait(Duration::from_millis(50)).unwrap(),
            OomEvent::Timeout
        );
        std::fs::write(&path, "oom 1\noom_kill 1\n").unwrap();
        assert_eq!(watcher.wait(Duration::from_secs(3)).unwrap(), OomEvent::Oom);
        assert_eq!(
            watcher.wait(Duration::from_millis(50)).unwrap(),
            OomEvent::Timeout
        );
    }
}
