//! `dock run`: resolve (or pull) the image, reserve the container, prepare its rootfs through
//! the snapshotter, write the bundle, and hand the container to its monitor (`dock _monitor`,
//! see [`crate::monitor`]). With `-d` it prints the id once the monitor reports the start;
//! in the foreground it waits for the monitor, which relays the output and exits with the
//! container's code, while forwarding signals to the container (SIGWINCH to the monitor).
//!
//! No async runtime runs here: a missing image is pulled by a `dock pull` child, so this
//! process stays single-threaded and only ever spawns by fork+exec.

use crate::bundle::{self, flags, RunRequest};
use crate::containers::meta::{Meta, State};
use crate::containers::{Containers, CONFIG};
use crate::monitor::handshake::Outcome;
use crate::reference::Reference;
use crate::snapshot::Snapshots;
use crate::store::{Store, StoreError, DEFAULT_ROOT};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// docker's exit code when the engine itself fails.
pub const ENGINE_FAILURE: i32 = 125;

/// `--network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NetworkMode {
    /// A private network namespace with only loopback (the default; dock has no bridge).
    None,
    /// The host's network namespace.
    Host,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
dock run --rm busybox echo hello            run, print, remove\n  \
dock run -d --name web --network host busybox httpd -f -p 8080\n  \
dock run -it --rm busybox sh                an interactive shell on a pty\n  \
dock run --rm -v /srv/data:/data:ro -m 256m --cpus 0.5 --pids-limit 100 busybox ls /data\n\n\
The exit status is the container's; 125 when dock fails, 126 when the command cannot be run,\n\
127 when it is not found. Output always goes to the container's log (`dock logs`).")]
pub struct RunArgs {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// OCI runtime binary (default: $DOCK_RUNTIME, `berth` next to dock, `berth` on PATH).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Container name (unique; random when omitted).
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy dock's own).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container (made when missing).
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// User: name|uid[:group|gid], resolved in the image's /etc/passwd and /etc/group.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Replace the image's entrypoint ("" clears it); the image's CMD is then dropped too.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a host path: HOST:CONTAINER[:ro].
    #[arg(short, long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volume: Vec<String>,
    /// Network: a private namespace with loopback only, or the host's.
    #[arg(long, value_enum, default_value = "none")]
    pub network: NetworkMode,
    /// Memory limit (e.g. 256m, 1g); swap is limited to as much again when the host accounts it.
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPU limit in CPUs (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep stdin attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Image reference.
    pub image: String,
    /// Command and arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// Parse the flags into a request (bad input fails here, before anything is made).
fn request(a: &RunArgs) -> Result<RunRequest> {
    let mut env = Vec::new();
    for e in &a.env {
        env.extend(flags::env(e)?);
    }
    let volumes = a
        .volume
        .iter()
        .map(|v| flags::volume(v))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = a.pids_limit {
        if p == 0 || p < -1 {
            bail!("invalid --pids-limit {p}: a positive number, or -1 for unlimited");
        }
    }
    if let Some(w) = &a.workdir {
        if !w.starts_with('/') {
            bail!("invalid --workdir {w:?}: the working directory must be an absolute path");
        }
    }
    Ok(RunRequest {
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        entrypoint: a.entrypoint.clone(),
        cmd: a.command.clone(),
        volumes,
        host_network: a.network == NetworkMode::Host,
        memory: a.memory.as_deref().map(flags::memory).transpose()?,
        cpu_quota: a.cpus.as_deref().map(flags::cpus).transpose()?,
        pids_limit: a.pids_limit,
        tty: a.tty,
    })
}

/// `dock pull IMAGE` as a child (its progress on our stderr).
pub(crate) fn pull(root: &Path, image: &str) -> Result<()> {
    eprintln!("Unable to find image '{image}' locally");
    let exe = std::env::current_exe().context("locating the dock binary")?;
    let stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
    let status = Command::new(exe)
        .arg("pull")
        .arg("--root")
        .arg(root)
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stderr))
        .status()
        .context("running dock pull")?;
    if !status.success() {
        bail!("pulling {image} failed");
    }
    Ok(())
}

/// Reserve the container and make its bundle; on failure nothing is left behind.
fn prepare(a: &RunArgs) -> Result<Meta> {
    let req = request(a)?;
    let runtime = crate::runtime::find(a.runtime.as_deref())?;
    let store =
        Store::open(&a.root).with_context(|| format!("opening the store {}", a.root.display()))?;
    let r = Reference::parse(&a.image)?;
    let named = match store.resolve(&r) {
        Ok(n) => n,
        Err(StoreError::NotFound(_)) => {
            pull(&a.root, &a.image)?;
            store.resolve(&r)?
        }
        Err(e) => return Err(e.into()),
    };
    let image = store.open_image(&named)?;
    let config = store.image_config(&image)?;
    let containers = Containers::open(&a.root)?;
    let mut m = Meta {
        id: String::new(),
        name: String::new(),
        image: a.image.clone(),
        image_id: image.manifest.config.digest.to_string(),
        created: now(),
        command: Vec::new(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        labels: Default::default(),
        stop_signal: "SIGTERM".into(),
        network: match a.network {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
        .into(),
        volumes: req.volumes.clone(),
        runtime,
        auto_remove: a.rm,
        tty: a.tty,
        interactive: a.interactive,
        state: State::Created,
        pid: None,
        pid_start: None,
        monitor: None,
        exit_code: None,
        started_at: None,
        finished_at: None,
        error: None,
    };
    containers.reserve(&mut m, a.name.as_deref())?;
    let made = (|| -> Result<()> {
        let snaps = Snapshots::open(&store)?;
        let layers = snaps.ensure_image(&store, &image.manifest.layers)?;
        let dir = containers.dir(&m.id);
        let rootfs = snaps.prepare_rootfs(&layers, &dir)?;
        let b = bundle::build(&req, &config, &m.id, &dir, &rootfs)?;
        let path = dir.join(CONFIG);
        std::fs::write(&path, serde_json::to_vec(&b.config)?)
            .with_context(|| format!("writing {}", path.display()))?;
        m.command = b.args;
        m.entrypoint = b.entrypoint;
        m.cmd = b.cmd;
        m.labels = b.labels;
        m.stop_signal = b.stop_signal;
        containers.write(&m)?;
        Ok(())
    })();
    if let Err(e) = made {
        let _ = crate::lifecycle::remove_files(&a.root, &m.id, false);
        return Err(e);
    }
    Ok(m)
}

/// The caller's terminal in raw mode until dropped (`-it` in the foreground).
struct RawTerminal(nix::sys::termios::Termios);

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

/// The signals a foreground `dock run` passes on (docker's sig-proxy), plus SIGCHLD to learn
/// of the monitor's exit.
fn forwarded() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCHLD,
    ] {
        s.add(sig);
    }
    s
}

fn status_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Forward signals until the monitor exits; its code is the container's.
fn forward_until_exit(monitor: &mut Child, init: i32, mask: &SigSet) -> i32 {
    let monitor_pid = nix::unistd::Pid::from_raw(monitor.id() as i32);
    loop {
        if let Ok(Some(status)) = monitor.try_wait() {
            return status_code(status);
        }
        match mask.wait() {
            Ok(Signal::SIGCHLD) => {}
            Ok(Signal::SIGWINCH) => {
                let _ = nix::sys::signal::kill(monitor_pid, Signal::SIGWINCH);
            }
            Ok(sig) => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), sig);
            }
            Err(_) => {}
        }
    }
}

/// Start the monitor and follow it; returns `dock run`'s exit code.
fn launch(a: &RunArgs, m: &Meta) -> Result<i32> {
    let (sync_r, sync_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // The monitor inherits the write end under its own number.
    nix::fcntl::fcntl(
        &sync_w,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let exe = std::env::current_exe().context("locating the dock binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("_monitor")
        .arg("--root")
        .arg(&a.root)
        .arg("--sync-fd")
        .arg(sync_w.as_raw_fd().to_string());
    if a.detach {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else {
        cmd.arg("--attach");
        if !a.interactive {
            cmd.stdin(Stdio::null());
        }
    }
    cmd.arg(&m.id);
    let mask = forwarded();
    if !a.detach {
        // Blocked before the monitor exists, so no signal is lost; the monitor unblocks its own.
        mask.thread_block()?;
    }
    let _raw = if !a.detach
        && a.tty
        && a.interactive
        && nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
    {
        RawTerminal::enter()
    } else {
        None
    };
    let mut monitor = cmd.spawn().context("starting the container monitor")?;
    drop(cmd);
    drop(sync_w);
    let outcome = Outcome::receive(File::from(sync_r)).ok().flatten();
    match outcome {
        Some(Outcome::Started(init)) => {
            if a.detach {
                println!("{}", m.id);
                Ok(0)
            } else {
                Ok(forward_until_exit(&mut monitor, init, &mask))
            }
        }
        Some(Outcome::Failed(code, msg)) => {
            let _ = monitor.wait();
            drop(_raw);
            eprintln!(
                "dock: error starting container {}: {msg}",
                crate::containers::ids::short_id(&m.id)
            );
            Ok(code)
        }
        None => {
            let _ = monitor.wait();
            bail!("the container's monitor exited before starting it")
        }
    }
}

/// `dock run`; returns the exit code.
pub fn run(a: RunArgs) -> i32 {
    let m = match prepare(&a) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("dock: {e:#}");
            return ENGINE_FAILURE;
        }
    };
    match launch(&a, &m) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dock: {e:#}");
            // The monitor never started it: nothing of the container should remain.
            let _ = crate::lifecycle::remove_files(&a.root, &m.id, false);
            ENGINE_FAILURE
        }
    }
}
