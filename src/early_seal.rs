//! Deciding the CVE-2019-5736 re-exec (`exe_seal`) from argv, before clap parses it.
//!
//! `create`, `run` and `exec` re-execute berth from a sealed copy before doing anything
//! else. Parsing the command line with clap first builds the parser for every command (a
//! few hundred kB of heap, code pages of clap), only for the process to be replaced: the
//! re-executed process parses again. So `main` asks [`plan`] first. It reads only the
//! global flags that decide where the seal's state lives and whether to trace, and the
//! command word; whenever argv holds anything it does not fully understand it answers
//! `None`, and the re-exec then happens after clap's parse as before. The decision is
//! therefore only ever taken early, never changed: clap remains the parser of record, and
//! `exe_seal::ensure` is idempotent in the sealed process.

use std::ffi::OsString;
use std::path::PathBuf;

/// What the early re-exec needs: the command word (for `--trace`), the state root, and
/// whether tracing was asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub command: &'static str,
    pub root: PathBuf,
    pub trace: bool,
}

/// Global flags that take a value.
pub const VALUED: [&str; 5] = ["--root", "--log", "--log-format", "--rootless", "--criu"];
/// Global flags without one.
pub const SWITCHES: [&str; 3] = ["--debug", "--systemd-cgroup", "--trace"];

/// The plan for `args` (argv without argv[0]), or `None` when the command is not one that
/// starts container processes or argv is anything but plain.
pub fn plan(
    args: &[OsString],
    euid_is_root: bool,
    xdg_runtime_dir: Option<OsString>,
) -> Option<Plan> {
    let mut root: Option<PathBuf> = None;
    let mut rootless = "auto".to_string();
    let mut trace = false;
    let mut i = 0;
    let command = loop {
        let arg = args.get(i)?.to_str()?;
        i += 1;
        if !arg.starts_with('-') {
            break match arg {
                "create" => "create",
                "run" => "run",
                "exec" => "exec",
                _ => return None,
            };
        }
        if SWITCHES.contains(&arg) {
            trace |= arg == "--trace";
            continue;
        }
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, v.to_string()),
            None => {
                let v = args.get(i)?.to_str()?.to_string();
                i += 1;
                (arg, v)
            }
        };
        if !VALUED.contains(&name) {
            return None;
        }
        match name {
            "--root" => root = Some(PathBuf::from(value)),
            "--rootless" => rootless = value,
            _ => {}
        }
    };
    // Global flags may also follow the command; one that moves the root (or could be a
    // container argument that looks like it) leaves the decision to clap.
    let later_root_flag = args[i..].iter().any(|a| {
        a.to_str().is_some_and(|a| {
            ["--root", "--rootless"]
                .iter()
                .any(|f| a == *f || a.starts_with(&format!("{f}=")))
        })
    });
    if later_root_flag {
        return None;
    }
    let rootless = match rootless.as_str() {
        "auto" => !euid_is_root,
        "true" => true,
        "false" => false,
        _ => return None,
    };
    let root = root.unwrap_or_else(|| default_root(rootless, xdg_runtime_dir));
    Some(Plan {
        command,
        root,
        trace,
    })
}

/// The bundle a `create`/`run` argv names (`--bundle`/`-b`, else the current directory),
/// read without clap for the netns maker started before the re-exec. A wrong answer only
/// costs speed: `create` decides from the config clap's parse points at.
pub fn bundle(args: &[OsString]) -> PathBuf {
    let mut rest = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = rest.next() {
        if arg == "--bundle" || arg == "-b" {
            return rest.next().map(PathBuf::from).unwrap_or_default();
        }
        if let Some(v) = arg.strip_prefix("--bundle=") {
            return PathBuf::from(v);
        }
        if let Some(v) = arg.strip_prefix("-b").filter(|v| !v.is_empty()) {
            return PathBuf::from(v.strip_prefix('=').unwrap_or(v));
        }
    }
    PathBuf::from(".")
}

/// berth's state root when `--root` is not given: `$XDG_RUNTIME_DIR/berth` when rootless
/// and that is set, else `/run/berth`.
pub fn default_root(rootless: bool, xdg_runtime_dir: Option<OsString>) -> PathBuf {
    match xdg_runtime_dir {
        Some(dir) if rootless => PathBuf::from(dir).join("berth"),
        _ => PathBuf::from("/run/berth"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Option<Plan> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        plan(&args, true, Some("/run/user/1000".into()))
    }

    #[test]
    fn container_commands_with_leading_global_flags_are_planned() {
        let got = p(&[
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format=json",
            "run",
            "--bundle",
            "b",
            "x",
        ]);
        assert_eq!(
            got,
            Some(Plan {
                command: "run",
                root: "/r".into(),
                trace: false
            })
        );
        let got = p(&["--trace", "--root=/r2", "exec", "x", "ls"]).expect("planned");
        assert_eq!(
            (got.command, got.root, got.trace),
            ("exec", "/r2".into(), true)
        );
        assert_eq!(
            p(&["create", "--bundle", "b", "c"]).expect("planned").root,
            PathBuf::from("/run/berth")
        );
    }

    #[test]
    fn the_bundle_is_read_from_argv() {
        let b = |args: &[&str]| bundle(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(b(&["run", "--bundle", "/b", "c1"]), PathBuf::from("/b"));
        assert_eq!(
            b(&["--root", "/r", "create", "--bundle=/b", "c1"]),
            PathBuf::from("/b")
        );
        assert_eq!(b(&["create", "-b", "/b", "c1"]), PathBuf::from("/b"));
        assert_eq!(b(&["create", "-b/b", "c1"]), PathBuf::from("/b"));
        assert_eq!(b(&["create", "-b=/b", "c1"]), PathBuf::from("/b"));
        assert_eq!(b(&["run", "c1"]), PathBuf::from("."));
    }

    #[test]
    fn rootless_picks_the_runtime_dir() {
        let got = p(&["--rootless", "true", "create", "c"]).expect("planned");
        assert_eq!(got.root, PathBuf::from("/run/user/1000/berth"));
        let args: Vec<OsString> = ["create", "c"].iter().map(OsString::from).collect();
        let as_user = plan(&args, false, Some("/run/user/1000".into())).expect("planned");
        assert_eq!(as_user.root, PathBuf::from("/run/user/1000/berth"));
    }

    #[test]
    fn anything_unclear_is_left_to_clap() {
        assert_eq!(p(&["state", "x"]), None, "not a container-starting command");
        assert_eq!(p(&["--help"]), None);
        assert_eq!(p(&["-v"]), None);
        assert_eq!(p(&["--unknown", "run", "x"]), None);
        assert_eq!(p(&["--root"]), None, "flag without its value");
        assert_eq!(p(&["--rootless", "maybe", "run", "x"]), None);
        assert_eq!(
            p(&["run", "--root", "/elsewhere", "x"]),
            None,
            "root after the command"
        );
        assert_eq!(p(&["exec", "x", "tool", "--rootless=true"]), None);
        assert_eq!(p(&[]), None);
    }
}
