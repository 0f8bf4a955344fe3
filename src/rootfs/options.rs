//! Mount option strings (fstab style, as in config.json `mounts[].options`) turned into
//! mount(2) flags, propagation changes, recursive mount_setattr(2) attributes and fs data.
//!
//! Pure code: nothing here touches the system, so it is shared by `validate` and `prepare`.

use nix::mount::MsFlags;

/// `MS_NOSYMFOLLOW` (Linux 5.10); not every nix release names it.
const MS_NOSYMFOLLOW: u64 = 256;

/// mount_setattr(2) attribute bits (linux/mount.h).
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
pub const MOUNT_ATTR_ATIME: u64 = 0x0000_0070;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// What kind of mount an entry is, which decides the allowed options and how it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount (`bind`/`rbind` option or type `bind`).
    Bind,
    Tmpfs,
    Proc,
    Sysfs,
    Devpts,
    Mqueue,
    /// `cgroup`: made to fit the host's cgroup layout (v1 hierarchies or v2).
    Cgroup,
    Cgroup2,
    Overlay,
    /// Any other file system type, passed to mount(2) as is.
    Other(String),
}

impl MountKind {
    /// Classifies a mount from its `type` and options. `None` when a non-bind mount has no type.
    pub fn classify(typ: Option<&str>, options: &[String]) -> Option<MountKind> {
        let has_bind = options.iter().any(|o| o == "bind" || o == "rbind");
        if has_bind || typ == Some("bind") {
            return Some(MountKind::Bind);
        }
        Some(match typ? {
            "" | "none" => return None,
            "tmpfs" => MountKind::Tmpfs,
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "devpts" => MountKind::Devpts,
            "mqueue" => MountKind::Mqueue,
            "cgroup" => MountKind::Cgroup,
            "cgroup2" => MountKind::Cgroup2,
            "overlay" => MountKind::Overlay,
            other => MountKind::Other(other.to_string()),
        })
    }

    /// The type name used in messages and given to mount(2).
    pub fn name(&self) -> &str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Sysfs => "sysfs",
            MountKind::Devpts => "devpts",
            MountKind::Mqueue => "mqueue",
            MountKind::Cgroup => "cgroup",
            MountKind::Cgroup2 => "cgroup2",
            MountKind::Overlay => "overlay",
            MountKind::Other(name) => name,
        }
    }

    /// Bare (no `=`) words this file system takes as data.
    fn data_words(&self) -> Option<&'static [&'static str]> {
        match self {
            MountKind::Bind => Some(&[]),
            MountKind::Tmpfs => Some(&[
                "noswap", "inode32", "inode64", "quota", "usrquota", "grpquota",
            ]),
            MountKind::Proc | MountKind::Sysfs | MountKind::Mqueue => Some(&[]),
            MountKind::Devpts => Some(&["newinstance"]),
            MountKind::Cgroup => Some(&[
                "none",
                "all",
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "devices",
                "freezer",
                "net_cls",
                "net_prio",
                "blkio",
                "perf_event",
                "hugetlb",
                "pids",
                "rdma",
                "misc",
                "noprefix",
                "xattr",
                "clone_children",
                "cpuset_v2_mode",
                "favordynmods",
            ]),
            MountKind::Cgroup2 => Some(&[
                "nsdelegate",
                "memory_localevents",
                "memory_recursiveprot",
                "memory_hugetlb_accounting",
                "favordynmods",
            ]),
            MountKind::Overlay => Some(&["userxattr", "volatile"]),
            // Unknown file systems: we cannot know their options, pass every word through.
            MountKind::Other(_) => None,
        }
    }
}

/// A recursive attribute change for mount_setattr(2) with AT_RECURSIVE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

/// The parsed form of one mount's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOptions {
    /// Flags for mount(2) (MS_BIND and MS_REC included for bind/rbind).
    pub flags: MsFlags,
    /// Flags the options explicitly turned off (rw, suid, dev, exec, ...).
    pub cleared: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (rro, rnosuid, ...).
    pub recursive: RecursiveAttrs,
    /// File system data, joined with "," for mount(2).
    pub data: Vec<String>,
    /// `tmpcopyup`: copy what the destination held into the new tmpfs.
    pub copy_up: bool,
}

/// Flags a bind mount can only get through a second MS_REMOUNT|MS_BIND call.
pub const REMOUNT_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME)
    .union(MsFlags::MS_SYNCHRONOUS)
    .union(MsFlags::MS_DIRSYNC)
    .union(MsFlags::MS_MANDLOCK)
    .union(MsFlags::from_bits_retain(MS_NOSYMFOLLOW));

impl Default for ParsedOptions {
    fn default() -> Self {
        ParsedOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            recursive: RecursiveAttrs::default(),
            data: Vec::new(),
            copy_up: false,
        }
    }
}

impl ParsedOptions {
    /// True when this is a bind mount whose flags need the MS_REMOUNT step.
    pub fn needs_remount(&self) -> bool {
        self.flags.intersects(REMOUNT_FLAGS) || !self.cleared.is_empty()
    }

    /// The data string for mount(2), or None when there is none.
    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

/// Every option word berth understands as a flag (for the `features` command's
/// `mountOptions`); fs data such as `mode=755` comes on top.
pub const KNOWN_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// How one option word changes the mount.
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    RecSet(u64, u64),
    RecClear(u64),
}

fn flag(bits: u64) -> MsFlags {
    MsFlags::from_bits_retain(bits)
}

fn effect_of(word: &str) -> Option<Effect> {
    use Effect::*;
    Some(match word {
        "defaults" => Set(MsFlags::empty()),
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "nosymfollow" => Set(flag(MS_NOSYMFOLLOW)),
        "symfollow" => Clear(flag(MS_NOSYMFOLLOW)),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND | MsFlags::MS_REC),
        "private" => Propagation(MsFlags::MS_PRIVATE),
        "rprivate" => Propagation(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "shared" => Propagation(MsFlags::MS_SHARED),
        "rshared" => Propagation(MsFlags::MS_SHARED | MsFlags::MS_REC),
        "slave" => Propagation(MsFlags::MS_SLAVE),
        "rslave" => Propagation(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "unbindable" => Propagation(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagation(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        "rro" => RecSet(MOUNT_ATTR_RDONLY, 0),
        "rrw" => RecClear(MOUNT_ATTR_RDONLY),
        "rnosuid" => RecSet(MOUNT_ATTR_NOSUID, 0),
        "rsuid" => RecClear(MOUNT_ATTR_NOSUID),
        "rnodev" => RecSet(MOUNT_ATTR_NODEV, 0),
        "rdev" => RecClear(MOUNT_ATTR_NODEV),
        "rnoexec" => RecSet(MOUNT_ATTR_NOEXEC, 0),
        "rexec" => RecClear(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => RecSet(MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => RecClear(MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => RecSet(MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => RecClear(MOUNT_ATTR_NOSYMFOLLOW),
        // The atime modes are one field: setting one clears the others.
        "rrelatime" => RecSet(MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME),
        "rnoatime" => RecSet(MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME),
        "rstrictatime" => RecSet(MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        "ratime" | "rnostrictatime" => RecSet(MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME),
        "rnorelatime" => RecSet(MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME),
        _ => return None,
    })
}

/// Why an option list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    /// A word that is neither a known flag nor data this mount type takes.
    Unknown(String),
    /// A word berth knows but does not support.
    Unsupported(String),
}

/// Parses `options` for a mount of `kind`.
pub fn parse(options: &[String], kind: &MountKind) -> Result<ParsedOptions, OptionError> {
    let mut parsed = ParsedOptions::default();
    for word in options {
        match effect_of(word) {
            Some(Effect::Set(f)) => {
                parsed.flags |= f;
                parsed.cleared &= !f;
            }
            Some(Effect::Clear(f)) => {
                parsed.flags &= !f;
                parsed.cleared |= f;
            }
            Some(Effect::Propagation(f)) => parsed.propagation.push(f),
            Some(Effect::RecSet(set, clear)) => {
                parsed.recursive.clear = (parsed.recursive.clear | clear) & !set;
                parsed.recursive.set = (parsed.recursive.set & !clear) | set;
                if clear & MOUNT_ATTR_ATIME != 0 {
                    // Keep the atime field consistent: clear it whole, set the chosen mode.
                    parsed.recursive.clear |= MOUNT_ATTR_ATIME;
                }
            }
            Some(Effect::RecClear(f)) => {
                parsed.recursive.set &= !f;
                parsed.recursive.clear |= f;
            }
            None if *kind == MountKind::Tmpfs && word == "tmpcopyup" => parsed.copy_up = true,
            None if *kind == MountKind::Tmpfs && word == "notmpcopyup" => parsed.copy_up = false,
            None => {
                if matches!(word.as_str(), "idmap" | "ridmap" | "copy-symlink") {
                    return Err(OptionError::Unsupported(word.clone()));
                }
                let allowed = match kind.data_words() {
                    None => true,
                    Some(_) if matches!(kind, MountKind::Bind) => false,
                    Some(words) => word.contains('=') || words.contains(&word.as_str()),
                };
                if !allowed || word.is_empty() {
                    return Err(OptionError::Unknown(word.clone()));
                }
                parsed.data.push(word.clone());
            }
        }
    }
    Ok(parsed)
}

/// The propagation flags for `linux.rootfsPropagation`; the default is rslave.
pub fn root_propagation(value: Option<&str>) -> Option<MsFlags> {
    Some(match value.unwrap_or("") {
        "" | "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn bind_ro_needs_remount() {
        let p = parse(&opts(&["rbind", "ro", "nosuid"]), &MountKind::Bind).unwrap();
        assert_eq!(
            p.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID
        );
        assert!(p.needs_remount());
        let p = parse(&opts(&["bind"]), &MountKind::Bind).unwrap();
        assert!(!p.needs_remount());
        assert_eq!(p.flags, MsFlags::MS_BIND);
    }

    #[test]
    fn later_words_win() {
        let p = parse(&opts(&["ro", "rw", "noexec", "exec"]), &MountKind::Tmpfs).unwrap();
        assert!(!p.flags.contains(MsFlags::MS_RDONLY));
        assert!(!p.flags.contains(MsFlags::MS_NOEXEC));
        assert!(p.cleared.contains(MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC));
        let p = parse(&opts(&["rw", "ro"]), &MountKind::Tmpfs).unwrap();
        assert!(p.flags.contains(MsFlags::MS_RDONLY));
        assert!(!p.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn tmpfs_data_passes_through() {
        let p = parse(
            &opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]),
            &MountKind::Tmpfs,
        )
        .unwrap();
        assert_eq!(p.data_string().as_deref(), Some("mode=755,size=65536k"));
        assert_eq!(p.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
    }

    #[test]
    fn devpts_newinstance_is_data() {
        let p = parse(
            &opts(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ]),
            &MountKind::Devpts,
        )
        .unwrap();
        assert_eq!(
            p.data_string().as_deref(),
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
        );
    }

    #[test]
    fn unknown_words_are_refused() {
        assert_eq!(
            parse(&opts(&["bind", "bogus"]), &MountKind::Bind),
            Err(OptionError::Unknown("bogus".into()))
        );
        assert_eq!(
            parse(&opts(&["bind", "mode=755"]), &MountKind::Bind),
            Err(OptionError::Unknown("mode=755".into()))
        );
        assert_eq!(
            parse(&opts(&["newinstance"]), &MountKind::Tmpfs),
            Err(OptionError::Unknown("newinstance".into()))
        );
        assert_eq!(
            parse(&opts(&["tmpcopyup"]), &MountKind::Bind),
            Err(OptionError::Unknown("tmpcopyup".into()))
        );
        assert!(
            parse(&opts(&["tmpcopyup"]), &MountKind::Tmpfs)
                .unwrap()
                .copy_up
        );
        assert_eq!(
            parse(&opts(&["idmap"]), &MountKind::Bind),
            Err(OptionError::Unsupported("idmap".into()))
        );
        // An unknown file system gets every word.
        let p = parse(&opts(&["whatever"]), &MountKind::Other("fuse".into())).unwrap();
        assert_eq!(p.data, vec!["whatever".to_string()]);
    }

    #[test]
    fn propagation_in_order() {
        let p = parse(&opts(&["rbind", "rprivate", "shared"]), &MountKind::Bind).unwrap();
        assert_eq!(
            p.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SHARED]
        );
    }

    #[test]
    fn recursive_attrs() {
        let p = parse(
            &opts(&["rbind", "rro", "rnosuid", "rnoatime"]),
            &MountKind::Bind,
        )
        .unwrap();
        assert_eq!(
            p.recursive.set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(p.recursive.clear, MOUNT_ATTR_ATIME);
        let p = parse(&opts(&["rbind", "rro", "rrw"]), &MountKind::Bind).unwrap();
        assert_eq!(p.recursive.set, 0);
        assert_eq!(p.recursive.clear, MOUNT_ATTR_RDONLY);
        assert!(!p.needs_remount());
    }

    #[test]
    fn known_options_all_have_an_effect() {
        for word in KNOWN_OPTIONS {
            assert!(effect_of(word).is_some(), "{word}");
        }
        assert!(effect_of("bogus").is_none());
    }

    #[test]
    fn classify_kinds() {
        assert_eq!(
            MountKind::classify(Some("none"), &opts(&["rbind"])),
            Some(MountKind::Bind)
        );
        assert_eq!(
            MountKind::classify(Some("bind"), &[]),
            Some(MountKind::Bind)
        );
        assert_eq!(MountKind::classify(None, &[]), None);
        assert_eq!(
            MountKind::classify(Some("proc"), &[]),
            Some(MountKind::Proc)
        );
        assert_eq!(
            MountKind::classify(Some("fuse.x"), &[]),
            Some(MountKind::Other("fuse.x".into()))
        );
    }

    #[test]
    fn rootfs_propagation_values() {
        assert_eq!(
            root_propagation(None),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(root_propagation(Some("shared")), Some(MsFlags::MS_SHARED));
        assert_eq!(root_propagation(Some("bogus")), None);
    }
}
