//! A process's stdio as containerd hands it over (fifo paths, `file://` URIs, or nothing)
//! turned into what berth's child gets.
//!
//! * stdout/stderr without a terminal: the fifo is opened O_RDWR (never blocks, whether or not
//!   the client has opened its end yet) and given to the container as is — no copy thread, no
//!   extra wakeups. The shim closes its copy once berth has started the process, so the
//!   client sees end-of-file when the container's last writer goes.
//! * stdin: a pipe, fed by a thread from the fifo, so CloseIO can close the container's stdin.
//! * terminal: berth sends the pty master over a console socket; threads copy stdin fifo →
//!   master and master → stdout fifo; ResizePty sets the master's window size. The client's
//!   ends are opened before berth runs, once the client has its end of the stdout fifo open
//!   (as containerd's runc shim, whose blocking open for writing waits for the reader), and
//!   the process's exit is reported only once the client has read its output
//!   (`OutputCopier`). A fifo's content is freed when its last holder closes it: output
//!   copied before the client's reader existed was lost with the shim's end.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the terminal copy waits, after the last byte, for the client to read what is
/// still in its stdout fifo (see [`hand_over`]).
const HAND_OVER_LIMIT: Duration = Duration::from_secs(2);

/// How long a terminal process's start waits for the client to open its stdout fifo for
/// reading (see [`await_reader`]).
const READER_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("{what} {path}: {source}")]
    Open {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("stdio URI {0}: only fifo paths and file:// are supported")]
    Unsupported(String),
    #[error("console socket: {0}")]
    Console(String),
}

/// The client's stdio paths for one process.
#[derive(Debug, Clone, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The shim's side of a process's stdio, kept until the process is deleted.
#[derive(Default)]
pub struct ProcessIo {
    /// Writer into the container's stdin pipe (non-terminal); taken by CloseIO.
    stdin_pipe: Arc<Mutex<Option<File>>>,
    /// The pty master (terminal).
    pub console: Option<Arc<File>>,
    /// Copies master → stdout; waited for when the process exits so no output is lost.
    output_copier: Option<OutputCopier>,
    /// Terminal: the client's stdin and stdout, opened before berth runs, until
    /// `attach_console` hands them to the copy threads.
    terminal_ends: Option<TerminalEnds>,
}

/// A terminal process's client ends, opened in [`ProcessIo::open`].
struct TerminalEnds {
    stdin: Option<File>,
    stdout: Option<File>,
}

/// The end of a terminal's output copy.
pub struct OutputCopier {
    done: Receiver<()>,
}

impl OutputCopier {
    /// Waits (at most `limit`) until the copy has reached end-of-file and the client has
    /// read what it wrote (or has gone); false if `limit` passed first.
    pub fn wait(&self, limit: Duration) -> bool {
        self.done.recv_timeout(limit).is_ok()
    }
}

/// The fds berth's child gets, plus the console socket to pass for a terminal.
pub struct ChildSide {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub console_socket: Option<ConsoleSocket>,
}

/// Opens `path` for writing: a fifo O_RDWR, `file://` appended, empty → /dev/null.
fn open_output(path: &str) -> Result<Stdio, StdioError> {
    Ok(open_output_file(path, "open output", false)?.map_or_else(Stdio::null, Stdio::from))
}

/// Opens `path` for writing: a fifo O_RDWR, `file://` appended, empty → None. With
/// `await_client` a fifo is opened only once the client has its end open for reading (see
/// [`await_reader`]), as a terminal's copy needs.
fn open_output_file(
    path: &str,
    what: &'static str,
    await_client: bool,
) -> Result<Option<File>, StdioError> {
    if path.is_empty() {
        return Ok(None);
    }
    let open_err = |source| StdioError::Open {
        what,
        path: path.to_string(),
        source,
    };
    if let Some(file) = path.strip_prefix("file://") {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(open_err)?;
        return Ok(Some(f));
    }
    if path.contains("://") {
        return Err(StdioError::Unsupported(path.to_string()));
    }
    if !await_client {
        return open_fifo_rdwr(path).map(Some).map_err(open_err);
    }
    // The reader first: our own O_RDWR end would count as one. This write-only end stays
    // open until ours is, so the client's reader never sees a moment without a writer (EOF).
    let reader_seen = await_reader(path, READER_LIMIT).map_err(open_err)?;
    let out = open_fifo_rdwr(path).map_err(open_err)?;
    drop(reader_seen);
    Ok(Some(out))
}

fn open_fifo_rdwr(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// A terminal's stdout as the copy writes it (see [`open_output_file`]).
fn open_terminal_output(path: &str) -> Result<Option<File>, StdioError> {
    open_output_file(path, "open stdout", true)
}

/// Waits (at most `limit`) until someone has `path` open for reading, and returns a
/// write-only end then (None if `limit` passed first). ctr opens its end of the stdout fifo
/// on a goroutine of its own, which under load may run only after the process has exited
/// and its exit has been reported.
fn await_reader(path: &str, limit: Duration) -> std::io::Result<Option<File>> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(100);
    loop {
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path);
        match opened {
            Ok(end) => return Ok(Some(end)),
            // ENXIO: a fifo without a reader.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= deadline {
            log::warn!("no reader on {path} after {limit:?}: starting without one");
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

impl ProcessIo {
    /// Prepares stdio for a new process; the returned child side goes to berth.
    pub fn open(paths: &StdioPaths, tmp: &Path) -> Result<(ProcessIo, ChildSide), StdioError> {
        let mut io = ProcessIo::default();
        if paths.terminal {
            // Opened now, before berth runs, and stdout only once the client reads it: the
            // process may be gone by the time berth has sent the master, and its output must
            // not go into a fifo that no reader holds yet (its content dies with our end).
            let stdin = if paths.stdin.is_empty() {
                None
            } else {
                Some(
                    open_fifo_rdwr(&paths.stdin).map_err(|source| StdioError::Open {
                        what: "open stdin",
                        path: paths.stdin.clone(),
                        source,
                    })?,
                )
            };
            let stdout = open_terminal_output(&paths.stdout)?;
            io.terminal_ends = Some(TerminalEnds { stdin, stdout });
            let socket = ConsoleSocket::bind(tmp)?;
            return Ok((
                io,
                ChildSide {
                    stdin: Stdio::null(),
                    stdout: Stdio::null(),
                    stderr: Stdio::null(),
                    console_socket: Some(socket),
                },
            ));
        }
        let stdin = if paths.stdin.is_empty() {
            Stdio::null()
        } else {
            let fifo = open_fifo_rdwr(&paths.stdin).map_err(|source| StdioError::Open {
                what: "open stdin",
                path: paths.stdin.clone(),
                source,
            })?;
            let (reader, writer) =
                nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| StdioError::Open {
                    what: "pipe for stdin",
                    path: paths.stdin.clone(),
                    source: e.into(),
                })?;
            *lock(&io.stdin_pipe) = Some(File::from(writer));
            let pipe = Arc::clone(&io.stdin_pipe);
            std::thread::spawn(move || copy_into_shared(fifo, &pipe));
            Stdio::from(reader)
        };
        let child = ChildSide {
            stdin,
            stdout: open_output(&paths.stdout)?,
            stderr: open_output(&paths.stderr)?,
            console_socket: None,
        };
        Ok((io, child))
    }

    /// After berth has sent the pty master: start the copy threads on the client's ends
    /// that `open` opened.
    pub fn attach_console(&mut self, master: File) -> Result<(), StdioError> {
        let master = Arc::new(master);
        let ends = self.terminal_ends.take().unwrap_or(TerminalEnds {
            stdin: None,
            stdout: None,
        });
        if let Some(fifo) = ends.stdin {
            let sink = Arc::new(Mutex::new(Some(
                master
                    .try_clone()
                    .map_err(|e| StdioError::Console(e.to_string()))?,
            )));
            self.stdin_pipe = Arc::clone(&sink);
            std::thread::spawn(move || copy_into_shared(fifo, &sink));
        }
        if let Some(mut out) = ends.stdout {
            let src = Arc::clone(&master);
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                copy_master(&src, &mut out);
                hand_over(out, HAND_OVER_LIMIT);
                let _ = tx.send(());
            });
            self.output_copier = Some(OutputCopier { done: rx });
        }
        self.console = Some(master);
        Ok(())
    }

    /// CloseIO: the container's stdin sees end-of-file.
    pub fn close_stdin(&self) {
        lock(&self.stdin_pipe).take();
    }

    /// The terminal output copy, to wait for when the process exits (the master reads
    /// EIO once the last holder of the pty's other side is gone; then the client reads
    /// what is left in the fifo).
    pub fn take_output_copier(&mut self) -> Option<OutputCopier> {
        self.output_copier.take()
    }

    /// ResizePty.
    pub fn resize(&self, width: u32, height: u32) -> std::io::Result<()> {
        let Some(master) = &self.console else {
            return Err(std::io::Error::other("process has no terminal"));
        };
        let size = libc::winsize {
            ws_row: u16::try_from(height).unwrap_or(u16::MAX),
            ws_col: u16::try_from(width).unwrap_or(u16::MAX),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the valid pointer; the fd is our pty master.
        let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Copies from `src` into the shared sink until either side closes (CloseIO takes the sink).
fn copy_into_shared(mut src: File, sink: &Mutex<Option<File>>) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut guard = lock(sink);
        let Some(out) = guard.as_mut() else {
            return;
        };
        if out.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn copy_master(master: &File, out: &mut File) {
    let mut buf = [0u8; 8192];
    let mut reader = master;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if out.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// After the terminal's last output went into `out`: waits (at most `limit`) until the client
/// has read it from the fifo, or no reader is left. The exit is reported after this, and a
/// client may stop reading when it learns of the exit: `ctr task exec` (containerd 1.6)
/// exits with a non-zero status as soon as Wait answers, without draining its copy, so
/// output still in the fifo then was lost. Not a fifo (`file://`): nothing to wait for.
fn hand_over(out: File, limit: Duration) {
    use std::os::unix::fs::FileTypeExt;
    if !out.metadata().is_ok_and(|m| m.file_type().is_fifo()) {
        return;
    }
    // Our fd reads too (O_RDWR, so writes never failed before the client had opened its
    // end): swap it for a write-only one on the same fifo, so that "no reader" shows.
    let Ok(writer) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", out.as_raw_fd()))
    else {
        return;
    };
    drop(out);
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_micros(100);
    while unread(&writer) > 0 && has_reader(&writer) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Bytes in the pipe not yet read (FIONREAD); 0 when it cannot be asked.
fn unread(pipe: &File) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the valid pointer; the fd is our open fifo.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc < 0 {
        return 0;
    }
    usize::try_from(n).unwrap_or(0)
}

/// Whether anyone has the fifo open for reading: a pipe's writer polls POLLERR when no
/// reader is left.
fn has_reader(writer: &File) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(writer.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => !fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR)),
        Err(_) => false,
    }
}

/// A unix socket berth connects to (`--console-socket`) to hand over the pty master.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    fn bind(tmp: &Path) -> Result<ConsoleSocket, StdioError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = tmp.join(format!("berth-pty-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).map_err(|e| StdioError::Console(format!("bind: {e}")))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        Ok(ConsoleSocket { path, listener })
    }

    /// Takes the master berth sent (berth has exited successfully, so it has connected).
    pub fn receive(&self) -> Result<File, StdioError> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| StdioError::Console(e.to_string()))?;
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| StdioError::Console(format!("accept: {e}")))?;
        stream
            .set_nonblocking(false)
            .map_err(|e| StdioError::Console(e.to_string()))?;
        let mut data = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| StdioError::Console(format!("recvmsg: {e}")))?;
        let mut cmsgs = msg
            .cmsgs()
            .map_err(|e| StdioError::Console(format!("control message: {e}")))?;
        for cmsg in cmsgs.by_ref() {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd in our table for us alone.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    for &extra in &fds[1..] {
                        // SAFETY: same; extra fds we do not want are closed.
                        drop(unsafe { OwnedFd::from_raw_fd(extra) });
                    }
                    return Ok(File::from(owned));
                }
            }
        }
        Err(StdioError::Console("no pty master received".into()))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_uri_is_named() {
        let e = open_output("binary:///x").unwrap_err();
        assert!(e.to_string().contains("binary:///x"));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("berth-shim-stdio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mkfifo(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        path
    }

    /// A pty pair, both ends close-on-exec (tests run beside others that spawn children).
    fn pty() -> (File, File) {
        use nix::fcntl::OFlag;
        let master =
            nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).unwrap();
        nix::pty::grantpt(&master).unwrap();
        nix::pty::unlockpt(&master).unwrap();
        let name = nix::pty::ptsname_r(&master).unwrap();
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(name)
            .unwrap();
        (File::from(OwnedFd::from(master)), slave)
    }

    /// The client's end of a fifo as ctr holds it once open: a reader, blocking reads.
    /// Opened O_NONBLOCK so it does not wait for a writer, which the shim may not be yet.
    fn client_end(path: &Path) -> File {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .unwrap();
        fcntl(&f, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
        f
    }

    fn terminal_paths(stdout: String) -> StdioPaths {
        StdioPaths {
            stdout,
            terminal: true,
            ..Default::default()
        }
    }

    /// Reads from the client's end of the fifo until a whole line has arrived.
    fn read_line(reader: &mut File) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while !got.contains(&b'\n') {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "end of file before a line: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn terminal_fifos_are_opened_before_berth_runs() {
        // A client opens its end of the stdout fifo with a blocking open(2) (ctr does), which
        // returns once the shim has its end open: that must be before berth runs the
        // process, not once the pty master has arrived (the process may be gone by then).
        let dir = scratch("early");
        let out = mkfifo(&dir, "out");
        let (tx, rx) = channel();
        let client_path = out.clone();
        std::thread::spawn(move || {
            let _ = tx.send(File::open(&client_path).is_ok());
        });
        let (io, _child) =
            ProcessIo::open(&terminal_paths(out.display().to_string()), &dir).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        drop(io);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn terminal_start_waits_for_the_clients_reader() {
        // ctr opens its end on a goroutine that may run late; the process's output must not
        // go into a fifo that the shim then closes before any reader had it (the kernel
        // frees a fifo's content with its last holder).
        let dir = scratch("await");
        let out = mkfifo(&dir, "out");
        let (tx, rx) = channel();
        let paths = terminal_paths(out.display().to_string());
        let socket_dir = dir.clone();
        std::thread::spawn(move || {
            let _ = tx.send(ProcessIo::open(&paths, &socket_dir).is_ok());
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "started before the client had its end of stdout open"
        );
        let _client = client_end(&out);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)), Ok(true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_wait_for_a_reader_is_bounded() {
        let dir = scratch("bounded");
        let out = mkfifo(&dir, "out");
        let path = out.display().to_string();
        assert!(await_reader(&path, Duration::from_millis(50))
            .unwrap()
            .is_none());
        let _client = client_end(&out);
        assert!(await_reader(&path, Duration::from_millis(50))
            .unwrap()
            .is_some());
        assert!(await_reader(&dir.join("missing").display().to_string(), Duration::ZERO).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn terminal_output_is_done_only_once_the_client_has_read_it() {
        // The exit is reported when the copy is done, and ctr stops reading when it learns
        // of the exit: done must mean "in the client's hands", not "written to the fifo".
        let dir = scratch("handover");
        let out = mkfifo(&dir, "out");
        let mut client = client_end(&out);
        let (mut io, _child) =
            ProcessIo::open(&terminal_paths(out.display().to_string()), &dir).unwrap();
        let (master, mut slave) = pty();
        io.attach_console(master).unwrap();
        slave.write_all(b"/dev/pts/7\n").unwrap();
        drop(slave); // the process exits: the master reads its output, then EIO
        let copier = io.take_output_copier().unwrap();
        assert!(
            !copier.wait(Duration::from_millis(300)),
            "copy done while its output was still in the fifo"
        );
        assert!(read_line(&mut client).contains("/dev/pts/7"));
        assert!(copier.wait(Duration::from_secs(2)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn terminal_output_without_a_reader_does_not_hold_the_exit() {
        let dir = scratch("noreader");
        let out = mkfifo(&dir, "out");
        let client = client_end(&out);
        let (mut io, _child) =
            ProcessIo::open(&terminal_paths(out.display().to_string()), &dir).unwrap();
        drop(client); // the client came and went (`ctr task exec -d -t`)
        let (master, mut slave) = pty();
        io.attach_console(master).unwrap();
        slave.write_all(b"nobody reads this\n").unwrap();
        drop(slave);
        let started = Instant::now();
        let copier = io.take_output_copier().unwrap();
        assert!(copier.wait(Duration::from_secs(2)));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn terminal_output_to_a_file_is_appended() {
        let dir = scratch("file");
        let log = dir.join("out.log");
        std::fs::write(&log, "before\n").unwrap();
        let (mut io, _child) =
            ProcessIo::open(&terminal_paths(format!("file://{}", log.display())), &dir).unwrap();
        let (master, mut slave) = pty();
        io.attach_console(master).unwrap();
        slave.write_all(b"after\n").unwrap();
        drop(slave);
        assert!(io
            .take_output_copier()
            .unwrap()
            .wait(Duration::from_secs(2)));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.starts_with("before\n") && text.contains("after"),
            "{text:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn close_stdin_gives_eof_to_the_reader() {
        let dir = std::env::temp_dir().join(format!("berth-shim-stdio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("in");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let paths = StdioPaths {
            stdin: fifo.display().to_string(),
            ..Default::default()
        };
        let (io, child) = ProcessIo::open(&paths, &dir).unwrap();
        let mut writer = OpenOptions::new().write(true).open(&fifo).unwrap();
        writer.write_all(b"hello").unwrap();
        // The child's end is a Stdio; turn it back into a file to read it.
        let mut cmd = std::process::Command::new("cat");
        cmd.stdin(child.stdin).stdout(Stdio::piped());
        let mut cat = cmd.spawn().unwrap();
        let mut got = [0u8; 5];
        cat.stdout.as_mut().unwrap().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // cat exits only once its stdin reaches end-of-file, which CloseIO gives it.
        io.close_stdin();
        assert!(cat.wait().unwrap().success());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
