//! Per-architecture syscall name → number tables (generated, see `tools/gen_syscall_tables.py`).

mod aarch64;
mod x32;
mod x86;
mod x86_64;

/// Which generated table to consult.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    X86_64,
    X86,
    /// x32 numbers without `__X32_SYSCALL_BIT`.
    X32,
    Aarch64,
}

impl Table {
    fn rows(self) -> &'static [(&'static str, u32)] {
        match self {
            Table::X86_64 => x86_64::SYSCALLS,
            Table::X86 => x86::SYSCALLS,
            Table::X32 => x32::SYSCALLS,
            Table::Aarch64 => aarch64::SYSCALLS,
        }
    }

    fn index(self) -> &'static [u16] {
        match self {
            Table::X86_64 => &x86_64::INDEX,
            Table::X86 => &x86::INDEX,
            Table::X32 => &x32::INDEX,
            Table::Aarch64 => &aarch64::INDEX,
        }
    }

    /// Number of `name` in this table, if the architecture has it. One hash and usually one
    /// string comparison (the generated index is at most half full, so probing ends).
    pub(crate) fn lookup(self, name: &str) -> Option<u32> {
        let (rows, index) = (self.rows(), self.index());
        let mask = index.len() - 1;
        let mut slot = (fnv1a(name.as_bytes()) as usize) & mask;
        for _ in 0..index.len() {
            let (n, nr) = rows.get(usize::from(index[slot]).checked_sub(1)?)?;
            if *n == name {
                return Some(*nr);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// Every table, for "is this name known anywhere" checks.
    pub(crate) const ALL: [Table; 4] = [Table::X86_64, Table::X86, Table::X32, Table::Aarch64];
}

/// Syscalls that exist only on architectures without a table here (arm, ppc, s390, riscv,
/// mips, ...), sorted. Profiles written for every architecture name them; they are skipped
/// like any name unknown on a filtered architecture instead of failing the profile.
pub(crate) static OTHER_ARCH_ONLY: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cachectl",
    "cacheflush",
    "multiplexer",
    "recv",
    "riscv_flush_icache",
    "riscv_hwprobe",
    "rtas",
    "s390_guarded_storage",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "s390_sthyi",
    "send",
    "set_tls",
    "spu_create",
    "spu_run",
    "subpage_prot",
    "swapcontext",
    "switch_endian",
    "sync_file_range2",
    "sys_debug_setcontext",
    "sysmips",
    "usr26",
    "usr32",
];

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a, as used by `tools/gen_syscall_tables.py` to build the indexes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

const fn fnv_rows(rows: &[(&str, u32)], mut h: u64) -> u64 {
    let mut i = 0;
    while i < rows.len() {
        let name = rows[i].0.as_bytes();
        let mut j = 0;
        while j < name.len() {
            h ^= name[j] as u64;
            h = h.wrapping_mul(FNV_PRIME);
            j += 1;
        }
        h ^= rows[i].1 as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// Hash of every table, computed at build time: part of the cache key, so regenerated
/// tables invalidate cached programs even without a version bump.
pub(crate) const FINGERPRINT: u64 = fnv_rows(
    aarch64::SYSCALLS,
    fnv_rows(
        x32::SYSCALLS,
        fnv_rows(x86::SYSCALLS, fnv_rows(x86_64::SYSCALLS, FNV_OFFSET)),
    ),
);

/// Name of x86-64 syscall `nr` (tests only: reverse lookups are a linear scan).
#[cfg(test)]
pub(crate) fn x86_64_name(nr: u32) -> Option<&'static str> {
    x86_64::SYSCALLS
        .iter()
        .find(|(_, n)| *n == nr)
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for t in Table::ALL {
            let rows = t.rows();
            assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{t:?} not sorted");
        }
        assert!(OTHER_ARCH_ONLY.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn index_finds_every_row_and_nothing_else() {
        for t in Table::ALL {
            for (name, nr) in t.rows() {
                assert_eq!(t.lookup(name), Some(*nr), "{t:?} {name}");
            }
            for missing in [
                "",
                "x",
                "readx",
                "rea",
                "READ",
                "open_by_handle_atx",
                "sys_read",
            ] {
                assert_eq!(t.lookup(missing), None, "{t:?} {missing}");
            }
        }
    }

    #[test]
    fn well_known_numbers() {
        assert_eq!(Table::X86_64.lookup("read"), Some(0));
        assert_eq!(Table::X86_64.lookup("uname"), Some(63));
        assert_eq!(Table::X86_64.lookup("clone3"), Some(435));
        assert_eq!(Table::X86_64.lookup("mseal"), Some(462));
        assert_eq!(Table::X86.lookup("uname"), Some(122));
        assert_eq!(Table::X32.lookup("read"), Some(0));
        assert_eq!(Table::Aarch64.lookup("openat"), Some(56));
        assert_eq!(Table::Aarch64.lookup("open"), None);
        assert_eq!(Table::X86_64.lookup("no_such_syscall"), None);
    }
}
