//! A tiny classic-BPF assembler with symbolic labels.
//!
//! The compiler emits [`Insn`]s whose jumps name [`Label`]s; [`assemble`] lays them out and
//! resolves offsets. Conditional jumps only reach 255 instructions ahead, so any branch that
//! lands further away is routed through an inserted `ja` trampoline (whose offset is 32-bit).
//! The trampoline goes right after the conditional jump, a spot nothing falls through to,
//! because a conditional jump always jumps. All jumps are forward by construction.

use crate::error::{Result, SeccompError};
use seccompiler::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`.
pub(crate) const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`.
pub(crate) const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`.
pub(crate) const JMP_JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JMP_JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub(crate) const JMP_JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub(crate) const JMP_JGE_K: u16 = 0x35;
/// `BPF_RET | BPF_K`.
pub(crate) const RET_K: u16 = 0x06;

/// A jump target, allocated with [`Asm::label`] and placed with [`Asm::mark`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Label(usize);

/// Conditional jump comparisons against the accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug)]
enum Insn {
    /// Load 32-bit word at `seccomp_data` offset.
    Ld(u32),
    /// `A &= k`.
    And(u32),
    /// `if A <cmp> k goto jt else goto jf`.
    Jmp {
        cmp: Cmp,
        k: u32,
        jt: Label,
        jf: Label,
    },
    /// Unconditional jump.
    Ja(Label),
    /// Return the action.
    Ret(u32),
    /// Position of a label (emits nothing).
    Mark(Label),
}

/// Instruction buffer being built.
#[derive(Default)]
pub(crate) struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    pub(crate) fn mark(&mut self, l: Label) {
        self.insns.push(Insn::Mark(l));
    }
    pub(crate) fn ld(&mut self, offset: u32) {
        self.insns.push(Insn::Ld(offset));
    }
    pub(crate) fn and(&mut self, k: u32) {
        self.insns.push(Insn::And(k));
    }
    pub(crate) fn jmp(&mut self, cmp: Cmp, k: u32, jt: Label, jf: Label) {
        self.insns.push(Insn::Jmp { cmp, k, jt, jf });
    }
    pub(crate) fn ja(&mut self, l: Label) {
        self.insns.push(Insn::Ja(l));
    }
    pub(crate) fn ret(&mut self, action: u32) {
        self.insns.push(Insn::Ret(action));
    }

    /// Resolves labels, inserting trampolines for far conditional jumps.
    pub(crate) fn assemble(mut self) -> Result<Vec<sock_filter>> {
        loop {
            let pos = self.positions()?;
            let mut far: Vec<(usize, bool, bool)> = Vec::new();
            let mut pc = 0usize;
            for (i, insn) in self.insns.iter().enumerate() {
                match insn {
                    Insn::Mark(_) => continue,
                    Insn::Jmp { jt, jf, .. } => {
                        let too_far = |l: &Label| pos[l.0] > pc + 1 + 255;
                        if too_far(jt) || too_far(jf) {
                            far.push((i, too_far(jt), too_far(jf)));
                        }
                    }
                    _ => {}
                }
                pc += 1;
            }
            if far.is_empty() {
                return self.emit(&pos);
            }
            // Insert from the back so earlier indices stay valid.
            for (i, t_far, f_far) in far.into_iter().rev() {
                let Insn::Jmp { cmp, k, jt, jf } = self.insns[i] else {
                    continue;
                };
                let mut tramp = Vec::new();
                let mut new_jt = jt;
                let mut new_jf = jf;
                if t_far {
                    new_jt = self.label();
                    tramp.push(Insn::Mark(new_jt));
                    tramp.push(Insn::Ja(jt));
                }
                if f_far {
                    new_jf = self.label();
                    tramp.push(Insn::Mark(new_jf));
                    tramp.push(Insn::Ja(jf));
                }
                self.insns[i] = Insn::Jmp {
                    cmp,
                    k,
                    jt: new_jt,
                    jf: new_jf,
                };
                self.insns.splice(i + 1..i + 1, tramp);
            }
        }
    }

    /// Instruction index each label points at.
    fn positions(&self) -> Result<Vec<usize>> {
        let mut pos = vec![usize::MAX; self.labels];
        let mut pc = 0usize;
        for insn in &self.insns {
            match insn {
                Insn::Mark(l) => pos[l.0] = pc,
                _ => pc += 1,
            }
        }
        if pos.contains(&usize::MAX) {
            return Err(SeccompError::BadProgram("label never placed".into()));
        }
        Ok(pos)
    }

    fn emit(&self, pos: &[usize]) -> Result<Vec<sock_filter>> {
        let mut out = Vec::with_capacity(self.insns.len());
        for insn in &self.insns {
            let pc = out.len();
            let rel = |l: &Label| -> Result<usize> {
                pos[l.0]
                    .checked_sub(pc + 1)
                    .ok_or_else(|| SeccompError::BadProgram("backward jump".into()))
            };
            let f = match insn {
                Insn::Mark(_) => continue,
                Insn::Ld(off) => stmt(LD_W_ABS, *off),
                Insn::And(k) => stmt(ALU_AND_K, *k),
                Insn::Ret(k) => stmt(RET_K, *k),
                Insn::Ja(l) => stmt(JMP_JA, to_u32(rel(l)?)?),
                Insn::Jmp { cmp, k, jt, jf } => sock_filter {
                    code: match cmp {
                        Cmp::Eq => JMP_JEQ_K,
                        Cmp::Gt => JMP_JGT_K,
                        Cmp::Ge => JMP_JGE_K,
                    },
                    jt: to_u8(rel(jt)?)?,
                    jf: to_u8(rel(jf)?)?,
                    k: *k,
                },
            };
            out.push(f);
        }
        Ok(out)
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn to_u8(v: usize) -> Result<u8> {
    u8::try_from(v).map_err(|_| SeccompError::BadProgram("jump offset overflow".into()))
}

fn to_u32(v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| SeccompError::BadProgram("jump offset overflow".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{run, verify};

    #[test]
    fn far_jumps_get_trampolines() {
        let mut a = Asm::default();
        let far = a.label();
        let near = a.label();
        a.ld(0);
        a.jmp(Cmp::Eq, 7, far, near);
        a.mark(near);
        for _ in 0..300 {
            a.ret(1);
        }
        a.mark(far);
        a.ret(2);
        let prog = a.assemble().unwrap();
        verify(&prog).unwrap();
        assert_eq!(prog.len(), 304); // ld, jeq, ja trampoline, 300 rets, ret 2
        assert_eq!(run(&prog, 7, 0, &[0; 6]), 2);
        assert_eq!(run(&prog, 8, 0, &[0; 6]), 1);
    }

    #[test]
    fn unplaced_label_is_an_error() {
        let mut a = Asm::default();
        let l = a.label();
        a.ja(l);
        assert!(a.assemble().is_err());
    }
}
