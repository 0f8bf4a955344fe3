//! Test/bench-only access to libseccomp through dlopen (never a runtime dependency):
//! compile an OCI profile the way runc drives libseccomp and export the BPF.
#![allow(dead_code)]

use berth_seccomp::Arch;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompOperator as Op};
use std::ffi::{c_void, CString};

pub type Ctx = *mut c_void;

#[repr(C)]
pub struct ArgCmp {
    arg: u32,
    op: u32,
    datum_a: u64,
    datum_b: u64,
}

pub struct Lib {
    pub init: unsafe extern "C" fn(u32) -> Ctx,
    pub arch_add: unsafe extern "C" fn(Ctx, u32) -> i32,
    pub resolve: unsafe extern "C" fn(*const libc::c_char) -> i32,
    pub resolve_arch: unsafe extern "C" fn(u32, *const libc::c_char) -> i32,
    pub rule_add_array: unsafe extern "C" fn(Ctx, u32, i32, u32, *const ArgCmp) -> i32,
    pub export_bpf: unsafe extern "C" fn(Ctx, i32) -> i32,
    pub release: unsafe extern "C" fn(Ctx),
}

pub fn load() -> Option<Lib> {
    let name = CString::new("libseccomp.so.2").ok()?;
    // SAFETY: dlopen with a valid NUL-terminated name.
    let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW) };
    if h.is_null() {
        return None;
    }
    let sym = |s: &str| -> Option<*mut c_void> {
        let c = CString::new(s).ok()?;
        // SAFETY: dlsym on a live handle with a valid name.
        let p = unsafe { libc::dlsym(h, c.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    // SAFETY: the symbols have these C signatures in libseccomp 2.x (seccomp.h).
    unsafe {
        Some(Lib {
            init: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(u32) -> Ctx>(sym(
                "seccomp_init",
            )?),
            arch_add: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Ctx, u32) -> i32>(
                sym("seccomp_arch_add")?,
            ),
            resolve: std::mem::transmute::<
                *mut c_void,
                unsafe extern "C" fn(*const libc::c_char) -> i32,
            >(sym("seccomp_syscall_resolve_name")?),
            resolve_arch: std::mem::transmute::<
                *mut c_void,
                unsafe extern "C" fn(u32, *const libc::c_char) -> i32,
            >(sym("seccomp_syscall_resolve_name_arch")?),
            rule_add_array: std::mem::transmute::<
                *mut c_void,
                unsafe extern "C" fn(Ctx, u32, i32, u32, *const ArgCmp) -> i32,
            >(sym("seccomp_rule_add_array")?),
            export_bpf: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Ctx, i32) -> i32>(
                sym("seccomp_export_bpf")?,
            ),
            release: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Ctx)>(sym(
                "seccomp_release",
            )?),
        })
    }
}

pub fn action(a: Act, errno: Option<u32>) -> u32 {
    let e = errno.unwrap_or(1);
    match a {
        Act::ScmpActKill | Act::ScmpActKillThread => 0,
        Act::ScmpActKillProcess => 0x8000_0000,
        Act::ScmpActTrap => 0x0003_0000,
        Act::ScmpActErrno => 0x0005_0000 | e,
        Act::ScmpActTrace => 0x7ff0_0000 | e,
        Act::ScmpActLog => 0x7ffc_0000,
        Act::ScmpActNotify => 0x7fc0_0000,
        Act::ScmpActAllow => 0x7fff_0000,
    }
}

/// libseccomp's arch token (x32 has its own, unlike `seccomp_data.arch`).
pub fn audit(a: Arch) -> u32 {
    match a {
        Arch::X86_64 => 0xc000_003e,
        Arch::X86 => 0x4000_0003,
        Arch::X32 => 0x4000_003e,
        Arch::Aarch64 => 0xc000_00b7,
    }
}

/// Compiles `p` with libseccomp as runc does and returns the exported BPF as a Program-like
/// instruction list.
pub fn libseccomp_bpf(
    lib: &Lib,
    p: &LinuxSeccomp,
    archs: &[Arch],
) -> Vec<berth_seccomp::sock_filter> {
    let def = action(p.default_action(), p.default_errno_ret());
    // SAFETY: plain FFI calls on a context we own until release.
    unsafe {
        let ctx = (lib.init)(def);
        assert!(!ctx.is_null());
        for a in archs {
            let rc = (lib.arch_add)(ctx, audit(*a));
            assert!(rc == 0 || rc == -libc::EEXIST, "arch_add {rc}");
        }
        for sc in p.syscalls().iter().flatten() {
            let act = action(sc.action(), sc.errno_ret());
            if act == def {
                continue; // runc skips rules equal to the default action
            }
            let args: Vec<ArgCmp> = sc
                .args()
                .iter()
                .flatten()
                .map(|a| ArgCmp {
                    arg: a.index() as u32,
                    op: match a.op() {
                        Op::ScmpCmpNe => 1,
                        Op::ScmpCmpLt => 2,
                        Op::ScmpCmpLe => 3,
                        Op::ScmpCmpEq => 4,
                        Op::ScmpCmpGe => 5,
                        Op::ScmpCmpGt => 6,
                        Op::ScmpCmpMaskedEq => 7,
                    },
                    datum_a: a.value(),
                    datum_b: a.value_two().unwrap_or(0),
                })
                .collect();
            let mut idx: Vec<u32> = args.iter().map(|a| a.arg).collect();
            idx.sort_unstable();
            let repeated = idx.windows(2).any(|w| w[0] == w[1]);
            for name in sc.names() {
                let c = CString::new(name.as_str()).unwrap();
                let nr = (lib.resolve)(c.as_ptr());
                if nr == -1 {
                    continue;
                }
                if repeated {
                    for a in &args {
                        (lib.rule_add_array)(ctx, act, nr, 1, a);
                    }
                } else {
                    (lib.rule_add_array)(ctx, act, nr, args.len() as u32, args.as_ptr());
                }
            }
        }
        let name = CString::new("bpf").unwrap();
        let fd = libc::memfd_create(name.as_ptr(), 0);
        assert!(fd >= 0);
        assert_eq!((lib.export_bpf)(ctx, fd), 0);
        (lib.release)(ctx);
        let len = libc::lseek(fd, 0, libc::SEEK_END);
        libc::lseek(fd, 0, libc::SEEK_SET);
        let mut bytes = vec![0u8; len as usize];
        assert_eq!(
            libc::read(fd, bytes.as_mut_ptr().cast(), bytes.len()),
            len as isize
        );
        libc::close(fd);
        bytes
            .chunks_exact(8)
            .map(|c| berth_seccomp::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect()
    }
}
