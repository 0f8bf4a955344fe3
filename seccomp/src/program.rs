//! [`Program`]: a compiled, verified filter plus the seccomp(2) flags it must be loaded with.

use crate::arch::Arch;
use crate::error::Result;
use crate::plan::{plan, FLAG_NEW_LISTENER};
use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;
use std::os::fd::OwnedFd;

/// A compiled seccomp filter ready to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub(crate) insns: Vec<sock_filter>,
    pub(crate) flags: u32,
}

/// Validates `profile` and compiles it to BPF for its architectures (the native one when
/// `architectures` is empty).
pub fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    let plan = plan(profile)?;
    let insns = crate::compile::compile_plan(&plan)?;
    Ok(Program {
        insns,
        flags: plan.flags,
    })
}

impl Program {
    /// The BPF instructions.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.insns
    }

    /// seccomp(2) flags (`FLAG_*`), including NEW_LISTENER when a rule notifies.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether installing returns a notify listener to send to `listenerPath`.
    pub fn needs_listener(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always false for a compiled program (it ends in at least one `ret`).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// What the filter returns (a `SECCOMP_RET_*` value) for syscall `nr` on `arch` with
    /// `args`, computed by an interpreter: useful for dry runs and tests.
    pub fn evaluate(&self, arch: Arch, nr: u32, args: [u64; 6]) -> u32 {
        crate::verify::run(&self.insns, nr, arch.audit_arch(), &args)
    }

    /// Like [`Program::evaluate`] with the syscall given by name (`None` if unknown on `arch`).
    pub fn evaluate_name(&self, arch: Arch, name: &str, args: [u64; 6]) -> Option<u32> {
        arch.syscall_nr(name)
            .map(|nr| self.evaluate(arch, nr, args))
    }

    /// Installs the filter on the calling thread with its flags; see [`crate::install_filter`].
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        crate::install::install_filter(&self.insns, self.flags)
    }
}
