//! Makes the container's network namespace beside `create`, not on the init's path.
//!
//! A new network namespace is the costliest namespace the kernel makes (0.4-0.9 ms here:
//! every per-namespace subsystem sets itself up), and bringing its `lo` up costs another
//! 0.2 ms. In the common case (`Plan::early_unshare`) a helper task makes it (and brings
//! `lo` up) beside `create`, as early as the config can be known:
//!
//! ```text
//!  berth create, before the sealed re-exec      maker started across the exec
//!  ───────────────────────────────────────      ──────────────────────────────
//!  [main] argv: create/run --bundle B;
//!  B/config.json: a new network namespace,
//!    no user namespace, nothing joined
//!  socketpair(SEQPACKET); clone(CLONE_VM) ────▶ unshare(CLONE_NEWNET), lo up,
//!  our end left open, named in the               open /proc/thread-self/ns/net,
//!    environment (_BERTH_NETNS_MAKER=pid:fd)     sendmsg(its end, SCM_RIGHTS ns), exit
//!  execveat(sealed copy of berth)                (it keeps the old memory image)
//!  ... parse, plan, `adopt`: the end is
//!    close-on-exec again, the entry removed
//!
//!  berth create, else (no such guess, or        maker in our memory and fd table
//!  already sealed and started in-process)       ───────────────────────────────
//!  plan namespaces
//!  clone(CLONE_VM|CLONE_FILES) ───────────────▶ unshare(CLONE_NEWNET), lo up, open
//!                                                /proc/thread-self/ns/net: the fd lands
//!                                                in our table; record it (`RESULT`), exit
//!
//!  both: reserve state dir, save state.json, clone the init (pid namespace only), mkdir
//!  v1 cgroups, apply resources; `finish`: receive (or take) the fd, waitpid(maker);
//!  Go(pid) + the fd (SCM_RIGHTS) ─────────────▶ init: setns(fd, CLONE_NEWNET), close it
//! ```
//!
//! The guess before the re-exec reads only the bundle argument and the config's
//! namespaces (`start_before_reexec`); `create` decides from its full plan, and reaps an
//! unwanted maker at its end (its namespace goes with it). The init unshares its other
//! namespaces at once; it joins the made network namespace after Go, which it waits for
//! anyway. When no fd comes with Go (the maker failed, or could not be started) the init
//! unshares the network namespace itself and brings `lo` up, so the outcome never depends
//! on the maker.
//!
//! A maker shares the parent's memory and runs on a static stack: cloning it copies
//! nothing. It makes raw system calls only (no C library call, so it never writes the
//! `errno` it shares with the parent), allocates nothing and never returns into Rust code.
//! The namespace it makes is owned by the parent's user namespace, as one the init
//! unshares would be; `Plan::early_unshare` already excludes a new or joined user
//! namespace. Its fd is close-on-exec and is closed by the parent after Go.

use std::cell::UnsafeCell;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Enough for three system calls (the C library's clone trampoline included).
const STACK: usize = 16 * 1024;

/// What the maker left: the namespace fd, or a negative errno. Written by the maker before
/// it exits, read by the parent after reaping it.
static RESULT: AtomicI32 = AtomicI32::new(-1);

/// The maker's stack, in .bss: nothing else uses it.
#[repr(C, align(16))]
struct MakerStack {
    bytes: UnsafeCell<[u8; STACK]>,
    claimed: AtomicBool,
}

// SAFETY: the stack is handed to one child only, by the caller that wins `claimed`.
unsafe impl Sync for MakerStack {}

static MAKER_STACK: MakerStack = MakerStack {
    bytes: UnsafeCell::new([0; STACK]),
    claimed: AtomicBool::new(false),
};

/// A running (or finished, not yet reaped) netns maker.
#[derive(Debug)]
pub(crate) struct NetnsMaker {
    pid: libc::pid_t,
    /// A maker started before the re-exec sends the namespace here; None: it leaves it in
    /// our shared descriptor table (`RESULT`).
    socket: Option<OwnedFd>,
}

impl NetnsMaker {
    /// Starts the maker. None when this process already started one (the stack is
    /// static), the clone fails, or the architecture has no raw system call here: the
    /// init then unshares the network namespace itself. Must be called from a
    /// single-threaded process (berth never starts threads).
    pub(crate) fn spawn() -> Option<NetnsMaker> {
        if !raw::SUPPORTED || MAKER_STACK.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        RESULT.store(-1, Ordering::Relaxed);
        // SAFETY: one past the end of the static array, 16-aligned (the struct is, and the
        // array opens it with a length that is a multiple of 16); stacks grow down.
        let stack_top = unsafe { MAKER_STACK.bytes.get().cast::<u8>().add(STACK) };
        // SAFETY: berth is single-threaded here. The child shares our memory and
        // descriptor table but touches only its own static stack and `RESULT`; it makes
        // raw system calls only and ends with exit, never returning into Rust code.
        let pid = unsafe {
            libc::clone(
                maker,
                stack_top.cast(),
                libc::CLONE_VM | libc::CLONE_FILES | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        (pid > 0).then_some(NetnsMaker { pid, socket: None })
    }

    /// Waits for the maker; the new network namespace, or None when it could not make one.
    pub(crate) fn finish(mut self) -> Option<OwnedFd> {
        self.reap()
    }

    fn reap(&mut self) -> Option<OwnedFd> {
        if self.pid <= 0 {
            return None;
        }
        let received = self.socket.take().map(|s| receive_namespace(&s));
        let mut status = 0;
        let gone = loop {
            // SAFETY: waits for our own child; `status` is a local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if rc == self.pid {
                break true;
            }
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => continue,
                e => break e == nix::errno::Errno::ECHILD,
            }
        };
        self.pid = 0;
        if gone {
            // The maker has exited: its stack is free for another one.
            MAKER_STACK.claimed.store(false, Ordering::Release);
        }
        if let Some(received) = received {
            return received;
        }
        let fd = RESULT.swap(-1, Ordering::Acquire);
        // SAFETY: the maker opened this descriptor in our shared table and exited; we
        // are its only owner now.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Drop for NetnsMaker {
    /// A create that fails before Go still reaps the maker and closes its namespace.
    fn drop(&mut self) {
        drop(self.reap());
    }
}

/// Before the sealed re-exec of `create`/`run` (`main`): starts a maker when the
/// bundle's config.json asks for a network namespace the common case makes, and names it
/// in the environment the re-exec passes on. A guess from a partial read: a wrong guess
/// only costs a namespace made for nothing (or made later), since `create` decides from the
/// full plan and otherwise drops what the maker made.
pub fn start_before_reexec(bundle: &std::path::Path) {
    // Started already, before the re-exec that brought us here.
    if std::env::var_os(HANDOFF_ENV).is_some() {
        return;
    }
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !config_wants_made_netns(&text) {
        return;
    }
    if let Some(entry) = spawn_across_exec() {
        if let Some((k, v)) = entry.split_once('=') {
            // Single-threaded (berth starts no threads): nothing reads the environment.
            std::env::set_var(k, v);
        }
    }
}

/// Whether a config (its namespaces only are read) asks for a new network namespace in
/// the common case (`Plan::early_unshare`): a new one, no user namespace, none joined by
/// path.
fn config_wants_made_netns(config: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Config {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        namespaces: Option<Vec<Namespace>>,
    }
    #[derive(serde::Deserialize)]
    struct Namespace {
        #[serde(rename = "type")]
        kind: String,
        path: Option<String>,
    }
    let Ok(Config {
        linux: Some(Linux {
            namespaces: Some(list),
        }),
    }) = serde_json::from_slice::<Config>(config)
    else {
        return false;
    };
    let joins = list
        .iter()
        .any(|n| n.path.as_deref().is_some_and(|p| !p.is_empty()));
    !joins && list.iter().any(|n| n.kind == "network") && !list.iter().any(|n| n.kind == "user")
}

/// The environment variable naming a maker started before the sealed re-exec
/// (`exe_seal`): "<pid>:<fd of our end of its socket>".
pub const HANDOFF_ENV: &str = "_BERTH_NETNS_MAKER";

/// Starts a maker that outlives this process's re-exec, for `create`/`run` whose config
/// asks for a network namespace the common case makes (`early_seal::wants_made_netns`):
/// the namespace is then made, and its `lo` brought up, while the sealed copy of berth
/// starts (about 0.4 ms during which the second core is otherwise idle), instead of from
/// the parsed config on. The maker keeps this memory image when the re-exec replaces ours;
/// it sends the namespace over a socket whose other end crosses the re-exec (named in
/// [`HANDOFF_ENV`], not close-on-exec until [`NetnsMaker::adopt`] takes it back). Returns
/// the environment entry to add; None when no maker was started.
pub(crate) fn spawn_across_exec() -> Option<String> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::os::fd::{AsRawFd, IntoRawFd};
    if !raw::SUPPORTED || MAKER_STACK.claimed.swap(true, Ordering::AcqRel) {
        return None;
    }
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ok()?;
    // SAFETY: as in `spawn`; the child also gets its own copy of our descriptor table (no
    // CLONE_FILES), holding `theirs`, which it sends the namespace on and never closes.
    let pid = unsafe {
        let stack_top = MAKER_STACK.bytes.get().cast::<u8>().add(STACK);
        libc::clone(
            sending_maker,
            stack_top.cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            theirs.as_raw_fd() as usize as *mut libc::c_void,
        )
    };
    drop(theirs);
    if pid <= 0 {
        return None;
    }
    // Our end crosses the re-exec; `adopt` makes it close-on-exec again.
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    if unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_SETFD, 0) } != 0 {
        return None;
    }
    let fd = ours.into_raw_fd();
    Some(format!("{HANDOFF_ENV}={pid}:{fd}"))
}

impl NetnsMaker {
    /// The maker a pre-re-exec berth started ([`spawn_across_exec`]), named in the
    /// environment, which this removes; its socket becomes close-on-exec again. Call once,
    /// single-threaded, before anything is spawned.
    pub(crate) fn adopt() -> Option<NetnsMaker> {
        let value = std::env::var(HANDOFF_ENV).ok()?;
        // Single-threaded (berth starts no threads): nothing reads the environment meanwhile.
        std::env::remove_var(HANDOFF_ENV);
        let (pid, fd) = value.split_once(':')?;
        let (pid, fd): (libc::pid_t, RawFd) = (pid.parse().ok()?, fd.parse().ok()?);
        // Ours only when it is an open socket; then we own it, close-on-exec again.
        // SAFETY: fstat into a local and fcntl with integer arguments.
        let is_socket = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
        };
        // SAFETY: as above.
        if !is_socket || unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return None;
        }
        // SAFETY: the descriptor was left open for us by the process we replaced.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        Some(NetnsMaker {
            pid,
            socket: Some(socket),
        })
    }
}

/// The namespace fd the sending maker passed on `socket`, or None (it failed: then it
/// exited without sending, and the read sees end of file).
fn receive_namespace(socket: &OwnedFd) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = msg.cmsgs().ok()?.filter_map(|c| match c {
                    ControlMessageOwned::ScmRights(fds) => Some(fds),
                    _ => None,
                });
                let fd = *fds.next()?.first()?;
                // SAFETY: SCM_RIGHTS just installed this descriptor for us alone.
                return Some(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            Err(nix::Error::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// The maker started before a re-exec: as [`maker`], but it sends the namespace on its
/// socket (`arg`) as SCM_RIGHTS, since its descriptor table is its own.
extern "C" fn sending_maker(arg: *mut libc::c_void) -> libc::c_int {
    let socket = arg as usize;
    let ns = make_namespace();
    // SAFETY: raw system calls on our own descriptors and a struct on our own stack.
    unsafe {
        if ns >= 0 {
            send_fd(socket, ns as i32);
        }
        raw::syscall3(libc::SYS_exit, 0, 0, 0);
    }
    0
}
/// The kernel's `struct user_msghdr` (64-bit).
#[repr(C)]
struct MsgHeader {
    name: usize,
    name_len: u32,
    iov: *mut libc::iovec,
    iov_len: usize,
    control: *mut CmsgOneFd,
    control_len: usize,
    flags: u32,
}

/// One `cmsghdr` (64-bit) carrying one descriptor, padded to CMSG_SPACE.
#[repr(C)]
struct CmsgOneFd {
    len: usize,
    level: libc::c_int,
    kind: libc::c_int,
    fd: libc::c_int,
    _pad: libc::c_int,
}

/// sendmsg of one byte with `fd` attached, by raw system call.
///
/// # Safety
/// `socket` and `fd` are descriptors of this task.
unsafe fn send_fd(socket: usize, fd: i32) {
    let mut byte = 1u8;
    let mut iov = libc::iovec {
        iov_base: std::ptr::addr_of_mut!(byte).cast(),
        iov_len: 1,
    };
    let mut cmsg = CmsgOneFd {
        len: std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<libc::c_int>(),
        level: libc::SOL_SOCKET,
        kind: libc::SCM_RIGHTS,
        fd,
        _pad: 0,
    };
    let mut header = MsgHeader {
        name: 0,
        name_len: 0,
        iov: std::ptr::addr_of_mut!(iov),
        iov_len: 1,
        control: std::ptr::addr_of_mut!(cmsg),
        control_len: std::mem::size_of::<CmsgOneFd>(),
        flags: 0,
    };
    // SAFETY: the header and what it points to live on this stack for the call.
    unsafe {
        raw::syscall3(
            libc::SYS_sendmsg,
            socket,
            std::ptr::addr_of_mut!(header) as usize,
            libc::MSG_NOSIGNAL as usize,
        )
    };
}

/// `struct ifreq` as SIOCGIFFLAGS/SIOCSIFFLAGS use it: the name, then the flags.
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _rest: [u8; 22],
}

impl IfreqFlags {
    /// The request for `lo`, flags zero.
    fn lo() -> Self {
        let mut req = IfreqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _rest: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        req
    }
}

/// Sets IFF_UP on `lo` of this task's network namespace, as runc does; a failure (a kernel
/// without lo) is ignored: not worth failing a container for. Raw system calls on the
/// caller's stack, so a maker can use it as well as the init, which calls it when it made
/// the namespace itself.
pub(crate) fn loopback_up() {
    let mut req = IfreqFlags::lo();
    // SAFETY: socket, ioctl on a struct on our stack sized as the kernel reads and writes
    // it, close of the socket just made.
    unsafe {
        let sock = raw::syscall3(
            libc::SYS_socket,
            libc::AF_INET as usize,
            (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize,
            0,
        );
        if sock < 0 {
            return;
        }
        let got = raw::syscall3(
            libc::SYS_ioctl,
            sock as usize,
            libc::SIOCGIFFLAGS as usize,
            std::ptr::addr_of_mut!(req) as usize,
        );
        if got == 0 {
            req.flags |= libc::IFF_UP as libc::c_short;
            raw::syscall3(
                libc::SYS_ioctl,
                sock as usize,
                libc::SIOCSIFFLAGS as usize,
                std::ptr::addr_of_mut!(req) as usize,
            );
        }
        raw::syscall3(libc::SYS_close, sock as usize, 0, 0);
    }
}

/// The cloned child: makes the network namespace, brings its `lo` up, opens it into the
/// shared descriptor table, records the fd (or the error) and exits.
extern "C" fn maker(_: *mut libc::c_void) -> libc::c_int {
    let result = make_namespace();
    RESULT.store(result as i32, Ordering::Release);
    // SAFETY: ends this task alone, running no destructors and no atexit handlers (they
    // would run on the parent's memory).
    unsafe { raw::syscall3(libc::SYS_exit, 0, 0, 0) };
    0
}

/// What both makers do: a new network namespace for this task, its `lo` up, and an fd of
/// it (or -errno). Raw system calls only.
fn make_namespace() -> isize {
    // SAFETY: raw system calls on constants and a static NUL-terminated path.
    unsafe {
        match raw::syscall3(libc::SYS_unshare, libc::CLONE_NEWNET as usize, 0, 0) {
            0 => {
                loopback_up();
                raw::syscall3(
                    libc::SYS_openat,
                    libc::AT_FDCWD as usize,
                    c"/proc/thread-self/ns/net".as_ptr() as usize,
                    (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
                )
            }
            err => err,
        }
    }
}
/// System calls without the C library: its wrappers store a failure in `errno`, which a
/// CLONE_VM child shares with its parent's thread.
mod raw {
    pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

    /// The system call `nr` with three arguments; a failure is returned as -errno.
    ///
    /// # Safety
    /// As for the system call itself: pointer arguments must be valid for it.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn syscall3(nr: libc::c_long, a1: usize, a2: usize, a3: usize) -> isize {
        let ret: isize;
        // SAFETY: the x86_64 Linux system call convention; rcx and r11 are clobbered.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a1,
                in("rsi") a2,
                in("rdx") a3,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// The system call `nr` with three arguments; a failure is returned as -errno.
    ///
    /// # Safety
    /// As for the system call itself: pointer arguments must be valid for it.
    #[cfg(target_arch = "aarch64")]
    pub unsafe fn syscall3(nr: libc::c_long, a1: usize, a2: usize, a3: usize) -> isize {
        let ret: isize;
        // SAFETY: the aarch64 Linux system call convention.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a1 as isize => ret,
                in("x1") a2,
                in("x2") a3,
                options(nostack),
            );
        }
        ret
    }

    /// Other architectures: the C library's `syscall`, a failure returned as -errno. No
    /// maker runs there ([`SUPPORTED`] is false), so only a process of its own (the init's
    /// `loopback_up`) calls this, and its `errno` is its own.
    ///
    /// # Safety
    /// As for the system call itself: pointer arguments must be valid for it.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub unsafe fn syscall3(nr: libc::c_long, a1: usize, a2: usize, a3: usize) -> isize {
        // SAFETY: the caller's contract, passed on.
        let ret = unsafe { libc::syscall(nr, a1, a2, a3) };
        if ret < 0 {
            -(nix::errno::Errno::last_raw() as isize)
        } else {
            ret as isize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The makers share one static stack: the tests that start one take turns.
    static ONE_MAKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Whether `lo` is up in the network namespace `ns`, asked by a forked child that
    /// makes system calls only (the test harness is multi-threaded).
    fn lo_is_up_in(ns: &OwnedFd) -> bool {
        use std::os::fd::AsRawFd;
        let ns = ns.as_raw_fd();
        // SAFETY: the child makes async-signal-safe calls only, then _exits.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let mut req = IfreqFlags::lo();
                // SAFETY: setns on an inherited fd, socket and ioctl on a stack struct.
                let up = unsafe {
                    libc::setns(ns, libc::CLONE_NEWNET) == 0 && {
                        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                        sock >= 0
                            && libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) == 0
                            && req.flags & libc::IFF_UP as libc::c_short != 0
                    }
                };
                // SAFETY: leave the forked child at once.
                unsafe { libc::_exit(if up { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => matches!(
                nix::sys::wait::waitpid(child, None),
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
            ),
        }
    }

    #[test]
    fn the_config_peek_wants_a_made_netns_only_in_the_common_case() {
        let with = |ns: &str| format!(r#"{{"ociVersion":"1.2.0","linux":{{"namespaces":{ns}}}}}"#);
        let yes = with(r#"[{"type":"pid"},{"type":"network"},{"type":"mount"}]"#);
        assert!(config_wants_made_netns(yes.as_bytes()));
        let empty_path = with(r#"[{"type":"network","path":""}]"#);
        assert!(config_wants_made_netns(empty_path.as_bytes()));
        for no in [
            with(r#"[{"type":"pid"},{"type":"mount"}]"#),
            with(r#"[{"type":"network","path":"/var/run/netns/cni-1"}]"#),
            with(r#"[{"type":"network"},{"type":"ipc","path":"/proc/1/ns/ipc"}]"#),
            with(r#"[{"type":"network"},{"type":"user"}]"#),
            r#"{"ociVersion":"1.2.0"}"#.to_string(),
            "not json".to_string(),
        ] {
            assert!(!config_wants_made_netns(no.as_bytes()), "{no}");
        }
    }

    /// A maker started across a re-exec (here: without one, in the same process) sends a
    /// new namespace with lo up on its socket, and `adopt` finds it from the environment.
    #[test]
    fn a_maker_across_exec_is_adopted_and_sends_its_namespace() {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let _one_at_a_time = ONE_MAKER.lock();
        let entry = spawn_across_exec().expect("no other maker running");
        let (k, v) = entry.split_once('=').expect("an environment entry");
        assert_eq!(k, HANDOFF_ENV);
        std::env::set_var(k, v);
        let maker = NetnsMaker::adopt().expect("adopted from the environment");
        assert!(
            std::env::var_os(HANDOFF_ENV).is_none(),
            "the entry is taken"
        );
        let fd = maker.socket.as_ref().expect("a socket").as_raw_fd();
        // SAFETY: F_GETFD on a descriptor we hold.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(
            flags & libc::FD_CLOEXEC,
            libc::FD_CLOEXEC,
            "close-on-exec again"
        );
        let got = maker.finish();
        if !nix::unistd::geteuid().is_root() {
            assert!(got.is_none());
            return;
        }
        let fd = got.expect("root makes a network namespace");
        assert_ne!(
            nix::sys::stat::fstat(&fd).expect("fstat").st_ino,
            std::fs::metadata("/proc/self/ns/net").expect("ours").ino(),
        );
        assert!(lo_is_up_in(&fd), "lo is up in the made namespace");
    }

    /// The maker makes a namespace other than ours (the unit tests run as root, as CI
    /// does; without CAP_SYS_ADMIN it reports no namespace, which the init handles).
    #[test]
    fn the_maker_hands_over_a_new_network_namespace() {
        use std::os::unix::fs::MetadataExt;
        let net_ino = || {
            std::fs::metadata("/proc/thread-self/ns/net")
                .expect("our network namespace")
                .ino()
        };
        let ours = net_ino();
        let _one_at_a_time = ONE_MAKER.lock();
        let maker = NetnsMaker::spawn().expect("no other maker running");
        assert!(NetnsMaker::spawn().is_none(), "one maker at a time");
        let got = maker.finish();
        if !nix::unistd::geteuid().is_root() {
            assert!(got.is_none());
            return;
        }
        let fd = got.expect("root makes a network namespace");
        let theirs = nix::sys::stat::fstat(&fd).expect("fstat it").st_ino;
        assert_ne!(theirs, ours, "a new namespace, not ours");
        assert_eq!(net_ino(), ours, "only the maker moved");
        assert!(lo_is_up_in(&fd), "lo is up in the made namespace");
    }
}
