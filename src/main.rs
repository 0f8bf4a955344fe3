//! `berth`: the command line, runc's in every flag clients pass.

mod cli_spec;
mod early_seal;

use anyhow::{bail, Context, Result};
use berth::container::exec::{build_process, ExecOptions, ProcessOverrides};
use berth::container::{self, CreateOptions};
use berth::logging;
use berth::state::Root;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// berth's processes are short-lived: a bump arena first (see `startup_alloc`).
#[global_allocator]
static ALLOC: berth::startup_alloc::StartupAlloc = berth::startup_alloc::StartupAlloc::new();

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "berth: a fast, safe OCI container runtime with runc's command line",
    long_about = "berth runs containers from OCI bundles (a directory holding config.json and a root \
filesystem). Its commands and flags are runc's, so containerd, podman/conmon and docker can \
call it in place of runc.\n\nTypical use:\n  berth spec --bundle /b            # write a default config.json\n  \
berth run --bundle /b mycontainer  # create, start, wait, delete\n  berth create --bundle /b c1 && berth start c1",
    disable_version_flag = true
)]
struct Cli {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Write log lines to this file instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log line format: text, or json (one {"level","msg","time"} object per line).
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Also log debug lines.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported yet: an error).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: auto (by effective uid), true or false.
    #[arg(long, value_name = "auto|true|false", default_value = "auto")]
    rootless: String,
    /// Ignored; accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Print a timing line per phase of create/start/exec to stderr (also BERTH_TRACE=1).
    #[arg(long, global = true)]
    trace: bool,
    /// Print the version and the runtime-spec version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
struct ExecArgs {
    /// The process as OCI process JSON (what containerd and conmon pass).
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Return once the process started; its pid goes to --pid-file.
    #[arg(short, long)]
    detach: bool,
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Allocate a pty.
    #[arg(short, long)]
    tty: bool,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Add or replace an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// UID[:GID], numbers or names from the container's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Supplementary group id; repeatable.
    #[arg(short = 'g', long, value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_X or X); repeatable.
    #[arg(short, long, value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: i32,
    /// AppArmor profile (an error on hosts without AppArmor).
    #[arg(long, value_name = "PROFILE")]
    apparmor: Option<String>,
    /// SELinux label (an error on hosts without SELinux).
    #[arg(long, value_name = "LABEL")]
    process_label: Option<String>,
    /// Exec even when the container is paused.
    #[arg(long)]
    ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container's: PATH (every hierarchy), or
    /// CONTROLLER[,CONTROLLER]:PATH per v1 controller; repeatable.
    #[arg(long, value_name = "[CONTROLLER:]PATH")]
    cgroup: Vec<String>,
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container: set everything up and leave its init waiting for `start`.
    Create {
        /// Bundle directory (holds config.json).
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Unix socket that receives the pty master (process.terminal).
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// File to write the init's pid to, before create returns.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Use MS_MOVE + chroot instead of pivot_root (for ramdisk roots).
        #[arg(long)]
        no_pivot: bool,
        /// Keep the caller's session keyring.
        #[arg(long)]
        no_new_keyring: bool,
        /// Pass N extra fds (3 .. 3+N-1) to the container, with LISTEN_FDS set.
        #[arg(long, default_value_t = 0, value_name = "N")]
        preserve_fds: i32,
        /// Container ID.
        id: String,
    },
    /// Start a created container: its process is executed.
    Start { id: String },
    /// Create and start a container; in the foreground wait for it, then delete it.
    Run {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Return once the container started.
        #[arg(short, long)]
        detach: bool,
        /// Don't delete the container after it exits.
        #[arg(long)]
        keep: bool,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        #[arg(long, hide = true)]
        no_subreaper: bool,
        #[arg(long)]
        no_pivot: bool,
        #[arg(long)]
        no_new_keyring: bool,
        #[arg(long, default_value_t = 0, value_name = "N")]
        preserve_fds: i32,
        id: String,
    },
    /// Print the container's state as OCI state JSON.
    State { id: String },
    /// Send a signal (name or number, default TERM) to the container's init.
    Kill {
        /// Signal every process in the container's cgroup.
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container and everything create made.
    Delete {
        /// Kill the container first if it is running; succeed if it does not exist.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table", value_name = "table|json")]
        format: String,
        /// Print only IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for running without root.
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
        /// Include berth's default seccomp profile (equivalent to Docker's) as linux.seccomp.
        #[arg(long)]
        default_seccomp: bool,
    },
    /// Print what berth supports, as runtime-spec features JSON.
    Features,
    /// List the processes in a container: host pids (json) or the host's `ps` lines (table).
    Ps {
        #[arg(short, long, default_value = "table", value_name = "table|json")]
        format: String,
        id: String,
        /// Arguments for the host's ps (default -ef), after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a new process in a running container: berth exec ID COMMAND [ARGS...]
    Exec(Box<ExecArgs>),
    /// Freeze every process of a container (status "paused").
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Print the container's events as JSON lines: stats every interval, and OOM kills.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events (Go duration: 5s, 500ms, 1m).
        #[arg(long, default_value = "5s", value_parser = container::events::parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// Change a live container's resources (LinuxResources JSON and/or flags).
    Update {
        /// LinuxResources JSON file, or - for stdin; the flags below override it.
        #[arg(short, long, value_name = "FILE|-")]
        resources: Option<String>,
        #[command(flatten)]
        flags: Box<container::UpdateFlags>,
        id: String,
    },
}

impl Command {
    /// The verb, as `--trace` lines name it.
    fn name(&self) -> &'static str {
        match self {
            Command::Create { .. } => "create",
            Command::Start { .. } => "start",
            Command::Run { .. } => "run",
            Command::State { .. } => "state",
            Command::Kill { .. } => "kill",
            Command::Delete { .. } => "delete",
            Command::List { .. } => "list",
            Command::Spec { .. } => "spec",
            Command::Features => "features",
            Command::Ps { .. } => "ps",
            Command::Exec(_) => "exec",
            Command::Pause { .. } => "pause",
            Command::Resume { .. } => "resume",
            Command::Events { .. } => "events",
            Command::Update { .. } => "update",
        }
    }

    /// Whether the command starts processes in a container (the init, an exec'd process):
    /// those must never run from the host's berth file (CVE-2019-5736, `exe_seal`).
    fn starts_container_processes(&self) -> bool {
        matches!(
            self,
            Command::Create { .. } | Command::Run { .. } | Command::Exec(_)
        )
    }
}

fn main() {
    #[cfg(not(feature = "no-exe-seal"))]
    seal_before_parsing();
    let cli = Cli::parse();
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", berth::OCI_SPEC_VERSION);
        return;
    }
    let format = match cli.log_format {
        LogFormat::Text => logging::Format::Text,
        LogFormat::Json => logging::Format::Json,
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("berth: cannot open log file: {e}");
        std::process::exit(1);
    }
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = one_line(&e);
            if logging::has_file() {
                logging::error(&msg);
            }
            eprintln!("berth: {msg}");
            std::process::exit(1);
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the line already holds
/// (berth's errors carry their cause in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}

fn default_root(rootless: bool) -> PathBuf {
    early_seal::default_root(rootless, std::env::var_os("XDG_RUNTIME_DIR"))
}

/// `create`, `run` and `exec` re-execute from a sealed copy before clap builds its parser,
/// when argv is plain enough to tell (`early_seal`); otherwise `run` does it after parsing.
#[cfg(not(feature = "no-exe-seal"))]
fn seal_before_parsing() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let euid_is_root = nix::unistd::geteuid().is_root();
    let Some(plan) = early_seal::plan(&args, euid_is_root, std::env::var_os("XDG_RUNTIME_DIR"))
    else {
        return;
    };
    if plan.trace || std::env::var_os("BERTH_TRACE").is_some_and(|v| v == "1") {
        berth::trace::enable(plan.command);
    }
    // A failure here is reported by the same call after clap's parse.
    let _ = berth::exe_seal::ensure(&plan.root);
}

fn run(cli: Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (omit the flag)");
    }
    let rootless = match cli.rootless.as_str() {
        "auto" => !nix::unistd::geteuid().is_root(),
        "true" => true,
        "false" => false,
        other => bail!("--rootless: expected auto, true or false, got {other:?}"),
    };
    let root = Root::new(cli.root.clone().unwrap_or_else(|| default_root(rootless)));
    let Some(command) = cli.command else {
        bail!("no command given; see `berth --help`");
    };
    if cli.trace || std::env::var_os("BERTH_TRACE").is_some_and(|v| v == "1") {
        berth::trace::enable(command.name());
    }
    if command.starts_container_processes() && cfg!(not(feature = "no-exe-seal")) {
        // Returns only once berth runs from a sealed copy; re-executes itself otherwise.
        berth::exe_seal::ensure(&root.dir)?;
        berth::trace::mark("exe-sealed");
    }
    match command {
        Command::Create {
            bundle,
            console_socket,
            pid_file,
            no_pivot,
            no_new_keyring,
            preserve_fds,
            id,
        } => {
            let opts = CreateOptions {
                id,
                bundle,
                pid_file,
                console_socket,
                no_pivot,
                no_new_keyring,
                preserve_fds,
                foreground: false,
                rootless,
            };
            container::create(&root, &opts)?;
            Ok(0)
        }
        Command::Start { id } => {
            container::start(&root, &id)?;
            Ok(0)
        }
        Command::Run {
            bundle,
            console_socket,
            detach,
            keep,
            pid_file,
            no_subreaper: _,
            no_pivot,
            no_new_keyring,
            preserve_fds,
            id,
        } => {
            let opts = CreateOptions {
                id: id.clone(),
                bundle,
                pid_file,
                console_socket,
                no_pivot,
                no_new_keyring,
                preserve_fds,
                foreground: !detach,
                rootless,
            };
            if !detach {
                // The init may be a grandchild (joined user namespace + new pid namespace):
                // adopt it so it can be waited for.
                container::run::become_subreaper();
            }
            let created = container::create(&root, &opts)?;
            if !detach {
                return Ok(container::run::start_wait_and_finish(&root, created, keep)?);
            }
            if let Err(e) = container::start(&root, &id) {
                let _ = container::delete(&root, &id, true);
                return Err(e.into());
            }
            Ok(0)
        }
        Command::State { id } => {
            let st = container::oci_state(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = container::parse_signal(&signal)?;
            container::kill(&root, &id, sig, all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            container::delete(&root, &id, force)?;
            Ok(0)
        }
        Command::List { format, quiet } => {
            let states = container::list(&root)?;
            if quiet {
                for s in &states {
                    println!("{}", s.id);
                }
            } else if format == "json" {
                println!("{}", serde_json::to_string(&states)?);
            } else if format == "table" {
                println!(
                    "{:<12} {:<8} {:<10} {:<40} {:<32} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in &states {
                    println!(
                        "{:<12} {:<8} {:<10} {:<40} {:<32} {}",
                        s.id,
                        s.pid,
                        s.status,
                        s.bundle.display(),
                        s.created,
                        if s.owner.is_empty() { "root" } else { &s.owner }
                    );
                }
            } else {
                bail!("--format: expected table or json, got {format:?}");
            }
            Ok(0)
        }
        Command::Spec {
            bundle,
            rootless,
            default_seccomp,
        } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{}: file exists; remove it first", path.display());
            }
            let text = cli_spec::default_spec_json(rootless, default_seccomp)?;
            std::fs::write(&path, text).with_context(|| path.display().to_string())?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&cli_spec::features())?);
            Ok(0)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            match format.as_str() {
                "json" => println!(
                    "{}",
                    serde_json::to_string(&container::ps::pids(&root, &id)?)?
                ),
                "table" => print!("{}", container::ps::table(&root, &id, &ps_args)?),
                other => bail!("--format: expected table or json, got {other:?}"),
            }
            Ok(0)
        }
        Command::Exec(a) => {
            let ExecArgs {
                process,
                detach,
                pid_file,
                console_socket,
                tty,
                cwd,
                env,
                user,
                additional_gids,
                cap,
                no_new_privs,
                preserve_fds,
                apparmor,
                process_label,
                ignore_paused,
                cgroup,
                id,
                args,
            } = *a;
            let st = root.load(&id)?;
            let overrides = ProcessOverrides {
                args,
                env,
                cwd,
                user,
                additional_gids,
                caps: cap,
                no_new_privs,
                tty,
                apparmor,
                process_label,
            };
            let spec = container::exec::bundle_spec(&st);
            let proc_spec = build_process(&st, spec.as_ref(), process.as_deref(), &overrides)?;
            let opts = ExecOptions {
                id,
                detach,
                pid_file,
                console_socket,
                preserve_fds,
                ignore_paused,
                sub_cgroups: cgroup,
            };
            let execed = container::exec::exec(&root, &st, spec.as_ref(), &opts, &proc_spec)?;
            if detach {
                return Ok(0);
            }
            Ok(match execed.console_relay {
                Some(relay) => container::run::relay_and_wait(execed.pid, relay)?,
                None => container::run::forward_and_wait(execed.pid)?,
            })
        }
        Command::Pause { id } => {
            container::pause(&root, &id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            container::resume(&root, &id)?;
            Ok(0)
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            container::events(&root, &id, stats, interval, &mut std::io::stdout())?;
            Ok(0)
        }
        Command::Update {
            resources,
            flags,
            id,
        } => {
            container::update(&root, &id, resources.as_deref(), &flags)?;
            Ok(0)
        }
    }
}
