//! Property test on profile → BPF: for many random profiles, compilation never panics,
//! either fails with a field error or yields a program the verifier accepts, and the program
//! (run in the BPF interpreter) agrees with a direct evaluation of the profile's meaning.

use berth_seccomp::{compile, Arch, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAMES: &[&str] = &[
    "read",
    "write",
    "openat",
    "uname",
    "mkdir",
    "clone",
    "clone3",
    "socketcall",
    "socket",
    "personality",
    "getpid",
    "mseal",
    "exit_group",
    "arch_prctl",
    "chown32",
    "renameat",
    "no_such_call",
    "ioctl",
    "futex",
    "set_tls",
];
const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const OPS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const VALUES: &[u64] = &[
    0,
    1,
    2,
    0xff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0002,
    u64::MAX,
];
const ARCHS: &[(&str, Arch)] = &[
    ("SCMP_ARCH_X86_64", Arch::X86_64),
    ("SCMP_ARCH_X86", Arch::X86),
    ("SCMP_ARCH_X32", Arch::X32),
    ("SCMP_ARCH_AARCH64", Arch::Aarch64),
];

fn random_profile(r: &mut Rng) -> Value {
    let default = *r.pick(&ACTIONS[..8]);
    let mut archs: Vec<&str> = ARCHS
        .iter()
        .filter(|_| r.below(2) == 0)
        .map(|(n, _)| *n)
        .collect();
    if archs.is_empty() {
        archs.push("SCMP_ARCH_X86_64");
    }
    let mut syscalls = Vec::new();
    for _ in 0..r.below(12) {
        let names: Vec<&str> = (0..1 + r.below(4)).map(|_| *r.pick(NAMES)).collect();
        let action = *r.pick(ACTIONS);
        let mut args = Vec::new();
        for _ in 0..r.below(3) {
            args.push(json!({"index": r.below(3), "value": *r.pick(VALUES),
                "valueTwo": *r.pick(VALUES), "op": *r.pick(OPS)}));
        }
        let mut e = json!({"names": names, "action": action, "args": args});
        if (action == "SCMP_ACT_ERRNO" || action == "SCMP_ACT_TRACE") && r.below(2) == 0 {
            e["errnoRet"] = json!(r.below(200));
        }
        syscalls.push(e);
    }
    let mut p = json!({"defaultAction": default, "architectures": archs,
        "listenerPath": "/run/agent.sock", "syscalls": syscalls});
    if default == "SCMP_ACT_ERRNO" && r.below(2) == 0 {
        p["defaultErrnoRet"] = json!(*r.pick(&[1u64, 38, 13]));
    }
    p
}

fn ret(action: &str, errno: Option<u64>) -> u32 {
    let e = errno.unwrap_or(1) as u32;
    match action {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0,
        "SCMP_ACT_KILL_PROCESS" => 0x8000_0000,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_ERRNO" => 0x0005_0000 | e,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | e,
        "SCMP_ACT_LOG" => 0x7ffc_0000,
        "SCMP_ACT_NOTIFY" => 0x7fc0_0000,
        _ => 0x7fff_0000,
    }
}

fn cond_holds(c: &Value, args: &[u64; 6]) -> bool {
    let a = args[c["index"].as_u64().unwrap() as usize];
    let v = c["value"].as_u64().unwrap();
    let v2 = c["valueTwo"].as_u64().unwrap();
    match c["op"].as_str().unwrap() {
        "SCMP_CMP_NE" => a != v,
        "SCMP_CMP_LT" => a < v,
        "SCMP_CMP_LE" => a <= v,
        "SCMP_CMP_EQ" => a == v,
        "SCMP_CMP_GE" => a >= v,
        "SCMP_CMP_GT" => a > v,
        _ => a & v == v2 & v,
    }
}

/// The profile's meaning, evaluated directly.
fn reference(p: &Value, audit_arch: Arch, nr: u32, args: &[u64; 6]) -> u32 {
    let mut listed: Vec<Arch> = p["architectures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ARCHS.iter().find(|(n, _)| a == n).unwrap().1)
        .collect();
    listed.extend(Arch::native()); // always filtered, as with runc
    let arch = match audit_arch {
        Arch::X86_64 | Arch::X32 if nr == u32::MAX && !listed.contains(&Arch::X32) => Arch::X86_64,
        Arch::X86_64 | Arch::X32 if nr >= 0x4000_0000 => Arch::X32,
        Arch::X86_64 | Arch::X32 => Arch::X86_64,
        a => a,
    };
    if !listed.contains(&arch) {
        return 0; // KILL_THREAD
    }
    let default = ret(
        p["defaultAction"].as_str().unwrap(),
        p["defaultErrnoRet"].as_u64(),
    );
    let entries = p["syscalls"].as_array().unwrap();
    let mut max_named = None;
    let mut conditional = None;
    let mut unconditional = None;
    for e in entries {
        let names = e["names"].as_array().unwrap();
        let nrs: Vec<u32> = names
            .iter()
            .filter_map(|n| arch.syscall_nr(n.as_str().unwrap()))
            .collect();
        max_named = nrs.iter().copied().chain(max_named).max();
        if !nrs.contains(&nr) {
            continue;
        }
        let action = ret(e["action"].as_str().unwrap(), e["errnoRet"].as_u64());
        let conds = e["args"].as_array().unwrap();
        let mut idx: Vec<u64> = conds.iter().map(|c| c["index"].as_u64().unwrap()).collect();
        idx.sort_unstable();
        let repeated = idx.windows(2).any(|w| w[0] == w[1]);
        let hit = if conds.is_empty() {
            if unconditional.is_none() {
                unconditional = Some(action);
            }
            false
        } else if repeated {
            conds.iter().any(|c| cond_holds(c, args))
        } else {
            conds.iter().all(|c| cond_holds(c, args))
        };
        if hit && conditional.is_none() {
            conditional = Some(action);
        }
    }
    if let Some(a) = conditional.or(unconditional) {
        return a;
    }
    let permissive = default == 0x7fff_0000 || default == 0x7ffc_0000 || default == 0x0005_0026;
    match max_named {
        Some(m) if !permissive && nr > m => 0x0005_0026,
        _ => default,
    }
}

#[test]
fn random_profiles_compile_verify_and_mean_what_they_say() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut compiled, mut rejected) = (0, 0);
    for _ in 0..400 {
        let pj = random_profile(&mut r);
        let profile: LinuxSeccomp = serde_json::from_value(pj.clone()).unwrap();
        let program = match compile(&profile) {
            Ok(p) => p,
            Err(SeccompError::InvalidField { field, .. }) => {
                assert!(field.starts_with("linux.seccomp"), "{field}");
                rejected += 1;
                continue;
            }
            Err(e) => panic!("unexpected error {e} for {pj}"),
        };
        compiled += 1;
        assert!(program.len() <= berth_seccomp::MAX_INSNS);
        for _ in 0..150 {
            let (_, arch) = *r.pick(ARCHS);
            let nr = match r.below(4) {
                3 => u32::MAX,
                0 => {
                    let name: &str = NAMES[r.below(NAMES.len() as u64) as usize];
                    arch.syscall_nr(name).unwrap_or(0)
                }
                1 => r.below(600) as u32 | (arch.syscall_nr("read").unwrap_or(0) & 0x4000_0000),
                _ => r.next() as u32,
            };
            let args = [*r.pick(VALUES), *r.pick(VALUES), *r.pick(VALUES), 0, 0, 0];
            let got = program.evaluate(arch, nr, args);
            let want = reference(&pj, arch, nr, &args);
            assert_eq!(got, want, "arch {arch:?} nr {nr:#x} args {args:x?}\n{pj}");
        }
    }
    assert!(
        compiled > 100 && rejected > 0,
        "{compiled} compiled, {rejected} rejected"
    );
}
