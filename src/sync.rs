//! The parent ↔ init channel used during `create`: a SOCK_SEQPACKET socketpair, so each
//! message arrives whole, and a dead peer shows as end-of-file instead of a hang.
//!
//! Messages are one tag byte followed by an optional UTF-8 payload.

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

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

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair, both ends close-on-exec.
pub fn pair() -> Result<(Channel, Channel), SyncError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<(), SyncError> {
        let (tag, payload): (u8, &[u8]) = match msg {
            Msg::Go(_) => (1, &[]),
            Msg::RunRuntimeHooks => (2, &[]),
            Msg::HooksDone(s) => (3, s.as_bytes()),
            Msg::Ready => (4, &[]),
            Msg::Error(s) => (5, s.as_bytes()),
            Msg::Pid(_) => (6, &[]),
        };
        let mut buf = Vec::with_capacity(1 + payload.len().min(MAX_MSG));
        buf.push(tag);
        if let Msg::Go(pid) | Msg::Pid(pid) = msg {
            buf.extend_from_slice(&pid.to_le_bytes());
        }
        buf.extend_from_slice(&payload[..payload.len().min(MAX_MSG - 8)]);
        loop {
            match send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EPIPE) | Err(nix::Error::ECONNRESET) => {
                    return Err(SyncError::PeerGone)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn recv(&self) -> Result<Msg, SyncError> {
        let mut buf = vec![0u8; MAX_MSG];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => break n,
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
    fn closed_peer_is_peer_gone() {
        let (a, b) = pair().unwrap();
        drop(a);
        assert!(matches!(b.recv(), Err(SyncError::PeerGone)));
        assert!(matches!(b.send(&Msg::Ready), Err(SyncError::PeerGone)));
    }
}
