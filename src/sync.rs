//! The parent ↔ init channel used during `create`: a SOCK_SEQPACKET socketpair, so each
//! message arrives whole, and a dead peer shows as end-of-file instead of a hang.
//!
//! Messages are one tag byte followed by an optional UTF-8 payload.

use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Biggest message: an error line or a state document.
const MAX_MSG: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// parent → init: uid/gid maps written (and the init's pid added to its cgroup when the
    /// parent had to do it); payload: the init's host pid.
    Go(i32),
    /// init → parent: the real init's host pid, when a second fork made it pid 1 of a pid
    /// namespace owned by a joined user namespace.
    Pid(i32),
    /// init → parent: the seccomp notify listener, attached as SCM_RIGHTS (take it with
    /// [`Channel::take_fd`]); the parent hands it to `listenerPath`.
    Listener,
    /// init → parent: mounts done, run prestart and createRuntime hooks now.
    RunRuntimeHooks,
    /// parent → init: those hooks ran; payload: the state document for the init's own hooks.
    HooksDone(String),
    /// init → parent: all set up, waiting on the start channel.
    Ready,
    /// init → parent: setup failed; the init exits after sending this.
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("container init exited before it finished setting up")]
    PeerGone,
    #[error("sync channel: {0}")]
    Sys(#[from] nix::Error),
    #[error("sync channel: unexpected message {0:?}")]
    Unexpected(Msg),
    #[error("sync channel: malformed message")]
    Malformed,
}

/// A message as it travels: its tag byte, then the pid or the text.
fn encode(msg: &Msg) -> Vec<u8> {
    let (tag, payload): (u8, &[u8]) = match msg {
        Msg::Go(_) => (1, &[]),
        Msg::RunRuntimeHooks => (2, &[]),
        Msg::HooksDone(s) => (3, s.as_bytes()),
        Msg::Ready => (4, &[]),
        Msg::Error(s) => (5, s.as_bytes()),
        Msg::Pid(_) => (6, &[]),
        Msg::Listener => (7, &[]),
    };
    let mut buf = Vec::with_capacity(1 + payload.len().min(MAX_MSG));
    buf.push(tag);
    if let Msg::Go(pid) | Msg::Pid(pid) = msg {
        buf.extend_from_slice(&pid.to_le_bytes());
    }
    buf.extend_from_slice(&payload[..payload.len().min(MAX_MSG - 8)]);
    buf
}

pub struct Channel {
    fd: OwnedFd,
    /// An fd that arrived with the last message.
    received: std::cell::RefCell<Option<OwnedFd>>,
}

/// A connected pair, both ends close-on-exec.
pub fn pair() -> Result<(Channel, Channel), SyncError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel::new(a), Channel::new(b)))
}

impl Channel {
    fn new(fd: OwnedFd) -> Self {
        Channel {
            fd,
            received: std::cell::RefCell::new(None),
        }
    }

    /// The fd that came with the last message, if any.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        self.received.borrow_mut().take()
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS): the seccomp `Listener`, or `Go` with
    /// the network namespace made beside create (`netns_maker`).
    pub fn send_with_fd(&self, msg: &Msg, fd: RawFd) -> Result<(), SyncError> {
        if !matches!(msg, Msg::Listener | Msg::Go(_)) {
            return Err(SyncError::Unexpected(msg.clone()));
        }
        self.transmit(&encode(msg), &[fd])
    }

    /// Sends one encoded message, with `fds` attached when there are any.
    fn transmit(&self, buf: &[u8], fds: &[RawFd]) -> Result<(), SyncError> {
        use nix::sys::socket::{sendmsg, ControlMessage};
        let iov = [std::io::IoSlice::new(buf)];
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => {
                    return Err(SyncError::PeerGone)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Whether the other end has been closed everywhere (its process died or closed it),
    /// without waiting.
    pub fn peer_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => fds[0]
                .revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
            Err(_) => false,
        }
    }

    pub fn send(&self, msg: &Msg) -> Result<(), SyncError> {
        self.transmit(&encode(msg), &[])
    }

    pub fn recv(&self) -> Result<Msg, SyncError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned};
        use std::os::fd::FromRawFd;
        let mut buf = vec![0u8; MAX_MSG];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let n = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    for c in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for fd in fds {
                                // SAFETY: the kernel installed this fd for us to own.
                                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                                *self.received.borrow_mut() = Some(owned);
                            }
                        }
                    }
                    break msg.bytes;
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::ECONNRESET) => return Err(SyncError::PeerGone),
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(SyncError::PeerGone);
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match buf[0] {
            1 => {
                let bytes: [u8; 4] = buf
                    .get(1..5)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(SyncError::Malformed)?;
                Msg::Go(i32::from_le_bytes(bytes))
            }
            2 => Msg::RunRuntimeHooks,
            3 => Msg::HooksDone(text(&buf[1..n])),
            4 => Msg::Ready,
            5 => Msg::Error(text(&buf[1..n])),
            7 => Msg::Listener,
            6 => {
                let bytes: [u8; 4] = buf
                    .get(1..5)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(SyncError::Malformed)?;
                Msg::Pid(i32::from_le_bytes(bytes))
            }
            _ => return Err(SyncError::Malformed),
        })
    }

    /// Receives and fails unless the message is `want`-shaped; an `Error` from the peer
    /// becomes `Err(SyncError::Unexpected(Msg::Error(..)))` for the caller to report.
    pub fn expect(&self, want: fn(&Msg) -> bool) -> Result<Msg, SyncError> {
        let msg = self.recv()?;
        if want(&msg) {
            Ok(msg)
        } else {
            Err(SyncError::Unexpected(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_message() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go(4242),
            Msg::Pid(77),
            Msg::RunRuntimeHooks,
            Msg::HooksDone("{\"id\":\"x\"}".into()),
            Msg::Ready,
            Msg::Error("mount /proc: permission denied".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
    }

    #[test]
    fn fd_travels_with_the_listener_message() {
        let (a, b) = pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_with_fd(&Msg::Listener, file.as_raw_fd()).unwrap();
        assert_eq!(b.recv().unwrap(), Msg::Listener);
        let fd = b.take_fd().expect("an fd arrived");
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert!(target.ends_with("stat"), "{target:?}");
        assert!(b.take_fd().is_none());
        // Go carries its pid and, from a netns maker, the namespace.
        a.send_with_fd(&Msg::Go(77), file.as_raw_fd()).unwrap();
        assert_eq!(b.recv().unwrap(), Msg::Go(77));
        assert!(b.take_fd().is_some(), "the fd came with Go");
        assert!(matches!(
            a.send_with_fd(&Msg::Ready, file.as_raw_fd()),
            Err(SyncError::Unexpected(Msg::Ready))
        ));
    }

    #[test]
    fn closed_peer_is_peer_gone() {
        let (a, b) = pair().unwrap();
        assert!(!b.peer_gone());
        drop(a);
        assert!(b.peer_gone());
        assert!(matches!(b.recv(), Err(SyncError::PeerGone)));
        assert!(matches!(b.send(&Msg::Ready), Err(SyncError::PeerGone)));
    }
}
