//! `berth`: the command line, runc's in every flag clients pass.

mod cli;
mod cli_spec;
mod early_seal;

use anyhow::{bail, Context, Result};
use berth::container::exec::{build_process, ExecOptions, ProcessOverrides};
use berth::container::{self, CreateOptions};
use berth::logging;
use berth::state::Root;
use cli::{Cli, Command, ExecArgs, LogFormat};
use std::path::PathBuf;

/// berth's processes are short-lived: a bump arena first (see `startup_alloc`).
#[global_allocator]
static ALLOC: berth::startup_alloc::StartupAlloc = berth::startup_alloc::StartupAlloc::new();

fn main() {
    #[cfg(not(feature = "no-exe-seal"))]
    seal_before_parsing();
    let cli = cli::parse();
    if cli.globals.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        println!("spec: {}", berth::OCI_SPEC_VERSION);
        return;
    }
    let format = match cli.globals.log_format {
        LogFormat::Text => logging::Format::Text,
        LogFormat::Json => logging::Format::Json,
    };
    if let Err(e) = logging::init(cli.globals.log.as_deref(), format, cli.globals.debug) {
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
    let _ = berth::exe_seal::ensure_then(&plan.root, || {
        if matches!(plan.command, "create" | "run") {
            // The network namespace is made while the sealed copy starts.
            berth::container::start_before_reexec(&early_seal::bundle(&args));
        }
    });
}

fn run(cli: Cli) -> Result<i32> {
    if cli.globals.systemd_cgroup {
        bail!("--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (omit the flag)");
    }
    let rootless = match cli.globals.rootless.as_str() {
        "auto" => !nix::unistd::geteuid().is_root(),
        "true" => true,
        "false" => false,
        other => bail!("--rootless: expected auto, true or false, got {other:?}"),
    };
    let root = Root::new(
        cli.globals
            .root
            .clone()
            .unwrap_or_else(|| default_root(rootless)),
    );
    let Some(command) = cli.command else {
        bail!("no command given; see `berth --help`");
    };
    if cli.globals.trace || std::env::var_os("BERTH_TRACE").is_some_and(|v| v == "1") {
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
