//! `exec`: a new process in a running container.
//!
//! ```text
//!  berth exec (parent)                                exec'd process (clone of the parent)
//!  ───────────────────                                ────────────────────────────────────
//!  load state, refuse stopped (and paused unless --ignore-paused)
//!  build the Process: --process JSON, or the container's config.json process with
//!  args/--env/--cwd/--user/--cap/... applied
//!  pidfd_open(init) and check its start time (no pid reuse)
//!  connect --console-socket (terminal)
//!  setns(pidfd, CLONE_NEWPID)  (pid namespace of children only)
//!  socketpair(SEQPACKET) ── sync ──┐
//!  clone3([CLONE_INTO_CGROUP on v2]) ────────────▶    non-dumpable, PDEATHSIG, signals reset
//!                                  │                  "0" > cgroup.procs (v1/hybrid)
//!                                  │                  setns(pidfd, USER|MNT|NET|IPC|UTS|CGROUP|TIME)
//!                                  │                  pty → console socket
//!                                  │                  finalize_process (same as the init's)
//!  ◀──────────────────────────── Ready ────────────   (or Error)
//!  ◀──────────────── EOF: the CLOEXEC sync end closed by a successful execve
//!  --pid-file; --detach: exit 0.  Foreground: forward signals / relay the pty, exit with its status
//! ```
//!
//! The exec'd process never sees a host directory fd: it enters the container's mount
//! namespace with setns, which also moves its root and cwd into the container, and closes
//! every fd it does not hand on before execve.

use super::clone::clone_process;
use super::init::{finalize_process, reset_signals, set_title};
use crate::error::{Error, Result};
use crate::state::{self, Root, State, Status};
use crate::sync::{self, Msg};
use oci_spec::runtime::{Capability, Process};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// What `berth exec` was asked, beyond the process itself.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// `--cgroup [CONTROLLER[,…]:]PATH` values: run in this sub-cgroup of the container's.
    pub sub_cgroups: Vec<String>,
}

/// Command-line overrides applied to the container's own process config (no --process).
#[derive(Debug, Clone, Default)]
pub struct ProcessOverrides {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// "UID[:GID]" or names resolved in the container's /etc/passwd and /etc/group.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// The container's config.json as it is now, read once per `exec` for both the process
/// defaults and the seccomp profile (None when it is gone or unreadable).
pub fn bundle_spec(st: &State) -> Option<oci_spec::runtime::Spec> {
    std::fs::read(st.bundle.join("config.json"))
        .ok()
        .and_then(|t| crate::config::parse(&t).ok())
}

/// The process to run: a --process document, or the container's process (from `spec`, the
/// bundle's config) with overrides.
pub fn build_process(
    st: &State,
    spec: Option<&oci_spec::runtime::Spec>,
    file: Option<&std::path::Path>,
    o: &ProcessOverrides,
) -> Result<Process> {
    if let Some(path) = file {
        let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| Error::invalid(format!("{}: malformed JSON: {e}", path.display())))?;
        crate::process::validate_json(&value)?;
        let mut p: Process = serde_path_to_error::deserialize(value).map_err(|e| {
            Error::invalid(format!("{}: {}: {}", path.display(), e.path(), e.inner()))
        })?;
        if o.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if o.args.is_empty() {
        return Err(Error::invalid(
            "exec: no command given (pass ARGS or --process FILE)",
        ));
    }
    let mut p = spec.and_then(|s| s.process().clone()).unwrap_or_default();
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &o.env {
        if !kv.contains('=') {
            return Err(Error::invalid(format!("--env {kv:?}: expected KEY=VALUE")));
        }
        let key = kv.split('=').next().unwrap_or_default();
        crate::process::set_env(&mut env, key, &kv[key.len() + 1..]);
    }
    p.set_env(Some(env));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(spec) = &o.user {
        let read = |f: &str| std::fs::read_to_string(st.rootfs.join(f)).ok();
        let r = crate::process::users::resolve_user(
            spec,
            read("etc/passwd").as_deref(),
            read("etc/group").as_deref(),
        )?;
        let user = p.user_mut();
        user.set_uid(r.uid);
        user.set_gid(r.gid);
        user.set_additional_gids(if r.additional_gids.is_empty() {
            None
        } else {
            Some(r.additional_gids.clone())
        });
    }
    if !o.additional_gids.is_empty() {
        let user = p.user_mut();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&o.additional_gids);
        user.set_additional_gids(Some(gids));
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let upper = name.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(full.clone()))
                    .map_err(|_| Error::invalid(format!("--cap: unknown capability {name:?}")))?;
            // As runc: added to bounding, effective, permitted and ambient, never inheritable.
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            let (b, e, pm, a) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
                add(caps.ambient()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
            caps.set_ambient(a);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(a) = &o.apparmor {
        p.set_apparmor_profile(Some(a.clone()));
    }
    if let Some(l) = &o.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

/// Result of an exec: the new process's host pid, and (foreground with a terminal and no
/// console socket) the socket its pty master arrives on.
pub struct Execed {
    pub pid: i32,
    pub console_relay: Option<OwnedFd>,
}

/// Runs `process` in the container: `st` is its state as just loaded, `spec` its bundle's
/// config ([`bundle_spec`]), from which the seccomp profile is taken.
pub fn exec(
    root: &Root,
    st: &State,
    spec: Option<&oci_spec::runtime::Spec>,
    opts: &ExecOptions,
    process: &Process,
) -> Result<Execed> {
    match st.status(root) {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(Error::Other(format!(
                "cannot exec in a paused container {} (use --ignore-paused)",
                opts.id
            )))
        }
        other => {
            return Err(Error::Other(format!(
                "cannot exec in a {other} container {}",
                opts.id
            )))
        }
    }
    crate::process::validate(process)?;
    let cgroup = match (&st.cgroup, opts.sub_cgroups.is_empty()) {
        (cg, true) => cg.clone(),
        (Some(cg), false) => Some(crate::cgroups::SubCgroups::parse(&opts.sub_cgroups)?.apply(cg)?),
        (None, false) => {
            return Err(Error::invalid(format!(
                "exec --cgroup: container {} has no cgroup",
                opts.id
            )))
        }
    };
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.detach {
        return Err(Error::invalid(
            "exec: a terminal was asked for with --detach but no --console-socket to receive it",
        ));
    }
    let profile = spec
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.seccomp().clone());
    let seccomp = match &profile {
        Some(p) => Some(super::create::compile_seccomp(root, p)?),
        None => None,
    };
    let pidfd = open_pidfd(st)?;
    let (console, relay_end) = crate::console::endpoints(terminal, opts.console_socket.as_deref())?;
    let flags = namespaces_to_join(st.pid)?;
    if flags & libc::CLONE_NEWPID != 0 {
        // SAFETY: setns on a pidfd we own; for CLONE_NEWPID it only changes the pid
        // namespace of children created afterwards.
        if unsafe { libc::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(Error::sys(
                "join the container's pid namespace",
                nix::Error::last(),
            ));
        }
    }
    let into_cgroup = cgroup.as_ref().and_then(super::create::open_clone_target);
    let (parent_end, child_end) = sync::pair().map_err(|e| Error::Other(e.to_string()))?;
    if !opts.detach {
        super::run::block_signals();
    }
    // Non-dumpable before the clone: the child is in the container's pid namespace from
    // its first instruction, so it must never be dumpable there (CVE-2016-9962).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let parent_pid = nix::unistd::getpid().as_raw();
    let child_flags = flags & !libc::CLONE_NEWPID;
    let ctx = ExecContext {
        process,
        id: &opts.id,
        sync: &child_end,
        pidfd: pidfd.as_raw_fd(),
        ns_flags: child_flags,
        cgroup: cgroup.as_ref(),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        preserve_fds: opts.preserve_fds,
        seccomp: seccomp.as_ref(),
    };
    let pid = clone_process(0, into_cgroup.as_ref().map(|f| f.as_raw_fd()), |placed| {
        run_child(&ctx, parent_pid, placed)
    })?;
    drop(child_end);
    drop(console);
    crate::fault::point("exec-cloned");
    let reap = || {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    };
    let mut first = parent_end.recv();
    if let Ok(Msg::Listener) = first {
        if let (Some(listener), Some(profile)) = (parent_end.take_fd(), &profile) {
            if let Err(e) = super::create::hand_over_listener(profile, &listener, st, pid) {
                reap();
                return Err(e);
            }
        }
        first = parent_end.recv();
    }
    match first {
        Ok(Msg::Ready) => {}
        Ok(Msg::Error(m)) => {
            reap();
            return Err(Error::Other(m));
        }
        Ok(other) => {
            reap();
            return Err(Error::Other(format!("exec: unexpected message {other:?}")));
        }
        Err(e) => {
            reap();
            return Err(Error::Other(format!("exec: {e}")));
        }
    }
    // A successful execve closes the child's CLOEXEC end: EOF. A failed one sends Error.
    match parent_end.recv() {
        Err(sync::SyncError::PeerGone) => {}
        Ok(Msg::Error(m)) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            return Err(Error::Other(m));
        }
        Ok(other) => return Err(Error::Other(format!("exec: unexpected message {other:?}"))),
        Err(e) => return Err(Error::Other(format!("exec: {e}"))),
    }
    if let Some(pid_file) = &opts.pid_file {
        super::create::write_pid_file(pid_file, pid)?;
    }
    Ok(Execed {
        pid,
        console_relay: relay_end,
    })
}

struct ExecContext<'a> {
    process: &'a Process,
    id: &'a str,
    sync: &'a sync::Channel,
    pidfd: RawFd,
    ns_flags: libc::c_int,
    cgroup: Option<&'a crate::cgroups::CgroupManager>,
    console: Option<RawFd>,
    preserve_fds: i32,
    seccomp: Option<&'a berth_seccomp::Program>,
}

/// `placed`: the clone already put the child in the cgroup2 hierarchy.
fn run_child(ctx: &ExecContext<'_>, parent_pid: i32, placed: bool) -> i32 {
    match child_setup(ctx, parent_pid, placed) {
        Ok(err) => {
            let _ = ctx.sync.send(&Msg::Error(err.to_string()));
            127
        }
        Err(e) => {
            let _ = ctx.sync.send(&Msg::Error(e.to_string()));
            1
        }
    }
}

/// Returns only when execve failed (with its error).
fn child_setup(ctx: &ExecContext<'_>, parent_pid: i32, placed: bool) -> Result<Error> {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    set_title(c"berth:[exec]", &format!("berth exec {}", ctx.id));
    crate::trace::speaker("exec-child");
    if nix::unistd::getppid().as_raw() != parent_pid && ctx.ns_flags == 0 {
        return Err(Error::Other("berth exec exited".into()));
    }
    reset_signals();
    match ctx.cgroup {
        Some(cg) if placed => cg.join_self_v1()?,
        Some(cg) => cg.join_self()?,
        None => {}
    }
    if ctx.ns_flags != 0 {
        // SAFETY: setns on a pidfd: the kernel enters every listed namespace of that
        // process at once (user namespace first).
        if unsafe { libc::setns(ctx.pidfd, ctx.ns_flags) } != 0 {
            return Err(Error::sys(
                "join the container's namespaces",
                nix::Error::last(),
            ));
        }
    }
    // SAFETY: closing the pidfd we no longer need; nothing else uses it.
    unsafe { libc::close(ctx.pidfd) };
    if let Some(sock) = ctx.console {
        crate::console::setup_pty(sock, false)?;
        // SAFETY: closing the console socket fd we own.
        unsafe { libc::close(sock) };
    }
    let mut env = ctx.process.env().clone().unwrap_or_default();
    let listener = finalize_process(
        ctx.process,
        ctx.seccomp,
        ctx.preserve_fds,
        &[ctx.sync.raw_fd()],
        &mut env,
    )?;
    if let Some(l) = listener {
        ctx.sync
            .send_with_fd(&Msg::Listener, l.as_raw_fd())
            .map_err(|e| Error::Other(e.to_string()))?;
    }
    crate::process::apply_lsm(ctx.process)?;
    // SAFETY: prctl with integer arguments only; the parent waits for our execve.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
    ctx.sync
        .send(&Msg::Ready)
        .map_err(|e| Error::Other(e.to_string()))?;
    let args = ctx.process.args().clone().unwrap_or_default();
    crate::fault::point("exec-execve");
    Ok(Error::Other(crate::process::exec(&args, &env).to_string()))
}

/// A pidfd for the container's init, checked to still be the process create made.
fn open_pidfd(st: &State) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, st.pid, 0) };
    if fd < 0 {
        return Err(Error::sys(
            format!("container {}: open its init (pid {})", st.id, st.pid),
            nix::Error::last(),
        ));
    }
    // SAFETY: the kernel just returned this fd for us to own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    if !state::process_alive(st.pid, st.pid_start) {
        return Err(Error::Other(format!("container {} is not running", st.id)));
    }
    Ok(fd)
}

/// CLONE_NEW* flags of the init's namespaces that differ from ours.
fn namespaces_to_join(pid: i32) -> Result<libc::c_int> {
    use std::os::unix::fs::MetadataExt;
    let mut flags = 0;
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("mnt", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("net", libc::CLONE_NEWNET),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("cgroup", libc::CLONE_NEWCGROUP),
        ("time", libc::CLONE_NEWTIME),
    ] {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        if let (Ok(t), Ok(o)) = (theirs, ours) {
            if t.ino() != o.ino() || t.dev() != o.dev() {
                flags |= flag;
            }
        }
    }
    Ok(flags)
}
