//! Human-readable listing of a compiled program (`format!("{program}")`), for debugging
//! profiles and for `berth` diagnostics.

use crate::asm::{ALU_AND_K, JMP_JA, JMP_JEQ_K, JMP_JGE_K, JMP_JGT_K, LD_W_ABS, RET_K};
use crate::program::Program;
use std::fmt;

fn field(off: u32) -> String {
    match off {
        0 => "nr".into(),
        4 => "arch".into(),
        8 => "ip_lo".into(),
        12 => "ip_hi".into(),
        o => {
            let i = (o - 16) / 8;
            let half = if (o - 16) % 8 == 0 { "lo" } else { "hi" };
            format!("args[{i}].{half}")
        }
    }
}

/// Names a SECCOMP_RET_* value.
pub(crate) fn action_name(k: u32) -> String {
    let data = k & 0xffff;
    match k & 0xffff_0000 {
        0x8000_0000 => "KILL_PROCESS".into(),
        0x0000_0000 => "KILL_THREAD".into(),
        0x0003_0000 => format!("TRAP({data})"),
        0x0005_0000 => format!("ERRNO({data})"),
        0x7fc0_0000 => "USER_NOTIF".into(),
        0x7ff0_0000 => format!("TRACE({data})"),
        0x7ffc_0000 => "LOG".into(),
        0x7fff_0000 => "ALLOW".into(),
        _ => format!("{k:#010x}"),
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (pc, i) in self.insns.iter().enumerate() {
            let target = |off: u8| pc + 1 + usize::from(off);
            let cmp = |op: &str| format!("{op} #{:#x}", i.k);
            let text = match i.code {
                LD_W_ABS => format!("ld  {}", field(i.k)),
                ALU_AND_K => format!("and #{:#x}", i.k),
                RET_K => format!("ret {}", action_name(i.k)),
                JMP_JA => format!("ja  {}", pc + 1 + i.k as usize),
                JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                    let op = match i.code {
                        JMP_JEQ_K => "jeq",
                        JMP_JGT_K => "jgt",
                        _ => "jge",
                    };
                    format!("{} ? {} : {}", cmp(op), target(i.jt), target(i.jf))
                }
                code => format!("op {code:#x} k {:#x}", i.k),
            };
            writeln!(f, "{pc:04}: {text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::program::compile;

    #[test]
    fn listing_names_fields_and_actions() {
        let p: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                "args": [{"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}]
        }))
        .unwrap();
        let text = compile(&p).unwrap().to_string();
        assert!(text.starts_with("0000: ld  arch\n"), "{text}");
        assert!(text.contains("ld  args[1].hi"), "{text}");
        assert!(text.contains("ret ERRNO(5)"), "{text}");
        assert!(text.contains("ret KILL_THREAD"), "{text}");
        assert_eq!(text.lines().count(), compile(&p).unwrap().len());
    }
}
