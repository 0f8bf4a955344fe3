//! Unit tests of the compiler, run through the BPF interpreter in `verify`.

use crate::action::{SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_USER_NOTIF};
use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::program::{compile, Program};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

const EPERM: u32 = 0x0005_0001;
const ENOSYS: u32 = 0x0005_0026;

fn prog(v: serde_json::Value) -> Program {
    let p: LinuxSeccomp = serde_json::from_value(v).unwrap();
    compile(&p).unwrap()
}

fn eval(p: &Program, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    p.evaluate_name(arch, name, args).unwrap()
}

#[test]
fn errno_rule_and_default() {
    let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["uname"],"action":"SCMP_ACT_ERRNO"}]}));
    assert_eq!(eval(&p, Arch::X86_64, "uname", [0; 6]), EPERM);
    assert_eq!(eval(&p, Arch::X86_64, "getpid", [0; 6]), SECCOMP_RET_ALLOW);
    // Allow default: no -ENOSYS tail.
    assert_eq!(eval(&p, Arch::X86_64, "mseal", [0; 6]), SECCOMP_RET_ALLOW);
}

#[test]
fn arch_dispatch_x86_x32_and_bad_arch() {
    let p = prog(json!({"defaultAction":"SCMP_ACT_ERRNO",
        "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
        "syscalls":[{"names":["uname","socketcall"],"action":"SCMP_ACT_ALLOW"}]}));
    for a in [Arch::X86_64, Arch::X86, Arch::X32] {
        assert_eq!(eval(&p, a, "uname", [0; 6]), SECCOMP_RET_ALLOW, "{a:?}");
        assert_eq!(eval(&p, a, "read", [0; 6]), EPERM, "{a:?}");
    }
    assert_eq!(eval(&p, Arch::X86, "socketcall", [0; 6]), SECCOMP_RET_ALLOW);
    // uname on x86-64 is 63, which on x86 is dup2: must not leak across arches.
    assert_eq!(p.evaluate(Arch::X86, 63, [0; 6]), EPERM);
    // 122 (x86 uname) is above every syscall named for x86-64: -ENOSYS there.
    assert_eq!(p.evaluate(Arch::X86_64, 122, [0; 6]), ENOSYS);
    assert_eq!(
        p.evaluate(Arch::Aarch64, 160, [0; 6]),
        SECCOMP_RET_KILL_THREAD
    );

    let only64 =
        prog(json!({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"]}));
    assert_eq!(
        only64.evaluate(Arch::X86_64, X32_SYSCALL_BIT, [0; 6]),
        SECCOMP_RET_KILL_THREAD
    );
    assert_eq!(
        only64.evaluate(Arch::X86, 1, [0; 6]),
        SECCOMP_RET_KILL_THREAD
    );
    // nr -1 is not an x32 call: default action, as libseccomp does.
    assert_eq!(
        only64.evaluate(Arch::X86_64, u32::MAX, [0; 6]),
        SECCOMP_RET_ALLOW
    );
    // With x32 listed it falls in the x32 range: -ENOSYS tail there (default ERRNO).
    assert_eq!(p.evaluate(Arch::X86_64, u32::MAX, [0; 6]), ENOSYS);
    let aarch = prog(
        json!({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64"],
        "syscalls":[{"names":["uname"],"action":"SCMP_ACT_ALLOW"}]}),
    );
    assert_eq!(
        eval(&aarch, Arch::Aarch64, "uname", [0; 6]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(eval(&aarch, Arch::Aarch64, "openat", [0; 6]), EPERM);
    // The native architecture is filtered even when not listed (runc does the same).
    if Arch::native() == Some(Arch::X86_64) {
        assert_eq!(
            eval(&aarch, Arch::X86_64, "uname", [0; 6]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(eval(&aarch, Arch::X86_64, "read", [0; 6]), EPERM);
    }
}

#[test]
fn enosys_above_highest_named_syscall() {
    let p = prog(
        json!({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],
        "syscalls":[{"names":["uname","openat"],"action":"SCMP_ACT_ALLOW"}]}),
    );
    // openat = 257 is the highest named.
    assert_eq!(p.evaluate(Arch::X86_64, 256, [0; 6]), EPERM);
    assert_eq!(p.evaluate(Arch::X86_64, 258, [0; 6]), ENOSYS);
    assert_eq!(eval(&p, Arch::X86_64, "clone3", [0; 6]), ENOSYS);
    assert_eq!(eval(&p, Arch::X32, "clone3", [0; 6]), ENOSYS);
    assert_eq!(eval(&p, Arch::X32, "read", [0; 6]), EPERM);
    assert_eq!(eval(&p, Arch::X32, "uname", [0; 6]), SECCOMP_RET_ALLOW);
}

#[test]
fn all_actions() {
    let acts = [
        ("SCMP_ACT_KILL", 0),
        ("SCMP_ACT_KILL_THREAD", 0),
        ("SCMP_ACT_KILL_PROCESS", 0x8000_0000),
        ("SCMP_ACT_TRAP", 0x0003_0000),
        ("SCMP_ACT_ERRNO", EPERM),
        ("SCMP_ACT_TRACE", 0x7ff0_0001),
        ("SCMP_ACT_ALLOW", SECCOMP_RET_ALLOW),
        ("SCMP_ACT_LOG", 0x7ffc_0000),
        ("SCMP_ACT_NOTIFY", SECCOMP_RET_USER_NOTIF),
    ];
    for (a, want) in acts {
        let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x",
            "syscalls":[{"names":["mkdir"],"action":a}]}));
        assert_eq!(eval(&p, Arch::X86_64, "mkdir", [0; 6]), want, "{a}");
    }
}

/// Reference semantics of one OCI comparison.
fn holds(op: &str, arg: u64, v: u64, v2: u64) -> bool {
    match op {
        "SCMP_CMP_NE" => arg != v,
        "SCMP_CMP_LT" => arg < v,
        "SCMP_CMP_LE" => arg <= v,
        "SCMP_CMP_EQ" => arg == v,
        "SCMP_CMP_GE" => arg >= v,
        "SCMP_CMP_GT" => arg > v,
        _ => arg & v == v2 & v,
    }
}

#[test]
fn sixty_four_bit_comparisons_match_reference() {
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let interesting = [
        0u64,
        1,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0xffff_ffff_0000_0000,
        u64::MAX,
        0x8000_0000_0000_0000,
        7 << 32 | 3,
    ];
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for op in ops {
        for &v in &interesting {
            let v2 = v & 0xf0f0_f0f0_f0f0_f0f0;
            let p = prog(json!({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["uname"],"action":"SCMP_ACT_ERRNO",
                 "args":[{"index":2,"value":v,"valueTwo":v2,"op":op}]}]}));
            let mut args: Vec<u64> = interesting.to_vec();
            args.extend([v, v.wrapping_add(1), v.wrapping_sub(1), v2, v ^ (1 << 32)]);
            for _ in 0..20 {
                args.push(rnd());
            }
            for a in args {
                let want = if holds(op, a, v, v2) {
                    EPERM
                } else {
                    SECCOMP_RET_ALLOW
                };
                let got = eval(&p, Arch::X86_64, "uname", [9, 9, a, 9, 9, 9]);
                assert_eq!(got, want, "{op} arg={a:#x} v={v:#x} v2={v2:#x}");
            }
        }
    }
}

#[test]
fn conditions_and_within_a_rule_or_across_rules() {
    let p = prog(json!({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_LOG"}]}));
    let x = Arch::X86_64;
    assert_eq!(
        eval(&p, x, "personality", [8, 0, 0, 0, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(
        eval(&p, x, "personality", [0, 0, 0, 0, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(eval(&p, x, "personality", [1, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(eval(&p, x, "socket", [1, 2, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
    // The unconditional LOG rule is the fallback when the conditional one fails.
    assert_eq!(eval(&p, x, "socket", [1, 3, 0, 0, 0, 0]), 0x7ffc_0000);
}

#[test]
fn big_profile_is_a_tree_not_a_chain() {
    // Every x86-64 syscall named, alternating between two actions: ~400 outcomes.
    let names: Vec<&str> = (0..470u32).filter_map(crate::tables::x86_64_name).collect();
    let allow: Vec<&str> = names.iter().copied().step_by(2).collect();
    let deny: Vec<&str> = names.iter().copied().skip(1).step_by(2).collect();
    let p = prog(json!({"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[
        {"names":allow,"action":"SCMP_ACT_ALLOW"},{"names":deny,"action":"SCMP_ACT_ERRNO"}]}));
    for n in &allow {
        assert_eq!(eval(&p, Arch::X86_64, n, [0; 6]), SECCOMP_RET_ALLOW, "{n}");
    }
    for n in &deny {
        assert_eq!(eval(&p, Arch::X86_64, n, [0; 6]), EPERM, "{n}");
    }
    // A binary tree over the intervals: about two instructions per interval.
    assert!(p.len() < 2 * names.len() + 64, "{}", p.len());
}
