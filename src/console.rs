//! The container's terminal: a pty made inside the container (so its /dev/pts is the
//! container's), whose master goes to the caller's `--console-socket` over SCM_RIGHTS,
//! as runc does; the slave becomes the init's stdio and controlling terminal.

use crate::error::{Error, Result};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Connects to the console socket (in the parent, where the path resolves on the host).
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("console socket", e))?;
    let addr = UnixAddr::new(path)
        .map_err(|e| Error::sys(format!("console socket {}", path.display()), e))?;
    connect(fd.as_raw_fd(), &addr)
        .map_err(|e| Error::sys(format!("connect to console socket {}", path.display()), e))?;
    Ok(fd)
}

/// Bind-mounts the pty slave onto /dev/console, as runc does, so programs that open the
/// console reach the container's terminal. The bind is made from the slave fd itself and
/// onto an fd of /dev/console opened without following symlinks (CVE-2025-52565): neither a
/// swapped /dev/pts/N nor a /dev/console symlink can redirect it.
fn bind_console(slave: &OwnedFd) -> Result<()> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::{fstat, Mode, SFlag};
    let console = "/dev/console";
    let open = |flags: OFlag| {
        nix::fcntl::open(
            console,
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
    };
    let target = match open(OFlag::O_PATH) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) => {
            drop(
                open(OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY)
                    .map_err(|e| Error::sys(format!("create {console}"), e))?,
            );
            open(OFlag::O_PATH).map_err(|e| Error::sys(format!("open {console}"), e))?
        }
        Err(e) => return Err(Error::sys(format!("open {console}"), e)),
    };
    let st = fstat(&target).map_err(|e| Error::sys(format!("stat {console}"), e))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    if kind != SFlag::S_IFREG && kind != SFlag::S_IFCHR {
        return Err(Error::Other(format!(
            "{console} in the container is not a file or a device (a symlink?); refusing to bind the console onto it"
        )));
    }
    crate::rootfs::sys::bind_fd(slave.as_fd(), target.as_fd())
        .map_err(|e| Error::sys(format!("bind the pty onto {console}"), e))
}

/// Where the process's pty master goes: `(console, relay)`. With a terminal, `console` is
/// the socket the container side sends the master on: the caller's `--console-socket`, or,
/// without one, one end of a pair whose other end (`relay`) berth keeps to relay the pty
/// itself (foreground `run` and `exec`). Without a terminal, neither.
pub fn endpoints(
    terminal: bool,
    socket: Option<&Path>,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    match socket {
        _ if !terminal => Ok((None, None)),
        Some(p) => Ok((Some(connect_socket(p)?), None)),
        None => {
            let (ours, theirs) = socket_pair()?;
            Ok((Some(theirs), Some(ours)))
        }
    }
}

/// A connected stream pair standing in for `--console-socket` when berth relays the pty.
pub fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("console socketpair", e))
}

/// Receives a pty master sent with SCM_RIGHTS (the other side of [`setup_pty`]).
pub fn recv_master(socket: RawFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::IoSliceMut;
    use std::os::fd::FromRawFd;
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| Error::sys("receive pty master", e))?;
    for cmsg in msg
        .cmsgs()
        .map_err(|e| Error::sys("receive pty master", e))?
    {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us to own.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other("console: no pty master received".into()))
}

/// The slave of `master`, opened from the master itself (TIOCGPTPEER), never by its
/// /dev/pts path, which a container process could have swapped (CVE-2025-52565).
fn open_peer(master: &nix::pty::PtyMaster) -> nix::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as its int argument and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    nix::Error::result(fd)?;
    // SAFETY: the kernel just returned this fd for us to own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// After pivot_root (or setns into the container): makes the pty, sends its master to
/// `socket`, and makes the slave the controlling terminal and fds 0, 1, 2. Only the
/// container's init binds it onto /dev/console (`bind_dev_console`), as runc does; an
/// exec'd process must not re-bind the container's console.
pub fn setup_pty(socket: RawFd, bind_dev_console: bool) -> Result<()> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = open_peer(&master).map_err(|e| Error::sys(format!("open {name}"), e))?;
    let fds = [master.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("send pty master to console socket", e))?;
    drop(master);
    if bind_dev_console {
        bind_console(&slave)?;
    }
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    // SAFETY: TIOCSCTTY takes an int argument; the fd is our open pty slave.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys("set controlling terminal", nix::Error::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard fds; the source fd is valid and owned by us.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Error::sys("dup2 pty slave", nix::Error::last()));
        }
    }
    Ok(())
}
