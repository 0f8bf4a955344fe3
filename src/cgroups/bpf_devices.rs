//! Device rules on cgroup v2: an eBPF program of type CGROUP_DEVICE built from the
//! rules and attached to the container's directory (cgroup v2 has no devices
//! controller files).
//!
//! The program decides like [`devices::allowed`](super::devices::allowed): rules in
//! order, the last one matching decides, nothing matching is denied. It checks each
//! access bit the kernel asks for (mknod, read, write) on its own, so "allow r" and
//! "allow w" as two rules together allow an open for reading and writing. Layout:
//!
//! ```text
//!   r2 = type (ctx.access_type & 0xffff)   r3 = access (ctx.access_type >> 16)
//!   r4 = major                             r5 = minor
//!   for bit in m, r, w:
//!       if r3 & bit == 0: skip to the next bit
//!       for rule in rules, last first, whose access holds bit:
//!           if type/major/minor match: allow → next bit; deny → return 0
//!       return 0                           (nothing matched)
//!   return 1
//! ```
//!
//! Attached with BPF_F_ALLOW_MULTI (so nested runtimes can attach their own); an update
//! attaches the new program before detaching the old ones.

use super::CgroupError;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One eBPF instruction as the kernel takes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_W: u8 = 0x61;
const AND_K: u8 = 0x57;
const RSH_K: u8 = 0x77;
const MOV_X: u8 = 0xbf;
const MOV_K: u8 = 0xb7;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JA: u8 = 0x05;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// BPF_DEVCG_DEV_BLOCK / _CHAR, and BPF_DEVCG_ACC_MKNOD / _READ / _WRITE.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACCESS_BITS: [(char, i32); 3] = [('m', 1), ('r', 2), ('w', 4)];

fn rule_type(rule: &LinuxDeviceCgroup) -> Option<i32> {
    match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::C | LinuxDeviceType::U | LinuxDeviceType::P => Some(DEV_CHAR),
    }
}

fn rule_access(rule: &LinuxDeviceCgroup) -> &str {
    match rule.access().as_deref() {
        None | Some("") => "rwm",
        Some(a) => a,
    }
}

/// Device numbers as the program compares them (u32 in the context); a number that
/// does not fit is refused.
fn number(n: Option<i64>) -> Result<Option<i32>, CgroupError> {
    match n {
        None => Ok(None),
        Some(v) if v < 0 => Ok(None),
        Some(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| CgroupError::Invalid(format!("device number {v} is out of range"))),
    }
}

/// Builds the program for `rules`.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, CgroupError> {
    let mut out = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for (letter, bit) in ACCESS_BITS {
        // Jumps to the next bit's section, fixed up once its position is known.
        let mut to_next_bit: Vec<usize> = Vec::new();
        out.push(insn(MOV_X, 1, 3, 0, 0));
        out.push(insn(AND_K, 1, 0, 0, bit));
        to_next_bit.push(out.len());
        out.push(insn(JEQ_K, 1, 0, 0, 0));
        let mut decided = false;
        for rule in rules.iter().rev() {
            if !rule_access(rule).contains(letter) {
                continue;
            }
            let mut rule_jumps = Vec::new();
            if let Some(t) = rule_type(rule) {
                rule_jumps.push(out.len());
                out.push(insn(JNE_K, 2, 0, 0, t));
            }
            if let Some(major) = number(rule.major())? {
                rule_jumps.push(out.len());
                out.push(insn(JNE_K, 4, 0, 0, major));
            }
            if let Some(minor) = number(rule.minor())? {
                rule_jumps.push(out.len());
                out.push(insn(JNE_K, 5, 0, 0, minor));
            }
            if rule.allow() {
                to_next_bit.push(out.len());
                out.push(insn(JA, 0, 0, 0, 0));
            } else {
                out.push(insn(MOV_K, 0, 0, 0, 0));
                out.push(insn(EXIT, 0, 0, 0, 0));
            }
            if rule_jumps.is_empty() {
                // It matches every device: earlier rules (and the default) cannot be
                // reached, and the verifier refuses unreachable code.
                decided = true;
                break;
            }
            let next_rule = out.len();
            for j in rule_jumps {
                set_offset(&mut out, j, next_rule)?;
            }
        }
        if !decided {
            out.push(insn(MOV_K, 0, 0, 0, 0));
            out.push(insn(EXIT, 0, 0, 0, 0));
        }
        let next_bit = out.len();
        for j in to_next_bit {
            set_offset(&mut out, j, next_bit)?;
        }
    }
    out.push(insn(MOV_K, 0, 0, 0, 1));
    out.push(insn(EXIT, 0, 0, 0, 0));
    Ok(out)
}

fn set_offset(prog: &mut [Insn], jump: usize, target: usize) -> Result<(), CgroupError> {
    let off = i16::try_from(target - jump - 1)
        .map_err(|_| CgroupError::Invalid("too many device rules for one program".into()))?;
    prog[jump].off = off;
    Ok(())
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The bpf(2) system call with `attr`; the returned value or the errno.
fn bpf<T>(cmd: libc::c_long, attr: &mut T, what: &str) -> Result<i64, CgroupError> {
    // SAFETY: `attr` is a live, properly laid out bpf_attr prefix of the given size;
    // any pointers inside it point at buffers the caller keeps alive for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(CgroupError::Invalid(format!(
            "bpf {what}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(ret)
}

/// Takes ownership of a descriptor bpf(2) returned.
fn owned(fd: i64) -> Result<OwnedFd, CgroupError> {
    let raw = i32::try_from(fd).map_err(|_| CgroupError::Invalid("bpf: bad fd".into()))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn load(prog: &[Insn]) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len())
            .map_err(|_| CgroupError::Invalid("device program too long".into()))?,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..11].copy_from_slice(b"berth_devcg");
    match bpf(BPF_PROG_LOAD, &mut attr, "loading the device program") {
        Ok(fd) => owned(fd),
        Err(first) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            if let Ok(fd) = bpf(BPF_PROG_LOAD, &mut attr, "loading the device program") {
                return owned(fd);
            }
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Err(CgroupError::Invalid(format!(
                "{first}; verifier: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )))
        }
    }
}

/// Ids of the device programs attached to the cgroup directly.
fn attached(cgroup: &OwnedFd) -> Result<Vec<u32>, CgroupError> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr, "querying device programs")?;
    let count = (attr.prog_cnt as usize).min(ids.len());
    Ok(ids[..count].to_vec())
}

/// Replaces the device programs of the cgroup at `dir` with one built from `rules`.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let prog = load(&program(rules)?)?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .map_err(|source| CgroupError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .into();
    let old = attached(&cgroup)?;
    let mut attach = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach, "attaching the device program")?;
    for id in old {
        let mut get = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let old_prog = owned(bpf(
            BPF_PROG_GET_FD_BY_ID,
            &mut get,
            "finding an old program",
        )?)?;
        let mut detach = AttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: old_prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach, "detaching an old program")?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod interp {
    //! A tiny interpreter of the instructions [`program`](super::program) emits, so
    //! its decisions can be compared with the rule evaluator without root.
    use super::*;

    pub fn run(prog: &[Insn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                AND_K => r[dst] &= imm,
                RSH_K => r[dst] >>= imm,
                MOV_X => r[dst] = r[src],
                MOV_K => r[dst] = imm,
                JEQ_K if r[dst] == imm => pc += i.off as usize,
                JNE_K if r[dst] != imm => pc += i.off as usize,
                JEQ_K | JNE_K => {}
                JA => pc += i.off as usize,
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::devices::{allowed, Kind};
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    /// The program agrees with the evaluator on every device and access combination
    /// the rules mention, and some they don't.
    fn agrees(rules: &[LinuxDeviceCgroup]) {
        let prog = program(rules).unwrap();
        for (kind, code) in [(Kind::Char, DEV_CHAR), (Kind::Block, DEV_BLOCK)] {
            for major in [0u32, 1, 5, 8, 136] {
                for minor in [0u32, 1, 3, 5, 9] {
                    for access in 1..8 {
                        let want = ACCESS_BITS
                            .iter()
                            .filter(|(_, b)| access & b != 0)
                            .all(|(c, _)| allowed(rules, kind, major.into(), minor.into(), *c));
                        let got = interp::run(&prog, code, access, major, minor);
                        assert_eq!(got == 1, want, "{kind:?} {major}:{minor} access {access}");
                    }
                }
            }
        }
    }

    #[test]
    fn program_matches_the_evaluator() {
        agrees(&[]);
        agrees(&rules(r#"[{"allow": true, "access": "rwm"}]"#));
        agrees(&rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"},
                {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "r"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
                {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "r"},
                {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "w"}]"#,
        ));
        agrees(&rules(
            r#"[{"allow": true, "access": "rwm"},
                {"allow": false, "type": "b", "access": "m"},
                {"allow": false, "type": "c", "major": 1, "access": "w"}]"#,
        ));
    }

    #[test]
    fn refuses_numbers_out_of_range() {
        let r = rules(r#"[{"allow": true, "type": "c", "major": 4294967296, "access": "r"}]"#);
        assert!(program(&r).is_err());
    }

    /// Attaches programs to this host's cgroup2 directory of a test cgroup (the kernel
    /// runs cgroup2 device programs beside the v1 devices controller) and checks what a
    /// member may open, including after a replacing update.
    #[test]
    fn attached_program_decides_opens() {
        use super::super::test_support::{null_but_not_zero, Member, TestCgroup};
        // The verifier takes programs of every shape.
        for set in [
            "[]",
            r#"[{"allow": true, "access": "rwm"}]"#,
            r#"[{"allow": false, "access": "rwm"}]"#,
            r#"[{"allow": true, "type": "b", "access": "m"}, {"allow": false, "type": "c", "major": 1, "access": "rw"}]"#,
        ] {
            load(&program(&rules(set)).unwrap()).unwrap();
        }
        let cg = TestCgroup::new();
        cg.mgr.create(None).unwrap();
        let dir = cg.mgr.unified_dir().unwrap();
        let only_null = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}]"#,
        );
        apply(dir, &only_null).unwrap();
        assert_eq!(Member::run(&cg.mgr, null_but_not_zero).exit_code(), 0);
        let all = rules(r#"[{"allow": true, "access": "rwm"}]"#);
        apply(dir, &all).unwrap();
        let cgroup: OwnedFd = std::fs::File::open(dir).unwrap().into();
        assert_eq!(
            attached(&cgroup).unwrap().len(),
            1,
            "the old program is detached"
        );
        assert_eq!(Member::run(&cg.mgr, null_but_not_zero).exit_code(), 1);
    }
}
