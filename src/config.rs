//! Loading and checking a bundle's config.json before anything is made.
//!
//! Every error names the file and the field (`config.json: process.user.uid: invalid type…`),
//! because that one line is what containerd and podman show their users.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A parsed config.json together with where it came from.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute root filesystem directory.
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Reads `<bundle>/config.json`, checks the version and the rootfs.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = absolute(bundle)?;
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "bundle {}: not a directory or does not exist",
            dir.display()
        )));
    }
    let path = dir.join("config.json");
    let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let spec = parse(&text).map_err(|msg| Error::invalid(format!("{}: {msg}", path.display())))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid(format!("{}: root: missing", path.display())))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(Error::invalid(format!(
            "root.path: rootfs {} does not exist or is not a directory",
            rootfs.display()
        )));
    }
    Ok(Bundle { dir, rootfs, spec })
}

/// Parses config.json text. Unknown properties are ignored, as the spec requires; any 1.x
/// `ociVersion` is accepted. The error text names the JSON path of the bad field.
pub fn parse(text: &[u8]) -> std::result::Result<Spec, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("malformed JSON: {e}"))?;
    if let Some(process) = value.get("process") {
        crate::process::validate_json(process).map_err(|e| e.to_string())?;
    }
    let spec: Spec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })?;
    check_version(spec.version())?;
    Ok(spec)
}

fn check_version(version: &str) -> std::result::Result<(), String> {
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        return Err(format!(
            "ociVersion: unsupported version {version:?} (berth supports 1.x)"
        ));
    }
    Ok(())
}

/// Checks a container ID: non-empty, no '/', not "." or "..", only `[A-Za-z0-9_+.-]`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if id.is_empty() || id == "." || id == ".." || !ok_chars || id.len() > 1024 {
        return Err(Error::invalid(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.', not '/' or \"..\""
        )));
    }
    Ok(())
}

/// Checks of the whole spec that need no disk access beyond the bundle.
pub fn validate(spec: &Spec) -> Result<()> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut seen = HashSet::new();
    for ns in &namespaces {
        if !seen.insert(ns.typ()) {
            return Err(Error::invalid(format!(
                "linux.namespaces: namespace type {:?} listed twice",
                ns.typ()
            )));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::invalid(format!(
                    "linux.namespaces: {:?} path {} is not absolute",
                    ns.typ(),
                    p.display()
                )));
            }
        }
    }
    let private_uts = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_none());
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !private_uts {
        return Err(Error::invalid(
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !private_uts {
        return Err(Error::invalid(
            "unable to set domainname without a private UTS namespace",
        ));
    }
    let has_userns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    if let Some(linux) = spec.linux() {
        let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        let new_userns = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        if has_maps && !has_userns {
            return Err(Error::invalid(
                "linux.uidMappings: user namespace mappings given without a user namespace",
            ));
        }
        if new_userns
            && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
                || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
        {
            return Err(Error::invalid(
                "linux.uidMappings/gidMappings: a new user namespace needs both mappings",
            ));
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                if key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..") {
                    return Err(Error::invalid(format!("linux.sysctl: invalid key {key:?}")));
                }
            }
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process: missing (create needs a process to run)"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid("process.args: must name a program to run"));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "process.cwd: {} is not an absolute path",
            process.cwd().display()
        )));
    }
    crate::process::validate(process)?;
    crate::rootfs::validate(spec)?;
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    Ok(cwd.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#;

    #[test]
    fn accepts_any_1x_version_and_unknown_fields() {
        let text = MIN
            .replace("1.0.2", "1.7.9")
            .replace("\"root\"", "\"futureField\":{\"a\":1},\"root\"");
        let spec = parse(text.as_bytes()).unwrap();
        assert_eq!(spec.version(), "1.7.9");
    }

    #[test]
    fn rejects_version_2() {
        let err = parse(MIN.replace("1.0.2", "2.0.0").as_bytes()).unwrap_err();
        assert!(err.contains("ociVersion"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = parse(MIN.replace("\"uid\":0", "\"uid\":\"zero\"").as_bytes()).unwrap_err();
        assert!(err.starts_with("process.user.uid:"), "{err}");
    }

    #[test]
    fn malformed_json_is_reported() {
        let err = parse(b"{\"ociVersion\":").unwrap_err();
        assert!(err.starts_with("malformed JSON"), "{err}");
    }

    #[test]
    fn unknown_capability_is_named() {
        let text = MIN.replace(
            "\"cwd\"",
            "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_FOO\"]},\"cwd\"",
        );
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            "process.capabilities.bounding: unknown capability \"CAP_FOO\""
        );
    }

    #[test]
    fn ids() {
        for good in ["a", "abc-1.2_3+x", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn spec_with(extra: &str) -> Spec {
        let text = MIN.replace("\"root\"", &format!("{extra},\"root\""));
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn duplicate_namespace_is_an_error() {
        let spec = spec_with(r#""linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#);
        let err = validate(&spec).unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn hostname_needs_private_uts() {
        let spec = spec_with(r#""hostname":"h","linux":{"namespaces":[{"type":"pid"}]}"#);
        let err = validate(&spec).unwrap_err().to_string();
        assert_eq!(
            err,
            "unable to set hostname without a private UTS namespace"
        );
        let spec = spec_with(r#""hostname":"h","linux":{"namespaces":[{"type":"uts"}]}"#);
        validate(&spec).unwrap();
    }

    #[test]
    fn relative_cwd_is_refused() {
        let text = MIN.replace("\"cwd\":\"/\"", "\"cwd\":\"tmp\"");
        let spec = parse(text.as_bytes()).unwrap();
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .starts_with("process.cwd"));
    }
}
