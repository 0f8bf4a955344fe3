//! `berth --trace` (or `BERTH_TRACE=1`): a timing line on stderr for each phase of
//! create, start and exec, from every process of the process model (the parent, and the
//! container's init or exec'd process, which is a clone of it and keeps its clock).
//!
//! ```text
//! berth trace [create] parsed            0.312 ms  (+0.312)
//! berth trace [init]   init-mounted      1.904 ms  (+0.611)
//! ```
//! Off by default: a phase mark then costs one relaxed atomic load.
//!
//! When berth re-executes itself from a sealed copy (`exe_seal`), the clock crosses the
//! execve in [`HANDOFF_ENV`] (start and last mark, CLOCK_MONOTONIC nanoseconds), so the
//! times still count from the first instruction of the command and the `exe-sealed` step
//! shows what the re-exec cost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// (start of the command, last mark, who is speaking)
static CLOCK: Mutex<Option<(Instant, Instant, &'static str)>> = Mutex::new(None);

/// Turns tracing on for `command` ("create", "start", "exec", …), starting its clock now.
pub fn enable(command: &'static str) {
    if ENABLED.load(Ordering::Relaxed) {
        return; // already on (berth enables it before and after parsing argv)
    }
    let now = Instant::now();
    let (mut start, mut last) = (now, now);
    if let Some(text) = std::env::var_os(HANDOFF_ENV) {
        // Single-threaded here (berth starts no threads); children must not inherit it.
        std::env::remove_var(HANDOFF_ENV);
        if let Some((t0, t1)) = text.to_str().and_then(parse_handoff) {
            let mono = monotonic_ns();
            let back = |t: u64| now.checked_sub(Duration::from_nanos(mono.saturating_sub(t)));
            start = back(t0).unwrap_or(now);
            last = back(t1).unwrap_or(now);
        }
    }
    if let Ok(mut c) = CLOCK.lock() {
        *c = Some((start, last, command));
    }
    ENABLED.store(true, Ordering::Relaxed);
}

/// The environment variable that carries the trace clock across berth's re-exec.
pub const HANDOFF_ENV: &str = "_BERTH_TRACE_CLOCK";

/// CLOCK_MONOTONIC now, in nanoseconds (the clock `Instant` reads on Linux).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

fn parse_handoff(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(',')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// When tracing: "<start>,<last mark>" in CLOCK_MONOTONIC nanoseconds, for the re-executed
/// berth to continue this clock ([`HANDOFF_ENV`]).
pub fn handoff() -> Option<String> {
    if !enabled() {
        return None;
    }
    let now = Instant::now();
    let mono = monotonic_ns();
    let c = CLOCK.lock().ok()?;
    let (start, last, _) = c.as_ref()?;
    let at = |t: &Instant| mono.saturating_sub((now - *t).as_nanos() as u64);
    Some(format!("{},{}", at(start), at(last)))
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Renames the speaker after a clone ("init", "exec").
pub fn speaker(name: &'static str) {
    if !enabled() {
        return;
    }
    if let Ok(mut c) = CLOCK.lock() {
        if let Some((_, _, who)) = c.as_mut() {
            *who = name;
        }
    }
}

/// Prints the time since the command started and since the previous mark.
pub fn mark(phase: &str) {
    if !enabled() {
        return;
    }
    let now = Instant::now();
    let Ok(mut c) = CLOCK.lock() else { return };
    let Some((start, last, who)) = c.as_mut() else {
        return;
    };
    let line = format_line(who, phase, now - *start, now - *last);
    *last = now;
    drop(c);
    eprintln!("{line}");
}

fn format_line(
    who: &str,
    phase: &str,
    total: std::time::Duration,
    step: std::time::Duration,
) -> String {
    format!(
        "berth trace [{who}] {phase:<20} {:>9.3} ms  (+{:.3})",
        total.as_secs_f64() * 1e3,
        step.as_secs_f64() * 1e3
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn line_shape() {
        let l = format_line(
            "create",
            "parsed",
            Duration::from_micros(1500),
            Duration::from_micros(250),
        );
        assert_eq!(
            l,
            "berth trace [create] parsed                   1.500 ms  (+0.250)"
        );
    }

    #[test]
    fn handoff_text_round_trips() {
        assert_eq!(parse_handoff("12,34"), Some((12, 34)));
        assert_eq!(parse_handoff("12"), None);
        assert_eq!(parse_handoff("a,1"), None);
    }

    #[test]
    fn marks_are_silent_until_enabled() {
        assert!(!enabled() || CLOCK.lock().unwrap().is_some());
        mark("nothing");
    }
}
