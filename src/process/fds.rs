//! Inherited file descriptors: closes everything the container must not see, hands the
//! preserved fds over (CLOEXEC cleared) and announces them with LISTEN_FDS/LISTEN_PID.

use nix::errno::Errno;

use super::env::set_env;
use super::ProcessError;

/// The ranges (inclusive) of fds from `first` up that are not in `keep`.
fn ranges_to_close(first: u32, keep: &[i32]) -> Vec<(u32, u32)> {
    let mut kept: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    let mut ranges = Vec::with_capacity(kept.len() + 1);
    let mut start = first;
    for fd in kept {
        if fd > start {
            ranges.push((start, fd - 1));
        }
        start = fd + 1;
    }
    ranges.push((start, u32::MAX));
    ranges
}

fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range only closes descriptors; the caller guarantees nothing in this
    // range is still owned by Rust code that will use it.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Fallback for kernels without close_range (before 5.9): close what /proc/self/fd lists.
fn close_listed(first: u32, keep: &[i32]) -> Result<(), ProcessError> {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| ProcessError::io("read /proc/self/fd", &e))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open {
        if u32::try_from(fd).is_ok_and(|fd| fd >= first) && !keep.contains(&fd) {
            // SAFETY: see close_range; EBADF (the directory's own, now closed fd) is ignored.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

fn clear_cloexec(fd: i32) -> Result<(), ProcessError> {
    // SAFETY: fcntl on an integer fd with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        let errno = Errno::last();
        // A preserved fd that was not passed in is simply absent.
        if errno == Errno::EBADF {
            return Ok(());
        }
        return Err(ProcessError::os(
            format!("fcntl(F_GETFD) on preserved fd {fd}"),
            errno,
        ));
    }
    if flags & libc::FD_CLOEXEC != 0 {
        // SAFETY: as above.
        let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) };
        if rc < 0 {
            return Err(ProcessError::os(
                format!("fcntl(F_SETFD) on preserved fd {fd}"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn prepare_fds(
    preserve_fds: i32,
    keep: &[i32],
    env: &mut Vec<String>,
) -> Result<(), ProcessError> {
    let preserved = u32::try_from(preserve_fds).map_err(|_| {
        ProcessError::invalid(format!(
            "--preserve-fds must not be negative, got {preserve_fds}"
        ))
    })?;
    let first_closed = 3u32.saturating_add(preserved);
    for (first, last) in ranges_to_close(first_closed, keep) {
        match close_range(first, last) {
            Ok(()) => {}
            Err(Errno::ENOSYS) => return close_listed(first_closed, keep),
            Err(errno) => {
                return Err(ProcessError::os(
                    format!("close_range({first}, {last})"),
                    errno,
                ))
            }
        }
    }
    for fd in 3..first_closed {
        clear_cloexec(fd as i32)?;
    }
    if preserved > 0 {
        set_env(env, "LISTEN_FDS", &preserved.to_string());
        set_env(env, "LISTEN_PID", &std::process::id().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_child;
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranges_skip_kept_fds() {
        assert_eq!(ranges_to_close(3, &[]), vec![(3, u32::MAX)]);
        assert_eq!(
            ranges_to_close(5, &[9, 2, 6, 9, -1, 7]),
            vec![(5, 5), (8, 8), (10, u32::MAX)]
        );
        assert_eq!(ranges_to_close(3, &[3]), vec![(4, u32::MAX)]);
    }

    #[test]
    fn negative_preserve_fds_is_refused() {
        let mut env = Vec::new();
        assert!(prepare_fds(-1, &[], &mut env).is_err());
    }

    /// fcntl(F_GETFD) of `fd`: "cloexec", "open" or "closed".
    fn fd_state(fd: i32) -> &'static str {
        // SAFETY: fcntl with integer arguments.
        match unsafe { libc::fcntl(fd, libc::F_GETFD) } {
            flags if flags < 0 => "closed",
            flags if flags & libc::FD_CLOEXEC != 0 => "cloexec",
            _ => "open",
        }
    }

    #[test]
    fn closes_all_but_preserved_and_kept_in_child() {
        let report = test_child::run(|| {
            let file = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            // Park the source at 600 so it never collides with a target number.
            // SAFETY: fcntl with integer arguments; fd 600 then belongs to this child.
            let null = unsafe {
                libc::fcntl(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    libc::F_DUPFD_CLOEXEC,
                    600,
                )
            };
            drop(file);
            for fd in [3, 4, 5, 10, 20, 30, 1000] {
                if fd == test_child::report_fd() {
                    return Err(format!("report fd is {fd}; pick other numbers"));
                }
                // SAFETY: dup3 onto numbers this child owns; the test is alone in it.
                if unsafe { libc::dup3(null, fd, libc::O_CLOEXEC) } < 0 {
                    return Err(format!("dup3 {fd}: {}", Errno::last()));
                }
            }
            let mut env = strings(&["PATH=/bin", "LISTEN_PID=77"]);
            prepare_fds(2, &[20, test_child::report_fd()], &mut env).map_err(|e| e.to_string())?;
            let states: Vec<String> = [3, 4, 5, 10, 20, 30, 600, 1000]
                .iter()
                .map(|&fd| format!("{fd}:{}", fd_state(fd)))
                .collect();
            Ok(format!(
                "{};{};{}",
                states.join(" "),
                std::process::id(),
                env.join(",")
            ))
        });
        let report = report.expect("child report");
        let parts: Vec<&str> = report.split(';').collect();
        assert_eq!(
            parts[0],
            [
                "3:open",
                "4:open",
                "5:closed",
                "10:closed",
                "20:cloexec",
                "30:closed",
                "600:closed",
                "1000:closed"
            ]
            .join(" ")
        );
        // LISTEN_PID replaced in place by the child's own pid; LISTEN_FDS appended.
        let listen_pid = format!("LISTEN_PID={}", parts[1]);
        assert_eq!(
            parts[2],
            ["PATH=/bin", &listen_pid, "LISTEN_FDS=2"].join(",")
        );
    }

    #[test]
    fn no_preserved_fds_leaves_env_alone() {
        let report = test_child::run(|| {
            let mut env = strings(&["A=1"]);
            prepare_fds(0, &[test_child::report_fd()], &mut env).map_err(|e| e.to_string())?;
            Ok(env.join(","))
        });
        assert_eq!(report, Ok("A=1".to_string()));
    }
}
