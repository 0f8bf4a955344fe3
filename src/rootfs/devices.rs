//! /dev inside the container: the default device nodes (null zero full random urandom tty),
//! `linux.devices`, and the standard links (/dev/ptmx, /dev/fd, stdin/stdout/stderr, core).
//! Nodes are made with mknodat under an fd of their directory; in a user namespace, where
//! mknod is not allowed, the host's node is bind-mounted onto an empty file instead.

use super::resolve::{split_last, Leaf, Root};
use super::sys;
use super::{RootfsError, RootfsOptions};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::MsFlags;
use nix::sys::stat::{fchmodat, makedev, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One device node to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runtime-spec "Default Devices").
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| DeviceNode {
        path: PathBuf::from(path),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// A `linux.devices` entry as a node (the type was checked by `validate`).
pub fn from_config(d: &LinuxDevice) -> Result<DeviceNode, RootfsError> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(RootfsError::Invalid(format!(
                "linux.devices: {}: type \"a\" is not a device type",
                d.path().display()
            )))
        }
    };
    let number = |n: i64| {
        u64::try_from(n).map_err(|_| {
            RootfsError::Invalid(format!(
                "linux.devices: {}: negative major/minor",
                d.path().display()
            ))
        })
    };
    let (major, minor) = if kind == SFlag::S_IFIFO {
        (0, 0)
    } else {
        (number(d.major())?, number(d.minor())?)
    };
    Ok(DeviceNode {
        path: super::validate::container_path(d.path()).map_err(RootfsError::Invalid)?,
        kind,
        major,
        minor,
        mode: d.file_mode().map(|m| m & 0o7777).unwrap_or(0o666),
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// The defaults not overridden by the config, then the config's devices.
pub fn device_list(config: &[LinuxDevice]) -> Result<Vec<DeviceNode>, RootfsError> {
    let configured: Vec<DeviceNode> = config.iter().map(from_config).collect::<Result<_, _>>()?;
    let mut all: Vec<DeviceNode> = default_devices()
        .into_iter()
        .filter(|d| !configured.iter().any(|c| c.path == d.path))
        .collect();
    all.extend(configured);
    Ok(all)
}

/// Makes every default and configured device node.
pub fn create_devices(
    root: &Root,
    config: &[LinuxDevice],
    opts: &RootfsOptions,
) -> Result<(), RootfsError> {
    let nodes = device_list(config)?;
    if opts.in_user_namespace {
        for node in &nodes {
            bind_host_node(root, node)?;
        }
        return Ok(());
    }
    // mknod applies the umask: with none while the nodes are made, each gets its exact mode
    // from mknod itself (no chmod after it).
    let umask = nix::sys::stat::umask(Mode::empty());
    let made = make_nodes(root, &nodes);
    nix::sys::stat::umask(umask);
    made
}

/// A directory nodes are made in: its fd, and whether it is set-group-ID (then a new
/// node takes the directory's group, not ours).
struct NodeDir {
    path: PathBuf,
    fd: OwnedFd,
    setgid: bool,
}

/// mknod of each node under an fd of its directory, opened once for all the nodes in it
/// (usually /dev); chown only where the owner is not already right.
fn make_nodes(root: &Root, nodes: &[DeviceNode]) -> Result<(), RootfsError> {
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mut dir: Option<NodeDir> = None;
    for node in nodes {
        let (parent, name) = split_last(&node.path)
            .ok_or_else(|| RootfsError::Invalid(format!("device path {}", node.path.display())))?;
        let err = |what| RootfsError::sys(what, node.path.clone());
        let here = match dir.take() {
            Some(d) if d.path == parent => d,
            _ => {
                let fd = root
                    .create_all(&parent, Leaf::Dir)
                    .map_err(err("create parent of device"))?;
                let st = nix::sys::stat::fstat(&fd).map_err(err("stat parent of device"))?;
                NodeDir {
                    path: parent,
                    fd,
                    setgid: st.st_mode & libc::S_ISGID != 0,
                }
            }
        };
        let made = mknodat(
            here.fd.as_fd(),
            name.as_os_str(),
            node.kind,
            Mode::from_bits_truncate(node.mode),
            makedev(node.major, node.minor),
        );
        match made {
            Ok(()) => {}
            // /dev is a fresh tmpfs: anything already there was mounted (or made) by the
            // config on purpose.
            Err(Errno::EEXIST) => {
                dir = Some(here);
                continue;
            }
            Err(e) => return Err(err("mknod")(e)),
        }
        // mknod made it ours: our fsuid, and our fsgid unless the directory is set-group-ID.
        if node.uid != uid || node.gid != gid || here.setgid {
            fchownat(
                here.fd.as_fd(),
                name.as_os_str(),
                Some(Uid::from_raw(node.uid)),
                Some(Gid::from_raw(node.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(err("chown"))?;
            // chown clears the set-user-ID and set-group-ID bits: put them back (the node
            // was just made, not a symlink).
            if node.mode & 0o6000 != 0 {
                fchmodat(
                    here.fd.as_fd(),
                    name.as_os_str(),
                    Mode::from_bits_truncate(node.mode),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(err("chmod"))?;
            }
        }
        dir = Some(here);
    }
    Ok(())
}

/// In a user namespace, where mknod is not allowed: the host's node bind-mounted onto an
/// empty file, unless something is there already.
fn bind_host_node(root: &Root, node: &DeviceNode) -> Result<(), RootfsError> {
    let err = |what| RootfsError::sys(what, node.path.clone());
    // /dev is a fresh tmpfs: anything already there was mounted by the config on purpose.
    if root
        .open_existing(&node.path)
        .map_err(err("look up device"))?
        .is_some()
    {
        return Ok(());
    }
    let host = &node.path;
    let fd = root
        .create_all(&node.path, Leaf::File)
        .map_err(err("create file for device"))?;
    sys::mount_on(Some(host), fd.as_fd(), None, MsFlags::MS_BIND, None).map_err(RootfsError::mount(
        "bind",
        &node.path,
        "bind host device",
    ))
}

/// The standard links in /dev.
pub fn dev_links() -> Vec<(&'static str, &'static str)> {
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    links
}

/// Makes /dev/ptmx -> pts/ptmx (replacing what is there) and the other standard links.
pub fn create_links(root: &Root) -> Result<(), RootfsError> {
    let dev = root
        .create_all(Path::new("/dev"), Leaf::Dir)
        .map_err(RootfsError::sys("open", "/dev"))?;
    match unlinkat(dev.as_fd(), "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(RootfsError::sys("remove", "/dev/ptmx")(e)),
    }
    symlinkat("pts/ptmx", dev.as_fd(), "ptmx").map_err(RootfsError::sys("symlink", "/dev/ptmx"))?;
    for (name, target) in dev_links() {
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(RootfsError::sys("symlink", Path::new("/dev").join(name))(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(json: &str) -> LinuxDevice {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn config_overrides_defaults() {
        let list = device_list(&[
            dev(r#"{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384,"uid":7}"#),
            dev(r#"{"path":"/dev/net/tun","type":"c","major":10,"minor":200}"#),
            dev(r#"{"path":"/dev/fifo","type":"p"}"#),
        ])
        .unwrap();
        let nulls: Vec<_> = list
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(nulls.len(), 1);
        assert_eq!(nulls[0].mode, 0o600);
        assert_eq!(nulls[0].uid, 7);
        assert_eq!(list.len(), 8);
        let tun = list
            .iter()
            .find(|d| d.path == Path::new("/dev/net/tun"))
            .unwrap();
        assert_eq!((tun.major, tun.minor, tun.mode), (10, 200, 0o666));
        let fifo = list
            .iter()
            .find(|d| d.path == Path::new("/dev/fifo"))
            .unwrap();
        assert_eq!(fifo.kind, SFlag::S_IFIFO);
    }

    #[test]
    fn refuses_type_a() {
        assert!(from_config(&dev(r#"{"path":"/dev/x","type":"a"}"#)).is_err());
    }
}
