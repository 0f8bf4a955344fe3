//! Hands a seccomp notify listener to the agent at `listenerPath`, the way runc does: one
//! `sendmsg` on a connected SOCK_STREAM unix socket whose payload is the JSON
//! `ContainerProcessState` (`ociVersion`, `fds: ["seccompFd"]`, `pid`, `metadata`, `state`)
//! and whose SCM_RIGHTS carries the listener fd.

use crate::error::{Result, SeccompError};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use oci_spec::runtime::{LinuxSeccomp, State, SECCOMP_FD_NAME};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

pub use oci_spec::runtime::ContainerProcessState;

/// Builds the message runc sends: `pid` is the container process as seen by the runtime.
pub fn process_state(profile: &LinuxSeccomp, pid: i32, state: &State) -> ContainerProcessState {
    let mut s = ContainerProcessState::default();
    s.set_version(state.version().clone());
    s.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    s.set_pid(pid);
    s.set_metadata(profile.listener_metadata().clone());
    s.set_state(state.clone());
    s
}

/// Connects to `profile.listenerPath` and sends `state` with `listener` attached.
pub fn send_listener(
    profile: &LinuxSeccomp,
    listener: &OwnedFd,
    state: &ContainerProcessState,
) -> Result<()> {
    let path: PathBuf = profile.listener_path().clone().unwrap_or_default();
    let err = |message: String| SeccompError::Notify {
        path: path.clone(),
        message,
    };
    if path.as_os_str().is_empty() {
        return Err(err("linux.seccomp.listenerPath is not set".into()));
    }
    let payload = serde_json::to_vec(state).map_err(|e| err(format!("encode state: {e}")))?;
    let sock = UnixStream::connect(&path).map_err(|e| err(format!("connect: {e}")))?;
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&payload)];
    let sent = sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| err(format!("sendmsg: {e}")))?;
    if sent != payload.len() {
        return Err(err(format!(
            "short write: {sent} of {} bytes",
            payload.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::os::unix::net::UnixListener;

    #[test]
    fn sends_state_and_fd() {
        let dir = std::env::temp_dir().join(format!("berth-seccomp-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock_path = dir.join("agent.sock");
        let _ = std::fs::remove_file(&sock_path);
        let listener = UnixListener::bind(&sock_path).unwrap();
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock_path,
            "listenerMetadata": "meta-data"
        }))
        .unwrap();
        let mut st = State::default();
        st.set_id("ctr".into());
        st.set_version("1.2.0".into());
        let msg = process_state(&profile, 42, &st);
        // Any fd works for the transport test.
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        send_listener(&profile, &fd, &msg).unwrap();

        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let r = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut got_fd = None;
        for c in r.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                got_fd = fds.first().copied();
            }
        }
        let n = r.bytes;
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "meta-data");
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["state"]["id"], "ctr");
        let got_fd = got_fd.expect("an fd arrived");
        // SAFETY: test-only close of the fd we just received.
        unsafe { libc::close(got_fd) };
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
