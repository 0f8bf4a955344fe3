//! `dock build`'s command line and setup: flags checked before anything is made, the build run
//! in a private mount namespace (every overlay it mounts disappears with it, even when killed),
//! SIGINT/SIGTERM/SIGHUP held until the current step ends (then the build stops cleanly), a
//! scratch directory under the store root removed at the end, and the image id printed.

use super::cache::Cache;
use super::executor::{execute, Env, Interrupted, Options};
use crate::bundle::spec::Network;
use crate::reference::Reference;
use crate::run::NetworkMode;
use crate::snapshot::Snapshots;
use crate::store::{Store, DEFAULT_ROOT};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `dock build`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
dock build -t app:1 .                                build ./Dockerfile, name it app:1\n  \
dock build -t app -f ci/Dockerfile --build-arg V=2 .  another Dockerfile, an ARG set\n  \
dock build --target test -q .                        stop at stage `test`, print only the id\n\n\
Each RUN runs in a berth container over an overlay of the layers so far; RUN, COPY, ADD and\n\
WORKDIR each add a layer, other instructions only change the config. Steps are cached under\n\
<root>/cache by their instruction, their parent and (COPY/ADD) the content of their files:\n\
change a file and the build resumes at its COPY. Images are reproducible: every time in them\n\
is --timestamp (or $SOURCE_DATE_EPOCH, else 0), so the same Dockerfile and context give the\n\
same digest on any machine. Needs root (overlay mounts).")]
pub struct BuildArgs {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// OCI runtime binary (default: $DOCK_RUNTIME, `berth` next to dock, `berth` on PATH).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// Name the image NAME[:TAG] (repeatable).
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set a build argument declared by ARG (KEY=VALUE, or KEY to take dock's own $KEY).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Build up to this stage (`FROM … AS STAGE`) and make it the image.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Run every step again (new results still fill the cache).
    #[arg(long)]
    pub no_cache: bool,
    /// Network of RUN steps: loopback only, or the host's.
    #[arg(long, value_enum, default_value = "none")]
    pub network: NetworkMode,
    /// Add a label to the image (KEY=VALUE, repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Target platform; only linux/amd64.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Seconds since 1970 for every time in the image (default $SOURCE_DATE_EPOCH, else 0).
    #[arg(long, value_name = "EPOCH")]
    pub timestamp: Option<u64>,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// The build context directory.
    pub context: PathBuf,
}

fn key_value(flag: &str, v: &str, from_env: bool) -> Result<Option<(String, String)>> {
    match v.split_once('=') {
        Some(("", _)) => bail!("invalid {flag} {v:?}: expected KEY=VALUE"),
        Some((k, val)) => Ok(Some((k.to_string(), val.to_string()))),
        None if from_env && !v.is_empty() => {
            Ok(std::env::var(v).ok().map(|val| (v.to_string(), val)))
        }
        None => bail!("invalid {flag} {v:?}: expected KEY=VALUE"),
    }
}

fn epoch(flag: Option<u64>) -> Result<u64> {
    if let Some(t) = flag {
        return Ok(t);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds")),
        _ => Ok(0),
    }
}

/// The flags, checked.
fn options(a: &BuildArgs) -> Result<Options> {
    if let Some(p) = &a.platform {
        if p != "linux/amd64" {
            bail!("--platform {p}: dock build makes linux/amd64 images only");
        }
    }
    if !a.context.is_dir() {
        bail!("context {}: not a directory", a.context.display());
    }
    let context = a
        .context
        .canonicalize()
        .with_context(|| format!("context {}", a.context.display()))?;
    let dockerfile = a.file.clone().unwrap_or_else(|| context.join("Dockerfile"));
    if !dockerfile.is_file() {
        bail!("Dockerfile {}: no such file", dockerfile.display());
    }
    let tags = a
        .tag
        .iter()
        .map(|t| Reference::parse(t).with_context(|| format!("invalid --tag {t:?}")))
        .collect::<Result<Vec<_>>>()?;
    if tags.iter().any(|t| t.digest.is_some()) {
        bail!("--tag takes NAME[:TAG], not a digest");
    }
    let mut build_args = BTreeMap::new();
    for v in &a.build_arg {
        if let Some((k, val)) = key_value("--build-arg", v, true)? {
            build_args.insert(k, val);
        }
    }
    let mut labels = Vec::new();
    for v in &a.label {
        labels.extend(key_value("--label", v, false)?);
    }
    Ok(Options {
        dockerfile,
        context,
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        network: match a.network {
            NetworkMode::None => Network::None,
            NetworkMode::Host => Network::Host,
        },
        labels,
        epoch: epoch(a.timestamp)?,
        quiet: a.quiet,
    })
}

/// A private mount namespace whose mounts do not propagate back to the host.
fn private_mounts() -> Result<()> {
    dock::build::mount_ns::enter_private_mount_namespace()
        .context("entering a private mount namespace")
}

/// Block the signals that end a build: they are checked between steps (a RUN's container gets
/// the terminal's SIGINT itself, as berth forwards it).
fn hold_signals() -> Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut s = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        s.add(sig);
    }
    s.thread_block().context("blocking signals")?;
    Ok(())
}

/// Work dirs of builds whose process is gone (a killed build's mounts died with its
/// namespace; its directories are removed here).
fn sweep_stale(build_root: &Path) {
    let Ok(entries) = std::fs::read_dir(build_root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = pid {
            let alive = Path::new("/proc").join(pid.to_string()).exists();
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_inner(a: &BuildArgs) -> Result<String> {
    let opts = options(a)?;
    if !nix::unistd::geteuid().is_root() {
        bail!("dock build needs root (it mounts overlays and runs containers)");
    }
    let bin = crate::runtime::find(a.runtime.as_deref())?;
    let store =
        Store::open(&a.root).with_context(|| format!("opening the store {}", a.root.display()))?;
    // Blobs and snapshots a build made but has not named yet must survive a sweep.
    let _active = store.activity()?;
    let snaps = Snapshots::open(&store)?;
    let cache = Cache::open(&store)?;
    let build_root = a.root.join("build");
    std::fs::create_dir_all(&build_root)
        .with_context(|| format!("creating {}", build_root.display()))?;
    sweep_stale(&build_root);
    let id = crate::containers::ids::new_id().context("making a build id")?;
    let work = WorkDir(build_root.join(format!("{}-{}", std::process::id(), &id[..12])));
    hold_signals()?;
    private_mounts()?;
    let env = Env {
        store,
        snaps,
        cache,
        rt: crate::runtime::Runtime::new(bin, &a.root),
        root: a.root.clone(),
        work: work.0.clone(),
    };
    let committed = execute(&env, &opts)?;
    drop(work);
    Ok(committed.id.to_string())
}

/// `dock build`; returns the exit code.
pub fn build(a: BuildArgs) -> i32 {
    match build_inner(&a) {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<Interrupted>() {
                130
            } else {
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_and_epoch() {
        assert_eq!(
            key_value("--label", "a=b=c", false).unwrap(),
            Some(("a".into(), "b=c".into()))
        );
        assert!(key_value("--label", "a", false).is_err());
        assert!(key_value("--build-arg", "=x", true).is_err());
        assert_eq!(
            key_value("--build-arg", "DOCK_SURELY_UNSET_ARG", true).unwrap(),
            None
        );
        assert_eq!(epoch(Some(5)).unwrap(), 5);
    }
}
