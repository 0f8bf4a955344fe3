//! `create`: the parent side of berth's process model.
//!
//! ```text
//!  berth create (parent, single-threaded)           container init (clone of the parent)
//!  ──────────────────────────────────────           ────────────────────────────────────
//!  [main: not yet sealed? re-exec from a sealed copy of berth (exe_seal), same argv]
//!  parse + validate config.json, open ns paths
//!  [the netns maker (common case*), started before the re-exec or cloned here,
//!   unshares a network namespace, brings lo up and hands us its fd; `netns_maker`]
//!  reserve <root>/<id>, mkfifo exec.fifo (O_RDWR)
//!  write state.json (created_ok=false)
//!  mkdir cgroups, apply resources    (common case*: only the cgroup2 dir here)
//!  socketpair(SEQPACKET)  ── sync ──┐
//!  [setns pid ns] [unshare time ns]  │
//!  clone(CLONE_NEW*, [INTO_CGROUP]) ─┼──────────▶  non-dumpable, PDEATHSIG=KILL, signals reset
//!    (common case*: CLONE_NEWPID)    │           [unshare NS|IPC|UTS]     (common case*)
//!  [mkdir v1 cgroups, resources,     │           [wait Go]            (user namespace only)
//!   reap the maker] (common case*)   │           [join cgroup: "0" > v1 tasks files,
//!   ── Go(pid) + netns fd ───────────┤            setns joins, unshare, cgroup ns]
//!  [write uid/gid maps, add pid to   │                            (all but the common case)
//!   cgroup]  ──── Go(pid) ───────────┤           hostname, [lo up], mounts (rootfs::prepare);
//!  save state.json with pid          │            common case*, before the first sysfs or
//!                                    │            cgroup mount, or after the last one:
//!                                    │             wait Go, setns the netns fd (or unshare
//!                                    │             NET when none came), lo up, join cgroup,
//!                                    │             unshare cgroup ns
//!  prestart + createRuntime hooks ◀──┤── RunRuntimeHooks     (only when hooks are configured)
//!  ── HooksDone(state) ─────────────▶│           createContainer hooks
//!                                    │           pivot_root, pty → --console-socket
//!                                    │           sysctl, masked/readonly paths, keyring
//!                                    │           rlimits, uid/gid, caps, no_new_privs
//!                                    │           close every fd but stdio, preserved, fifo
//!  ◀────────────────────────────── Ready ────────┘ (or Error(msg) and exit)
//!  save state.json (created_ok=true)             block reading exec.fifo
//!  write --pid-file, exit 0
//!
//!  berth start: open exec.fifo O_WRONLY|O_NONBLOCK (ENXIO: init gone), write 1 byte,
//!               unlink the fifo, run poststart hooks.     init: startContainer hooks, execve
//! ```
//!
//! Foreground `run` does create and start in one process and saves the final state.json
//! just after writing the start byte, so that write overlaps the init's execve; it waits
//! for the execve only when poststart hooks must follow it (`run.rs`).
//!
//! \* The common case (no new user namespace, no namespace joined by path, not rootless;
//! `Plan::early_unshare`): the init makes its mount, IPC and UTS namespaces itself and
//! mounts what shows neither its network namespace nor its cgroup while this process
//! makes the v1 cgroup directories, and the netns maker makes the network namespace from
//! before the sealed re-exec (or from the parsed config on): the costliest steps overlap. The init enters both
//! only then (the kernel objects of those first mounts are charged to berth's memory
//! cgroup, not the container's, until the container exits).
//!
//! Why this shape:
//! * No re-exec of berth: the init is a clone of the parent and runs library code, so there
//!   is no second binary load or config parse. The parent must be single-threaded at the clone
//!   (berth never starts threads), so the child may allocate and use std freely.
//! * One clone carries every new namespace except in the common case (above); cgroup
//!   (after the cgroup join) and time (children only) are always unshared separately.
//! * The init joins its own cgroup by writing "0" to each v1 hierarchy's `tasks` file: the
//!   kernel moves the calling thread (the whole single-threaded init) without write-locking
//!   its global threadgroup rwsem. Any pid write, and "0" to `cgroup.procs`, takes that lock,
//!   which after an idle moment waits for an RCU grace period (5–20 ms measured here: the
//!   cold start). The cgroup2 hierarchy (v2, and hybrid's unified one) is never migrated
//!   into: the clone places the init there (CLONE_INTO_CGROUP). With a new user namespace
//!   the parent adds the pid instead, since the init's uid no longer owns the cgroup files.
//! * The start channel is a FIFO the init holds open read-write: `start` never blocks on a
//!   dead init (O_NONBLOCK open fails with ENXIO when no reader is left), and the init's
//!   blocking read needs no /proc in the container.
//! * The init is non-dumpable until execve and every fd it holds is O_CLOEXEC: nothing of the
//!   host (no directory fd, no berth binary) stays reachable from the container.
//!
//! Protection of the berth binary (CVE-2019-5736), in layers, outermost first:
//! 1. **By construction** (`crate::exe_seal`): `create`, `run` and `exec` re-execute berth
//!    from a sealed copy before anything else, so the init and every exec'd process are
//!    clones of a process whose `/proc/<pid>/exe` is a file on a detached read-only
//!    overlayfs mount (or a memfd sealed against writes, shrinking and growing). Whatever a
//!    container process reaches through that link, before or after execve, even holding
//!    it while berth exits, it cannot write: the host's berth file is never behind it.
//!    This is the layer that holds against a container with CAP_SYS_PTRACE (no user
//!    namespace), which the kernel lets open the exe of a non-dumpable process.
//! 2. **Non-dumpable** until execve (init and exec child, and the exec parent before its
//!    clone): without CAP_SYS_PTRACE a container process cannot open their
//!    `/proc/<pid>/exe`, fds or memory at all (also CVE-2016-9962).
//! 3. **Nothing inherited**: every fd berth holds is O_CLOEXEC and the init closes all
//!    others, so no handle on the binary or a host directory crosses execve.
//!
//! Running berth itself inside the container (`#!/proc/self/exe`) therefore only runs the
//! sealed copy and needs no refusal. ETXTBSY is not one of the layers: recent kernels no
//! longer refuse writes to running executables.
//! * If the parent dies mid-create, PDEATHSIG kills the init, and `delete --force` finds
//!   state.json (created_ok=false) naming the pid and cgroups to clean.

use super::clone::clone_process;
use super::init::{self, InitContext};
use super::netns_maker::NetnsMaker;
use crate::cgroups::CgroupManager;
use crate::config::{self, Bundle};
use crate::error::{Error, Result};
use crate::hooks::{self, Kind};
use crate::namespaces;
use crate::state::{self, Root, State, Status};
use crate::sync::{self, Msg, SyncError};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// What `berth create` (and `run`) were asked.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// `run` in the foreground: signals are blocked here for the caller to forward.
    pub foreground: bool,
    /// `--rootless` (true, or auto as a non-root user): cgroups the user may not make
    /// (none delegated) are skipped instead of failing the create.
    pub rootless: bool,
}

/// A created container: its init's host pid.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    pub state: State,
    /// Foreground run with a terminal: the socket the pty master arrives on.
    pub console_relay: Option<OwnedFd>,
}

/// Undoes a partial create when dropped unarmed.
struct Cleanup<'a> {
    root: &'a Root,
    dir: Option<PathBuf>,
    cgroup: Option<CgroupManager>,
    pid: Option<i32>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.destroy() {
                crate::logging::warn(&format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let _ = self.root;
    }
}

pub fn create(root: &Root, opts: &CreateOptions) -> Result<Created> {
    config::validate_id(&opts.id)?;
    let Bundle {
        dir: bundle,
        rootfs,
        spec,
    } = config::load(&opts.bundle)?;
    config::validate(&spec)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process: missing"))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !opts.foreground {
        return Err(Error::invalid(
            "process.terminal is true but no --console-socket was given to receive the pty",
        ));
    }
    let plan = namespaces::plan(&spec)?;
    crate::fault::point("parsed");
    if root.container_dir(&opts.id).exists() {
        return Err(Error::AlreadyExists(opts.id.clone()));
    }
    // The common case overlaps the costliest steps of create: the init makes its new
    // namespaces itself (unshare) right after a clone that carries only the pid namespace,
    // while this process makes the v1 cgroup directories; the init joins them once told.
    // The network namespace, the costliest of all, is made by a helper (`netns_maker`),
    // started before the sealed re-exec or from here on, and handed to the init with Go.
    let early_unshare = plan.early_unshare(opts.rootless);
    // One may have been started before the sealed re-exec (`main`); when the plan does
    // not want its namespace, it is reaped at the end (it has long finished by then).
    let started_early = NetnsMaker::adopt();
    let (mut netns_maker, _unused_maker) =
        match early_unshare.filter(|flags| flags & libc::CLONE_NEWNET != 0) {
            Some(_) => (started_early.or_else(NetnsMaker::spawn), None),
            None => (None, started_early),
        };
    let (console, relay_end) = crate::console::endpoints(terminal, opts.console_socket.as_deref())?;
    let linux = spec.linux().clone().unwrap_or_default();

    let dir = root.reserve(&opts.id)?;
    crate::fault::point("reserved");
    let mut cleanup = Cleanup {
        root,
        dir: Some(dir.clone()),
        cgroup: None,
        pid: None,
    };

    let fifo_path = dir.join(state::FIFO_FILE);
    nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| Error::sys(format!("mkfifo {}", fifo_path.display()), e))?;
    let fifo: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo_path)
        .map_err(|e| Error::io(&fifo_path, e))?
        .into();

    let cgroups_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    let cgroup = CgroupManager::new(cgroups_path.as_deref(), &opts.id)?;
    let mut st = State {
        id: opts.id.clone(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: state::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: Some(cgroup.clone()),
        hooks: spec.hooks().clone(),
        created_ok: false,
        private_pid_ns: plan.new_pid,
    };
    // Saved before the cgroups exist, so a create killed from here on can be cleaned up by
    // `delete --force` (which then removes the container's own cgroup directories).
    st.save(root)?;
    crate::fault::point("state-saved");
    let resources = super::device_rules::effective_resources(&linux);
    // create() removes what it made when it fails; afterwards the cleanup guard owns it.
    let cgroup = if early_unshare.is_some() {
        cgroup.create_clone_target()?;
        cgroup
    } else {
        match cgroup.create(resources.as_ref()) {
            Ok(()) => cgroup,
            Err(e) if opts.rootless && e.is_permission_denied() => {
                crate::logging::warn(&format!("rootless: running without cgroups: {e}"));
                cgroup.without_dirs()
            }
            Err(e) => return Err(e.into()),
        }
    };
    if early_unshare.is_none() {
        crate::fault::point("cgroup-created");
    }
    cleanup.cgroup = Some(cgroup.clone());
    st.cgroup = Some(cgroup.clone());

    let seccomp = match linux.seccomp() {
        Some(profile) => Some(compile_seccomp(root, profile)?),
        None => None,
    };
    if seccomp.is_some() {
        crate::fault::point("seccomp-ready");
    }

    let (parent_end, child_end) = sync::pair().map_err(|e| Error::Other(e.to_string()))?;

    if let Some(fd) = &plan.join_pid {
        // SAFETY: setns on an fd we own; for a pid namespace it only affects later children.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(Error::sys("join pid namespace", nix::Error::last()));
        }
    }
    if plan.new_time {
        enter_new_time_namespace(&linux)?;
    }

    let runtime_hooks = hooks::list(spec.hooks().as_ref(), Kind::Prestart).len()
        + hooks::list(spec.hooks().as_ref(), Kind::CreateRuntime).len();
    let container_hooks = hooks::list(spec.hooks().as_ref(), Kind::CreateContainer).len()
        + hooks::list(spec.hooks().as_ref(), Kind::StartContainer).len();
    // The parent places the pid itself only when the init cannot write to the cgroup files.
    let parent_joins_cgroup = plan.new_user;
    let into_cgroup = if parent_joins_cgroup {
        None
    } else {
        open_clone_target(&cgroup)
    };

    if opts.foreground {
        super::run::block_signals();
    }
    let ctx = InitContext {
        spec: &spec,
        rootfs: &rootfs,
        bundle: &bundle,
        plan: &plan,
        sync: &child_end,
        parent_sync: parent_end.raw_fd(),
        fifo: fifo.as_raw_fd(),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        cgroup: if parent_joins_cgroup {
            None
        } else {
            Some(&cgroup)
        },
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        seccomp: seccomp.as_ref(),
        listen_fds: socket_activation_fds(),
        id: &opts.id,
        wants_hooks: runtime_hooks + container_hooks > 0,
        early_unshare: early_unshare.unwrap_or(0),
        netns_from_maker: netns_maker.is_some(),
    };
    let parent_pid = nix::unistd::getpid().as_raw();
    let flags = plan.clone_flags & !early_unshare.unwrap_or(0);
    let pid = clone_process(
        flags,
        into_cgroup.as_ref().map(|f| f.as_raw_fd()),
        |placed| init::run(&ctx, parent_pid, placed),
    )?;
    crate::fault::point("cloned");
    cleanup.pid = Some(pid);
    drop(child_end);
    drop(fifo);
    drop(console);

    if early_unshare.is_some() {
        let made = cgroup.create_rest(resources.as_ref());
        // The guard learns every directory made; on failure it kills the init (already in
        // the cgroup2 directory) before removing them.
        cleanup.cgroup = Some(cgroup.clone());
        made?;
        crate::fault::point("cgroup-created");
        st.cgroup = Some(cgroup.clone());
        // Without a namespace from the maker, the init unshares one itself.
        let netns = netns_maker.take().and_then(NetnsMaker::finish);
        crate::fault::point("netns-made");
        match &netns {
            Some(fd) => parent_end.send_with_fd(&Msg::Go(pid), fd.as_raw_fd()),
            None => parent_end.send(&Msg::Go(pid)),
        }
        .map_err(|e| init_failure(e, pid))?;
    }
    if plan.new_user {
        super::idmap::write(pid, &linux)?;
        cgroup.add_pid(pid)?;
        parent_end
            .send(&Msg::Go(pid))
            .map_err(|e| init_failure(e, pid))?;
    }
    let pid = if plan.fork_for_pid {
        // The clone forked the real init and exits; it reports the init's host pid.
        let msg = parent_end.recv().map_err(|e| init_failure(e, pid))?;
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        match msg {
            Msg::Pid(init) => {
                cleanup.pid = Some(init);
                init
            }
            Msg::Error(m) => return Err(Error::Other(m)),
            other => {
                return Err(Error::Other(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
        }
    } else {
        pid
    };
    st.pid = pid;
    st.pid_start = state::proc_stat(pid).map(|(s, _)| s).unwrap_or(0);
    st.save(root)?;
    crate::fault::point("pid-saved");

    loop {
        match parent_end.recv().map_err(|e| init_failure(e, pid))? {
            Msg::RunRuntimeHooks => {
                let doc = serde_json::to_string(&st.oci_state(Status::Creating))
                    .map_err(|e| Error::Other(e.to_string()))?;
                for kind in [Kind::Prestart, Kind::CreateRuntime] {
                    let list = hooks::list(spec.hooks().as_ref(), kind);
                    hooks::run_all(&list, kind, &doc, &mut |w| crate::logging::warn(w))?;
                }
                let created_doc = serde_json::to_string(&st.oci_state(Status::Created))
                    .map_err(|e| Error::Other(e.to_string()))?;
                parent_end
                    .send(&Msg::HooksDone(created_doc))
                    .map_err(|e| init_failure(e, pid))?;
            }
            Msg::Listener => {
                let listener = parent_end
                    .take_fd()
                    .ok_or_else(|| Error::Other("seccomp listener message without an fd".into()))?;
                if let Some(profile) = linux.seccomp() {
                    hand_over_listener(profile, &listener, &st, pid)?;
                }
            }
            Msg::Ready => break,
            Msg::Error(msg) => return Err(Error::Other(msg)),
            other => {
                return Err(Error::Other(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
        }
    }
    crate::fault::point("ready-received");

    st.created_ok = true;
    if !opts.foreground {
        // Foreground `run` saves this right after releasing the init
        // (`run::start_wait_and_finish`), so the write overlaps the init's execve.
        st.save(root)?;
    }
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    cleanup.pid = None;
    cleanup.cgroup = None;
    cleanup.dir = None;
    Ok(Created {
        pid,
        state: st,
        console_relay: relay_end,
    })
}

/// The number of fds systemd-style socket activation handed to this berth process
/// (LISTEN_PID is our pid); they are passed on to the container, as runc does.
fn socket_activation_fds() -> i32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    if ours != Some(std::process::id()) {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

/// The compiled filter for `profile`, from the cache under the runtime root when it was
/// compiled before (a cache load is ~50 µs, a compile of Docker's profile ~0.3 ms).
pub(super) fn compile_seccomp(
    root: &Root,
    profile: &oci_spec::runtime::LinuxSeccomp,
) -> Result<berth_seccomp::Program> {
    let dir = root.dir.join("seccomp-cache");
    let _ = std::fs::create_dir_all(&dir);
    Ok(berth_seccomp::load_or_compile(profile, &dir)?)
}

/// Sends a seccomp notify listener to the profile's listenerPath with the container state,
/// as runc does (so the agent can answer the container's trapped syscalls).
pub(super) fn hand_over_listener(
    profile: &oci_spec::runtime::LinuxSeccomp,
    listener: &OwnedFd,
    st: &State,
    pid: i32,
) -> Result<()> {
    let doc = serde_json::to_value(st.oci_state(Status::Creating))
        .map_err(|e| Error::Other(e.to_string()))?;
    let state: oci_spec::runtime::State = serde_json::from_value(doc)
        .map_err(|e| Error::Other(format!("state for seccomp agent: {e}")))?;
    let msg = berth_seccomp::process_state(profile, pid, &state);
    berth_seccomp::send_listener(profile, listener, &msg)?;
    Ok(())
}

fn init_failure(e: SyncError, pid: i32) -> Error {
    match e {
        SyncError::PeerGone => {
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Error::Other(format!("container init exited during setup ({status:?})"))
        }
        other => Error::Other(other.to_string()),
    }
}

/// The container's cgroup2 directory (v2, or hybrid's unified one) for CLONE_INTO_CGROUP.
pub(super) fn open_clone_target(cgroup: &CgroupManager) -> Option<OwnedFd> {
    let dir = cgroup.clone_target()?;
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
}

/// Writes the pid file through a temp file and a rename, so readers never see it half-written.
pub(super) fn write_pid_file(path: &std::path::Path, pid: i32) -> Result<()> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(path)
    };
    state::write_atomic(&abs, pid.to_string().as_bytes())
}

/// Unshares a time namespace for the init (children only) and writes its offsets.
fn enter_new_time_namespace(linux: &oci_spec::runtime::Linux) -> Result<()> {
    // SAFETY: unshare(CLONE_NEWTIME) changes only the namespace of future children.
    if unsafe { libc::unshare(libc::CLONE_NEWTIME) } != 0 {
        return Err(Error::sys("unshare time namespace", nix::Error::last()));
    }
    if let Some(offsets) = linux.time_offsets() {
        let mut text = String::new();
        for (clock, off) in offsets {
            let id = match clock.as_str() {
                "monotonic" => "monotonic",
                "boottime" => "boottime",
                other => {
                    return Err(Error::invalid(format!(
                        "linux.timeOffsets: unknown clock {other:?}"
                    )))
                }
            };
            text.push_str(&format!(
                "{id} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        std::fs::write("/proc/self/timens_offsets", text)
            .map_err(|e| Error::io("/proc/self/timens_offsets", e))?;
    }
    Ok(())
}
