//! A process's stdio as containerd hands it over (fifo paths, `file://` URIs, or nothing)
//! turned into what berth's child gets.
//!
//! * stdout/stderr without a terminal: the fifo is opened O_RDWR (never blocks, whether or not
//!   the client has opened its end yet) and given to the container as is — no copy thread, no
//!   extra wakeups. The shim closes its copy once berth has started the process, so the
//!   client sees end-of-file when the container's last writer goes.
//! * stdin: a pipe, fed by a thread from the fifo, so CloseIO can close the container's stdin.
//! * terminal: berth sends the pty master over a console socket; threads copy stdin fifo →
//!   master and master → stdout fifo; ResizePty sets the master's window size.

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
use std::time::Duration;

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
}

/// The end of a terminal's output copy.
pub struct OutputCopier {
    done: Receiver<()>,
}

impl OutputCopier {
    /// Waits (at most `limit`) for the copy to reach end-of-file.
    pub fn wait(self, limit: Duration) {
        let _ = self.done.recv_timeout(limit);
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
    if path.is_empty() {
        return Ok(Stdio::null());
    }
    let open_err = |source| StdioError::Open {
        what: "open output",
        path: path.to_string(),
        source,
    };
    if let Some(file) = path.strip_prefix("file://") {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(open_err)?;
        return Ok(Stdio::from(f));
    }
    if path.contains("://") {
        return Err(StdioError::Unsupported(path.to_string()));
    }
    let f = open_fifo_rdwr(path).map_err(open_err)?;
    Ok(Stdio::from(f))
}

fn open_fifo_rdwr(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl ProcessIo {
    /// Prepares stdio for a new process; the returned child side goes to berth.
    pub fn open(paths: &StdioPaths, tmp: &Path) -> Result<(ProcessIo, ChildSide), StdioError> {
        let io = ProcessIo::default();
        if paths.terminal {
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

    /// After berth has sent the pty master: start the copy threads.
    pub fn attach_console(&mut self, master: File, paths: &StdioPaths) -> Result<(), StdioError> {
        let master = Arc::new(master);
        if !paths.stdin.is_empty() {
            let fifo = open_fifo_rdwr(&paths.stdin).map_err(|source| StdioError::Open {
                what: "open stdin",
                path: paths.stdin.clone(),
                source,
            })?;
            let sink = Arc::new(Mutex::new(Some(
                master
                    .try_clone()
                    .map_err(|e| StdioError::Console(e.to_string()))?,
            )));
            self.stdin_pipe = Arc::clone(&sink);
            std::thread::spawn(move || copy_into_shared(fifo, &sink));
        }
        if !paths.stdout.is_empty() {
            let out = match paths.stdout.strip_prefix("file://") {
                Some(file) => OpenOptions::new().create(true).append(true).open(file),
                None => open_fifo_rdwr(&paths.stdout),
            }
            .map_err(|source| StdioError::Open {
                what: "open stdout",
                path: paths.stdout.clone(),
                source,
            })?;
            let src = Arc::clone(&master);
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                copy_master(&src, out);
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
    /// EIO once the last holder of the pty's other side is gone).
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

fn copy_master(master: &File, mut out: File) {
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
