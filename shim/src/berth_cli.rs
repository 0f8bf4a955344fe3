//! Runs the berth CLI the way containerd's runc shim runs runc (global flags first:
//! `--root R --log <bundle>/log.json --log-format json`), and waits for it through the
//! reaper's exit monitor: the shim is a subreaper whose reaper thread `waitpid(-1)`s every
//! child, so a `Child::wait` would race it. The subscription is taken before the spawn, so
//! no exit is missed. On failure the error is berth's last JSON log line.

use crate::shim_api::monitor::{monitor_subscribe, wait_pid};
use crate::shim_api::Topic;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BerthError {
    #[error("cannot run {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("berth {verb} failed: {msg}")]
    Failed { verb: String, msg: String },
    #[error("cannot watch child exits: {0}")]
    Monitor(String),
}

/// How to call berth for one container.
#[derive(Debug, Clone)]
pub struct Berth {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
    pub systemd_cgroup: bool,
    /// berth's library for the non-forking verbs (berth_lib.rs), once `create` showed that
    /// it reads this container's state; None: every call goes to the CLI.
    pub library: Option<crate::berth_lib::Library>,
}

/// What the child's stdio is.
pub struct ChildStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl ChildStdio {
    /// /dev/null in, pipes out (captured).
    pub fn captured() -> Self {
        ChildStdio {
            stdin: Stdio::null(),
            stdout: Stdio::piped(),
            stderr: Stdio::piped(),
        }
    }
}

/// What a finished berth call printed.
#[derive(Debug, Default)]
pub struct Finished {
    pub stdout: String,
}

impl Berth {
    fn command(&self, args: &[OsString]) -> Command {
        crate::restore_umask();
        let mut cmd = Command::new(crate::sealed_berth::program(&self.binary, &self.root));
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        cmd.args(args);
        cmd
    }

    /// Runs `berth <globals> ARGS` with `stdio`, waits, and maps a non-zero exit to the
    /// last error berth logged.
    pub fn run(&self, args: &[OsString], stdio: ChildStdio) -> Result<Finished, BerthError> {
        let verb = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let subscription =
            monitor_subscribe(Topic::Pid).map_err(|e| BerthError::Monitor(e.to_string()))?;
        let mut child = self
            .command(args)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr)
            .spawn()
            .map_err(|source| BerthError::Spawn {
                binary: self.binary.display().to_string(),
                source,
            })?;
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let code = wait_pid(child.id() as i32, subscription);
        if code == 0 {
            return Ok(Finished { stdout });
        }
        let msg = last_logged_error(&self.log)
            .or_else(|| Some(stderr.trim().to_string()).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("exit status {code}"));
        Err(BerthError::Failed { verb, msg })
    }

    /// `run` with nothing to pass and nothing to read.
    pub fn call(&self, args: &[&str]) -> Result<Finished, BerthError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.run(&args, ChildStdio::captured())
    }
}

/// The `msg` of the last `"level":"error"` JSON line in berth's log file.
pub fn last_logged_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v.get("level")?.as_str()? != "error" {
            return None;
        }
        Some(v.get("msg")?.as_str()?.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_line_wins() {
        let dir = std::env::temp_dir().join(format!("berth-shim-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log.json");
        std::fs::write(
            &log,
            "{\"level\":\"error\",\"msg\":\"first\"}\nnot json\n{\"level\":\"error\",\"msg\":\"second\"}\n{\"level\":\"info\",\"msg\":\"x\"}\n",
        )
        .unwrap();
        assert_eq!(last_logged_error(&log).as_deref(), Some("second"));
        assert_eq!(last_logged_error(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
