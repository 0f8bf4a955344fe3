//! `containerd-shim-berth-v2`: the containerd shim v2 for berth (runtime type
//! `io.containerd.berth.v2`).
//!
//! # Design
//!
//! **berth's `create` and `exec` run its CLI**, as the runc shim runs runc. Why:
//! * Crash isolation: a container create that dies (or panics, or is OOM-killed) takes
//!   only that berth process down; the shim, which may serve a whole pod, lives on.
//! * berth's `create` clones the container init from a single-threaded process; the shim
//!   is multi-threaded (ttrpc server, reaper, copy threads), and must never fork a container
//!   process from a threaded parent. `Command::spawn` is fork+exec (posix_spawn), which is
//!   safe; calling berth's library in-process would need a fork without exec.
//! * The verbs that fork nothing (start, kill, delete, pause, resume, update, ps) are called
//!   through berth's library in the shim itself (berth_lib.rs says why that is safe from
//!   threads, and which cases still go to the CLI); that saves two execs of berth per
//!   `ctr run --rm` (see README, benches/shim.sh). `Driver = "cli"` in the runtime options puts
//!   every call back on the CLI.
//!
//! **The shim is synchronous** (containerd-shim's sync mode: a thread-per-connection ttrpc
//! server, std threads, no async runtime). That keeps its RSS small: no tokio worker pool,
//! no per-task futures; a container costs a reaper entry and, only with a terminal or stdin,
//! a copy thread or two. Non-terminal stdout/stderr fifos are handed to the container
//! directly (opened O_RDWR so they never block), so the common case has no copy threads.
//!
//! **Exits**: the shim is a child subreaper; the crate's reaper thread `waitpid(-1)`s every
//! child and posts exits to subscribers. berth calls wait through a subscription taken
//! before the spawn; container exits go to the process table (table.rs), which holds an
//! exit back until the Start that owns its pid has queued TaskStart/TaskExecStarted, so
//! events always go TaskCreate → TaskStart → TaskExit → TaskDelete.
//!
//! **Handshakes**: `start` (start.rs) speaks the legacy protocol (flags + env; bare
//! address reply, which containerd 1.6 expects and 2.x takes as a task-v2 shim) and
//! containerd 2.3's bootstrap protocol (BootstrapParams in, BootstrapResult out). We serve
//! task API v2, which every containerd from 1.6 on calls. `delete` and the server itself
//! come from the crate; `-info` is ours (info.rs). The socket is a filesystem socket under
//! /run/containerd/s, made with umask 077 (owner only), never abstract.
//!
//! Only shim_api.rs names the containerd-shim crates.

mod berth_cli;
mod berth_lib;
mod events;
mod info;
mod metrics;
mod options;
mod rootfs_mount;
mod sealed_berth;
mod service;
mod shim_api;
mod start;
mod stdio;
mod table;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

/// The umask containerd gave us, restored (for berth and containers) once the socket exists.
static INHERITED_UMASK: AtomicU32 = AtomicU32::new(0o022);

/// Puts back the inherited umask; called before the first berth call (every RPC comes after
/// the socket was bound) so containers see the umask they would under the runc shim.
pub fn restore_umask() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: umask only replaces the process's file mode mask; it cannot fail.
        unsafe { libc::umask(INHERITED_UMASK.load(Ordering::Relaxed) as libc::mode_t) };
    });
}

/// containerd's name for this runtime.
pub const RUNTIME_ID: &str = "io.containerd.berth.v2";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().skip(1).any(|a| a == "-info" || a == "--info") {
        return report(info::run(RUNTIME_ID));
    }
    if args
        .iter()
        .skip(1)
        .any(|a| a == "-v" || a == "-version" || a == "--version")
    {
        println!("{}:\n  Version: {}", args[0], env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let flags = match shim_api::parse_flags(&args[1..]) {
        Ok(flags) => flags,
        Err(e) => {
            eprintln!("{RUNTIME_ID}: bad arguments: {e}");
            return ExitCode::FAILURE;
        }
    };
    match flags.action.as_str() {
        "start" => report(start::run(&flags)),
        "delete" => {
            shim_api::run_server::<service::Service>(RUNTIME_ID, None);
            ExitCode::SUCCESS
        }
        _ => {
            // The server's socket is bound with this umask: owner (root) only.
            // SAFETY: umask only replaces the process's file mode mask; it cannot fail.
            let inherited = unsafe { libc::umask(0o077) };
            INHERITED_UMASK.store(inherited as u32, Ordering::Relaxed);
            shim_api::run_server::<service::Service>(RUNTIME_ID, None);
            ExitCode::SUCCESS
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{RUNTIME_ID}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
