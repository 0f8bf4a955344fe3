//! Tar entry names → clean relative paths inside the root.
//!
//! Leading `/` and `./` are dropped (layers are rooted at `/`), empty and `.` components
//! vanish, `..` pops a component; a `..` that would climb above the root is refused rather
//! than clamped, so a hostile layer is reported instead of silently rewritten. NUL bytes never
//! reach here (tar names are NUL-terminated) but are refused all the same.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A cleaned path: non-empty components, none of them `.`, `..` or containing `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryPath(Vec<OsString>);

impl EntryPath {
    /// Clean `raw`; `Err` says why it is refused. The root itself is the empty path.
    pub fn parse(raw: &[u8]) -> Result<EntryPath, &'static str> {
        if raw.contains(&0) {
            return Err("NUL byte in name");
        }
        let mut parts: Vec<OsString> = Vec::new();
        for comp in raw.split(|b| *b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err("name climbs out of the layer root");
                    }
                }
                c => parts.push(OsStr::from_bytes(c).to_os_string()),
            }
        }
        Ok(EntryPath(parts))
    }

    /// A symlink's `target` resolved lexically from the directory `self`, inside the root: an
    /// absolute target starts at the root and `..` at the root stays there.
    pub fn resolve_clamped(&self, target: &[u8]) -> EntryPath {
        let mut parts = if target.starts_with(b"/") {
            Vec::new()
        } else {
            self.0.clone()
        };
        for comp in target.split(|b| *b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                c => parts.push(OsStr::from_bytes(c).to_os_string()),
            }
        }
        EntryPath(parts)
    }

    /// The root itself.
    pub fn root() -> EntryPath {
        EntryPath(Vec::new())
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components.
    pub fn components(&self) -> &[OsString] {
        &self.0
    }

    /// The parent and the last component (`None` for the root).
    pub fn split_last(&self) -> Option<(EntryPath, &OsStr)> {
        let (last, parent) = self.0.split_last()?;
        Some((EntryPath(parent.to_vec()), last.as_os_str()))
    }

    /// This path with one more component.
    pub fn join(&self, name: &OsStr) -> EntryPath {
        let mut v = self.0.clone();
        v.push(name.to_os_string());
        EntryPath(v)
    }

    /// The path relative to the root, as bytes (`.` for the root), for openat2.
    pub fn as_relative(&self) -> OsString {
        if self.0.is_empty() {
            return OsString::from(".");
        }
        let mut out = Vec::new();
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(c.as_bytes());
        }
        OsString::from_vec(out)
    }
}

impl std::fmt::Display for EntryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_root() {
            return f.write_str("/");
        }
        write!(
            f,
            "/{}",
            String::from_utf8_lossy(self.as_relative().as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> String {
        EntryPath::parse(s.as_bytes())
            .map(|p| p.as_relative().to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn cleans_and_refuses_escapes() {
        assert_eq!(rel("./etc/passwd"), "etc/passwd");
        assert_eq!(rel("/etc//passwd/"), "etc/passwd");
        assert_eq!(rel("a/./b/../c"), "a/c");
        assert_eq!(rel("./"), ".");
        assert_eq!(rel("a/.."), ".");
        assert!(rel("../etc").starts_with("ERR"));
        assert!(rel("a/../../etc").starts_with("ERR"));
        assert!(rel("/../x").starts_with("ERR"));
        assert_eq!(EntryPath::parse(b"etc/x").unwrap().to_string(), "/etc/x");
        assert_eq!(EntryPath::root().to_string(), "/");
        let usr = EntryPath::parse(b"usr").unwrap();
        assert_eq!(usr.resolve_clamped(b"../../../etc").to_string(), "/etc");
        assert_eq!(usr.resolve_clamped(b"/tmp/x/../y").to_string(), "/tmp/y");
        assert_eq!(usr.resolve_clamped(b"lib").to_string(), "/usr/lib");
        assert_eq!(
            EntryPath::parse(b"./.bashrc").unwrap().to_string(),
            "/.bashrc"
        );
    }
}
