//! Paths inside the container's root, resolved with file descriptors only.
//!
//! Every lookup goes through openat2(2) with RESOLVE_IN_ROOT (symlinks, absolute or "..",
//! are resolved as if the rootfs were "/") and RESOLVE_NO_MAGICLINKS. Missing directories are
//! created one component at a time under an fd of their parent, with RESOLVE_NO_SYMLINKS, so
//! a symlink swapped in meanwhile fails instead of leading out. The O_PATH fd a caller gets
//! back is checked once more against the root's host path before anything is mounted on it.

use nix::errno::Errno;
use nix::fcntl::{openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed in one lookup before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

/// What to create at the end of a path that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Dir,
    File,
}

/// An open directory that is "/" for every path resolved through it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    host_path: PathBuf,
}

/// The path mount(2) and friends use to reach the object behind `fd`.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn in_root_how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn one_step_how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        )
}

/// `path` made relative ("/a/b" and "a/b" are both "a/b").
fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => out.push(".."),
            _ => {}
        }
    }
    out
}

fn or_dot(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

impl Root {
    /// Opens `host_path` as the root. The path is canonicalized first (no symlinks left).
    pub fn open(host_path: &Path) -> Result<Root, Errno> {
        let canonical = std::fs::canonicalize(host_path)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
        let fd = nix::fcntl::open(
            &canonical,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            host_path: canonical,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn host_path(&self) -> &Path {
        &self.host_path
    }

    /// The host path `container_path` stands for, for messages only.
    pub fn display(&self, container_path: &Path) -> PathBuf {
        self.host_path.join(relative(container_path))
    }

    /// Opens an existing path inside the root with `flags` (O_PATH when only a handle is needed).
    pub fn open_in(&self, container_path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        let fd = self.look_up(container_path, flags)?;
        self.check_inside(fd.as_fd())?;
        Ok(fd)
    }

    /// Opens an existing path inside the root without the check against the root's host
    /// path: only for looking at what is there (fstat), never for mounting on or writing.
    pub fn look_up(&self, container_path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
        let rel = relative(container_path);
        openat2(self.fd(), or_dot(&rel), in_root_how(flags))
    }

    /// Like [`Root::open_in`] with O_PATH, `None` when the path does not exist (or a
    /// component on the way is not a directory).
    pub fn open_existing(&self, container_path: &Path) -> Result<Option<OwnedFd>, Errno> {
        match self.open_in(container_path, OFlag::O_PATH) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks that `fd` (just opened through this root) still names something under it.
    pub fn check_inside(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        let target = std::fs::read_link(fd_path(fd))
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
        if target.starts_with(&self.host_path) {
            Ok(())
        } else {
            Err(Errno::EXDEV)
        }
    }

    /// Resolves every symlink in `container_path` inside the root and returns the result as a
    /// clean relative path. Components that do not exist yet are kept as written.
    pub fn resolve(&self, container_path: &Path) -> Result<PathBuf, Errno> {
        let mut todo: VecDeque<OsString> = container_path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        let mut resolved: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            let parent: PathBuf = resolved.iter().collect();
            let parent_fd = match openat2(
                self.fd(),
                or_dot(&parent),
                in_root_how(OFlag::O_PATH | OFlag::O_DIRECTORY),
            ) {
                Ok(fd) => Some(fd),
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => None,
                Err(e) => return Err(e),
            };
            let link = match &parent_fd {
                Some(fd) => match readlinkat(fd, name.as_os_str()) {
                    Ok(target) => Some(target),
                    Err(Errno::EINVAL) | Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            match link {
                None => resolved.push(name),
                Some(target) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::ELOOP);
                    }
                    let target = Path::new(&target);
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for c in target.components().rev() {
                        match c {
                            Component::Normal(n) => todo.push_front(n.to_os_string()),
                            Component::ParentDir => todo.push_front(OsString::from("..")),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(resolved.iter().collect())
    }

    /// Makes sure `container_path` exists inside the root (directories, and a `leaf` at the
    /// end), creating what is missing, and returns an O_PATH fd to it.
    pub fn create_all(&self, container_path: &Path, leaf: Leaf) -> Result<OwnedFd, Errno> {
        // Most destinations exist (/proc, /dev, /sys in any image): then one lookup, the same
        // object the walk below would reach, does. Anything else takes the walk, which
        // creates what is missing and reports what is wrong.
        let flags = match leaf {
            Leaf::Dir => OFlag::O_PATH | OFlag::O_DIRECTORY,
            Leaf::File => OFlag::O_PATH,
        };
        match self.open_in(container_path, flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {
                if let Some(fd) = self.create_leaf(container_path, leaf) {
                    return Ok(fd);
                }
            }
            Err(_) => {}
        }
        let rel = self.resolve(container_path)?;
        let names: Vec<&OsStr> = rel.iter().collect();
        let mut cur = nix::unistd::dup(self.fd())?;
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            let kind = if last { leaf } else { Leaf::Dir };
            cur = step(cur.as_fd(), name, kind)?;
        }
        self.check_inside(cur.as_fd())?;
        Ok(cur)
    }
}

impl Root {
    /// Creates the last component of `container_path` under its parent when only that is
    /// missing (a mount point in a fresh /dev tmpfs or /sys/fs/cgroup): three lookups
    /// instead of a walk from the root. None, having created nothing, when the parent is
    /// missing too or the name is anything but absent (a dangling symlink): the caller
    /// then walks.
    fn create_leaf(&self, container_path: &Path, leaf: Leaf) -> Option<OwnedFd> {
        let (parent, name) = split_last(container_path)?;
        let dir = self
            .open_in(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .ok()?;
        let fd = step(dir.as_fd(), &name, leaf).ok()?;
        self.check_inside(fd.as_fd()).ok()?;
        Some(fd)
    }
}

/// Opens (creating when missing) the single component `name` under `dir`.
fn step(dir: BorrowedFd<'_>, name: &OsStr, kind: Leaf) -> Result<OwnedFd, Errno> {
    let open_flags = match kind {
        Leaf::Dir => OFlag::O_PATH | OFlag::O_DIRECTORY,
        Leaf::File => OFlag::O_PATH,
    };
    match openat2(dir, name, one_step_how(open_flags)) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    match kind {
        Leaf::Dir => match mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        },
        Leaf::File => {
            let how = one_step_how(OFlag::O_CREAT | OFlag::O_WRONLY)
                .mode(Mode::from_bits_truncate(0o644));
            match openat2(dir, name, how) {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
        }
    }
    openat2(dir, name, one_step_how(open_flags))
}

/// True when `name` is a plain single path component (no "/", not "." or "..").
pub fn is_plain_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/')
}

/// Splits a container path into its parent and last component.
pub fn split_last(path: &Path) -> Option<(PathBuf, OsString)> {
    let name = path.file_name()?;
    if !is_plain_name(name.as_bytes()) {
        return None;
    }
    Some((
        path.parent().unwrap_or(Path::new("/")).to_path_buf(),
        name.to_os_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_drops_root() {
        assert_eq!(relative(Path::new("/a/b/")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("a/./b")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("/")), PathBuf::from(""));
    }

    #[test]
    fn split_last_names() {
        assert_eq!(
            split_last(Path::new("/dev/null")),
            Some((PathBuf::from("/dev"), OsString::from("null")))
        );
        assert_eq!(split_last(Path::new("/")), None);
    }

    /// Symlinks resolve inside a root, never to the host (no mounts needed: plain dirs).
    #[test]
    fn resolve_keeps_symlinks_inside() {
        let dir = std::env::temp_dir().join(format!("berth-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/real")).unwrap();
        std::os::unix::fs::symlink("/tmp/host-dir-berth", dir.join("root/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real", dir.join("root/rel")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("root/loop")).unwrap();
        let root = Root::open(&dir.join("root")).unwrap();
        assert_eq!(
            root.resolve(Path::new("/abs/x")).unwrap(),
            PathBuf::from("tmp/host-dir-berth/x")
        );
        assert_eq!(
            root.resolve(Path::new("/rel/y")).unwrap(),
            PathBuf::from("real/y")
        );
        assert_eq!(
            root.resolve(Path::new("/../../etc")).unwrap(),
            PathBuf::from("etc")
        );
        assert_eq!(root.resolve(Path::new("/loop")), Err(Errno::ELOOP));
        let fd = root.create_all(Path::new("/abs/x"), Leaf::File).unwrap();
        root.check_inside(fd.as_fd()).unwrap();
        assert!(dir.join("root/tmp/host-dir-berth/x").is_file());
        assert!(!Path::new("/tmp/host-dir-berth").exists());
        // Now it exists: the one-lookup path must reach the same object in the root.
        let again = root.create_all(Path::new("/abs/x"), Leaf::File).unwrap();
        assert_eq!(
            std::fs::read_link(fd_path(again.as_fd())).unwrap(),
            dir.join("root/tmp/host-dir-berth/x")
        );
        // Only the last component missing, behind a symlink: made in the root.
        root.create_all(Path::new("/rel/new"), Leaf::Dir).unwrap();
        assert!(dir.join("root/real/new").is_dir());
        // A dangling symlink as the last component: its target is made, in the root.
        std::os::unix::fs::symlink("/real/target", dir.join("root/dangling")).unwrap();
        root.create_all(Path::new("/dangling"), Leaf::Dir).unwrap();
        assert!(dir.join("root/real/target").is_dir());
        let as_dir = root.create_all(Path::new("/rel"), Leaf::Dir).unwrap();
        assert_eq!(
            std::fs::read_link(fd_path(as_dir.as_fd())).unwrap(),
            dir.join("root/real")
        );
        assert_eq!(
            root.create_all(Path::new("/abs/x"), Leaf::Dir).map(drop),
            Err(Errno::ENOTDIR),
            "a file where a directory is wanted"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
