//! Prints how long compiling Docker's default profile takes versus loading it from the
//! on-disk cache: `cargo run --release -p berth-seccomp --example cache_timing [-- --dump]`
//! (`--dump` also prints the program listing).

use berth_seccomp::{compile, default_profile, load_or_compile, SeccompError};
use std::time::{Duration, Instant};

fn time<T>(
    runs: u32,
    mut f: impl FnMut() -> Result<T, SeccompError>,
) -> Result<Duration, SeccompError> {
    let start = Instant::now();
    for _ in 0..runs {
        f()?;
    }
    Ok(start.elapsed() / runs)
}

fn main() -> Result<(), SeccompError> {
    let profile = default_profile(&["CAP_CHOWN".to_string(), "CAP_NET_BIND_SERVICE".to_string()]);
    let dir = std::env::temp_dir().join(format!("berth-seccomp-timing-{}", std::process::id()));
    let program = compile(&profile)?;
    let runs = 200;
    let compile_t = time(runs, || compile(&profile))?;
    load_or_compile(&profile, &dir)?; // populate
    let load_t = time(runs, || load_or_compile(&profile, &dir))?;
    let _ = std::fs::remove_dir_all(&dir);
    if std::env::args().any(|a| a == "--dump") {
        print!("{program}");
    }
    println!("default profile: {} BPF instructions", program.len());
    println!("compile:     {:>8.1} µs", compile_t.as_secs_f64() * 1e6);
    println!("cache load:  {:>8.1} µs", load_t.as_secs_f64() * 1e6);
    Ok(())
}
