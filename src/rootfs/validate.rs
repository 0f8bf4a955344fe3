//! Checks of the rootfs parts of a config that need nothing but the config: mount
//! destinations, types and options, devices, masked/read-only paths, sysctl keys.

use super::options::{self, MountKind, OptionError, ParsedOptions};
use super::RootfsError;
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::path::{Component, Path, PathBuf};

/// A container path made absolute and lexically clean. Relative paths (allowed by 1.0
/// configs) are taken relative to "/". A ".." that would climb above "/" is an error.
pub fn container_path(path: &Path) -> Result<PathBuf, String> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("{} escapes the container's root", path.display()));
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    Ok(out)
}

/// A mount entry checked and parsed: what `prepare` works from.
#[derive(Debug, Clone)]
pub struct CheckedMount {
    pub destination: PathBuf,
    pub kind: MountKind,
    pub options: ParsedOptions,
}

/// Checks one `mounts` entry and returns its parsed form.
pub fn check_mount(m: &Mount) -> Result<CheckedMount, RootfsError> {
    let raw = m.destination();
    let destination = container_path(raw)
        .map_err(|e| RootfsError::Invalid(format!("mounts: destination {e}")))?;
    if destination == Path::new("/") {
        return Err(RootfsError::Invalid(format!(
            "mounts: destination {} would cover the container's root",
            raw.display()
        )));
    }
    let words = m.options().clone().unwrap_or_default();
    let kind = MountKind::classify(m.typ().as_deref(), &words).ok_or_else(|| {
        RootfsError::Invalid(format!(
            "mount {}: no type given (and not a bind mount)",
            destination.display()
        ))
    })?;
    let parsed = options::parse(&words, &kind).map_err(|e| {
        RootfsError::Invalid(match e {
            OptionError::Unknown(w) => format!(
                "mount {} ({}): unknown option {w:?}",
                destination.display(),
                kind.name()
            ),
            OptionError::Unsupported(w) => format!(
                "mount {} ({}): option {w:?} is not supported by berth",
                destination.display(),
                kind.name()
            ),
        })
    })?;
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(RootfsError::Invalid(format!(
            "mount {}: uidMappings/gidMappings (idmapped mounts) are not supported by berth",
            destination.display()
        )));
    }
    if kind == MountKind::Bind {
        let empty = m.source().as_ref().is_none_or(|s| s.as_os_str().is_empty());
        if empty {
            return Err(RootfsError::Invalid(format!(
                "mount {}: bind mount without a source",
                destination.display()
            )));
        }
    }
    Ok(CheckedMount {
        destination,
        kind,
        options: parsed,
    })
}

/// Checks a `linux.sysctl` key: dotted (or slashed by some tools: refused), no "..".
pub fn check_sysctl_key(key: &str) -> Result<(), RootfsError> {
    let bad = key.is_empty()
        || key.contains('/')
        || key.contains("..")
        || key.contains('\0')
        || key.starts_with('.')
        || key.ends_with('.');
    if bad {
        return Err(RootfsError::Invalid(format!(
            "linux.sysctl: invalid key {key:?}"
        )));
    }
    Ok(())
}

fn check_absolute(field: &str, path: &str) -> Result<(), RootfsError> {
    if !path.starts_with('/') {
        return Err(RootfsError::Invalid(format!(
            "{field}: {path:?} is not an absolute path"
        )));
    }
    container_path(Path::new(path))
        .map(drop)
        .map_err(|e| RootfsError::Invalid(format!("{field}: {e}")))
}

/// Everything `validate` checks, in config order.
pub fn check_spec(spec: &Spec) -> Result<(), RootfsError> {
    for m in spec.mounts().iter().flatten() {
        check_mount(m)?;
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if options::root_propagation(linux.rootfs_propagation().as_deref()).is_none() {
        return Err(RootfsError::Invalid(format!(
            "linux.rootfsPropagation: unknown value {:?}",
            linux.rootfs_propagation().as_deref().unwrap_or("")
        )));
    }
    for d in linux.devices().iter().flatten() {
        let path = d.path();
        if !path.is_absolute() {
            return Err(RootfsError::Invalid(format!(
                "linux.devices: path {} is not absolute",
                path.display()
            )));
        }
        let clean = container_path(path)
            .map_err(|e| RootfsError::Invalid(format!("linux.devices: {e}")))?;
        if clean == Path::new("/") {
            return Err(RootfsError::Invalid("linux.devices: path \"/\"".into()));
        }
        if d.typ() == LinuxDeviceType::A {
            return Err(RootfsError::Invalid(format!(
                "linux.devices: {}: type \"a\" is not a device type (want c, b, u or p)",
                path.display()
            )));
        }
        if d.typ() != LinuxDeviceType::P && (d.major() < 0 || d.minor() < 0) {
            return Err(RootfsError::Invalid(format!(
                "linux.devices: {}: negative major/minor",
                path.display()
            )));
        }
        if d.file_mode()
            .is_some_and(|m| m & !0o7777 & !libc::S_IFMT != 0)
        {
            return Err(RootfsError::Invalid(format!(
                "linux.devices: {}: fileMode {:o} has bits beyond the permission bits",
                path.display(),
                d.file_mode().unwrap_or(0)
            )));
        }
    }
    for p in linux.masked_paths().iter().flatten() {
        check_absolute("linux.maskedPaths", p)?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        check_absolute("linux.readonlyPaths", p)?;
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        check_sysctl_key(key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn container_paths() {
        assert_eq!(
            container_path(Path::new("/a/./b/")).unwrap(),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            container_path(Path::new("rel/x")).unwrap(),
            PathBuf::from("/rel/x")
        );
        assert_eq!(
            container_path(Path::new("/a/../b")).unwrap(),
            PathBuf::from("/b")
        );
        assert!(container_path(Path::new("/../etc")).is_err());
        assert!(container_path(Path::new("a/../../etc")).is_err());
    }

    #[test]
    fn accepts_a_default_config() {
        let spec = spec_from(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[
            {"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
            {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
            {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
            {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]},
            {"destination":"data","type":"bind","source":"/tmp","options":["rbind","rro","rprivate"]}],
            "linux":{"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229,"fileMode":438}],
            "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
            "sysctl":{"net.ipv4.ip_forward":"1"}}}"#,
        );
        check_spec(&spec).unwrap();
    }

    fn err_of(json: &str) -> String {
        check_spec(&spec_from(json)).unwrap_err().to_string()
    }

    #[test]
    fn unknown_option_names_option_and_destination() {
        let e = err_of(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/data","source":"/tmp","options":["bind","bogus"]}]}"#,
        );
        assert!(e.contains("bogus") && e.contains("/data"), "{e}");
    }

    #[test]
    fn refuses_bad_mounts() {
        let e = err_of(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/../../etc","type":"tmpfs"}]}"#,
        );
        assert!(e.contains("escapes"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/x"}]}"#);
        assert!(e.contains("no type"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/","type":"tmpfs"}]}"#);
        assert!(e.contains("cover"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/x","type":"bind"}]}"#);
        assert!(e.contains("without a source"), "{e}");
    }

    #[test]
    fn refuses_bad_linux_fields() {
        let e = err_of(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[{"path":"/dev/x","type":"a","major":1,"minor":3}]}}"#,
        );
        assert!(e.contains("/dev/x") && e.contains("type"), "{e}");
        let e = err_of(
            r#"{"ociVersion":"1.0.2","linux":{"devices":[{"path":"dev/x","type":"c","major":1,"minor":3}]}}"#,
        );
        assert!(e.contains("not absolute"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","linux":{"sysctl":{"kernel/../x":"1"}}}"#);
        assert!(e.contains("sysctl"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"sideways"}}"#);
        assert!(e.contains("rootfsPropagation"), "{e}");
        let e = err_of(r#"{"ociVersion":"1.0.2","linux":{"maskedPaths":["proc/kcore"]}}"#);
        assert!(e.contains("maskedPaths"), "{e}");
    }

    #[test]
    fn sysctl_keys() {
        check_sysctl_key("net.ipv4.ip_forward").unwrap();
        assert!(check_sysctl_key("net/ipv4").is_err());
        assert!(check_sysctl_key("a..b").is_err());
        assert!(check_sysctl_key("").is_err());
    }
}
