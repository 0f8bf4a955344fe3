//! # berth-seccomp
//!
//! OCI `linux.seccomp` profiles compiled to classic BPF in pure Rust (no libseccomp),
//! installed with our own seccomp(2) call, cached on disk.
//!
//! ## Public API
//!
//! ```no_run
//! # fn main() -> Result<(), berth_seccomp::SeccompError> {
//! use berth_seccomp::{compile, default_profile, load_or_compile};
//! # let caps: Vec<String> = vec![];
//! let profile = default_profile(&caps);           // Docker-equivalent LinuxSeccomp
//! let program = compile(&profile)?;               // validate + compile (~ms)
//! let program = load_or_compile(&profile, std::path::Path::new("/run/berth/seccomp"))?; // ~0.1 ms when cached
//! // In the container init, right before execve (after setting no_new_privs iff the config says so):
//! if let Some(listener) = program.install()? {
//!     // profile has SCMP_ACT_NOTIFY rules: hand the listener to the agent.
//!     # let state = berth_seccomp::ContainerProcessState::default();
//!     berth_seccomp::send_listener(&profile, &listener, &state)?;
//! }
//! # Ok(()) }
//! ```
//!
//! - [`compile`] — validate a `LinuxSeccomp` (errors name the field, e.g.
//!   `linux.seccomp.syscalls[3].errnoRet: ...`) and compile it for the listed architectures.
//! - [`parse_profile`] — the same checks on raw JSON, so an unknown `SCMP_ACT_*` string is
//!   reported as `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
//! - [`Program::install`] — seccomp(2) with the profile's flags (TSYNC, LOG, SPEC_ALLOW,
//!   WAIT_KILLABLE_RECV; NEW_LISTENER added when a rule notifies). Does not set no_new_privs.
//! - [`load_or_compile`] — on-disk cache keyed by profile, architecture and crate version.
//! - [`default_profile`] — Docker's default profile for a capability set, serialisable to JSON.
//! - [`send_listener`] — runc-compatible hand-off of the notify fd to `listenerPath`.
//!
//! Program shape and semantics are documented in the `compile` and `plan` modules.

mod action;
mod arch;
mod asm;
mod cache;
mod compile;
mod default_profile;
mod error;
mod install;
mod json;
mod notify;
mod plan;
mod program;
mod tables;
mod verify;

pub use arch::Arch;
pub use cache::{cache_path, load_or_compile};
pub use default_profile::default_profile;
pub use error::{Result, SeccompError};
pub use install::install_filter;
pub use json::parse_profile;
pub use notify::{process_state, send_listener, ContainerProcessState};
pub use plan::{
    FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV,
};
pub use program::{compile, Program};
/// BPF instruction type (seccompiler's, layout-identical to `struct sock_filter`).
pub use seccompiler::sock_filter;
pub use verify::MAX_INSNS;
