//! Static checks on a compiled classic-BPF seccomp program, and a reference interpreter
//! used by tests to evaluate a program against a `seccomp_data` without the kernel.

use crate::asm::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, LD_W_ABS, RET_K};
use crate::error::{Result, SeccompError};
use seccompiler::sock_filter;

/// Kernel limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// Size of `struct seccomp_data`.
const SECCOMP_DATA_LEN: u32 = 64;

/// Checks what the kernel's seccomp checker checks for the instructions we emit: known
/// opcodes, aligned in-bounds loads, jumps inside the program, a final `ret`, and length.
pub fn verify(prog: &[sock_filter]) -> Result<()> {
    let bad = |pc: usize, what: &str| SeccompError::BadProgram(format!("insn {pc}: {what}"));
    if prog.is_empty() {
        return Err(SeccompError::BadProgram("empty program".into()));
    }
    if prog.len() > MAX_INSNS {
        return Err(SeccompError::ProgramTooLong(prog.len()));
    }
    for (pc, f) in prog.iter().enumerate() {
        let remaining = prog.len() - pc - 1;
        match f.code {
            LD_W_ABS => {
                if f.k % 4 != 0 || f.k >= SECCOMP_DATA_LEN {
                    return Err(bad(pc, "load outside seccomp_data"));
                }
            }
            ALU_AND_K | RET_K => {}
            JMP_JA => {
                if f.k as usize >= remaining {
                    return Err(bad(pc, "ja out of range"));
                }
            }
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                if f.jt as usize >= remaining || f.jf as usize >= remaining {
                    return Err(bad(pc, "conditional jump out of range"));
                }
            }
            _ => return Err(bad(pc, "unsupported opcode")),
        }
    }
    if prog[prog.len() - 1].code != RET_K {
        return Err(bad(prog.len() - 1, "program does not end in ret"));
    }
    Ok(())
}

/// Evaluates a verified program for a syscall `nr` on audit architecture `arch` with `args`,
/// returning the SECCOMP_RET_* value (the instruction pointer field reads as 0).
pub fn run(prog: &[sock_filter], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            0 => nr,
            4 => arch,
            8 | 12 => 0,
            o => {
                let i = ((o - 16) / 8) as usize;
                let v = args[i];
                if (o - 16) % 8 == 0 {
                    v as u32
                } else {
                    (v >> 32) as u32
                }
            }
        }
    };
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while let Some(f) = prog.get(pc) {
        pc += 1;
        match f.code {
            LD_W_ABS => a = word(f.k),
            ALU_AND_K => a &= f.k,
            RET_K => return f.k,
            JMP_JA => pc += f.k as usize,
            code => {
                let taken = match code {
                    JMP_JEQ_K => a == f.k,
                    JMP_JGT_K => a > f.k,
                    _ => a >= f.k,
                };
                pc += if taken { f.jt } else { f.jf } as usize;
            }
        }
    }
    // Unreachable for verified programs; the kernel would reject them.
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
        sock_filter { code, jt, jf, k }
    }

    #[test]
    fn rejects_out_of_range_jump_and_bad_load() {
        assert!(verify(&[f(JMP_JEQ_K, 3, 0, 1), f(RET_K, 0, 0, 0)]).is_err());
        assert!(verify(&[f(LD_W_ABS, 0, 0, 64), f(RET_K, 0, 0, 0)]).is_err());
        assert!(verify(&[f(LD_W_ABS, 0, 0, 2), f(RET_K, 0, 0, 0)]).is_err());
        assert!(verify(&[f(LD_W_ABS, 0, 0, 0)]).is_err());
        assert!(verify(&[]).is_err());
        assert!(verify(&[f(LD_W_ABS, 0, 0, 0), f(RET_K, 0, 0, 0)]).is_ok());
    }

    #[test]
    fn interpreter_reads_arg_halves() {
        let prog = [
            f(LD_W_ABS, 0, 0, 20), // args[0] high
            f(JMP_JEQ_K, 0, 1, 0xdead),
            f(RET_K, 0, 0, 1),
            f(RET_K, 0, 0, 2),
        ];
        assert_eq!(run(&prog, 0, 0, &[0xdead_0000_0000, 0, 0, 0, 0, 0]), 1);
        assert_eq!(run(&prog, 0, 0, &[0xdead, 0, 0, 0, 0, 0]), 2);
    }
}
