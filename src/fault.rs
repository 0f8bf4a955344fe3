//! Phase points of the process model: each is a `--trace` timing mark ([`crate::trace`])
//! and a fault point for the fault-injection tests (conformance/tests/faults.rs).
//!
//! `point("name")` marks a phase of `create`. Built with the `fault-injection` feature,
//! the process that reaches the point named by the environment variable `BERTH_FAULT`
//! dies there at once, as `kill -9` would kill it, so the tests can check that
//! `delete --force` cleans up after a create killed at any phase. Without the feature
//! (every normal build) a point is an empty inline function.

/// The environment variable naming the point to die at.
pub const ENV: &str = "BERTH_FAULT";

/// Dies here (SIGKILL) when `BERTH_FAULT` names this point.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    crate::trace::mark(name);
    if std::env::var_os(ENV).is_some_and(|v| v == name) {
        die();
    }
}

/// Fault points cost nothing without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(name: &str) {
    crate::trace::mark(name);
}

#[cfg(feature = "fault-injection")]
fn die() -> ! {
    // SAFETY: getpid and kill take and return plain integers.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    // The init of a new pid namespace ignores SIGKILL sent from inside it (itself
    // included): die just as abruptly without it, running no destructors or handlers.
    // SAFETY: _exit ends the process immediately; nothing of ours runs afterwards.
    unsafe { libc::_exit(128 + libc::SIGKILL) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unnamed_point_returns() {
        // BERTH_FAULT is never set to this name, so the point must return.
        super::point("no-such-point-in-any-test");
        assert_eq!(super::ENV, "BERTH_FAULT");
    }
}
