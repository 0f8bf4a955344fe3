//! Mounting the rootfs containerd hands to Create (the snapshotter's mounts: overlay, bind, …)
//! in the shim itself, without forking.
//!
//! containerd-shim's own helper forks the (multi-threaded) server to `chdir` before a mount
//! whose overlay options would not fit in one page; we never fork a threaded process without
//! exec. Here the mount is a plain mount(2) from the calling thread, and only when the options
//! are too long does it run on a short-lived thread that first unshares its file-system
//! context (`unshare(CLONE_FS)`, which concerns that thread alone) and `chdir`s to the
//! lowerdirs' common parent, so they can be named relatively. The thread ends after the mount;
//! no other thread's working directory ever changes.
//!
//! Options are parsed by berth's own mount-option parser (the same words as in config.json).

use berth::rootfs::options::{self, MountKind};
use nix::mount::{mount, MsFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("rootfs mount {index}: no file system type")]
    NoType { index: usize },
    #[error("rootfs mount {index} ({fs}): option {option:?}: {msg}")]
    Option {
        index: usize,
        fs: String,
        option: String,
        msg: &'static str,
    },
    #[error("rootfs mount {index} ({fs}) on {target}: {source}")]
    Mount {
        index: usize,
        fs: String,
        target: String,
        source: nix::Error,
    },
    #[error("rootfs mount {index} ({fs}): its options are {len} bytes, over the kernel's {max}")]
    TooLong {
        index: usize,
        fs: String,
        len: usize,
        max: usize,
    },
}

/// One mount as containerd sends it (type, source, options).
pub struct RootfsMount<'a> {
    pub fs_type: &'a str,
    pub source: &'a str,
    pub options: &'a [String],
}

/// The kernel's limit for mount(2)'s data argument: one page.
fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(4096)
}

/// Mounts `m` (the `index`th of the request) on `target`.
pub fn mount_one(index: usize, m: &RootfsMount<'_>, target: &Path) -> Result<(), MountError> {
    let fs_type = (!m.fs_type.is_empty()).then_some(m.fs_type);
    let kind = MountKind::classify(fs_type, m.options).ok_or(MountError::NoType { index })?;
    let fs = kind.name().to_string();
    let parsed = options::parse(m.options, &kind).map_err(|e| {
        let (option, msg) = match e {
            options::OptionError::Unknown(w) => (w, "not a mount option berth knows"),
            options::OptionError::Unsupported(w) => (w, "not supported"),
        };
        MountError::Option {
            index,
            fs: fs.clone(),
            option,
            msg,
        }
    })?;
    let mount_err = |source| MountError::Mount {
        index,
        fs: fs.clone(),
        target: target.display().to_string(),
        source,
    };

    let mut data = parsed.data.clone();
    let max = page_size();
    let mut workdir = None;
    if kind == MountKind::Overlay && data.join(",").len() >= max - 512 {
        if let Some((dir, compacted)) = compact_lowerdirs(&data) {
            workdir = Some(dir);
            data = compacted;
        }
    }
    let data = data.join(",");
    if data.len() >= max {
        return Err(MountError::TooLong {
            index,
            fs,
            len: data.len(),
            max,
        });
    }
    let data = (!data.is_empty()).then_some(data);
    let source = (!m.source.is_empty()).then_some(m.source);
    let flags = parsed.flags;
    let fs_for_mount = (kind != MountKind::Bind).then_some(fs.as_str());
    let do_mount = || mount(source, target, fs_for_mount, flags, data.as_deref());
    match &workdir {
        None => do_mount().map_err(mount_err)?,
        Some(dir) => std::thread::scope(|s| {
            s.spawn(|| {
                // This thread alone gets its own cwd; it ends right after the mount.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
                nix::unistd::chdir(dir.as_path())?;
                do_mount()
            })
            .join()
            .unwrap_or(Err(nix::Error::EIO))
        })
        .map_err(mount_err)?,
    }
    // A bind mount takes ro/nosuid/… only through a remount.
    if kind == MountKind::Bind && parsed.needs_remount() {
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | (flags & options::REMOUNT_FLAGS);
        mount(None::<&str>, target, None::<&str>, remount, None::<&str>).map_err(mount_err)?;
    }
    for p in &parsed.propagation {
        mount(None::<&str>, target, None::<&str>, *p, None::<&str>).map_err(mount_err)?;
    }
    Ok(())
}

/// Rewrites `lowerdir=` so every layer is named relative to the layers' longest common
/// parent directory; returns that directory and the new options. `None` when there is no
/// lowerdir, a layer is not absolute, or the layers share no parent but `/`.
pub fn compact_lowerdirs(data: &[String]) -> Option<(PathBuf, Vec<String>)> {
    let pos = data.iter().position(|o| o.starts_with("lowerdir="))?;
    let layers: Vec<&Path> = data[pos]["lowerdir=".len()..]
        .split(':')
        .map(Path::new)
        .collect();
    if layers.iter().any(|l| !l.is_absolute()) {
        return None;
    }
    let mut common: PathBuf = layers.first()?.parent()?.to_path_buf();
    for l in &layers[1..] {
        while !l.starts_with(&common) {
            common = common.parent()?.to_path_buf();
        }
    }
    if common == Path::new("/") {
        return None;
    }
    let relative: Vec<String> = layers
        .iter()
        .map(|l| {
            l.strip_prefix(&common)
                .map(|r| r.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    if relative.iter().any(String::is_empty) {
        return None;
    }
    let mut out = data.to_vec();
    out[pos] = format!("lowerdir={}", relative.join(":"));
    Some((common, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lowerdirs_become_relative_to_their_common_parent() {
        let data = opts(&[
            "index=off",
            "workdir=/var/lib/c/snapshots/9/work",
            "upperdir=/var/lib/c/snapshots/9/fs",
            "lowerdir=/var/lib/c/snapshots/8/fs:/var/lib/c/snapshots/7/fs:/var/lib/c/snapshots/12/fs",
        ]);
        let (dir, out) = compact_lowerdirs(&data).unwrap();
        assert_eq!(dir, Path::new("/var/lib/c/snapshots"));
        assert_eq!(out[3], "lowerdir=8/fs:7/fs:12/fs");
        // Everything else is untouched (upper and work stay absolute).
        assert_eq!(out[..3], data[..3]);
    }

    #[test]
    fn nothing_to_compact_without_a_shared_parent_or_lowerdir() {
        assert!(compact_lowerdirs(&opts(&["lowerdir=/a/x:/b/y"])).is_none());
        assert!(compact_lowerdirs(&opts(&["ro"])).is_none());
        assert!(compact_lowerdirs(&opts(&["lowerdir=rel/x:/a/y"])).is_none());
    }

    #[test]
    fn unknown_options_and_missing_types_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(&["bogus"]);
        let m = RootfsMount {
            fs_type: "tmpfs",
            source: "tmpfs",
            options: &o,
        };
        let e = mount_one(0, &m, dir.path()).unwrap_err().to_string();
        assert!(e.contains("\"bogus\""), "{e}");
        let none: Vec<String> = Vec::new();
        let m = RootfsMount {
            fs_type: "",
            source: "x",
            options: &none,
        };
        let e = mount_one(1, &m, dir.path()).unwrap_err().to_string();
        assert!(e.contains("rootfs mount 1"), "{e}");
    }

    /// An overlay whose options exceed a page mounts through the compacted, relative
    /// lowerdirs, from a thread whose working directory is private (ours is unchanged).
    #[test]
    fn long_overlay_options_mount_through_relative_lowerdirs() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root for overlay mounts");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // A deep common parent makes every absolute lowerdir long.
        let deep = dir.path().join("d".repeat(200)).join("snapshots");
        let mut lowers = Vec::new();
        for i in 0..30 {
            let l = deep.join(i.to_string()).join("fs");
            std::fs::create_dir_all(&l).unwrap();
            std::fs::write(l.join(format!("f{i}")), "x").unwrap();
            lowers.push(l.display().to_string());
        }
        let target = dir.path().join("rootfs");
        std::fs::create_dir(&target).unwrap();
        let o = vec![format!("lowerdir={}", lowers.join(":"))];
        assert!(o[0].len() > page_size(), "the test must exceed a page");
        let cwd = std::env::current_dir().unwrap();
        let m = RootfsMount {
            fs_type: "overlay",
            source: "overlay",
            options: &o,
        };
        let result = mount_one(0, &m, &target);
        let seen = target.join("f29").exists() && target.join("f0").exists();
        let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
        result.unwrap();
        assert!(seen, "the overlay shows every layer");
        assert_eq!(std::env::current_dir().unwrap(), cwd);
    }
}
