//! Root tests against the real kernel: each filter is installed in a forked child (the test
//! process itself stays unfiltered), the child runs probe syscalls and reports through its
//! exit status.

use berth_seccomp::{compile, default_profile, Program};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

const OK: i32 = 0;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn prog(v: serde_json::Value) -> Program {
    let p: LinuxSeccomp = serde_json::from_value(v).unwrap();
    compile(&p).unwrap()
}

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Exit(i32),
    Signal(i32),
}

/// Forks; the child installs `program` then runs `probe` and exits with its result.
/// Only async-signal-safe work happens in the child: the program is compiled beforehand.
fn in_child(program: &Program, probe: impl FnOnce() -> i32) -> End {
    // SAFETY: the child only makes raw syscalls and calls _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match program.install() {
            Ok(_) => probe(),
            Err(_) => 200,
        };
        // SAFETY: terminate the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    if libc::WIFEXITED(status) {
        End::Exit(libc::WEXITSTATUS(status))
    } else {
        End::Signal(libc::WTERMSIG(status))
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Raw syscall returning `-errno` on failure.
fn sys(nr: libc::c_long, a0: u64) -> i64 {
    // SAFETY: probes use syscalls whose arguments are plain integers or null.
    let r = unsafe { libc::syscall(nr, a0, 0u64, 0u64, 0u64) };
    if r < 0 {
        -i64::from(errno())
    } else {
        r
    }
}

fn uname_errno() -> i32 {
    let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
    // SAFETY: uname writes into the buffer we provide.
    if unsafe { libc::uname(u.as_mut_ptr()) } == 0 {
        OK
    } else {
        errno()
    }
}

fn parent_is_unfiltered() {
    assert_eq!(uname_errno(), OK);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(
        status.lines().any(|l| l == "Seccomp:\t0"),
        "parent got filtered"
    );
}

#[test]
fn errno_on_uname() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW",
        "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}));
    assert_eq!(in_child(&p, uname_errno), End::Exit(libc::EPERM));
    let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW",
        "syscalls":[{"names":["uname"],"action":"SCMP_ACT_ERRNO","errnoRet":77}]}));
    assert_eq!(in_child(&p, uname_errno), End::Exit(77));
    parent_is_unfiltered();
}

#[test]
fn default_errno_ret_and_no_new_privs_untouched() {
    if !is_root() {
        return;
    }
    let p = prog(
        json!({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":42,
        "syscalls":[{"names":["exit_group","exit","prctl"],"action":"SCMP_ACT_ALLOW"}]}),
    );
    let probe = || {
        // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer arguments.
        let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        if nnp != 0 {
            return 99;
        }
        uname_errno()
    };
    assert_eq!(in_child(&p, probe), End::Exit(42));
    parent_is_unfiltered();
}

#[test]
fn argument_conditions_use_both_halves() {
    if !is_root() {
        return;
    }
    // getpgid(0x1_0000_0000) is refused; getpgid(0) (same low word) is not.
    let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpgid"],"action":"SCMP_ACT_ERRNO","errnoRet":77,
         "args":[{"index":0,"value":0x1_0000_0000u64,"op":"SCMP_CMP_EQ"}]},
        {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":78,
         "args":[{"index":0,"value":0xf,"valueTwo":0x2,"op":"SCMP_CMP_MASKED_EQ"}]}]}));
    let probe = || {
        if sys(libc::SYS_getpgid, 0x1_0000_0000) != -77 {
            return 1;
        }
        if sys(libc::SYS_getpgid, 0) < 0 {
            return 2;
        }
        // PRIO_PROCESS = 0 → allowed; 0x12 & 0xf == 2 → refused.
        if sys(libc::SYS_getpriority, 0) < 0 {
            return 3;
        }
        if sys(libc::SYS_getpriority, 0x12) != -78 {
            return 4;
        }
        OK
    };
    assert_eq!(in_child(&p, probe), End::Exit(OK));
    parent_is_unfiltered();
}

#[test]
fn kill_process_and_trap() {
    if !is_root() {
        return;
    }
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["uname"],"action":action}]}));
        assert_eq!(
            in_child(&p, uname_errno),
            End::Signal(libc::SIGSYS),
            "{action}"
        );
    }
    parent_is_unfiltered();
}

#[test]
fn enosys_for_syscalls_newer_than_the_profile() {
    if !is_root() {
        return;
    }
    // Highest named: exit_group (231) on x86-64.
    let p = prog(json!({"defaultAction":"SCMP_ACT_ERRNO",
        "syscalls":[{"names":["exit_group","exit","uname","getpid"],"action":"SCMP_ACT_ALLOW"}]}));
    let probe = || {
        if sys(libc::SYS_getpid, 0) <= 0 {
            return 1;
        }
        if sys(libc::SYS_getppid, 0) != -i64::from(libc::EPERM) {
            return 2;
        }
        if sys(libc::SYS_clone3, 0) != -i64::from(libc::ENOSYS) {
            return 3;
        }
        if sys(462 /* mseal */, 0) != -i64::from(libc::ENOSYS) {
            return 4;
        }
        OK
    };
    assert_eq!(in_child(&p, probe), End::Exit(OK));
    parent_is_unfiltered();
}

#[test]
fn default_profile_blocks_unshare_without_cap_sys_admin() {
    if !is_root() {
        return;
    }
    let unprivileged = compile(&default_profile(&["CAP_CHOWN".into()])).unwrap();
    let probe = || {
        if uname_errno() != OK || sys(libc::SYS_getpid, 0) <= 0 {
            return 1;
        }
        if sys(libc::SYS_unshare, libc::CLONE_NEWUTS as u64) != -i64::from(libc::EPERM) {
            return 2;
        }
        if sys(libc::SYS_clone3, 0) != -i64::from(libc::ENOSYS) {
            return 3;
        }
        // fork (clone with SIGCHLD, no namespace flags) still works.
        // SAFETY: the grandchild exits immediately.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leave without running anything else.
            unsafe { libc::_exit(0) };
        }
        if pid < 0 {
            return 4;
        }
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        OK
    };
    assert_eq!(in_child(&unprivileged, probe), End::Exit(OK));

    let admin = compile(&default_profile(&["CAP_SYS_ADMIN".into()])).unwrap();
    let probe = || {
        if sys(libc::SYS_unshare, libc::CLONE_NEWUTS as u64) != 0 {
            return 5;
        }
        OK
    };
    assert_eq!(in_child(&admin, probe), End::Exit(OK));
    parent_is_unfiltered();
}

#[test]
fn notify_listener_reaches_the_agent_which_answers() {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixListener;

    if !is_root() {
        return;
    }
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = Dir(std::env::temp_dir().join(format!("berth-seccomp-agent-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let sock = dir.0.join("agent.sock");
    let agent = UnixListener::bind(&sock).unwrap();
    let profile: LinuxSeccomp = serde_json::from_value(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "hello-agent",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    }))
    .unwrap();
    let program = compile(&profile).unwrap();
    assert!(program.needs_listener());
    let mut st = oci_spec::runtime::State::default();
    st.set_id("ctr-notify".into());
    st.set_version("1.2.0".into());
    // SAFETY: getpid has no preconditions.
    let msg = berth_seccomp::process_state(&profile, unsafe { libc::getpid() }, &st);
    let target = dir.0.join("made-by-child");
    let target_c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap();

    // SAFETY: the child installs the filter, sends the listener and probes mkdir.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match program.install() {
            Ok(Some(fd)) => match berth_seccomp::send_listener(&profile, &fd, &msg) {
                Ok(()) => {
                    drop(fd);
                    // SAFETY: mkdir on a NUL-terminated path.
                    let r = unsafe { libc::mkdir(target_c.as_ptr(), 0o755) };
                    if r == -1 && errno() == 99 {
                        OK
                    } else {
                        3
                    }
                }
                Err(_) => 2,
            },
            _ => 1,
        };
        // SAFETY: leave the child.
        unsafe { libc::_exit(code) };
    }

    let (conn, _) = agent.accept().unwrap();
    let mut buf = vec![0u8; 8192];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let r = recvmsg::<UnixAddr>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let mut listener = None;
    for c in r.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd just arrived over SCM_RIGHTS and is ours.
            listener = fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    let n = r.bytes;
    let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-agent");
    assert_eq!(state["state"]["id"], "ctr-notify");
    let listener = listener.expect("listener fd");

    // Answer the child's mkdir with errno 99.
    // SAFETY: seccomp_notif is plain data; zeroed is the required input state.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV fills `req`; the listener is a seccomp notify fd.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req,
        )
    };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    assert!(req.data.nr == libc::SYS_mkdir as i32 || req.data.nr == libc::SYS_mkdirat as i32);
    let mut resp = libc::seccomp_notif_resp {
        id: req.id,
        val: 0,
        error: -99,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads `resp`.
    let rc = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp,
        )
    };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());

    let mut status = 0;
    // SAFETY: reaping our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), OK);
    assert!(!target.exists());
    parent_is_unfiltered();
}

/// i386 syscall through `int 0x80` from this 64-bit process: the kernel reports
/// AUDIT_ARCH_I386 to seccomp.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32) -> i32 {
    let ret: i32;
    // SAFETY: only argument-less i386 syscalls (getpid, getppid) are issued; int 0x80
    // clobbers nothing but eax, and r8-r11 are declared clobbered to be safe.
    unsafe {
        std::arch::asm!("int 0x80", inlateout("eax") nr as i32 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn compat_abis_dispatch_on_seccomp_data_arch() {
    if !is_root() {
        return;
    }
    // Is the i386 ABI available on this kernel? (getpid through int 0x80 is harmless here)
    let ia32 = int80(20) > 0;

    let with = prog(json!({"defaultAction":"SCMP_ACT_ALLOW",
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
        "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":77}]}));
    let probe = move || {
        if sys(libc::SYS_getppid, 0) != -77 {
            return 1;
        }
        // x32 getppid: the filter answers before the kernel looks at whether x32 is enabled.
        if sys(0x4000_0000 | libc::SYS_getppid, 0) != -77 {
            return 2;
        }
        if ia32 && (int80(64) != -77 || int80(20) <= 0) {
            return 3;
        }
        OK
    };
    assert_eq!(in_child(&with, probe), End::Exit(OK));

    // Not listed: x32 and i386 calls hit the bad-architecture action.
    let only64 =
        prog(json!({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"]}));
    let x32 = || {
        sys(0x4000_0000 | libc::SYS_getppid, 0);
        OK
    };
    assert_eq!(in_child(&only64, x32), End::Signal(libc::SIGSYS));
    if ia32 {
        let i386 = || {
            int80(20);
            OK
        };
        assert_eq!(in_child(&only64, i386), End::Signal(libc::SIGSYS));
    } else {
        eprintln!("i386 ABI unavailable: int 0x80 part skipped");
    }
    parent_is_unfiltered();
}
