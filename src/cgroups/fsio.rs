//! Reading and writing cgroup control files, with errors that name the file and value.

use super::CgroupError;
use std::io::ErrorKind;
use std::path::Path;

/// Writes `value` to `dir/file`. A file the host lacks is [`CgroupError::Unavailable`].
pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    write_each(dir, file, &[value])
}

/// Writes each of `values` to `dir/file` with a write(2) of its own, on one open file:
/// each write is one value to a cgroup file (one rule to v1's devices.allow), so this is
/// [`write`] per value without an open and a close per value.
pub fn write_each(dir: &Path, file: &str, values: &[&str]) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let fail = |source: std::io::Error, value: &str| {
        if source.kind() == ErrorKind::NotFound && !dir.exists() {
            CgroupError::Io {
                path: path.clone(),
                source,
            }
        } else if source.kind() == ErrorKind::NotFound {
            CgroupError::Unavailable {
                file: file.to_string(),
                why: format!("{} has no such file", dir.display()),
            }
        } else {
            CgroupError::Write {
                path: path.clone(),
                value: value.to_string(),
                source,
            }
        }
    };
    let first = values.first().copied().unwrap_or_default();
    let fd = crate::small_file::open_to_write(&path).map_err(|e| fail(e, first))?;
    for value in values {
        crate::small_file::write_to(&fd, value.as_bytes()).map_err(|e| fail(e, value))?;
    }
    Ok(())
}

/// Reads `dir/file` whole.
pub fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    crate::small_file::read_to_string(&path).map_err(|source| CgroupError::Io { path, source })
}

/// Reads `dir/file` when it exists; None when the host lacks it.
pub fn read_optional(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match crate::small_file::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io { path, source }),
    }
}

/// Reads a file holding one number ("max" reads as u64::MAX).
pub fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = read(dir, file)?;
    parse_u64(text.trim()).ok_or_else(|| {
        CgroupError::Invalid(format!(
            "{}: {:?} is not a number",
            dir.join(file).display(),
            text.trim()
        ))
    })
}

/// Parses a cgroup number; "max" is u64::MAX.
pub fn parse_u64(text: &str) -> Option<u64> {
    if text == "max" {
        Some(u64::MAX)
    } else {
        text.parse().ok()
    }
}

/// The value of `key` in a flat keyed file ("key value" lines: memory.stat,
/// cgroup.events, cpu.stat).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| parse_u64(v.trim())).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_keyed_files() {
        assert_eq!(parse_u64("max"), Some(u64::MAX));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("x"), None);
        let text = "populated 1\nfrozen 0\n";
        assert_eq!(keyed(text, "frozen"), Some(0));
        assert_eq!(keyed(text, "populated"), Some(1));
        assert_eq!(keyed(text, "other"), None);
    }

    #[test]
    fn missing_file_is_unavailable_and_named() {
        let dir = std::env::temp_dir();
        let err = write(&dir, "berth-no-such-cgroup-file", "1").unwrap_err();
        assert!(matches!(err, CgroupError::Unavailable { .. }));
        assert!(err.to_string().contains("berth-no-such-cgroup-file"));
    }
}
