//! A container's state on disk, and its status derived from the live system.
//!
//! Layout under the runtime root (`--root`, default /run/berth):
//! ```text
//! <root>/<id>/            0700, made by `create`; its existence reserves the ID
//! <root>/<id>/state.json  this module's `State`, replaced atomically (temp file + rename)
//! <root>/<id>/exec.fifo   the start channel: present from create until start
//! ```
//! Status is never stored: it is derived each time from the init's pid and start time
//! (so a recycled pid is not mistaken for the container), the fifo and the freezer.

use crate::cgroups::CgroupManager;
use crate::error::{Error, Result};
use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const FIFO_FILE: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What berth keeps about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init; 0 until it exists.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (/proc/<pid>/stat field 22).
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<CgroupManager>,
    /// Hooks that run after create returns (poststart, poststop).
    pub hooks: Option<Hooks>,
    /// True once create finished; a state dir with `false` is a crashed create.
    pub created_ok: bool,
    /// The init runs in its own pid namespace: killing it kills everything.
    pub private_pid_ns: bool,
}

/// The runtime-spec state document, as `berth state` prints it (runc's field set).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

/// The runtime root directory.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Root { dir: dir.into() }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Removes a container's directory `dir` and what it holds. After `start` that is
    /// state.json alone: its unlink and one rmdir do, instead of a directory walk (open,
    /// getdents, a buffer) on `run`'s path; anything else left goes through the walk.
    pub fn remove_container_dir(dir: &Path) -> Result<()> {
        match std::fs::remove_file(dir.join(STATE_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(dir.join(STATE_FILE), e)),
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(_) => std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e)),
        }
    }

    /// Makes `<root>/<id>` (0700); fails with AlreadyExists when the ID is taken.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?;
        let dir = self.container_dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(id.to_string()))
            }
            Err(e) => Err(Error::io(&dir, e)),
        }
    }

    pub fn load(&self, id: &str) -> Result<State> {
        crate::config::validate_id(id)?;
        let path = self.container_dir(id).join(STATE_FILE);
        let text = match crate::small_file::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&text)
            .map_err(|e| Error::Other(format!("{}: corrupt state: {e}", path.display())))
    }

    /// IDs of every container directory under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(Error::io(&self.dir, e)),
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Some(name) = entry.file_name().to_str() {
                    ids.push(name.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}

impl State {
    pub fn dir(&self, root: &Root) -> PathBuf {
        root.container_dir(&self.id)
    }

    /// Writes state.json atomically.
    pub fn save(&self, root: &Root) -> Result<()> {
        let dir = self.dir(root);
        let text =
            serde_json::to_vec(self).map_err(|e| Error::Other(format!("encode state: {e}")))?;
        write_atomic(&dir.join(STATE_FILE), &text)
    }

    /// The status as of now.
    pub fn status(&self, root: &Root) -> Status {
        if !self.created_ok {
            return if self.pid > 0 && process_alive(self.pid, self.pid_start) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if self.pid <= 0 || !process_alive(self.pid, self.pid_start) {
            return Status::Stopped;
        }
        // A frozen cgroup is "paused" even before start, as runc reports it.
        if let Some(cg) = &self.cgroup {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        if self.dir(root).join(FIFO_FILE).exists() {
            return Status::Created;
        }
        Status::Running
    }

    pub fn oci_state(&self, status: Status) -> OciState {
        OciState {
            oci_version: crate::OCI_SPEC_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Writes `data` to `path` through a temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    if exchange(&tmp, path) {
        // The temp name now holds the old content.
        return std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Swaps `a` and `b` atomically (renameat2 RENAME_EXCHANGE); false when `b` does not exist
/// or the filesystem cannot exchange, and the caller renames instead. A rename over an
/// existing file makes ext4 start writing the new file's data out at once (its
/// auto_da_alloc guard), a disk request on every state save; an exchange does not.
fn exchange(a: &Path, b: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(a), Ok(b)) = (
        std::ffi::CString::new(a.as_os_str().as_bytes()),
        std::ffi::CString::new(b.as_os_str().as_bytes()),
    ) else {
        return false;
    };
    // SAFETY: both paths are NUL-terminated strings that live across the call; the
    // kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    rc == 0
}

/// Start time (field 22 of /proc/<pid>/stat) and state letter of a live process.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let text = crate::small_file::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) come fields 4..; start time is field 22 → 19th after state.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// True when `pid` exists, is the process started at `start` (0: don't check), and has not exited.
pub fn process_alive(pid: i32, start: u64) -> bool {
    match proc_stat(pid) {
        Some((s, state)) => (start == 0 || s == start) && state != 'Z' && state != 'X',
        None => false,
    }
}

/// RFC 3339 UTC time with nanoseconds, as runc writes `created`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_of_self() {
        let (start, state) = proc_stat(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(state != 'Z' && state != 'X', "{state}");
        assert!(process_alive(std::process::id() as i32, start));
        assert!(!process_alive(std::process::id() as i32, start + 1));
    }

    #[test]
    fn write_atomic_creates_then_replaces_and_leaves_no_temp() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("berth-state-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomic(&path, b"first").unwrap();
        let first_ino = std::fs::metadata(&path).unwrap().ino();
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        // The new content is a new file put in place, never the old one rewritten.
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), first_ino);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["state.json".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_container_dir_goes_with_whatever_it_holds() {
        let tmp = std::env::temp_dir().join(format!("berth-state-rm-{}", std::process::id()));
        let root = Root::new(&tmp);
        // state.json alone (after start), more (exec.fifo before start, a temp file),
        // nothing at all (a create that died early), and a directory already gone.
        for extra in [&[][..], &[FIFO_FILE, "state.tmp42"][..]] {
            let dir = root.reserve("c1").unwrap();
            std::fs::write(dir.join(STATE_FILE), "{}").unwrap();
            for name in extra {
                std::fs::write(dir.join(name), "").unwrap();
            }
            Root::remove_container_dir(&dir).unwrap();
            assert!(!dir.exists(), "{extra:?}");
        }
        let dir = root.reserve("c2").unwrap();
        Root::remove_container_dir(&dir).unwrap();
        assert!(!dir.exists());
        Root::remove_container_dir(&dir).unwrap();
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn reserve_twice_is_already_exists() {
        let tmp = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let root = Root::new(&tmp);
        root.reserve("c1").unwrap();
        let err = root.reserve("c1").unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)));
        assert!(matches!(root.load("c1").unwrap_err(), Error::NotFound(_)));
        assert!(matches!(root.load("nope").unwrap_err(), Error::NotFound(_)));
        assert_eq!(root.ids().unwrap(), vec!["c1".to_string()]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn status_of_dead_pid_is_stopped() {
        let tmp = std::env::temp_dir().join(format!("berth-state-test2-{}", std::process::id()));
        let root = Root::new(&tmp);
        root.reserve("c").unwrap();
        let st = State {
            id: "c".into(),
            pid: i32::MAX - 1,
            pid_start: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroup: None,
            hooks: None,
            created_ok: true,
            private_pid_ns: true,
        };
        st.save(&root).unwrap();
        let back = root.load("c").unwrap();
        assert_eq!(back.status(&root), Status::Stopped);
        assert_eq!(back.oci_state(Status::Stopped).pid, 0);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    }
}
