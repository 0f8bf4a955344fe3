//! The container's root filesystem: mounts, devices, pivot_root, masked and read-only paths.
//!
//! Everything here runs in the container's init, in its own mount namespace, after the
//! clone and before exec. Contract used by the runtime core (keep these signatures):
//! 1. [`prepare`]: before pivot_root. Makes the mount tree private (or rootfsPropagation),
//!    bind-mounts the rootfs onto itself, mounts every `mounts` entry, the default devices
//!    and `linux.devices`. Destinations are created and resolved inside the rootfs only.
//! 2. (the core runs createContainer hooks here, still seeing the host's paths)
//! 3. [`pivot`]: pivot_root into the rootfs (or MS_MOVE + chroot when `no_pivot`).
//! 4. [`finalize`]: after pivot_root: sysctl, maskedPaths, readonlyPaths, readonly root,
//!    rootfs propagation.
//!
//! Submodules: [`options`] (option words to flags), [`validate`](mod@validate) (checks without
//! side effects), [`resolve`] (paths inside the root through fds), [`mounts`] (one `mounts`
//! entry), [`cgroup`] (the `cgroup` mount type), [`copyup`] (`tmpcopyup`), [`guard`] (refusals protecting the host), [`devices`] (/dev), [`sys`] (syscall
//! wrappers), [`procfs`] (verified /proc for writes), [`pivot`](mod@pivot) and
//! [`finalize`](mod@finalize).

pub mod cgroup;
pub mod copyup;
pub mod devices;
pub mod finalize;
pub mod guard;
pub mod mounts;
pub mod options;
pub mod pivot;
pub mod procfs;
pub mod resolve;
pub mod sys;
pub mod validate;

#[cfg(test)]
mod root_tests;

use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what} {path}: {source}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// A mount that failed: its type, its destination in the container, and the step.
    #[error("mount {typ} on {destination} ({what}): {source}")]
    Mount {
        typ: String,
        destination: PathBuf,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl RootfsError {
    /// A closure turning an errno into [`RootfsError::Sys`] for `what` on `path`.
    pub(crate) fn sys(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(nix::Error) -> Self {
        let path = path.into();
        move |source| RootfsError::Sys { what, path, source }
    }

    /// A closure turning an errno into [`RootfsError::Mount`].
    pub(crate) fn mount(
        typ: &str,
        destination: &Path,
        what: &'static str,
    ) -> impl FnOnce(nix::Error) -> Self {
        let typ = typ.to_string();
        let destination = destination.to_path_buf();
        move |source| RootfsError::Mount {
            typ,
            destination,
            what,
            source,
        }
    }
}

/// Options from the command line and the namespace setup that change how mounts are made.
#[derive(Debug, Clone, Default)]
pub struct RootfsOptions {
    /// A new user namespace: device nodes are bind-mounted from the host instead of mknod.
    pub in_user_namespace: bool,
    /// A new cgroup namespace (affects how a `cgroup` mount is made).
    pub in_cgroup_namespace: bool,
    /// The bundle directory: relative bind sources are taken relative to it. Empty: the
    /// current directory.
    pub bundle: PathBuf,
}

/// Checks the mounts in `spec` that can be checked without touching anything
/// (destinations absolute, known types and options). Called by `create` before anything is made.
pub fn validate(spec: &Spec) -> Result<(), RootfsError> {
    validate::check_spec(spec)
}

/// Sets up the root filesystem at `rootfs` (a host path) before pivot_root; see the module doc.
///
/// `enter_late` runs once: right before the first mount that shows what the process
/// belongs to (`sysfs`: its network namespace; `cgroup`/`cgroup2`: its cgroup and cgroup
/// namespace), or after the last mount when there is none. The init enters its network
/// namespace and cgroups there, so the mounts before it overlap their making.
pub fn prepare<E: From<RootfsError>>(
    spec: &Spec,
    rootfs: &Path,
    opts: &RootfsOptions,
    enter_late: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    let mut pending = Some(enter_late);
    mounts::prepare_rootfs(spec, rootfs, opts, &mut pending)?;
    match pending.take() {
        Some(run) => run(),
        None => Ok(()),
    }
}

/// Makes `rootfs` the process's "/" (pivot_root, or MS_MOVE + chroot when `no_pivot`).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    pivot::pivot_into(rootfs, no_pivot)
}

/// The steps after pivot_root: propagation, sysctl, readonlyPaths, maskedPaths, readonly root.
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    finalize::finalize_rootfs(spec)
}
