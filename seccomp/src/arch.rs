//! Architectures berth-seccomp can filter: their AUDIT_ARCH value as seen in
//! `seccomp_data.arch`, their syscall table, and the mapping from the OCI `SCMP_ARCH_*` names.

use crate::tables::Table;
use oci_spec::runtime::Arch as OciArch;

/// `__X32_SYSCALL_BIT`: x32 syscalls arrive under AUDIT_ARCH_X86_64 with this bit set.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// An architecture with a syscall table in this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64, 64-bit ABI.
    X86_64,
    /// i386 (32-bit x86).
    X86,
    /// x32 (ILP32 on x86-64): AUDIT_ARCH_X86_64 with `__X32_SYSCALL_BIT` set in the number.
    X32,
    /// arm64.
    Aarch64,
}

impl Arch {
    /// The architecture this crate was compiled for, if it has a table.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "x86") {
            Some(Arch::X86)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// Value of `seccomp_data.arch` for this architecture.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// Number of syscall `name` on this architecture as it appears in `seccomp_data.nr`
    /// (x32 numbers include `__X32_SYSCALL_BIT`).
    pub fn syscall_nr(self, name: &str) -> Option<u32> {
        match self {
            Arch::X86_64 => Table::X86_64.lookup(name),
            Arch::X86 => Table::X86.lookup(name),
            Arch::X32 => Table::X32.lookup(name).map(|n| n | X32_SYSCALL_BIT),
            Arch::Aarch64 => Table::Aarch64.lookup(name),
        }
    }

    /// Whether `name` is a syscall on some Linux architecture (the tables here, plus the
    /// names that only exist on architectures without one).
    pub fn known_anywhere(name: &str) -> bool {
        Table::ALL.iter().any(|t| t.lookup(name).is_some())
            || crate::tables::OTHER_ARCH_ONLY.binary_search(&name).is_ok()
    }

    /// Maps an OCI architecture; `Ok(None)` for architectures without a table here (they are
    /// left out of the filter, so their syscalls hit the bad-architecture action: fail closed).
    pub fn from_oci(arch: OciArch) -> Option<Arch> {
        match arch {
            OciArch::ScmpArchNative => Arch::native(),
            OciArch::ScmpArchX86_64 => Some(Arch::X86_64),
            OciArch::ScmpArchX86 => Some(Arch::X86),
            OciArch::ScmpArchX32 => Some(Arch::X32),
            OciArch::ScmpArchAarch64 => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// Stable small integer used in cache keys.
    pub(crate) fn id(self) -> u32 {
        match self {
            Arch::X86_64 => 1,
            Arch::X86 => 2,
            Arch::X32 => 3,
            Arch::Aarch64 => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x32_numbers_carry_the_bit() {
        assert_eq!(Arch::X32.syscall_nr("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Arch::X32.audit_arch(), Arch::X86_64.audit_arch());
    }

    #[test]
    fn oci_mapping() {
        assert_eq!(Arch::from_oci(OciArch::ScmpArchX86), Some(Arch::X86));
        assert_eq!(Arch::from_oci(OciArch::ScmpArchS390x), None);
        assert_eq!(Arch::from_oci(OciArch::ScmpArchNative), Arch::native());
    }

    #[test]
    fn known_anywhere_spans_tables() {
        assert!(Arch::known_anywhere("socketcall")); // x86 only
        assert!(Arch::known_anywhere("riscv_flush_icache")); // no table, still a syscall
        assert!(!Arch::known_anywhere("SCMP_nonsense"));
    }
}
