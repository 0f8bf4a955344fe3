//! Runs a command with its stdio in files (never pipes: a container may inherit them and
//! outlive the runtime call) and a deadline, and captures what it printed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long one runtime call may take before the suite calls it hung.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The result of one finished command.
#[derive(Debug)]
pub struct Outcome {
    pub argv: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, or `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the command and its output unless it exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }

    /// Panics unless it exited non-zero.
    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(
            !self.success(),
            "command should have failed but succeeded: {}",
            self.describe()
        );
        self
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    pub fn describe(&self) -> String {
        format!(
            "{:?} -> {:?} after {:?}\nstdout: {}\nstderr: {}",
            self.argv, self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// A command started in the background with file-backed stdio.
pub struct Running {
    pub child: Child,
    argv: Vec<String>,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits up to `timeout`; on expiry kills the command and panics.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = self.started + timeout;
        let mut nap = Duration::from_millis(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Outcome {
                        argv: self.argv,
                        status,
                        stdout: read_lossy(&self.stdout),
                        stderr: read_lossy(&self.stderr),
                        elapsed: self.started.elapsed(),
                    }
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "{:?} hung for more than {timeout:?}; stderr: {}",
                        self.argv,
                        read_lossy(&self.stderr)
                    );
                }
                Err(e) => panic!("waiting for {:?}: {e}", self.argv),
            }
        }
    }
}

/// Starts `cmd` with stdin from /dev/null and stdout/stderr into the given files
/// (created or truncated).
pub fn spawn(mut cmd: Command, stdout: &Path, stderr: &Path) -> Running {
    let argv: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = File::create(stdout).unwrap_or_else(|e| panic!("create {}: {e}", stdout.display()));
    let err = File::create(stderr).unwrap_or_else(|e| panic!("create {}: {e}", stderr.display()));
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
    Running {
        child,
        argv,
        stdout: stdout.to_path_buf(),
        stderr: stderr.to_path_buf(),
        started: Instant::now(),
    }
}

/// Runs `cmd` to completion within [`CALL_TIMEOUT`].
#[track_caller]
pub fn run(cmd: Command, stdout: &Path, stderr: &Path) -> Outcome {
    spawn(cmd, stdout, stderr).wait(CALL_TIMEOUT)
}

/// A file's contents as text; empty when it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Makes `files` the command's fds 3, 4, … (as `--preserve-fds` and LISTEN_FDS expect).
pub fn pass_fds(cmd: &mut Command, files: &[File]) {
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    // Duplicate above any low fd first, so that no source is overwritten by an earlier
    // target in the child; the copies are close-on-exec and stay open in the parent only
    // until the Command is dropped.
    let high: Vec<std::os::fd::OwnedFd> = files
        .iter()
        .map(|f| {
            // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd we take ownership of.
            let fd = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) };
            assert!(fd >= 0, "dup fd: {}", std::io::Error::last_os_error());
            // SAFETY: fd was just returned by fcntl and is owned by nobody else.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        })
        .collect();
    let raw: Vec<i32> = high.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: the closure runs between fork and exec and only calls dup2, which is
    // async-signal-safe; `high` keeps the sources open until the command is spawned.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &high;
            for (i, fd) in raw.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
