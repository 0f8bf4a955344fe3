//! The hot pieces of `create`, without the kernel work: config parse + validation,
//! namespace planning, the mount plan (every `mounts` entry checked and its options parsed,
//! as `rootfs::prepare` does before mounting), and the seccomp filter: compiled from the
//! Docker-equivalent default profile against loaded (and verified) from berth's cache.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const CONFIG: &str = r#"{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true},
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}"#;

fn config_load(c: &mut Criterion) {
    c.bench_function("config parse + validate", |b| {
        b.iter(|| {
            let spec = berth::config::parse(black_box(CONFIG.as_bytes())).expect("parse");
            berth::config::validate(&spec).expect("validate");
            spec
        })
    });
}

fn namespace_plan(c: &mut Criterion) {
    let spec = berth::config::parse(CONFIG.as_bytes()).expect("parse");
    c.bench_function("namespace plan", |b| {
        b.iter(|| berth::namespaces::plan(black_box(&spec)).expect("plan"))
    });
}

fn mount_plan(c: &mut Criterion) {
    let spec = berth::config::parse(CONFIG.as_bytes()).expect("parse");
    let mounts = spec.mounts().clone().unwrap_or_default();
    c.bench_function("mount plan (check + parse options)", |b| {
        b.iter(|| {
            black_box(&mounts)
                .iter()
                .map(berth::rootfs::validate::check_mount)
                .collect::<Result<Vec<_>, _>>()
                .expect("mount plan")
        })
    });
}

fn seccomp_filter(c: &mut Criterion) {
    let caps: Vec<String> = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        .map(String::from)
        .to_vec();
    let profile = berth_seccomp::default_profile(&caps);
    c.bench_function("seccomp compile (default profile)", |b| {
        b.iter(|| berth_seccomp::compile(black_box(&profile)).expect("compile"))
    });
    let dir = std::env::temp_dir().join(format!("berth-bench-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cache dir");
    berth_seccomp::load_or_compile(&profile, &dir).expect("fill the cache");
    c.bench_function("seccomp cache load (default profile)", |b| {
        b.iter(|| berth_seccomp::load_or_compile(black_box(&profile), &dir).expect("load"))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    config_load,
    namespace_plan,
    mount_plan,
    seccomp_filter
);
criterion_main!(benches);
