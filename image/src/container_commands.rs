//! The container subcommands besides `run` (see [`crate::run`]): argument definitions and the
//! glue from them to [`crate::containers`], [`crate::lifecycle`], [`crate::logfile`] and
//! [`crate::inspect`]; `exec` hands over to `berth exec` by exec(2).

use crate::containers::meta::{Meta, State};
use crate::containers::{Containers, CONFIG, LOG};
use crate::store::{Store, DEFAULT_ROOT};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Where dock keeps its state.
#[derive(Args, Debug)]
pub struct RootArg {
    /// Store root.
    #[arg(long, env = "DOCK_ROOT", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
}

impl RootArg {
    fn containers(&self) -> Result<Containers> {
        Containers::open(&self.root).context("opening the container store")
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Without -a only running containers are listed. `--format json` prints one \
JSON object per container and line (docker's field names: ID, Names, Image, Command, State, \
Status, ExitCode, ...), for scripts."
)]
pub struct PsArgs {
    #[command(flatten)]
    root: RootArg,
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    all: bool,
    /// Only print full container ids.
    #[arg(short, long)]
    quiet: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Args, Debug)]
#[command(
    after_help = "The output comes from the container's log, which its monitor writes in \
both foreground and detached mode; stdout and stderr keep their streams."
)]
pub struct LogsArgs {
    #[command(flatten)]
    root: RootArg,
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// Prefix each line with its RFC 3339 time.
    #[arg(short, long)]
    timestamps: bool,
    /// Container name, id or id prefix.
    container: String,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dock exec web ps\n  dock exec -it web sh\n  \
dock exec -u nobody -w /tmp -e DEBUG=1 web env\n\nThe exit status is the command's."
)]
pub struct ExecArgs {
    #[command(flatten)]
    root: RootArg,
    /// Keep stdin attached.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable (KEY=VALUE).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// User: name|uid[:group|gid] in the container.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Container name, id or id prefix.
    container: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Sends the container's stop signal (the image's StopSignal, else SIGTERM), \
waits --time seconds, then sends SIGKILL."
)]
pub struct StopArgs {
    #[command(flatten)]
    root: RootArg,
    /// Seconds to wait before SIGKILL.
    #[arg(short, long, default_value_t = 10)]
    time: u64,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[command(flatten)]
    root: RootArg,
    /// Signal (name like SIGHUP/HUP, or number).
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    root: RootArg,
    /// Kill and remove running containers.
    #[arg(short, long)]
    force: bool,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InspectType {
    Container,
    Image,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Prints a JSON array with one docker-shaped object per name: containers \
are looked up first (name, id, id prefix), then images (reference or image id)."
)]
pub struct InspectArgs {
    #[command(flatten)]
    root: RootArg,
    /// Only look for this kind of object.
    #[arg(long = "type", value_enum)]
    kind: Option<InspectType>,
    /// Containers or images.
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Removes stopped containers, then snapshots and blobs nothing uses; with -a \
also every image no container uses."
)]
pub struct PruneArgs {
    #[command(flatten)]
    root: RootArg,
    /// Also remove images no container uses.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// The hidden `_monitor` subcommand's arguments (started by `dock run` only).
#[derive(Args, Debug)]
pub struct MonitorArgs {
    #[arg(long)]
    root: PathBuf,
    #[arg(long)]
    sync_fd: i32,
    #[arg(long)]
    attach: bool,
    id: String,
}

/// Run each argument, report failures like docker: an `Error: ...` line per failed argument,
/// the others still done, exit status 1.
fn each(args: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let mut failed = false;
    for a in args {
        if let Err(e) = f(a) {
            eprintln!("Error: {e:#}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

pub fn ps(a: PsArgs) -> Result<()> {
    let now = SystemTime::now();
    let shown: Vec<Meta> = a
        .root
        .containers()?
        .list()?
        .into_iter()
        .filter(|m| a.all || m.live_state() == State::Running)
        .collect();
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for m in &shown {
            writeln!(out, "{}", m.id)?;
        }
        return Ok(());
    }
    match a.format {
        Format::Table => write!(out, "{}", crate::container_listing::table(&shown, now))?,
        Format::Json => {
            for m in &shown {
                let row = crate::container_listing::PsRow::new(m, now);
                writeln!(out, "{}", serde_json::to_string(&row)?)?;
            }
        }
    }
    Ok(())
}

pub fn logs(a: LogsArgs) -> Result<()> {
    let c = a.root.containers()?;
    let m = c.resolve(&a.container)?;
    let path = c.dir(&m.id).join(LOG);
    let Some(mut reader) = crate::logfile::Reader::open(&path)? else {
        return Ok(());
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    loop {
        // Read the state before the log, so output written just before the exit is not missed.
        let running = a.follow
            && c.read(&m.id)
                .is_ok_and(|m| m.live_state() == State::Running || m.monitor_alive());
        for e in reader.next_entries()? {
            let text = if a.timestamps {
                format!("{} {}", e.time, e.log)
            } else {
                e.log
            };
            if e.stream == "stderr" {
                stderr.write_all(text.as_bytes())?;
            } else {
                stdout.write_all(text.as_bytes())?;
            }
        }
        stdout.flush()?;
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `exec`: becomes `berth exec` (its exit status is the command's).
pub fn exec(a: ExecArgs) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let c = a.root.containers()?;
    let m = c.resolve(&a.container)?;
    if m.live_state() != State::Running {
        bail!("container {} is not running", m.name);
    }
    let rt = crate::runtime::Runtime::new(m.runtime.clone(), &a.root.root);
    let mut cmd = rt.command(["exec"]);
    if a.tty {
        cmd.arg("--tty");
        if !a.env.iter().any(|e| e.starts_with("TERM=")) {
            cmd.arg("--env").arg("TERM=xterm");
        }
    }
    for e in &a.env {
        if let Some(e) = crate::bundle::flags::env(e)? {
            cmd.arg("--env").arg(e);
        }
    }
    if let Some(u) = &a.user {
        cmd.arg("--user").arg(u);
    }
    if let Some(w) = &a.workdir {
        cmd.arg("--cwd").arg(w);
    }
    cmd.arg(&m.id).args(&a.command);
    if !a.interactive {
        cmd.stdin(std::process::Stdio::null());
    }
    let err = cmd.exec();
    Err(err).with_context(|| format!("running {}", m.runtime.display()))
}

pub fn stop(a: StopArgs) -> Result<()> {
    let c = a.root.containers()?;
    each(&a.containers, |arg| {
        let m = c.resolve(arg)?;
        crate::lifecycle::stop(&a.root.root, &c, &m, Duration::from_secs(a.time))?;
        println!("{arg}");
        Ok(())
    })
}

pub fn kill(a: KillArgs) -> Result<()> {
    let c = a.root.containers()?;
    each(&a.containers, |arg| {
        let m = c.resolve(arg)?;
        crate::lifecycle::kill(&a.root.root, &m, &a.signal)?;
        println!("{arg}");
        Ok(())
    })
}

pub fn rm(a: RmArgs) -> Result<()> {
    let c = a.root.containers()?;
    each(&a.containers, |arg| {
        let m = c.resolve(arg)?;
        crate::lifecycle::remove(&a.root.root, &c, &m, a.force)?;
        println!("{arg}");
        Ok(())
    })
}

fn inspect_image(store: &Store, name: &str) -> Result<serde_json::Value> {
    let named = crate::commands::find_names(store, name)?;
    let image = store.open_image(&named[0])?;
    let config = store.image_config(&image)?;
    let id = image.manifest.config.digest.clone();
    let mut names = Vec::new();
    for n in store.list_names()? {
        if store
            .open_image(&n)
            .is_ok_and(|i| i.manifest.config.digest == id)
        {
            names.push(n.name);
        }
    }
    Ok(crate::inspect::image(&image, &names, &config))
}

fn inspect_container(c: &Containers, name: &str) -> Result<serde_json::Value> {
    let m = c.resolve(name)?;
    let path = c.dir(&m.id).join(CONFIG);
    let config = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok(crate::inspect::container(c, &m, &config))
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let c = a.root.containers()?;
    let store = Store::open(&a.root.root)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &a.names {
        let r = match a.kind {
            Some(InspectType::Container) => inspect_container(&c, name),
            Some(InspectType::Image) => inspect_image(&store, name),
            None => inspect_container(&c, name)
                .or_else(|_| inspect_image(&store, name))
                .map_err(|_| anyhow::anyhow!("no such object: {name}")),
        };
        match r {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

pub fn prune(a: PruneArgs) -> Result<()> {
    if !a.force {
        eprint!(
            "WARNING! This will remove all stopped containers{} and unused snapshots and blobs.\n\
             Are you sure you want to continue? [y/N] ",
            if a.all {
                ", all images without a container"
            } else {
                ""
            }
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(());
        }
    }
    let root = &a.root.root;
    let c = a.root.containers()?;
    let mut removed = Vec::new();
    for m in c.list()? {
        if m.live_state() != State::Running && !m.monitor_alive() {
            crate::lifecycle::remove_files(root, &m.id, true)?;
            removed.push(m.id);
        }
    }
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    let store = Store::open(root)?;
    if a.all {
        let in_use: Vec<String> = c.list()?.into_iter().map(|m| m.image_id).collect();
        let mut untagged = Vec::new();
        for n in store.list_names()? {
            let id = store.open_image(&n)?.manifest.config.digest.to_string();
            if !in_use.contains(&id) {
                let r = crate::reference::Reference::parse(&n.name)?;
                store.remove_name(&r)?;
                untagged.push(n.name);
            }
        }
        if !untagged.is_empty() {
            println!("Deleted Images:");
            for n in &untagged {
                println!("untagged: {n}");
            }
            println!();
        }
    }
    let snaps = crate::snapshot::Snapshots::open(&store)?.sweep_unreferenced(&store)?;
    let blobs = store.sweep_unreferenced()?;
    println!(
        "Removed {} snapshots and {} blobs",
        snaps.len(),
        blobs.len()
    );
    Ok(())
}

/// `_monitor`: never returns.
pub fn monitor(a: MonitorArgs) -> ! {
    let code = crate::monitor::run(crate::monitor::MonitorArgs {
        root: a.root,
        id: a.id,
        sync_fd: a.sync_fd,
        attached: a.attach,
    });
    std::process::exit(code)
}
