//! Control groups: placement of a container on the host's layout (v1, hybrid, v2),
//! resources (`linux.resources` at create and `update`), freeze/thaw, kill-all, stats
//! and OOM events.
//!
//! Contract used by the runtime core (keep these signatures):
//! * [`CgroupManager::new`] in the `create` parent, from `linux.cgroupsPath` and the ID;
//!   it reads /proc/self/mountinfo but touches nothing on disk.
//! * [`CgroupManager::create`] in the parent before the clone: makes the directories in every
//!   hierarchy and applies `linux.resources`. On error it removes what it made.
//!   It records the directories it made itself, so serialise the manager into
//!   `state.json` AFTER `create`: `destroy` then removes exactly those.
//! * [`CgroupManager::join_self`] in the container's init right after the clone: writes "0"
//!   into `tasks` of every v1 hierarchy (and `cgroup.procs` of cgroup2). Moving the
//!   calling thread alone is the one migration the kernel does without write-locking its
//!   global threadgroup rwsem, whose every write lock after an idle moment waits for an RCU
//!   grace period (5–20 ms, measured: cold start); the caller is single-threaded, so the
//!   thread is the process. [`CgroupManager::clone_target`] gives the cgroup2 directory
//!   (v2, and hybrid's unified one) for clone3's CLONE_INTO_CGROUP, which places the child
//!   there with no migration at all; the init then joins only the v1 hierarchies
//!   ([`CgroupManager::join_self_v1`]).
//! * [`CgroupManager::destroy`] at delete and on create failure: removes every directory made.
//! * The manager is serialisable, so `state.json` records exactly what to clean up.
//! * For issue #3's commands: [`CgroupManager::update`] (update), [`CgroupManager::freeze`]
//!   / [`CgroupManager::thaw`] / [`CgroupManager::is_frozen`] (pause, resume, status),
//!   [`CgroupManager::pids`] (ps), [`CgroupManager::kill_all`] (kill --all, delete
//!   --force), [`CgroupManager::stats`] and [`OomWatcher`] (events).
//! * For `exec --cgroup`: [`SubCgroups`] gives a manager whose directories are the exec's
//!   sub-cgroups, joined or cloned into exactly like the container's own.
//!
//! Layouts: v1 has a hierarchy per controller (or per group of controllers) plus
//! `name=systemd`; hybrid adds cgroup2 at /sys/fs/cgroup/unified, where berth makes the
//! container's directory too (resources go to v1; the `unified` map goes there); v2 is
//! cgroup2 alone. Only the cgroupfs driver exists; systemd paths are refused.

mod bpf_devices;
mod cgpath;
mod convert;
mod devices;
mod freezer;
mod fsio;
mod mountinfo;
mod oom;
mod resources;
mod resources_v1;
mod resources_v2;
mod stats;
mod sub;
#[cfg(test)]
mod test_support;

pub use devices::{allowed as device_allowed, Kind as DeviceKind};
pub use oom::{OomEvent, OomWatcher};
pub use stats::{BlkioEntry, MemoryEntry, Stats};
pub use sub::SubCgroups;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroup: {0}")]
    Invalid(String),
    /// Writing a control file failed; names the file and the value.
    #[error("cgroup: writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    /// The config asks for a control file this host does not have.
    #[error("cgroup: {file} is not available on this host: {why}")]
    Unavailable { file: String, why: String },
}

impl CgroupError {
    /// The kernel refused for lack of permission (EACCES, EPERM, EROFS): a user with no
    /// cgroup delegated to it.
    pub fn is_permission_denied(&self) -> bool {
        let source = match self {
            CgroupError::Io { source, .. } | CgroupError::Write { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
        )
    }
}

/// What the host mounts at /sys/fs/cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    V1,
    Hybrid,
    V2,
}

/// One hierarchy the container has a directory in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where the hierarchy is mounted.
    pub mount_point: PathBuf,
    /// The container's directory in it.
    pub dir: PathBuf,
    /// v1 controllers of the hierarchy (with "name=systemd"); empty for cgroup2.
    pub controllers: Vec<String>,
    /// True for the cgroup2 hierarchy.
    pub unified: bool,
}

/// The directories `create` made itself (not parents that were there already), in the
/// order made; None until `create` runs (or in a state written before this was
/// recorded). Behind a mutex because `create` takes `&self`.
#[derive(Debug, Default)]
struct CreatedDirs(Mutex<Option<Vec<PathBuf>>>);

impl CreatedDirs {
    fn get(&self) -> Option<Vec<PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn extend(&self, dirs: Vec<PathBuf>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Vec::new)
            .extend(dirs);
    }
}

impl Clone for CreatedDirs {
    fn clone(&self) -> Self {
        CreatedDirs(Mutex::new(self.get()))
    }
}

impl Serialize for CreatedDirs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CreatedDirs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(CreatedDirs(Mutex::new(Option::deserialize(d)?)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupManager {
    /// The cgroup path relative to each hierarchy's root, e.g. "/berth/ID".
    pub path: String,
    pub layout: Layout,
    /// Absolute directories that `create` made (or would make), one per hierarchy.
    pub dirs: Vec<PathBuf>,
    /// The hierarchies, in the order of `dirs`.
    #[serde(default)]
    pub hierarchies: Vec<Hierarchy>,
    /// What `create` made itself; `destroy` removes these, deepest first.
    #[serde(default)]
    created: CreatedDirs,
}

/// How long freeze/thaw wait for the kernel to settle, and rmdir retries on EBUSY.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
const RMDIR_TRIES: u32 = 6;

impl CgroupManager {
    /// `cgroups_path` is `linux.cgroupsPath` (None or empty: a default under "/berth/<id>").
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        let mounts = mountinfo::read()?;
        Self::from_mounts(mounts, cgroups_path, id)
    }

    fn from_mounts(
        mounts: Vec<mountinfo::Mount>,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Self, CgroupError> {
        let path = cgpath::resolve(cgroups_path, id)?;
        let layout = mountinfo::layout_of(&mounts)?;
        let hierarchies: Vec<Hierarchy> = mountinfo::select(mounts, layout)
            .into_iter()
            .map(|m| Hierarchy {
                dir: cgpath::dir_in(&m.mount_point, &m.root, &path),
                mount_point: m.mount_point,
                controllers: m.controllers,
                unified: m.unified,
            })
            .collect();
        Ok(CgroupManager {
            path,
            layout,
            dirs: hierarchies.iter().map(|h| h.dir.clone()).collect(),
            hierarchies,
            created: CreatedDirs::default(),
        })
    }

    /// The same cgroup path with no directory in any hierarchy: placing, signalling and
    /// destroying do nothing. A rootless container gets this when its user may not make
    /// cgroups (none were delegated to it).
    pub fn without_dirs(&self) -> Self {
        CgroupManager {
            path: self.path.clone(),
            layout: self.layout,
            dirs: Vec::new(),
            hierarchies: Vec::new(),
            created: CreatedDirs(Mutex::new(Some(Vec::new()))),
        }
    }

    /// Makes the container's directory in every hierarchy and applies `resources`.
    /// On error everything made is removed again.
    pub fn create(
        &self,
        resources: Option<&oci_spec::runtime::LinuxResources>,
    ) -> Result<(), CgroupError> {
        let result = self.make_dirs().and_then(|()| match resources {
            Some(r) => resources::apply(self, r, false),
            None => Ok(()),
        });
        if let Err(e) = result {
            let _ = self.destroy();
            return Err(e);
        }
        Ok(())
    }

    /// [`Self::create`] in two steps around the init's clone: the cgroup2 directory first
    /// (where the clone places the init), then the v1 ones and the resources, made while
    /// the init creates its namespaces. On failure this one removes what it made.
    pub fn create_clone_target(&self) -> Result<(), CgroupError> {
        let result = self.make_dirs_where(|unified| unified);
        if result.is_err() {
            let _ = self.destroy();
        }
        result
    }

    /// The second step of [`Self::create_clone_target`]. On failure nothing is removed
    /// here: the init is already in the cgroup2 directory, so the caller kills it first,
    /// then destroys (every directory made is recorded either way).
    pub fn create_rest(
        &self,
        resources: Option<&oci_spec::runtime::LinuxResources>,
    ) -> Result<(), CgroupError> {
        self.make_dirs_where(|unified| !unified)
            .and_then(|()| match resources {
                Some(r) => resources::apply(self, r, false),
                None => Ok(()),
            })
    }

    /// Applies `resources` to the live cgroup (the `update` command).
    pub fn update(&self, resources: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError> {
        resources::apply(self, resources, true)
    }

    fn make_dirs(&self) -> Result<(), CgroupError> {
        self.make_dirs_where(|_| true)
    }

    fn make_dirs_where(&self, wanted: impl Fn(bool) -> bool) -> Result<(), CgroupError> {
        for h in self.hierarchies.iter().filter(|h| wanted(h.unified)) {
            let mut made = Vec::new();
            let result = self.make_dir(h, &mut made);
            self.created.extend(made);
            result?;
        }
        Ok(())
    }

    /// mkdir -p of `h.dir` below its mount point, remembering what we made. On v2 the
    /// controllers are enabled in each parent's subtree_control on the way down; on the
    /// v1 cpuset hierarchy empty cpuset.cpus/mems are copied from the parent.
    fn make_dir(&self, h: &Hierarchy, made: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let rel = h.dir.strip_prefix(&h.mount_point).map_err(|_| {
            CgroupError::Invalid(format!(
                "{} is not below {}",
                h.dir.display(),
                h.mount_point.display()
            ))
        })?;
        let cpuset = h.controllers.iter().any(|c| c == "cpuset");
        let enable_v2 = h.unified && self.layout == Layout::V2;
        // Usually only the container's own directory is missing: one mkdir then. The walk
        // below also fills in what a parent lacks (v2 controllers, v1 cpuset values), so
        // those hierarchies always take it, as does a missing parent.
        let shared_parent = Path::new("/").join(rel) == Path::new(cgpath::DEFAULT_PARENT);
        if !enable_v2 && !cpuset && !shared_parent {
            match std::fs::create_dir(&h.dir) {
                Ok(()) => {
                    made.push(h.dir.clone());
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
                Err(_) => {}
            }
        }
        let mut current = h.mount_point.clone();
        for part in rel.components() {
            let parent = current.clone();
            current.push(part);
            if enable_v2 {
                enable_subtree_controllers(&parent);
            }
            match std::fs::create_dir(&current) {
                // "/berth" is the parent every default and relative cgroupsPath shares: it
                // is made once and kept, sparing each container lifecycle a mkdir and an
                // rmdir per hierarchy (and racing deletes no EBUSY).
                Ok(())
                    if parent == h.mount_point
                        && Path::new("/").join(part) == Path::new(cgpath::DEFAULT_PARENT) => {}
                Ok(()) => made.push(current.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(CgroupError::Io {
                        path: current,
                        source,
                    })
                }
            }
            if cpuset {
                copy_cpuset_from_parent(&parent, &current)?;
            }
        }
        Ok(())
    }

    /// Called in the container init after the clone; must not fork or take locks.
    /// Allocates nothing unless it fails. The caller must be single-threaded: on v1 only
    /// the calling thread moves (`tasks`), which is what spares the RCU grace period.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        self.join_self_where(|_| true)
    }

    /// [`Self::join_self`] for the v1 hierarchies only: clone3's CLONE_INTO_CGROUP already
    /// placed the caller in the cgroup2 one ([`Self::clone_target`]).
    pub fn join_self_v1(&self) -> Result<(), CgroupError> {
        self.join_self_where(|unified| !unified)
    }

    fn join_self_where(&self, wanted: impl Fn(bool) -> bool) -> Result<(), CgroupError> {
        if self.hierarchies.len() != self.dirs.len() {
            // A state written before hierarchies were recorded: no kinds known, so the
            // one file every hierarchy has.
            for dir in &self.dirs {
                write_zero(dir, b"/cgroup.procs\0")?;
            }
            return Ok(());
        }
        for h in self.hierarchies.iter().filter(|h| wanted(h.unified)) {
            let file: &[u8] = if h.unified {
                b"/cgroup.procs\0"
            } else {
                b"/tasks\0"
            };
            write_zero(&h.dir, file)?;
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup from outside (used when the init cannot join by itself,
    /// e.g. from a new user namespace whose root does not own the cgroup files).
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        for dir in &self.dirs {
            fsio::write(dir, "cgroup.procs", &value)?;
        }
        Ok(())
    }

    /// The directory of the hierarchy holding `controller` (v1 and hybrid), or the v2
    /// directory on v2.
    pub(crate) fn controller_dir(&self, controller: &str) -> Option<&Path> {
        if self.layout == Layout::V2 {
            return self.dirs.first().map(PathBuf::as_path);
        }
        self.hierarchies
            .iter()
            .find(|h| !h.unified && h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// The container's directory in the cgroup2 hierarchy (on hybrid and v2).
    pub(crate) fn unified_dir(&self) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.unified)
            .map(|h| h.dir.as_path())
    }

    /// The directory to open for clone3's CLONE_INTO_CGROUP: the container's cgroup2
    /// directory, on v2 and on hybrid (the unified hierarchy); the v1 hierarchies are then
    /// joined with [`Self::join_self_v1`].
    pub fn clone_target(&self) -> Option<&Path> {
        match self.layout {
            Layout::V2 | Layout::Hybrid if self.hierarchies.len() == self.dirs.len() => {
                self.unified_dir()
            }
            _ => None,
        }
    }

    /// The container's directory on pure v2, where it is the one place a process goes.
    pub fn v2_dir(&self) -> Option<PathBuf> {
        match self.layout {
            Layout::V2 => self.unified_dir().map(Path::to_path_buf),
            _ => None,
        }
    }

    /// Pids in the container's cgroup and its sub-cgroups (`exec --cgroup`, or cgroups the
    /// container made), from the pids/freezer/first v1 hierarchy, or v2; as runc's
    /// `ps` and `kill --all` see them.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        if self.dirs.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self
            .controller_dir("pids")
            .or_else(|| self.controller_dir("freezer"))
            .or_else(|| self.dirs.first().map(PathBuf::as_path))
            .ok_or_else(|| CgroupError::Invalid("no cgroup hierarchy".into()))?;
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids, true)?;
        Ok(pids)
    }

    /// True when the cgroup is frozen (v1 freezer.state FROZEN, v2 cgroup.freeze 1).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => freezer::v1_is_frozen(dir),
            Freezer::V2(dir) => freezer::v2_is_frozen(dir),
        }
    }

    /// Freezes every process in the cgroup and waits until the kernel says it is frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => freezer::v1_set(dir, true, SETTLE_TIMEOUT),
            Freezer::V2(dir) => freezer::v2_set(dir, true, SETTLE_TIMEOUT),
        }
    }

    /// Thaws the cgroup and waits until it is thawed.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => freezer::v1_set(dir, false, SETTLE_TIMEOUT),
            Freezer::V2(dir) => freezer::v2_set(dir, false, SETTLE_TIMEOUT),
        }
    }

    fn freezer(&self) -> Result<Freezer<'_>, CgroupError> {
        if self.layout == Layout::V2 {
            return self
                .unified_dir()
                .map(Freezer::V2)
                .ok_or_else(|| CgroupError::Invalid("no cgroup2 directory".into()));
        }
        self.controller_dir("freezer")
            .map(Freezer::V1)
            .ok_or_else(|| CgroupError::Unavailable {
                file: "freezer.state".into(),
                why: "the host mounts no freezer hierarchy".into(),
            })
    }

    /// Sends `signal` to every process in the cgroup: v2's cgroup.kill for SIGKILL when
    /// the kernel has it; otherwise freeze (so nothing forks away), signal each pid, thaw.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if signal == Signal::SIGKILL && self.layout == Layout::V2 {
            if let Some(dir) = self.unified_dir() {
                if dir.join("cgroup.kill").exists() {
                    return fsio::write(dir, "cgroup.kill", "1");
                }
            }
        }
        let frozen = self.freeze().is_ok();
        let result = self.signal_each(signal);
        if frozen {
            let thawed = self.thaw();
            result?;
            return thawed;
        }
        result
    }

    fn signal_each(&self, signal: Signal) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => {
                    return Err(CgroupError::Invalid(format!(
                        "sending {signal} to pid {pid}: {e}"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Removes every directory made by `create`; missing ones are not an error. Busy
    /// directories (processes still leaving) are retried in rounds with a growing
    /// pause, all of them per round, so the wait does not grow with the number of
    /// hierarchies. Without a record of what was made (`create` not run here, or an
    /// older state), the leaf directories are removed.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut pending = self.removal_order();
        let mut delay = Duration::from_millis(10);
        for round in 0..RMDIR_TRIES {
            let (busy, hard_error) = self.remove_round(pending);
            if busy.is_empty() {
                return hard_error.map_or(Ok(()), Err);
            }
            pending = busy;
            if round + 1 < RMDIR_TRIES {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        Err(CgroupError::Invalid(format!(
            "{} is still busy after {RMDIR_TRIES} tries: processes remain in it \
             (kill them first)",
            pending[0].display()
        )))
    }

    /// One round of [`destroy`](Self::destroy) without waiting: true when every directory
    /// is gone. The common case at `delete` (the init reaped, nothing else inside) then
    /// costs one rmdir per hierarchy and no reading of `cgroup.procs`.
    pub fn try_destroy_now(&self) -> bool {
        let (busy, hard_error) = self.remove_round(self.removal_order());
        busy.is_empty() && hard_error.is_none()
    }

    /// What `create` made (pre-existing directories, a shared parent or a cgroupsPath
    /// naming an existing cgroup, stay), deepest first; without a record of it, the leaves.
    fn removal_order(&self) -> Vec<PathBuf> {
        let mut pending = self.created.get().unwrap_or_else(|| self.dirs.clone());
        pending.reverse();
        pending
    }

    /// rmdir of each of `pending`: (the ones still busy, the first other error).
    fn remove_round(&self, pending: Vec<PathBuf>) -> (Vec<PathBuf>, Option<CgroupError>) {
        let mut hard_error = None;
        let mut busy: Vec<PathBuf> = Vec::new();
        for dir in pending {
            // A parent of a directory that stayed cannot go either this round.
            if busy.iter().any(|b| b.starts_with(&dir)) {
                busy.push(dir);
                continue;
            }
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // A parent that another container's cgroup now lives in is shared:
                // it stays, as a parent that existed before create does.
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        && !self.dirs.contains(&dir)
                        && has_child_cgroup(&dir) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => busy.push(dir),
                Err(source) => {
                    hard_error.get_or_insert(CgroupError::Io { path: dir, source });
                }
            }
        }
        (busy, hard_error)
    }

    /// Resource usage numbers, shaped like runc's `events --stats` data.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        stats::collect(self)
    }
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

/// Appends the pids in `dir`'s cgroup.procs and in every cgroup below it. Only the
/// container's own directory must be readable (`top`); a sub-cgroup gone meanwhile is
/// skipped.
fn collect_pids(dir: &Path, pids: &mut Vec<i32>, top: bool) -> Result<(), CgroupError> {
    match fsio::read(dir, "cgroup.procs") {
        Ok(text) => pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if top => return Err(e),
        Err(_) => return Ok(()),
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&entry.path(), pids, false)?;
            }
        }
    }
    Ok(())
}

/// Writes "0" to `dir` + `file` ("/tasks\0" or "/cgroup.procs\0") with the path built on
/// the stack.
fn write_zero(dir: &Path, file: &[u8]) -> Result<(), CgroupError> {
    let mut buf = [0u8; 4096];
    let dir_bytes = dir.as_os_str().as_bytes();
    let len = dir_bytes.len() + file.len();
    let fail = |source: std::io::Error| CgroupError::Io {
        path: dir.join(String::from_utf8_lossy(&file[1..file.len() - 1]).as_ref()),
        source,
    };
    if len > buf.len() || dir_bytes.contains(&0) {
        return Err(fail(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG)));
    }
    buf[..dir_bytes.len()].copy_from_slice(dir_bytes);
    buf[dir_bytes.len()..len].copy_from_slice(file);
    let path = std::ffi::CStr::from_bytes_with_nul(&buf[..len])
        .map_err(|_| fail(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    // openat, not nix's open: musl's open(3) follows an O_CLOEXEC open with an fcntl.
    // SAFETY: a NUL-terminated path in our buffer; the result is checked.
    let raw = unsafe {
        libc::openat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    // SAFETY: openat just returned this descriptor to us alone.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    nix::unistd::write(&fd, b"0").map_err(|e| fail(e.into()))?;
    Ok(())
}

/// Enables in `parent`'s cgroup.subtree_control every controller it offers, one by one;
/// one the kernel refuses is skipped (a resource then needing it fails naming its file).
fn enable_subtree_controllers(parent: &Path) {
    let Ok(Some(available)) = fsio::read_optional(parent, "cgroup.controllers") else {
        return;
    };
    let enabled = fsio::read_optional(parent, "cgroup.subtree_control")
        .ok()
        .flatten()
        .unwrap_or_default();
    for controller in available.split_whitespace() {
        if !enabled.split_whitespace().any(|c| c == controller) {
            let _ = fsio::write(parent, "cgroup.subtree_control", &format!("+{controller}"));
        }
    }
}

/// v1 cpuset: a cgroup with empty cpuset.cpus or cpuset.mems takes no tasks, so copy the
/// parent's when empty.
fn copy_cpuset_from_parent(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fsio::read(dir, file)?.trim().is_empty() {
            let value = fsio::read(parent, file)?;
            fsio::write(dir, file, value.trim())?;
        }
    }
    Ok(())
}

/// Whether `dir` holds another cgroup (a subdirectory).
fn has_child_cgroup(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
