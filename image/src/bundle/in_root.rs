//! Reading and making paths inside a container's rootfs without ever leaving it: every path is
//! resolved by the kernel with `openat2(RESOLVE_IN_ROOT)`, so an image's symlinks (`/etc/passwd
//! -> /host/file`, `/work -> ../../..`) resolve inside the rootfs, as they would in the container.

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

/// Files read from an image are configuration: refuse anything larger.
const MAX_READ: u64 = 4 << 20;

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    Ok(std::fs::File::open(root)?.into())
}

fn open_in(root: &OwnedFd, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    openat2(root, rel, how(flags))
}

/// The text of `path` inside `root`, `None` when it does not exist.
pub fn read_file(root: &Path, path: &str) -> std::io::Result<Option<String>> {
    let rootfd = open_root(root)?;
    let fd = match open_in(&rootfd, Path::new(path), OFlag::O_RDONLY | OFlag::O_NOCTTY) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_READ)
        .read_to_string(&mut text)?;
    Ok(Some(text))
}

/// Make the directory `path` (and its parents) inside `root`, mode 0755, as docker does for a
/// missing working directory. An existing non-directory on the way is an error.
pub fn mkdir_all(root: &Path, path: &str) -> std::io::Result<()> {
    let rootfd = open_root(root)?;
    let mut done = std::path::PathBuf::from("/");
    for c in Path::new(path).components() {
        let Component::Normal(name) = c else {
            // "/", "." and ".." resolve inside the root anyway; keep them in the path.
            done.push(c.as_os_str());
            continue;
        };
        let parent = open_in(&rootfd, &done, OFlag::O_DIRECTORY | OFlag::O_RDONLY)?;
        match mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        done.push(name);
    }
    open_in(&rootfd, &done, OFlag::O_DIRECTORY | OFlag::O_PATH)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
        // An absolute symlink to a host file resolves inside the root, where it is missing.
        std::os::unix::fs::symlink(outside.path().join("secret"), r.join("etc/passwd")).unwrap();
        assert_eq!(read_file(r, "/etc/passwd").unwrap(), None);
        assert_eq!(read_file(r, "/etc/group").unwrap().unwrap(), "root:x:0:\n");
        assert_eq!(read_file(r, "/nope/x").unwrap(), None);
        // A relative escape through a symlinked directory is contained too.
        std::os::unix::fs::symlink("../../../../../../..", r.join("up")).unwrap();
        let target = format!("/up{}", outside.path().join("made").display());
        mkdir_all(r, &target).unwrap();
        assert!(!outside.path().join("made").exists(), "escaped the root");
        assert!(r.join(target.trim_start_matches("/up/")).is_dir());
        mkdir_all(r, "/work/a/b").unwrap();
        assert!(r.join("work/a/b").is_dir());
        std::fs::write(r.join("file"), "").unwrap();
        assert!(mkdir_all(r, "/file/sub").is_err());
    }
}
