//! berth's default seccomp profile, equivalent in effect to Docker's: deny with EPERM by
//! default, allow the syscalls ordinary programs use, allow privileged syscalls only when the
//! process holds the matching capability, restrict `clone` flags (no new namespaces) and
//! `personality` arguments, and make `clone3` return ENOSYS without CAP_SYS_ADMIN so libc
//! falls back to `clone` where the flags can be checked.

use oci_spec::runtime::{
    Arch as OciArch, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompArg,
    LinuxSeccompArgBuilder, LinuxSeccompOperator as Op, LinuxSyscall,
};

/// Syscalls every container may use.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Docker gates these on kernel ≥ 4.8, where ptrace can no longer bypass seccomp.
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// Allowed `personality(2)` personas: PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26,
/// and the 0xffffffff query.
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
/// CLONE_NEWPID | CLONE_NEWNET.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

/// Syscalls allowed when the process has the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

fn rule(names: &[&str], action: Act, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    if !args.is_empty() {
        s.set_args(Some(args));
    }
    s
}

/// One argument condition. oci-spec only offers a (fallible) builder for it; the builder
/// cannot fail with every field set, and if it ever did the caller drops the whole rule,
/// which denies more, never less.
fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> Option<LinuxSeccompArg> {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    match value_two {
        Some(v) => b.value_two(v),
        None => b,
    }
    .build()
    .ok()
}

/// An allow rule on `names` under one argument condition, if it could be built.
fn allow_if(names: &[&str], cond: Option<LinuxSeccompArg>) -> Option<LinuxSyscall> {
    cond.map(|c| rule(names, Act::ScmpActAllow, vec![c]))
}

/// Architectures Docker lists for the host architecture.
fn host_architectures() -> Vec<OciArch> {
    if cfg!(target_arch = "x86_64") {
        vec![
            OciArch::ScmpArchX86_64,
            OciArch::ScmpArchX86,
            OciArch::ScmpArchX32,
        ]
    } else if cfg!(target_arch = "aarch64") {
        vec![OciArch::ScmpArchAarch64, OciArch::ScmpArchArm]
    } else {
        vec![OciArch::ScmpArchNative]
    }
}

/// Syscalls allowed only on the host architecture family.
fn arch_specific() -> &'static [&'static str] {
    if cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
        &["arch_prctl", "modify_ldt"]
    } else if cfg!(target_arch = "aarch64") {
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ]
    } else {
        &[]
    }
}

/// The default profile for a process with `capabilities` (OCI names such as
/// `"CAP_SYS_ADMIN"`, normally the bounding set). Serialise it with serde to emit it in a
/// config.json.
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    let has = |cap: &str| capabilities.iter().any(|c| c == cap);
    let mut syscalls = vec![rule(ALLOWED, Act::ScmpActAllow, vec![])];
    // Sockets of every family but AF_VSOCK (40), which reaches the host.
    syscalls.extend(allow_if(&["socket"], arg(0, Op::ScmpCmpNe, 40, None)));
    for &p in PERSONAS {
        syscalls.extend(allow_if(&["personality"], arg(0, Op::ScmpCmpEq, p, None)));
    }
    let specific = arch_specific();
    if !specific.is_empty() {
        syscalls.push(rule(specific, Act::ScmpActAllow, vec![]));
    }
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            syscalls.push(rule(names, Act::ScmpActAllow, vec![]));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        // clone without namespace flags; clone3 (flags behind a pointer) → ENOSYS so libc
        // falls back to clone.
        syscalls.extend(allow_if(
            &["clone"],
            arg(0, Op::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS, Some(0)),
        ));
        let mut clone3 = rule(&["clone3"], Act::ScmpActErrno, vec![]);
        clone3.set_errno_ret(Some(libc::ENOSYS as u32));
        syscalls.push(clone3);
    }
    let mut p = LinuxSeccomp::default();
    p.set_default_action(Act::ScmpActErrno);
    p.set_default_errno_ret(Some(libc::EPERM as u32));
    p.set_architectures(Some(host_architectures()));
    p.set_syscalls(Some(syscalls));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::SECCOMP_RET_ALLOW;
    use crate::arch::Arch;
    use crate::program::compile;

    const EPERM: u32 = 0x0005_0001;
    const ENOSYS: u32 = 0x0005_0026;

    #[test]
    fn unprivileged_profile_blocks_namespaces_and_allows_basics() {
        let prof = default_profile(&["CAP_CHOWN".to_string()]);
        let p = compile(&prof).unwrap();
        let n = Arch::native().unwrap();
        let ev = |name: &str, a0: u64| p.evaluate_name(n, name, [a0, 0, 0, 0, 0, 0]).unwrap();
        for ok in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "uname",
            "futex",
        ] {
            assert_eq!(ev(ok, 0), SECCOMP_RET_ALLOW, "{ok}");
        }
        for denied in [
            "unshare",
            "mount",
            "setns",
            "reboot",
            "init_module",
            "kexec_load",
        ] {
            assert_eq!(ev(denied, 0), EPERM, "{denied}");
        }
        assert_eq!(ev("clone3", 0), ENOSYS);
        // SIGCHLD | CLONE_VM: fine; CLONE_NEWUSER: refused.
        assert_eq!(ev("clone", 0x11 | 0x100), SECCOMP_RET_ALLOW);
        assert_eq!(ev("clone", 0x11 | 0x1000_0000), EPERM);
        assert_eq!(ev("personality", 0x8), SECCOMP_RET_ALLOW);
        assert_eq!(ev("personality", 0x40000), EPERM);
        assert_eq!(ev("socket", 2), SECCOMP_RET_ALLOW);
        assert_eq!(ev("socket", 40), EPERM);
    }

    #[test]
    fn capabilities_unlock_syscalls() {
        let caps: Vec<String> = ["CAP_SYS_ADMIN", "CAP_SYS_TIME"].map(String::from).to_vec();
        let p = compile(&default_profile(&caps)).unwrap();
        let n = Arch::native().unwrap();
        let ev = |name: &str, a0: u64| p.evaluate_name(n, name, [a0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(ev("unshare", 0), SECCOMP_RET_ALLOW);
        assert_eq!(ev("clone3", 0), SECCOMP_RET_ALLOW);
        assert_eq!(ev("clone", 0x1000_0000), SECCOMP_RET_ALLOW);
        assert_eq!(ev("settimeofday", 0), SECCOMP_RET_ALLOW);
        assert_eq!(ev("reboot", 0), EPERM);
    }

    #[test]
    fn serialises_to_oci_json_and_back() {
        let prof = default_profile(&[]);
        let v = serde_json::to_value(&prof).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(v["defaultErrnoRet"], 1);
        let back = crate::json::parse_profile(&v).unwrap();
        assert_eq!(back, prof);
    }

    #[test]
    fn every_allowed_name_is_known_somewhere() {
        let all = ALLOWED
            .iter()
            .chain(BY_CAPABILITY.iter().flat_map(|(_, n)| n.iter()))
            .chain(arch_specific());
        let unknown: Vec<&&str> = all.filter(|n| !Arch::known_anywhere(n)).collect();
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}
