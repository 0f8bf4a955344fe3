//! criterion: compile Docker's default profile with berth-seccomp, load it from the on-disk
//! cache, and (when libseccomp.so.2 is installed) let libseccomp compile the same profile
//! in the same run. `cargo bench -p berth-seccomp`.

use berth_seccomp::{compile, default_profile, load_or_compile, Arch};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

#[path = "../tests/support/libseccomp.rs"]
mod libseccomp;

fn bench(c: &mut Criterion) {
    let profile = default_profile(&["CAP_CHOWN".to_string()]);
    c.bench_function("berth compile default profile", |b| {
        b.iter(|| compile(black_box(&profile)))
    });

    let dir = std::env::temp_dir().join(format!("berth-seccomp-bench-{}", std::process::id()));
    if load_or_compile(&profile, &dir).is_ok() {
        c.bench_function("berth load default profile from cache", |b| {
            b.iter(|| load_or_compile(black_box(&profile), &dir))
        });
    }
    let _ = std::fs::remove_dir_all(&dir);

    if let Some(lib) = libseccomp::load() {
        let archs = [Arch::X86_64, Arch::X86, Arch::X32];
        c.bench_function("libseccomp compile default profile", |b| {
            b.iter(|| libseccomp::libseccomp_bpf(&lib, black_box(&profile), &archs))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
