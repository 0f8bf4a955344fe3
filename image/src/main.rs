//! `dock`: berth's image tool: a local image store (`images`, `tag`, `rmi`), a registry client
//! (`pull`, `push`, `login`, `logout`), an OCI registry (`dock registry ...`), and containers
//! on berth (`run`, `ps`, `logs`, `exec`, `stop`, `kill`, `rm`, `inspect`, `system prune`).
//! `build` makes images from Dockerfiles, running RUN steps on berth.

mod archive;
mod archive_commands;
mod bundle;
// dock build's executor lives beside the library's build front end (see its module doc).
#[path = "build/exec/mod.rs"]
mod build_exec;
mod commands;
mod container_commands;
mod container_listing;
mod containers;
mod inspect;
mod lifecycle;
mod listing;
mod logfile;
mod manifest;
mod monitor;
mod progress;
mod pull;
mod push;
mod reference;
mod remote;
mod run;
mod runtime;
mod signals;
// `Snapshots::with_limits` and `prepare_rootfs_with` serve the snapshot tests only; everything
// else in the module is used by pull, rmi, run, rm and prune.
#[allow(dead_code)]
mod snapshot;
mod store;

/// The unpacker lives in the library (so image/tests/ can drive it); `crate::unpack` is it.
#[allow(unused_imports)]
use dock::unpack;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use dock_registry::gc::{collect, GcOptions};
use dock_registry::root_lock::{lock_root, LockMode};
use dock_registry::server::{open_registry, users_file};
use dock_registry::users::Users;
use dock_registry::ServeOptions;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "dock", version, about = "Build, move and run OCI images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download an image from a registry.
    Pull(commands::PullArgs),
    /// Upload an image to a registry.
    Push(commands::PushArgs),
    /// List stored images.
    Images(commands::ImagesArgs),
    /// Give an image another name.
    Tag(commands::TagArgs),
    /// Remove image names and the blobs no other image needs.
    Rmi(commands::RmiArgs),
    /// Save credentials for a registry.
    Login(commands::LoginArgs),
    /// Forget credentials for a registry.
    Logout(commands::LogoutArgs),
    /// Run and administer an OCI distribution registry.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Build an image from a Dockerfile (RUN steps on berth).
    Build(Box<build_exec::BuildArgs>),
    /// Run a command in a new container (on berth).
    Run(Box<run::RunArgs>),
    /// List containers.
    Ps(container_commands::PsArgs),
    /// Print a container's output.
    Logs(container_commands::LogsArgs),
    /// Run a command in a running container.
    Exec(container_commands::ExecArgs),
    /// Stop containers: their stop signal, then SIGKILL.
    Stop(container_commands::StopArgs),
    /// Send a signal to containers.
    Kill(container_commands::KillArgs),
    /// Remove containers.
    Rm(container_commands::RmArgs),
    /// Show containers or images as JSON.
    Inspect(container_commands::InspectArgs),
    /// Write images to a tar archive (docker-archive or oci-archive).
    Save(archive_commands::SaveArgs),
    /// Read images from a tar archive.
    Load(archive_commands::LoadArgs),
    /// Manage dock's state.
    #[command(subcommand)]
    System(SystemCommand),
    /// The per-container monitor (started by `dock run`).
    #[command(name = "_monitor", hide = true)]
    Monitor(container_commands::MonitorArgs),
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Remove stopped containers and unused snapshots and blobs.
    Prune(container_commands::PruneArgs),
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve the registry API.
    Serve(ServeArgs),
    /// Manage registry users.
    #[command(subcommand)]
    User(UserCommand),
    /// Apply lifecycle policies and delete unreferenced blobs. Prefer `gc_interval_secs` in the
    /// config to run it inside a live server; offline runs rely on the grace period alone.
    Gc(GcArgs),
}

#[derive(Args)]
struct GcArgs {
    /// Storage root.
    #[arg(long, default_value = "/var/lib/dock/registry")]
    root: PathBuf,
    /// JSON configuration file (lifecycle policies, grace period).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override the grace period in seconds.
    #[arg(long)]
    grace_secs: Option<u64>,
    /// Report what would be deleted without deleting.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Storage root.
    #[arg(long, default_value = "/var/lib/dock/registry")]
    root: PathBuf,
    /// JSON configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve anonymously even on a non-loopback address.
    #[arg(long)]
    insecure_anonymous: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add or replace a user; the password is read from the first line of stdin.
    Add {
        /// User name.
        name: String,
        /// Storage root of the registry.
        #[arg(long, default_value = "/var/lib/dock/registry")]
        root: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Build(a) => std::process::exit(build_exec::build(*a)),
        Command::Run(a) => std::process::exit(run::run(*a)),
        Command::Ps(a) => container_commands::ps(a),
        Command::Logs(a) => container_commands::logs(a),
        Command::Exec(a) => container_commands::exec(a),
        Command::Stop(a) => container_commands::stop(a),
        Command::Kill(a) => container_commands::kill(a),
        Command::Rm(a) => container_commands::rm(a),
        Command::Inspect(a) => container_commands::inspect(a),
        Command::Save(a) => archive_commands::save(a),
        Command::Load(a) => archive_commands::load(a),
        Command::System(SystemCommand::Prune(a)) => container_commands::prune(a),
        Command::Monitor(a) => container_commands::monitor(a),
        Command::Pull(a) => commands::pull(a),
        Command::Push(a) => commands::push(a),
        Command::Images(a) => commands::images(a),
        Command::Tag(a) => commands::tag(a),
        Command::Rmi(a) => commands::rmi(a),
        Command::Login(a) => commands::login(a),
        Command::Logout(a) => commands::logout(a),
        Command::Registry(RegistryCommand::Serve(args)) => serve(args),
        Command::Registry(RegistryCommand::User(UserCommand::Add { name, root })) => {
            user_add(&name, &root)
        }
        Command::Registry(RegistryCommand::Gc(args)) => gc(args),
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let opts = ServeOptions {
        addr: args.addr,
        root: args.root,
        config: args.config,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        insecure_anonymous: args.insecure_anonymous,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let mut server = dock_registry::start(opts).await?;
        eprintln!("dock registry listening on {}", server.addr);
        tokio::select! {
            r = &mut server.task => { r.context("server task")?.context("serving")?; }
            r = tokio::signal::ctrl_c() => { r.context("waiting for ctrl-c")?; server.abort(); }
        }
        Ok(())
    })
}

fn user_add(name: &str, root: &std::path::Path) -> Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("empty password on stdin");
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    Users::add_to_file(&users_file(root), name, password)?;
    eprintln!("user {name} saved; restart the registry to apply");
    Ok(())
}

fn gc(args: GcArgs) -> Result<()> {
    let _exclusive = lock_root(&args.root, LockMode::Exclusive).context(
        "a server is using this root: stop it, or set gc_interval_secs in its config to collect in-process",
    )?;
    let reg = open_registry(&args.root, args.config.as_deref(), false)?;
    let grace = args.grace_secs.unwrap_or(reg.access.config().gc_grace_secs);
    let opts = GcOptions {
        grace: Duration::from_secs(grace),
        dry_run: args.dry_run,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let report = rt.block_on(collect(&reg, &opts))?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for t in &report.tags_pruned {
        println!("{verb} tag {t}");
    }
    for m in &report.manifests_expired {
        println!("{verb} manifest {m}");
    }
    for b in &report.blobs_swept {
        println!("{verb} blob {b}");
    }
    println!(
        "{} blobs referenced, {} unreferenced kept for the grace period, {} {verb}",
        report.blobs_marked,
        report.blobs_in_grace,
        report.blobs_swept.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults_and_tls_pairing() {
        let cli = Cli::try_parse_from(["dock", "registry", "serve"]).unwrap();
        let Command::Registry(RegistryCommand::Serve(args)) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(args.addr.to_string(), "127.0.0.1:5000");
        assert!(!args.insecure_anonymous);
        assert!(Cli::try_parse_from(["dock", "registry", "serve", "--tls-cert", "c"]).is_err());
        assert!(Cli::try_parse_from([
            "dock",
            "registry",
            "serve",
            "--tls-cert",
            "c",
            "--tls-key",
            "k"
        ])
        .is_ok());
    }
}
