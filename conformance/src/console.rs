//! The client side of `--console-socket`: a unix socket that receives the pty master over
//! SCM_RIGHTS, as containerd's shim and conmon do.

use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A listening console socket.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> ConsoleSocket {
        let listener = UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("bind console socket {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        ConsoleSocket {
            listener,
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection and returns the fd it carried; panics on timeout.
    pub fn receive_master(&self, timeout: Duration) -> File {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no console-socket connection");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept on console socket: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
        let fd = recv_fd(&stream).expect("console socket message carries an fd");
        // SAFETY: the fd was just received over SCM_RIGHTS and nothing else owns it.
        unsafe { File::from_raw_fd(fd) }
    }
}

/// Receives one fd passed with SCM_RIGHTS (the data payload, usually the pty name, is
/// ignored).
fn recv_fd(stream: &UnixStream) -> Option<RawFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control = [0u8; 256];
    // SAFETY: msghdr is a plain C struct; zeroed is a valid initial value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len();
    // SAFETY: every pointer in msg refers to buffers that outlive the call.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return None;
    }
    // SAFETY: CMSG_FIRSTHDR/CMSG_DATA walk the control buffer the kernel just filled, and
    // msg_controllen bounds it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return None;
        }
        let fd_ptr = libc::CMSG_DATA(cmsg) as *const RawFd;
        Some(std::ptr::read_unaligned(fd_ptr))
    }
}
