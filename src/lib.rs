//! berth: an OCI runtime with runc's command line.
//!
//! The library holds the container lifecycle; `src/main.rs` is the thin CLI on top.
//! See ARCHITECTURE.md for the process model and the on-disk state layout; the
//! process model itself is documented at the top of [`container::create`].

pub mod cgroups;
pub mod config;
pub mod console;
pub mod container;
pub mod error;
pub mod exe_seal;
pub mod fault;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod small_file;
pub mod startup_alloc;
pub mod state;
pub mod sync;
pub mod trace;

pub use error::{Error, Result};

/// Version of the OCI runtime specification berth implements.
pub const OCI_SPEC_VERSION: &str = "1.2.0";
