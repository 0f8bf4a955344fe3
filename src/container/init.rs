//! The container's init: everything the clone does between the clone and execve.
//! The order is the right-hand column of the diagram in [`super::create`].
//!
//! Any failure is sent to the parent as one line and the init exits; it never returns to
//! the caller's code.

use crate::cgroups::CgroupManager;
use crate::error::{Error, Result};
use crate::hooks::{self, Kind};
use crate::namespaces::Plan;
use crate::sync::{Channel, Msg};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// What the init needs from the parent; borrowed from the parent's (copied) memory.
pub struct InitContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub plan: &'a Plan,
    pub sync: &'a Channel,
    /// The parent's end of `sync`, which the clone copied: the init closes its copy so
    /// that the parent's death reads as end-of-file.
    pub parent_sync: RawFd,
    /// exec.fifo, open read-write: the start channel.
    pub fifo: RawFd,
    /// Connected --console-socket, when the process has a terminal.
    pub console: Option<RawFd>,
    /// The cgroup to join by writing "0" (its v1 hierarchies only when the clone placed us
    /// in cgroup2); None when the parent places us (new user namespace).
    pub cgroup: Option<&'a CgroupManager>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// The compiled linux.seccomp filter.
    pub seccomp: Option<&'a berth_seccomp::Program>,
    /// Socket-activation fds (LISTEN_FDS addressed to berth), passed before preserved ones.
    pub listen_fds: i32,
    pub id: &'a str,
    /// Any prestart/createRuntime/createContainer/startContainer hook is configured.
    pub wants_hooks: bool,
    /// CLONE_NEW* flags the init unshares first thing, while the parent makes the v1
    /// cgroup directories; the init mounts meanwhile and waits for Go before joining them
    /// (`enter_late`). 0: the clone carried every new namespace and the cgroups exist
    /// already.
    pub early_unshare: libc::c_int,
    /// The parent's netns maker is making the network namespace (one of `early_unshare`):
    /// it comes with Go, and the init unshares it only when it does not.
    pub netns_from_maker: bool,
}

/// Entry point in the cloned child; returns the exit code only on failure. `placed`: the
/// clone already put us in the cgroup2 hierarchy (CLONE_INTO_CGROUP).
pub fn run(ctx: &InitContext<'_>, parent_pid: i32, placed: bool) -> i32 {
    match setup(ctx, parent_pid, placed) {
        Ok(never) => match never {},
        Err(e) => {
            let _ = ctx.sync.send(&Msg::Error(e.to_string()));
            1
        }
    }
}

enum Never {}

/// Joins the network namespace that came with Go (`netns_maker`, which brought its `lo`
/// up), or makes one (and brings `lo` up) when none came.
fn enter_made_netns(ctx: &InitContext<'_>) -> Result<()> {
    match ctx.sync.take_fd() {
        Some(fd) => {
            // SAFETY: setns on a namespace fd we own.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(Error::sys("enter network namespace", nix::Error::last()));
            }
        }
        None => {
            // SAFETY: unshare of this single-threaded process's network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(Error::sys("unshare network namespace", nix::Error::last()));
            }
            super::netns_maker::loopback_up();
        }
    }
    Ok(())
}

/// Early unshare: waits for Go, then enters what the parent and the netns maker made
/// meanwhile: the network namespace, the cgroups, then a new cgroup namespace.
/// `rootfs::prepare` calls this right before the first mount that shows them (sysfs, cgroup),
/// or after the last mount.
fn enter_late(ctx: &InitContext<'_>, placed: bool) -> Result<()> {
    crate::fault::point("init-early-mounts");
    wait_for_go(ctx)?;
    if ctx.netns_from_maker {
        enter_made_netns(ctx)?;
    } else if ctx.plan.new_net {
        super::netns_maker::loopback_up();
    }
    join_cgroup(ctx, placed)?;
    unshare_cgroup_namespace(ctx)
}

/// Joins the container's cgroup by writing "0" to its `tasks` files (only the v1 ones when
/// the clone placed us in cgroup2); nothing when the parent placed us (new user namespace).
fn join_cgroup(ctx: &InitContext<'_>, placed: bool) -> Result<()> {
    match ctx.cgroup {
        Some(cg) if placed => cg.join_self_v1()?,
        Some(cg) => cg.join_self()?,
        None => {}
    }
    crate::fault::point("init-cgroup-joined");
    Ok(())
}

/// A new cgroup namespace, rooted at the cgroup just joined.
fn unshare_cgroup_namespace(ctx: &InitContext<'_>) -> Result<()> {
    // SAFETY: unshare of this single-threaded process's cgroup namespace.
    if ctx.plan.new_cgroup && unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
        return Err(Error::sys("unshare cgroup namespace", nix::Error::last()));
    }
    Ok(())
}

/// Waits for the parent's Go: cgroups made (early unshare) or id maps written (new user
/// namespace).
fn wait_for_go(ctx: &InitContext<'_>) -> Result<()> {
    match ctx.sync.recv() {
        Ok(Msg::Go(_)) => Ok(()),
        Ok(other) => Err(Error::Other(format!("unexpected message {other:?}"))),
        Err(e) => Err(Error::Other(e.to_string())),
    }
}

fn setup(ctx: &InitContext<'_>, parent_pid: i32, placed: bool) -> Result<Never> {
    crate::trace::speaker("init");
    crate::fault::point("init-started");
    // A non-dumpable process's /proc files belong to root: an unprivileged parent could
    // not write our uid_map/gid_map. With a new user namespace we stay dumpable until the
    // maps are written (nothing of the container runs yet), then drop it.
    if !ctx.plan.new_user {
        set_non_dumpable();
    }
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    // SAFETY: closing this process's copy of the parent's end; the parent keeps its own.
    unsafe { libc::close(ctx.parent_sync) };
    // A parent killed before PDEATHSIG was set never signals us (and in a new pid namespace
    // getppid() cannot tell): its end of the channel is closed then, so stop here.
    if ctx.sync.peer_gone() {
        return Err(Error::Other("parent exited during create".into()));
    }
    set_title(c"berth:[init]", &format!("berth init {}", ctx.id));
    // getppid() only means something when the parent is in our pid namespace: in a new
    // one, or one joined by path (another container's, as CRI pods share), it reads 0.
    let parent_visible = !ctx.plan.new_pid && ctx.plan.join_pid.is_none();
    if parent_visible && nix::unistd::getppid().as_raw() != parent_pid {
        return Err(Error::Other("parent exited during create".into()));
    }
    reset_signals();
    let process = ctx
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process: missing"))?;

    let early = ctx.early_unshare != 0;
    if early {
        let now = if ctx.netns_from_maker {
            ctx.early_unshare & !libc::CLONE_NEWNET
        } else {
            ctx.early_unshare
        };
        // SAFETY: unshare of this single-threaded process's namespaces.
        if now != 0 && unsafe { libc::unshare(now) } != 0 {
            return Err(Error::sys("unshare namespaces", nix::Error::last()));
        }
        crate::fault::point("init-unshared");
    }
    if ctx.plan.new_user {
        wait_for_go(ctx)?;
        set_non_dumpable();
        become_namespace_root()?;
    }
    // Early unshare: the parent is making the v1 cgroup directories and the netns maker
    // the network namespace meanwhile; the init mounts what needs neither first
    // (`enter_late`). Otherwise both are there already.
    if !early {
        join_cgroup(ctx, placed)?;
    }
    crate::namespaces::join_and_unshare(ctx.plan)?;
    crate::fault::point("init-namespaces");
    if ctx
        .plan
        .joins
        .iter()
        .any(|(t, _)| *t == oci_spec::runtime::LinuxNamespaceType::User)
    {
        become_namespace_root()?;
    }
    if ctx.plan.fork_for_pid {
        become_pid_one(ctx)?;
    }
    if !early {
        unshare_cgroup_namespace(ctx)?;
    }
    if ctx.plan.new_net && !early {
        super::netns_maker::loopback_up();
    }
    if let Some(h) = ctx.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h)
            .map_err(|e| Error::sys(format!("hostname: sethostname {h:?}"), e))?;
    }
    if let Some(d) = ctx.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: the pointer and length describe `d`'s bytes for the duration of the call.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::sys(
                format!("domainname: setdomainname {d:?}"),
                nix::Error::last(),
            ));
        }
    }

    let opts = crate::rootfs::RootfsOptions {
        in_user_namespace: ctx.plan.new_user
            || ctx
                .plan
                .joins
                .iter()
                .any(|(t, _)| *t == oci_spec::runtime::LinuxNamespaceType::User),
        in_cgroup_namespace: ctx.plan.new_cgroup,
        bundle: ctx.bundle.to_path_buf(),
    };
    crate::rootfs::prepare(ctx.spec, ctx.rootfs, &opts, || {
        if early {
            enter_late(ctx, placed)?;
        }
        Ok::<(), Error>(())
    })?;
    crate::fault::point("init-mounted");

    let mut state_doc = String::new();
    if ctx.wants_hooks {
        ctx.sync
            .send(&Msg::RunRuntimeHooks)
            .map_err(|e| Error::Other(e.to_string()))?;
        match ctx.sync.recv() {
            Ok(Msg::HooksDone(doc)) => state_doc = doc,
            Ok(other) => return Err(Error::Other(format!("unexpected message {other:?}"))),
            Err(e) => return Err(Error::Other(e.to_string())),
        }
        let creating = state_doc.replacen("\"status\":\"created\"", "\"status\":\"creating\"", 1);
        let list = hooks::list(ctx.spec.hooks().as_ref(), Kind::CreateContainer);
        hooks::run_all(&list, Kind::CreateContainer, &creating, &mut |_| {})?;
    }

    crate::rootfs::pivot(ctx.rootfs, ctx.no_pivot)?;
    crate::fault::point("init-pivoted");
    if let Some(sock) = ctx.console {
        crate::console::setup_pty(sock, true)?;
        // SAFETY: closing the console socket fd we own; nothing else uses it.
        unsafe { libc::close(sock) };
    }
    crate::rootfs::finalize(ctx.spec)?;
    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id)?;
    }

    let mut env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    let listener = finalize_process(
        process,
        ctx.seccomp,
        ctx.listen_fds + ctx.preserve_fds,
        &[ctx.fifo, ctx.sync.raw_fd()],
        &mut env,
    )?;
    if let Some(l) = listener {
        // The parent hands it to linux.seccomp.listenerPath (unreachable from in here).
        ctx.sync
            .send_with_fd(&Msg::Listener, std::os::fd::AsRawFd::as_raw_fd(&l))
            .map_err(|e| Error::Other(e.to_string()))?;
    }
    if ctx.listen_fds > 0 {
        // Socket activation passed on, as runc does: the container's pid 1 owns the fds.
        crate::process::set_env(&mut env, "LISTEN_FDS", &ctx.listen_fds.to_string());
        crate::process::set_env(&mut env, "LISTEN_PID", "1");
    }
    crate::fault::point("init-before-ready");
    // The parent exits as soon as it reads Ready: stop dying with it first. Should it die
    // before reading, the send below fails and this init exits.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0) };
    ctx.sync
        .send(&Msg::Ready)
        .map_err(|e| Error::Other(e.to_string()))?;
    // SAFETY: closing our end of the sync channel; the parent is done with it.
    unsafe { libc::close(ctx.sync.raw_fd()) };

    crate::process::apply_lsm(process)?;
    wait_for_start(ctx.fifo)?;
    if ctx.wants_hooks {
        let list = hooks::list(ctx.spec.hooks().as_ref(), Kind::StartContainer);
        hooks::run_all(&list, Kind::StartContainer, &state_doc, &mut |_| {})?;
    }
    crate::fault::point("init-exec");
    let err = crate::process::exec(&args, &env);
    // The parent is gone: the only witness is the container's stderr.
    eprintln!("berth: {err}");
    // SAFETY: exit without running inherited atexit handlers.
    unsafe { libc::_exit(127) }
}

/// No ptrace and no /proc/<pid> access for others (CVE-2016-9962) until execve.
fn set_non_dumpable() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// Takes uid/gid 0 of the user namespace just entered (its mappings decide who that is on
/// the host), so files the init makes have a mapped owner.
fn become_namespace_root() -> Result<()> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .map_err(|e| Error::sys("become root in the user namespace (setresgid 0)", e))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .map_err(|e| Error::sys("become root in the user namespace (setresuid 0)", e))
}

/// After unsharing a pid namespace (owned by a joined user namespace), fork once more: the
/// child is pid 1 there and carries on as the init; this process reports its host pid to
/// the parent and exits.
fn become_pid_one(ctx: &InitContext<'_>) -> Result<()> {
    // SAFETY: this process is single-threaded (a clone of single-threaded berth), so the
    // child may run any code.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork into pid namespace", e))? {
        nix::unistd::ForkResult::Child => Ok(()),
        nix::unistd::ForkResult::Parent { child } => {
            let code = match ctx.sync.send(&Msg::Pid(child.as_raw())) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: leave without running inherited atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The process attributes shared by the container's init and `exec`'d processes, in
/// order: rlimits, oom_score_adj, LSM check, scheduling, uid/gid/groups, cwd (checked to be
/// inside the root), capabilities, no_new_privs; then the program is looked up (a missing
/// one is reported now, as runc does) and every fd but stdio, `preserve_fds` and `keep` closed.
pub(super) fn finalize_process(
    process: &oci_spec::runtime::Process,
    seccomp: Option<&berth_seccomp::Program>,
    preserve_fds: i32,
    keep: &[RawFd],
    env: &mut Vec<String>,
) -> Result<Option<std::os::fd::OwnedFd>> {
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut listener = None;
    if let Some(rlimits) = process.rlimits() {
        crate::process::set_rlimits(rlimits)?;
    }
    if let Some(score) = process.oom_score_adj() {
        crate::process::set_oom_score_adj(score)?;
    }
    crate::process::check_lsm(process)?;
    crate::process::set_scheduler(process.scheduler().as_ref())?;
    crate::process::set_io_priority(process.io_priority().as_ref())?;
    // Without no_new_privs the kernel wants CAP_SYS_ADMIN to load a filter: load it while
    // we still have it (runc's order). With it, load it last, after every privileged step.
    if let Some(program) = seccomp.filter(|_| !nnp) {
        listener = program.install()?;
    }
    crate::process::set_identity(process.user())?;
    enter_cwd(process.cwd())?;
    crate::process::set_capabilities(process.capabilities().as_ref())?;
    if nnp {
        crate::process::set_no_new_privs()?;
    }
    if let Some(prog) = process.args().as_ref().and_then(|a| a.first()) {
        let path = crate::process::env_value(env, "PATH").unwrap_or(crate::process::DEFAULT_PATH);
        crate::process::lookup_path(prog, path)?;
    }
    let mut keep_all = keep.to_vec();
    keep_all.extend(listener.as_ref().map(std::os::fd::AsRawFd::as_raw_fd));
    crate::process::prepare_fds(preserve_fds, &keep_all, env)?;
    if let Some(program) = seccomp.filter(|_| nnp) {
        listener = program.install()?;
    }
    Ok(listener)
}

/// Shows the waiting init as `berth init <id>` in ps and /proc/<pid>/cmdline (comm
/// "berth:[init]"), instead of the `berth create …` command line it was cloned from.
pub(super) fn set_title(comm: &std::ffi::CStr, title: &str) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string (the kernel keeps 15 bytes).
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), 0, 0, 0) };
    let Ok(stat) = crate::small_file::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return;
    };
    // Fields after the command name start at field 3; arg_start/arg_end are fields 48 and 49.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (Some(start), Some(end)) = (
        fields.get(45).and_then(|f| f.parse::<usize>().ok()),
        fields.get(46).and_then(|f| f.parse::<usize>().ok()),
    ) else {
        return;
    };
    if end <= start + 1 {
        return;
    }
    let len = end - start;
    // SAFETY: [arg_start, arg_end) is this process's own argument area, mapped writable
    // on its stack by the kernel at exec; we write only inside it and end with NULs.
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, len);
        area.fill(0);
        let n = title.len().min(len - 1);
        area[..n].copy_from_slice(&title.as_bytes()[..n]);
    }
}

/// Clears the signal mask and restores default dispositions (Rust ignores SIGPIPE, and
/// ignored signals survive execve).
pub(super) fn reset_signals() {
    // SAFETY: sigprocmask/signal with valid arguments; no handlers are installed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// chdir into the process cwd and make sure it is inside the container's root: a cwd that
/// resolves outside it (e.g. through a leaked fd, CVE-2024-21626) is refused.
fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd)
        .map_err(|e| Error::sys(format!("process.cwd: chdir {}", cwd.display()), e))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::invalid(format!(
            "process.cwd: {} is outside the container's root",
            cwd.display()
        ))),
    }
}

/// A fresh session keyring, so containers don't share the host's keys.
fn join_session_keyring(id: &str) -> Result<()> {
    let name = std::ffi::CString::new(format!("_ses.{id}")).map_err(|_| Error::invalid("id"))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl with a valid NUL-terminated name.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if rc < 0 {
        let e = nix::Error::last();
        // Kernels without keys, or a user namespace without keyring quota: runc carries on too.
        if e != nix::Error::ENOSYS && e != nix::Error::EDQUOT && e != nix::Error::EACCES {
            return Err(Error::sys("join session keyring", e));
        }
    }
    Ok(())
}

/// Blocks until `berth start` writes its byte into the fifo.
fn wait_for_start(fifo: RawFd) -> Result<()> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: read into a 1-byte buffer we own.
        let n = unsafe { libc::read(fifo, b.as_mut_ptr().cast(), 1) };
        if n == 1 {
            // The fd stays open (O_CLOEXEC): its closing at execve tells `start` we exec'd.
            return Ok(());
        }
        let e = nix::Error::last();
        if n < 0 && e == nix::Error::EINTR {
            continue;
        }
        return Err(Error::sys("wait for start", e));
    }
}
