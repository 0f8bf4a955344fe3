//! The monitor's loop while the container runs: copy the container's output (two pipes, or
//! the pty master) into the log and, when a `dock run` is attached, to its stdout/stderr;
//! copy the attached stdin into the pty; reap the init (the monitor is the child subreaper, so
//! the init becomes its child once `berth create` exits); follow SIGWINCH. It ends when the
//! init has exited and its output is drained.

use crate::logfile::{Stream, Writer};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Where the container's I/O is.
pub struct Io {
    /// The container's stdout pipe (no tty).
    pub stdout: Option<OwnedFd>,
    /// Its stderr pipe (no tty).
    pub stderr: Option<OwnedFd>,
    /// The pty master (tty).
    pub master: Option<OwnedFd>,
    /// Copy our stdin into the pty (`-it` attached).
    pub stdin_to_master: bool,
    /// Copy output to our stdout/stderr (`dock run` in the foreground).
    pub attached: bool,
}

/// After the init exits, output still buffered is drained; a pipe some escaped process keeps
/// open is given up after this long without data.
const DRAIN_IDLE_MS: u16 = 1000;

fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Option<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(Errno::EINTR) => continue,
            // EIO: the pty's last slave closed; anything else ends this stream too.
            Err(_) => return None,
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

/// Copy the window size of our stdin's terminal to the pty.
pub fn copy_winsize(master: BorrowedFd<'_>) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize struct we own; the fds are valid
    // for the call.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Reap every exited child; the init's exit code when it was among them.
fn reap(init: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(status) => {
                if status.pid() == Some(init) {
                    code = exit_code(status).or(code);
                }
            }
        }
    }
}

/// Run until the init exits and its output is drained; returns its exit code (128+N for a
/// signal).
pub fn run(init: i32, io: Io, log: &mut Writer) -> std::io::Result<i32> {
    let init = Pid::from_raw(init);
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGWINCH);
    mask.thread_block()?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    if let (Some(m), true) = (&io.master, io.attached) {
        copy_winsize(m.as_fd());
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out_attached = io.attached;
    let mut err_attached = io.attached;
    let mut stdin_open = io.stdin_to_master && io.master.is_some();
    // The streams still open, with the stream each one logs as.
    let mut streams: Vec<(OwnedFd, Stream)> = Vec::new();
    streams.extend(io.stdout.map(|f| (f, Stream::Stdout)));
    streams.extend(io.stderr.map(|f| (f, Stream::Stderr)));
    let master_raw = io.master.as_ref().map(|m| m.as_raw_fd());
    // The master must outlive the stream list entry so stdin can still be copied into it.
    let master_dup = match &io.master {
        Some(m) => Some(m.try_clone()?),
        None => None,
    };
    streams.extend(io.master.map(|f| (f, Stream::Stdout)));
    let mut code = reap(init);
    let mut buf = vec![0u8; 64 * 1024];
    while !(code.is_some() && streams.is_empty()) {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        for (f, _) in &streams {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        let timeout = if code.is_some() {
            PollTimeout::from(DRAIN_IDLE_MS)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break, // drained as far as we will wait
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut closed = Vec::new();
        for (i, (f, stream)) in streams.iter().enumerate() {
            if !ready[1 + i] {
                continue;
            }
            match read_some(f.as_fd(), &mut buf) {
                None => closed.push(i),
                Some(n) => {
                    let data = &buf[..n];
                    let _ = log.write(*stream, data);
                    match stream {
                        Stream::Stdout if out_attached => {
                            out_attached = write_all(stdout.as_fd(), data);
                        }
                        Stream::Stderr if err_attached => {
                            err_attached = write_all(stderr.as_fd(), data);
                        }
                        _ => {}
                    }
                }
            }
        }
        if stdin_open && ready[1 + streams.len()] {
            match (read_some(stdin.as_fd(), &mut buf), &master_dup) {
                (Some(n), Some(m)) => {
                    write_all(m.as_fd(), &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
        for i in closed.into_iter().rev() {
            if Some(streams[i].0.as_raw_fd()) == master_raw {
                stdin_open = false;
            }
            streams.remove(i);
        }
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                if info.ssi_signo == Signal::SIGWINCH as u32 {
                    if let Some(m) = &master_dup {
                        copy_winsize(m.as_fd());
                    }
                }
            }
            if code.is_none() {
                code = reap(init);
            }
        }
    }
    let _ = log.finish();
    Ok(match code {
        Some(c) => c,
        // Drained while the init still ran (cannot happen: streams only close after exit).
        None => loop {
            match waitpid(init, None) {
                Ok(status) => {
                    if let Some(c) = exit_code(status) {
                        break c;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(_) => break 255,
            }
        },
    })
}
