//! Container root filesystems from snapshots: an overlayfs mount of the read-only layer dirs
//! with `upper/` and `work/` in the container's directory, or — when overlayfs is unavailable
//! or `DOCK_SNAPSHOTTER=copy` — a private copy of the merged layers. Either way a lease file
//! under `snapshots/leases/` names the snapshots in use, so sweeps keep them.

use super::{io_err, SnapshotError, Snapshots};
use dock::unpack::merge_overlay_dir;
use dock_registry::digest::{Algorithm, Digest};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The environment knob: `overlay`, `copy` or unset / `auto` (overlay when it mounts).
pub(super) const BACKEND_ENV: &str = "DOCK_SNAPSHOTTER";

/// How a rootfs is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// overlayfs over the shared snapshots.
    Overlay,
    /// A private merged copy.
    Copy,
}

/// What `$DOCK_SNAPSHOTTER` asks for (`None`: decide by trying overlayfs).
fn wanted_backend() -> Result<Option<Backend>, SnapshotError> {
    match std::env::var(BACKEND_ENV).ok().as_deref() {
        None | Some("") | Some("auto") => Ok(None),
        Some("overlay") | Some("overlayfs") => Ok(Some(Backend::Overlay)),
        Some("copy") => Ok(Some(Backend::Copy)),
        Some(other) => Err(SnapshotError::Invalid(format!(
            "{BACKEND_ENV}={other}: expected overlay, copy or auto"
        ))),
    }
}

/// The file in a container dir saying which backend made its rootfs.
const BACKEND_FILE: &str = "rootfs.backend";

fn lease_path(snapshots: &Snapshots, container_dir: &Path) -> PathBuf {
    let key = Digest::of_bytes(Algorithm::Sha256, container_dir.as_os_str().as_bytes());
    let hex = key.to_string();
    snapshots
        .root()
        .join("leases")
        .join(format!("{}.json", hex.trim_start_matches("sha256:")))
}

/// The overlayfs mount options, or why overlayfs cannot take these paths.
fn overlay_options(layers: &[PathBuf], upper: &Path, work: &Path) -> Result<String, String> {
    let mut lower = Vec::with_capacity(layers.len());
    // overlayfs lists lowerdir top first.
    for l in layers.iter().rev() {
        lower.push(plain(l)?);
    }
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        plain(upper)?,
        plain(work)?
    );
    // The mount data is one page.
    if opts.len() >= 4096 {
        return Err(format!(
            "{} layers make {} bytes of overlay options (at most 4095)",
            layers.len(),
            opts.len()
        ));
    }
    Ok(opts)
}

fn plain(p: &Path) -> Result<String, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))?;
    if s.contains([',', ':', '\\']) {
        return Err(format!(
            "{s}: overlayfs cannot take ',', ':' or '\\' in a path"
        ));
    }
    Ok(s.to_string())
}

/// The backend `$DOCK_SNAPSHOTTER` asks for, `None` for auto.
pub(super) fn backend_from_env() -> Result<Option<Backend>, SnapshotError> {
    wanted_backend()
}

pub(super) fn prepare(
    snapshots: &Snapshots,
    layers: &[PathBuf],
    container_dir: &Path,
    wanted: Option<Backend>,
) -> Result<PathBuf, SnapshotError> {
    if layers.is_empty() {
        return Err(SnapshotError::Invalid(
            "an image without layers has no root filesystem".into(),
        ));
    }
    let rootfs = container_dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(io_err("creating", &rootfs))?;
    write_lease(snapshots, layers, container_dir)?;
    let is_root = nix::unistd::geteuid().is_root();
    let backend = match wanted {
        Some(Backend::Copy) => Backend::Copy,
        Some(Backend::Overlay) => {
            mount_overlay(layers, container_dir, &rootfs)?;
            Backend::Overlay
        }
        None if is_root => match mount_overlay(layers, container_dir, &rootfs) {
            Ok(()) => Backend::Overlay,
            Err(_) => {
                remove_if_present(&container_dir.join("upper"))?;
                remove_if_present(&container_dir.join("work"))?;
                Backend::Copy
            }
        },
        None => Backend::Copy,
    };
    if backend == Backend::Copy {
        for layer in layers {
            merge_overlay_dir(layer, &rootfs).map_err(|source| SnapshotError::Unpack {
                digest: layer.display().to_string(),
                source,
            })?;
        }
    }
    let marker = container_dir.join(BACKEND_FILE);
    let name = match backend {
        Backend::Overlay => "overlay",
        Backend::Copy => "copy",
    };
    std::fs::write(&marker, name).map_err(io_err("writing", &marker))?;
    Ok(rootfs)
}

pub(super) fn mount_overlay(
    layers: &[PathBuf],
    container_dir: &Path,
    rootfs: &Path,
) -> Result<(), SnapshotError> {
    mount_overlay_with(layers, container_dir, rootfs, "")
}

/// [`mount_overlay`] with extra mount options (`extra`, comma-separated, may be empty).
pub(super) fn mount_overlay_with(
    layers: &[PathBuf],
    container_dir: &Path,
    rootfs: &Path,
    extra: &str,
) -> Result<(), SnapshotError> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    for d in [&upper, &work] {
        std::fs::create_dir_all(d).map_err(io_err("creating", d))?;
    }
    // overlayfs ignores the opaque xattr on a layer's root directory, so a layer whose root is
    // opaque (`/.wh..wh..opq`) is honoured by leaving out every layer below it.
    let start = layers.iter().rposition(|l| root_is_opaque(l)).unwrap_or(0);
    let mut opts =
        overlay_options(&layers[start..], &upper, &work).map_err(SnapshotError::Invalid)?;
    if !extra.is_empty() {
        opts.push(',');
        opts.push_str(extra);
    }
    mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|source| SnapshotError::Mount {
        what: "mounting overlayfs on",
        path: rootfs.to_path_buf(),
        source,
    })
}

/// Whether the snapshot directory `dir` (ours, a trusted path) is marked opaque.
fn root_is_opaque(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: getxattr writes at most buf.len() bytes into buf, which we own; the path and
    // the name are NUL-terminated and outlive the call.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

fn write_lease(
    snapshots: &Snapshots,
    layers: &[PathBuf],
    container_dir: &Path,
) -> Result<(), SnapshotError> {
    let chains: Vec<String> = layers
        .iter()
        .filter_map(|l| l.parent()?.file_name()?.to_str().map(str::to_string))
        .collect();
    let lease = serde_json::json!({
        "container_dir": container_dir,
        "chains": chains,
    });
    let path = lease_path(snapshots, container_dir);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, lease.to_string()).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("writing", &path))
}

fn remove_if_present(p: &Path) -> Result<(), SnapshotError> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", p)(e)),
        _ => Ok(()),
    }
}

pub(super) fn release(snapshots: &Snapshots, container_dir: &Path) -> Result<(), SnapshotError> {
    let rootfs = container_dir.join("rootfs");
    let marker = container_dir.join(BACKEND_FILE);
    let overlay = std::fs::read_to_string(&marker).is_ok_and(|s| s == "overlay");
    if overlay {
        match umount2(&rootfs, MntFlags::empty()) {
            // Not mounted (already released) or gone: nothing to undo.
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(nix::errno::Errno::EBUSY) => {
                umount2(&rootfs, MntFlags::MNT_DETACH).map_err(|source| SnapshotError::Mount {
                    what: "unmounting",
                    path: rootfs.clone(),
                    source,
                })?
            }
            Err(source) => {
                return Err(SnapshotError::Mount {
                    what: "unmounting",
                    path: rootfs,
                    source,
                })
            }
        }
    }
    for d in ["rootfs", "upper", "work"] {
        remove_if_present(&container_dir.join(d))?;
    }
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err("removing", &marker)(e))
        }
        _ => {}
    }
    let lease = lease_path(snapshots, container_dir);
    match std::fs::remove_file(&lease) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", &lease)(e)),
        _ => Ok(()),
    }
}

/// Chains some live container rootfs uses. A lease whose container dir is gone is dropped.
pub(super) fn leased_chains(snapshots: &Snapshots) -> Result<Vec<String>, SnapshotError> {
    let dir = snapshots.root().join("leases");
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("listing", &dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(io_err("listing", &dir))?.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(lease) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let alive = lease["container_dir"]
            .as_str()
            .is_some_and(|d| Path::new(d).exists());
        if !alive {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if let Some(chains) = lease["chains"].as_array() {
            out.extend(chains.iter().filter_map(|c| c.as_str().map(str::to_string)));
        }
    }
    Ok(out)
}
