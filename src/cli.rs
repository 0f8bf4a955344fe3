//! berth's command line: runc's commands and flags, parsed by clap.
//!
//! [`parse`] builds clap's parser for the global flags and the one command argv names,
//! not for every command: a berth process lives for milliseconds, and the whole tree
//! (fifteen commands, the global flags copied into each) cost about a third of its startup
//! in instructions and page faults. Whatever argv it cannot place (no command word, `help`,
//! an unknown flag before the word) goes to the full parser, so help and errors are clap's
//! own either way; the unit tests hold both parsers to the same results.

use crate::early_seal::{SWITCHES, VALUED};
use berth::container;
#[cfg(test)]
use clap::CommandFactory;
use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

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
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// The flags before the command word (`--root`, `--log`, ...); most may also follow it.
#[derive(clap::Args, Debug)]
pub struct Globals {
    /// Directory for container state (tmpfs recommended).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write log lines to this file instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log line format: text, or json (one {"level","msg","time"} object per line).
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Also log debug lines.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet: an error).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto (by effective uid), true or false.
    #[arg(long, value_name = "auto|true|false", default_value = "auto")]
    pub rootless: String,
    /// Ignored; accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print a timing line per phase of create/start/exec to stderr (also BERTH_TRACE=1).
    #[arg(long, global = true)]
    pub trace: bool,
    /// Print the version and the runtime-spec version.
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The process as OCI process JSON (what containerd and conmon pass).
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process started; its pid goes to --pid-file.
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Allocate a pty.
    #[arg(short, long)]
    pub tty: bool,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Add or replace an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// UID[:GID], numbers or names from the container's /etc/passwd and /etc/group.
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Supplementary group id; repeatable.
    #[arg(short = 'g', long, value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_X or X); repeatable.
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    pub no_new_privs: bool,
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// AppArmor profile (an error on hosts without AppArmor).
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// SELinux label (an error on hosts without SELinux).
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Exec even when the container is paused.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run in an existing sub-cgroup of the container's: PATH (every hierarchy), or
    /// CONTROLLER[,CONTROLLER]:PATH per v1 controller; repeatable.
    #[arg(long, value_name = "[CONTROLLER:]PATH")]
    pub cgroup: Vec<String>,
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The commands, each with its own flags. Their arguments are defined lazily (`defer`):
/// a process builds the parser of the one command it runs, not of all fifteen.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
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
    pub fn name(&self) -> &'static str {
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
    pub fn starts_container_processes(&self) -> bool {
        matches!(
            self,
            Command::Create { .. } | Command::Run { .. } | Command::Exec(_)
        )
    }
}
/// Parses berth's argv, exiting with clap's message on an error or for `--help`.
pub fn parse() -> Cli {
    let argv: Vec<OsString> = std::env::args_os().collect();
    parse_from(&argv).unwrap_or_else(|e| e.exit())
}

/// Parses `argv` (with argv[0]) with the one-command parser when [`command_word`] finds
/// the command, with the full parser otherwise.
fn parse_from(argv: &[OsString]) -> Result<Cli, clap::Error> {
    let one = argv
        .get(1..)
        .and_then(command_word)
        .and_then(one_command_parser);
    match one {
        Some(mut parser) => {
            let matches = parser.try_get_matches_from_mut(argv)?;
            Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut parser))
        }
        None => Cli::try_parse_from(argv),
    }
}

/// The command word of `args` (argv without argv[0]), when only global flags clap reads
/// the same way come before it; None otherwise.
fn command_word(args: &[OsString]) -> Option<&str> {
    let mut i = 0;
    loop {
        let arg = args.get(i)?.to_str()?;
        i += 1;
        if !arg.starts_with('-') {
            return Some(arg);
        }
        if SWITCHES.contains(&arg) {
            continue;
        }
        match arg.split_once('=') {
            Some((name, _)) if VALUED.contains(&name) => {}
            None if VALUED.contains(&arg) => i += 1,
            _ => return None,
        }
    }
}

/// clap's parser for the global flags and the command named `word`, or None when no
/// command has that name (`help`, a typo: the full parser says what is wrong).
fn one_command_parser(word: &str) -> Option<clap::Command> {
    // Cheap: with `defer`, each command here is a name and its about line.
    let commands = Command::augment_subcommands(clap::Command::new("berth"));
    let chosen = commands.find_subcommand(word)?.clone();
    Some(
        Globals::augment_args(clap::Command::new("berth"))
            .disable_version_flag(true)
            .subcommand(chosen),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("berth")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// What a parse gave, comparable across the two parsers: the parsed value, or the
    /// error's kind and the text clap prints for it.
    fn outcome(r: Result<Cli, clap::Error>) -> String {
        match r {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    fn assert_same(args: &[&str]) {
        let argv = argv(args);
        let word = command_word(&argv[1..]).expect("argv names a command");
        let mut parser = one_command_parser(word).expect("a known command");
        let one = parser
            .try_get_matches_from_mut(&argv)
            .and_then(|m| Cli::from_arg_matches(&m));
        assert_eq!(
            outcome(one),
            outcome(Cli::try_parse_from(&argv)),
            "berth {args:?}"
        );
    }

    #[test]
    fn one_command_parser_agrees_with_the_full_one() {
        // One argv per line, split at spaces.
        let cases = [
            "create --bundle /b --pid-file /p --console-socket /s c1",
            "--root /r --log /l --log-format json create -b /b c",
            "--root=/r --debug --trace run --detach --keep c",
            "run --root /late --preserve-fds 2 c",
            "start c",
            "state c",
            "kill --all c KILL",
            "kill c",
            "delete --force c",
            "list -q",
            "list --format json",
            "spec --rootless --bundle /b",
            "features",
            "ps --format json c -- -ef",
            "exec --process /p.json --detach --pid-file /p c",
            "exec -t --env A=1 -u 1000:1000 c sh -c echo --root y",
            "pause c",
            "resume c",
            "events --stats --interval 1s c",
            "update --resources - c",
            "update --memory 1048576 --pids-limit 10 c",
            // Errors: clap's text must be the same, usage line and tips included.
            "create",
            "create --nope c",
            "run --bundle",
            "kill c TERM extra",
            "events --interval soon c",
            "--log-format yaml state c",
            "list --rootless true",
        ];
        for case in cases {
            assert_same(&case.split_whitespace().collect::<Vec<_>>());
        }
    }

    #[test]
    fn every_command_has_the_same_help_on_both_parsers() {
        let full = Cli::command();
        let names: Vec<String> = full
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names.len(), 15, "{names:?}");
        for name in &names {
            assert_same(&[name.as_str(), "--help"]);
            assert_same(&[name.as_str(), "-h"]);
        }
    }

    #[test]
    fn deferred_arguments_keep_each_commands_about_line() {
        // A flattened struct's doc comment, applied when the deferred arguments are built,
        // would replace the command's own about line (`update` once said "The per-field
        // flags of `update`" in its help).
        let mut full = Cli::command();
        let before: Vec<(String, Option<String>)> = full
            .get_subcommands()
            .map(|c| {
                (
                    c.get_name().to_string(),
                    c.get_about().map(|a| a.to_string()),
                )
            })
            .collect();
        full.build();
        for (name, about) in before {
            let built = full.find_subcommand(&name).expect("still there");
            assert!(about.is_some(), "{name} has an about line");
            assert_eq!(built.get_about().map(|a| a.to_string()), about, "{name}");
        }
    }

    #[test]
    fn the_command_word_is_found_only_after_plain_global_flags() {
        let word = |args: &[&str]| {
            let argv = argv(args);
            command_word(&argv[1..]).map(str::to_string)
        };
        assert_eq!(word(&["state", "c"]).as_deref(), Some("state"));
        assert_eq!(
            word(&["--root", "run", "--log=/l", "--trace", "create", "c"]).as_deref(),
            Some("create"),
            "a flag's value is not the command"
        );
        assert_eq!(word(&["--help"]), None);
        assert_eq!(word(&["-v"]), None);
        assert_eq!(word(&["--unknown", "state", "c"]), None);
        assert_eq!(word(&["--root"]), None);
        assert_eq!(word(&[]), None);
        // A word that names no command goes to the full parser, which explains.
        assert!(one_command_parser("help").is_none());
        assert!(one_command_parser("bogus").is_none());
        assert!(parse_from(&argv(&["bogus"])).is_err());
    }
}
