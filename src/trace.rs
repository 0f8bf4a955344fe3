//! `berth --trace` (or `BERTH_TRACE=1`): a timing line on stderr for each phase of
//! create, start and exec, from every process of the process model (the parent, and the
//! container's init or exec'd process, which is a clone of it and keeps its clock).
//!
//! ```text
//! berth trace [create] parsed            0.312 ms  (+0.312)
//! berth trace [init]   init-mounted      1.904 ms  (+0.611)
//! ```
//! Off by default: a phase mark then costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// (start of the command, last mark, who is speaking)
static CLOCK: Mutex<Option<(Instant, Instant, &'static str)>> = Mutex::new(None);

/// Turns tracing on for `command` ("create", "start", "exec", …), starting its clock now.
pub fn enable(command: &'static str) {
    let now = Instant::now();
    if let Ok(mut c) = CLOCK.lock() {
        *c = Some((now, now, command));
    }
    ENABLED.store(true, Ordering::Relaxed);
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
    fn marks_are_silent_until_enabled() {
        assert!(!enabled() || CLOCK.lock().unwrap().is_some());
        mark("nothing");
    }
}
