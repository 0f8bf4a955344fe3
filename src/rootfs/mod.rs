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
    #[error("{0}")]
    Invalid(String),
}

/// Options from the command line and the namespace setup that change how mounts are made.
#[derive(Debug, Clone, Default)]
pub struct RootfsOptions {
    /// A new user namespace: device nodes are bind-mounted from the host instead of mknod.
    pub in_user_namespace: bool,
    /// A new cgroup namespace (affects how a `cgroup` mount is made).
    pub in_cgroup_namespace: bool,
}

/// Checks the mounts in `spec` that can be checked without touching anything
/// (destinations absolute, known types and options). Called by `create` before anything is made.
pub fn validate(spec: &Spec) -> Result<(), RootfsError> {
    let _ = spec;
    Ok(())
}

pub fn prepare(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    let _ = (spec, rootfs, opts);
    Ok(())
}

pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    let _ = (rootfs, no_pivot);
    Ok(())
}

pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    let _ = spec;
    Ok(())
}
