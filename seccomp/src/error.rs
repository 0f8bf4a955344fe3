//! The crate's error type: every failure names the profile field or the system call involved.

use std::path::PathBuf;

/// Everything that can go wrong while validating, compiling, caching, installing a seccomp
/// profile or handing its notify listener to an agent.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A profile field holds a value berth cannot honour, e.g.
    /// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
    #[error("{field}: {message}")]
    InvalidField {
        /// JSON path of the offending field, rooted at `linux.seccomp`.
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// The compiled program exceeds the kernel's BPF_MAXINSNS.
    #[error("compiled seccomp program has {0} instructions, more than the kernel limit of 4096")]
    ProgramTooLong(usize),

    /// The compiler produced a program the verifier rejects (a bug in berth-seccomp).
    #[error("internal error: generated BPF is invalid: {0}")]
    BadProgram(String),

    /// seccomp(2) refused the filter.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags={flags:#x}): {source}")]
    Install {
        /// Flags passed to the kernel.
        flags: u32,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },

    /// With SECCOMP_FILTER_FLAG_TSYNC, another thread could not be synchronised.
    #[error("seccomp TSYNC: thread {0} could not be synchronised to the new filter")]
    TsyncFailed(i64),

    /// Reading or writing the compiled-program cache failed.
    #[error("seccomp cache {path}: {source}")]
    Cache {
        /// Cache file or directory.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Sending the notify listener to the agent failed.
    #[error("seccomp notify listener {path}: {message}")]
    Notify {
        /// The `listenerPath` socket.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl SeccompError {
    /// Shorthand for [`SeccompError::InvalidField`].
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        SeccompError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, SeccompError>;
