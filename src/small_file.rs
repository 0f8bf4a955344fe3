//! Reading small files whole (/proc and cgroup files, state.json) and writing cgroup files.
//!
//! `std::fs::read_to_string` sizes its buffer from `fstat`, which reports 0 for /proc and
//! cgroupfs files, and then grows it from 32 bytes by doubling: /proc/self/mountinfo took 8
//! `read` calls. With musl, `File::open` also follows every O_CLOEXEC open with an
//! `fcntl(F_SETFD)` (a fallback for kernels older than 2.6.23). Here: one `openat`, reads
//! into a page-sized buffer, no `fstat`. berth reads such files on every create, run and exec,
//! and writes a v1 `tasks` file per hierarchy.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The first read's size: every file berth reads this way usually fits.
const FIRST_READ: usize = 4096;

/// The bytes of the file at `path`.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = open(path.as_ref(), libc::O_RDONLY)?;
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_READ);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let spare = buf.capacity() - buf.len();
        // SAFETY: reads at most `spare` bytes into the vector's unused capacity.
        let n = unsafe {
            libc::read(
                file.as_raw_fd(),
                buf.as_mut_ptr().add(buf.len()).cast(),
                spare,
            )
        };
        match n {
            0 => return Ok(buf),
            n if n > 0 => {
                // SAFETY: the kernel initialised these `n` bytes, n <= spare.
                unsafe { buf.set_len(buf.len() + n as usize) };
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// The text of the file at `path`; InvalidData when it is not UTF-8.
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Opens `path` with `flags` (plus O_CLOEXEC and O_NOCTTY) by a single `openat`.
fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path we own; the result is checked.
    let fd = unsafe {
        libc::openat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this descriptor to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Writes `bytes` to the existing file at `path` (no create, no truncate): the way cgroup
/// and /proc files take a value.
pub fn write(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    write_to(&open_to_write(path)?, bytes)
}

/// Opens the existing file at `path` for [`write_to`] (no create, no truncate).
pub fn open_to_write(path: impl AsRef<Path>) -> io::Result<OwnedFd> {
    open(path.as_ref(), libc::O_WRONLY)
}

/// Writes `bytes` to `file`: one write(2) when the file takes them whole, as cgroup and
/// /proc files do (each write is one value to them).
pub fn write_to(file: &OwnedFd, bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writes from a slice we hold, of its length.
        let n = unsafe { libc::write(file.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        rest = &rest[n as usize..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_larger_than_the_first_read_whole() {
        let dir = std::env::temp_dir().join(format!("berth-small-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        let content: Vec<u8> = (0..3 * FIRST_READ + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let got = read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, content);
    }

    #[test]
    fn reads_proc_files_that_report_size_zero() {
        let ours = read_to_string("/proc/self/status").unwrap();
        assert!(ours.starts_with("Name:"), "{ours}");
        assert!(
            ours.contains(&format!("\nPid:\t{}\n", std::process::id())),
            "{ours}"
        );
    }

    #[test]
    fn write_replaces_the_start_of_an_existing_file_and_creates_nothing() {
        let path = std::env::temp_dir().join(format!("berth-small-write-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        write(&path, b"abc").unwrap();
        let got = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got, b"abc3456789");
        let err = write(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_missing_file_and_text_that_is_not_utf8_are_errors() {
        let err = read("/nonexistent/berth-small-file").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let path = std::env::temp_dir().join(format!("berth-small-bin-{}", std::process::id()));
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let err = read_to_string(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
