//! `tmpcopyup` (a runc/crun extension podman uses): after a tmpfs is mounted over a
//! directory of the image, copy what the directory held into the tmpfs. Works only on fds:
//! `lower` is the directory opened before the mount, `upper` the tmpfs opened after it.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Directories deeper than this are not followed (a guard, images are not this deep).
const MAX_DEPTH: usize = 128;

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Copies the contents of `lower` into `upper`, keeping modes, owners and symlinks.
pub fn copy_tree(lower: BorrowedFd<'_>, upper: BorrowedFd<'_>) -> Result<(), Errno> {
    copy_dir(lower, upper, 0)
}

fn copy_dir(lower: BorrowedFd<'_>, upper: BorrowedFd<'_>, depth: usize) -> Result<(), Errno> {
    if depth > MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    let list = openat(
        lower,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut dir = Dir::from_fd(list)?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    for name in names {
        let name = OsStr::from_bytes(&name);
        let st = fstatat(lower, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        copy_entry(lower, upper, name, &st, depth)?;
    }
    Ok(())
}

fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn copy_entry(
    lower: BorrowedFd<'_>,
    upper: BorrowedFd<'_>,
    name: &OsStr,
    st: &FileStat,
    depth: usize,
) -> Result<(), Errno> {
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    if kind == SFlag::S_IFDIR {
        match mkdirat(upper, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let from = open_dir(lower, name)?;
        let to = open_dir(upper, name)?;
        copy_dir(from.as_fd(), to.as_fd(), depth + 1)?;
    } else if kind == SFlag::S_IFREG {
        let from = openat(
            lower,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let to = openat(
            upper,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )?;
        let mut from = std::fs::File::from(from);
        let mut to = std::fs::File::from(to);
        std::io::copy(&mut from, &mut to).map_err(io_errno)?;
    } else if kind == SFlag::S_IFLNK {
        let target = readlinkat(lower, name)?;
        symlinkat(target.as_os_str(), upper, name)?;
        return fchownat(
            upper,
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    } else if kind == SFlag::S_IFCHR || kind == SFlag::S_IFBLK || kind == SFlag::S_IFIFO {
        mknodat(
            upper,
            name,
            kind,
            Mode::from_bits_truncate(0o600),
            st.st_rdev,
        )?;
    } else {
        // Sockets mean nothing without their listener: skip them.
        return Ok(());
    }
    fchownat(
        upper,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    // The entry was just made by us under `upper` and is not a symlink.
    fchmodat(upper, name, mode, FchmodatFlags::FollowSymlink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::open;

    #[test]
    fn copies_files_dirs_and_links() {
        let base = std::env::temp_dir().join(format!("berth-copyup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("lower/sub")).unwrap();
        std::fs::create_dir_all(base.join("upper")).unwrap();
        std::fs::write(base.join("lower/sub/f"), "data").unwrap();
        std::os::unix::fs::symlink("sub/f", base.join("lower/link")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            base.join("lower/sub/f"),
            std::fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let lower = open(&base.join("lower"), flags, Mode::empty()).unwrap();
        let upper = open(&base.join("upper"), flags, Mode::empty()).unwrap();
        copy_tree(lower.as_fd(), upper.as_fd()).unwrap();
        assert_eq!(
            std::fs::read_to_string(base.join("upper/sub/f")).unwrap(),
            "data"
        );
        let meta = std::fs::metadata(base.join("upper/sub/f")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::read_link(base.join("upper/link")).unwrap(),
            std::path::PathBuf::from("sub/f")
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
