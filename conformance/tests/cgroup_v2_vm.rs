//! berth on a pure cgroup v2 host, in a VM (issue #3, "Test v2 for real, in a VM").
//!
//! This host's controllers sit on cgroup v1, so the v2 checks run inside QEMU (TCG; KVM
//! fails here) booting Debian's 6.1 cloud kernel with an initramfs holding busybox, a
//! statically linked berth and berth-check, and conformance/vm/scenario.sh. The scenario
//! prints `PASS name` / `FAIL name: why` / `SKIP name: why` lines on the serial console
//! between markers; every FAIL (and every missing required check) fails the test.
//!
//! Steps (scripts in conformance/vm/): fetch.sh installs qemu-system-x86 and cpio with
//! apt and unpacks the kernel into $HOME/.cache/berth-vm; this test builds the static
//! berth and berth-check with cargo (a no-op when fresh; `BERTH_VM_BERTH` and
//! `BERTH_VM_CHECK` name prebuilt ones instead); mkinitrd.sh packs the initramfs;
//! boot.sh runs QEMU with a timeout. The test is skipped, saying why, only when qemu or
//! the kernel cannot be installed. It always tests the workspace's berth, whatever
//! `RUNTIME` says, because the VM needs a static build.

use berth_conformance::locate;
use berth_conformance::tempdir::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BEGIN_MARK: &str = "==== berth-vm results begin ====";
const END_MARK: &str = "==== berth-vm results end ====";

/// Seconds the VM may run before boot.sh kills it (a run takes 30-70 s on 2 busy cores).
const VM_TIMEOUT_SECS: u32 = 240;

/// Checks that must report PASS (or SKIP) for the run to count as complete.
const REQUIRED: &[&str] = &[
    "layout-pure-v2",
    "res-create",
    "res-init-in-cgroup",
    "res-memory.max",
    "res-memory.low",
    "res-cpu.weight",
    "res-cpu.max",
    "res-cpuset.cpus",
    "res-pids.max",
    "res-cgroupns-root",
    "pids-limit-hit",
    "pids-init-survives",
    "kill-all-term-reaches-children",
    "kill-all-empties-cgroup",
    "pids-delete-removes-cgroup",
    "oom-kill-counted",
    "devices-denied",
    "devices-allowed",
    "res-delete-removes-cgroup",
    "exec-cgroup-v2-sub",
    "exec-cgroup-v2-escape-refused",
    "exec-cgroup-v2-missing-named",
    "nothing-left-in-cgroup",
    "nothing-left-in-root",
];

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Debug, PartialEq, Eq)]
struct CheckLine {
    name: String,
    verdict: Verdict,
}

/// What the serial log says: the check lines, the INFO lines, and whether the end marker
/// was seen (no end marker: the VM died or timed out mid-scenario).
#[derive(Debug, Default)]
struct Results {
    checks: Vec<CheckLine>,
    info: Vec<String>,
    complete: bool,
}

fn parse_serial(log: &str) -> Results {
    let mut results = Results::default();
    let mut inside = false;
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r').trim();
        if line.ends_with(BEGIN_MARK) {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line == END_MARK {
            results.complete = true;
            break;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (name, why) = match rest.split_once(": ") {
            Some((n, w)) => (n.to_string(), w.to_string()),
            None => (rest.to_string(), String::new()),
        };
        let verdict = match word {
            "PASS" => Verdict::Pass,
            "FAIL" => Verdict::Fail(why),
            "SKIP" => Verdict::Skip(why),
            "INFO" => {
                results.info.push(rest.to_string());
                continue;
            }
            _ => continue,
        };
        results.checks.push(CheckLine { name, verdict });
    }
    results
}

/// Problems to fail the test with: FAIL lines, required checks missing, no end marker.
fn problems(results: &Results) -> Vec<String> {
    let mut out: Vec<String> = results
        .checks
        .iter()
        .filter_map(|c| match &c.verdict {
            Verdict::Fail(why) => Some(format!("FAIL {}: {why}", c.name)),
            _ => None,
        })
        .collect();
    for name in REQUIRED {
        if !results.checks.iter().any(|c| c.name == *name) {
            out.push(format!("MISSING {name}: the scenario never reported it"));
        }
    }
    if !results.complete {
        out.push("INCOMPLETE: no end marker on the serial console (VM died or timed out)".into());
    }
    out
}

fn vm_dir() -> PathBuf {
    locate::workspace_dir().join("conformance").join("vm")
}

/// Runs fetch.sh; the kernel's path, or why qemu/the kernel cannot be had.
fn fetch() -> Result<PathBuf, String> {
    let out = Command::new(vm_dir().join("fetch.sh"))
        .output()
        .map_err(|e| format!("cannot run conformance/vm/fetch.sh: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let reason: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("fetch.sh:"))
            .collect();
        return Err(if reason.is_empty() {
            format!("fetch.sh exited with {}: {stderr}", out.status)
        } else {
            reason.join("; ")
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kernel = stdout.lines().last().unwrap_or_default().trim().to_string();
    if kernel.is_empty() || !Path::new(&kernel).is_file() {
        return Err(format!("fetch.sh printed no kernel path: {stdout}"));
    }
    Ok(PathBuf::from(kernel))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| locate::workspace_dir().join("target"))
}

/// The static berth and berth-check: from BERTH_VM_BERTH / BERTH_VM_CHECK, else built now.
fn static_binaries() -> (PathBuf, PathBuf) {
    if let (Some(b), Some(c)) = (
        std::env::var_os("BERTH_VM_BERTH"),
        std::env::var_os("BERTH_VM_CHECK"),
    ) {
        return (PathBuf::from(b), PathBuf::from(c));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(locate::workspace_dir())
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args([
            "build",
            "-p",
            "berth",
            "-p",
            "berth-conformance",
            "--bin",
            "berth",
            "--bin",
            "berth-check",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .status()
        .expect("run cargo to build the static berth and berth-check");
    assert!(
        status.success(),
        "building the static berth and berth-check failed ({status}); command: \
         RUSTFLAGS='-C target-feature=+crt-static' cargo build -p berth -p berth-conformance \
         --bin berth --bin berth-check --target x86_64-unknown-linux-gnu"
    );
    let dir = target_dir().join("x86_64-unknown-linux-gnu").join("debug");
    (dir.join("berth"), dir.join("berth-check"))
}

fn run_script(script: &str, args: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(vm_dir().join(script));
    cmd.args(args).args(extra);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run conformance/vm/{script}: {e}"))
}

#[test]
fn cgroup_v2_vm_scenario() {
    let kernel = match fetch() {
        Ok(k) => k,
        Err(why) => {
            eprintln!("skipped: cgroup v2 VM suite: qemu or the kernel cannot be installed: {why}");
            return;
        }
    };
    let (berth, check) = static_binaries();
    let dir = TempDir::new("cgroup_v2_vm");
    let initrd = dir.path().join("initrd");
    let log = dir.path().join("serial.log");

    let out = run_script("mkinitrd.sh", &[&initrd, &berth, &check], &[]);
    assert!(
        out.status.success(),
        "mkinitrd.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let started = Instant::now();
    let timeout = VM_TIMEOUT_SECS.to_string();
    let out = run_script("boot.sh", &[&kernel, &initrd, &log], &[&timeout]);
    let elapsed = started.elapsed();
    let serial = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("VM ran {:.1}s, exit {}", elapsed.as_secs_f64(), out.status);

    let results = parse_serial(&serial);
    for info in &results.info {
        eprintln!("INFO {info}");
    }
    for c in &results.checks {
        match &c.verdict {
            Verdict::Pass => eprintln!("PASS {}", c.name),
            Verdict::Fail(why) => eprintln!("FAIL {}: {why}", c.name),
            Verdict::Skip(why) => eprintln!("SKIP {}: {why}", c.name),
        }
    }
    let problems = problems(&results);
    assert!(
        problems.is_empty(),
        "cgroup v2 VM suite: {} problem(s):\n  {}\nqemu: {} {}\nserial console:\n{serial}",
        problems.len(),
        problems.join("\n  "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
    );
}

#[test]
fn parse_serial_reads_verdicts_between_markers_only() {
    let log = "SeaBIOS\r\nPASS before-marker\r\n\x1b[2J==== berth-vm results begin ====\r\n\
               INFO kernel 6.1\r\nPASS a\r\nFAIL b: memory.max is '1', want '2'\r\n\
               SKIP c: no file\r\nnoise line\r\n==== berth-vm results end ====\r\nFAIL after\r\n";
    let r = parse_serial(log);
    assert!(r.complete);
    assert_eq!(r.info, vec!["kernel 6.1".to_string()]);
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        r.checks[1].verdict,
        Verdict::Fail("memory.max is '1', want '2'".into())
    );
    assert_eq!(r.checks[2].verdict, Verdict::Skip("no file".into()));
}

#[test]
fn problems_lists_fails_missing_checks_and_a_cut_off_run() {
    let log = format!("{BEGIN_MARK}\nPASS layout-pure-v2\nFAIL res-create: boom\n");
    let p = problems(&parse_serial(&log));
    assert!(p.iter().any(|l| l == "FAIL res-create: boom"), "{p:?}");
    assert!(
        p.iter().any(|l| l.starts_with("MISSING res-memory.max")),
        "{p:?}"
    );
    assert!(
        !p.iter().any(|l| l.starts_with("MISSING layout-pure-v2")),
        "{p:?}"
    );
    assert!(p.iter().any(|l| l.starts_with("INCOMPLETE")), "{p:?}");
}
