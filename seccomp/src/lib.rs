//! # berth-seccomp
//!
//! OCI `linux.seccomp` profiles compiled to classic BPF in pure Rust (no libseccomp at
//! runtime), installed with our own seccomp(2) call, cached on disk.
//!
//! ## Public API
//!
//! ```no_run
//! # fn main() -> Result<(), berth_seccomp::SeccompError> {
//! use berth_seccomp::{compile, default_profile, load_or_compile};
//! # let caps: Vec<String> = vec![];
//! let profile = default_profile(&caps);           // Docker-equivalent LinuxSeccomp
//! let program = compile(&profile)?;               // validate + compile (~0.5 ms)
//! let program = load_or_compile(&profile, std::path::Path::new("/run/berth/seccomp"))?; // ~0.05 ms when cached
//! // In the container init, right before execve:
//! if let Some(listener) = program.install()? {
//!     // The profile has SCMP_ACT_NOTIFY rules: hand the listener to the agent.
//!     # let (pid, state) = (1, oci_spec::runtime::State::default());
//!     let msg = berth_seccomp::process_state(&profile, pid, &state);
//!     berth_seccomp::send_listener(&profile, &listener, &msg)?;
//! }
//! # Ok(()) }
//! ```
//!
//! - [`compile`] — validate a `LinuxSeccomp` (errors name the field, e.g.
//!   `linux.seccomp.syscalls[3].errnoRet: ...`) and compile it for the listed architectures
//!   plus the native one.
//! - [`parse_profile`] — the same checks on raw JSON, so an unknown `SCMP_ACT_*` string is
//!   reported as `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
//! - [`Program::install`] — seccomp(2) with the profile's flags (TSYNC, LOG, SPEC_ALLOW,
//!   WAIT_KILLABLE_RECV; NEW_LISTENER added when a rule notifies, TSYNC_ESRCH when both).
//!   Never sets no_new_privs. [`install_filter`] is the raw form.
//! - [`Program::evaluate`] — what the filter returns for a syscall, without the kernel;
//!   `Display` on a [`Program`] prints a readable listing.
//! - [`load_or_compile`] — on-disk cache keyed by profile, architecture, tables and crate
//!   version; atomic writes, validated loads ([`cache_path`] names the entry).
//! - [`default_profile`] — Docker's default profile for a capability set; it is a plain
//!   `LinuxSeccomp`, so `serde_json::to_value` gives the `linux.seccomp` of a config.json.
//! - [`process_state`] + [`send_listener`] — runc-compatible hand-off of the notify fd and
//!   `ContainerProcessState` (`fds: ["seccompFd"]`, `metadata`) to `listenerPath`.
//!
//! ## Integrating in the runtime
//!
//! - Compile (or `load_or_compile` under the runtime root) before forking the init when
//!   possible: the init then only calls [`Program::install`].
//! - `process.noNewPrivileges: true`: set `PR_SET_NO_NEW_PRIVS`, drop privileges, then
//!   install as the last step before `execve`. Otherwise the kernel requires CAP_SYS_ADMIN,
//!   so (like runc) install before dropping capabilities / changing uid; the profile must then
//!   allow what the init still does (capset, setresuid, setgroups, execve: the default does).
//! - Notify: after `pivot_root` the listener socket is usually out of reach, so send the fd
//!   returned by `install` to the runtime process over the init sync socket and let it call
//!   [`send_listener`] (with the state `"creating"` and the init pid), as runc does.
//!
//! ## Semantics worth knowing
//!
//! - Program shape: architecture dispatch, then a binary search over syscall-number
//!   intervals (see the `compile` module): ~8 jumps to any outcome for Docker's profile.
//! - Rules for one syscall: conditional rules first, in profile order (first match wins),
//!   then the unconditional one. Repeated argument indices in one entry are ORed (runc).
//! - MASKED_EQ is `(arg & value) == (valueTwo & value)` (libseccomp's semantics).
//! - Syscalls above the highest one the profile names (per architecture) return ENOSYS
//!   unless the default action is ALLOW, LOG or ERRNO(ENOSYS) — runc's rule.
//! - Unknown syscall names are skipped per architecture; an entry with no syscall known on
//!   any architecture is an error. Architectures without a table here (arm, riscv64, s390x…)
//!   are not filtered separately: their syscalls get the bad-architecture action
//!   (KILL_THREAD, libseccomp's default). Tables: x86_64, x86, x32, aarch64.

mod action;
mod arch;
mod asm;
mod cache;
mod compile;
mod default_profile;
mod disasm;
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
