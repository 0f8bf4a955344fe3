//! OCI hooks: run each with its args and env, the container state on stdin, and its
//! timeout. Output goes to a memfd so a failing hook's words reach the error line without
//! threads or pipes that could fill up.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The point in the lifecycle a hook list belongs to (names as in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// Poststart and poststop failures are warnings: the remaining hooks still run.
    pub fn fatal(self) -> bool {
        !matches!(self, Kind::Poststart | Kind::Poststop)
    }
}

/// The hook list of `kind` from `hooks`.
pub fn list(hooks: Option<&oci_spec::runtime::Hooks>, kind: Kind) -> Vec<Hook> {
    let Some(h) = hooks else { return Vec::new() };
    #[allow(deprecated)]
    let v = match kind {
        Kind::Prestart => h.prestart(),
        Kind::CreateRuntime => h.create_runtime(),
        Kind::CreateContainer => h.create_container(),
        Kind::StartContainer => h.start_container(),
        Kind::Poststart => h.poststart(),
        Kind::Poststop => h.poststop(),
    };
    v.clone().unwrap_or_default()
}

/// Runs the hooks of one kind in order. For fatal kinds the first failure is returned; for
/// the others every hook runs and each failure is passed to `warn`.
pub fn run_all(
    hooks: &[Hook],
    kind: Kind,
    state_json: &str,
    warn: &mut dyn FnMut(&str),
) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(hook, state_json) {
            let msg = format!("{} hook #{i} ({}): {e}", kind.name(), hook.path().display());
            if kind.fatal() {
                return Err(Error::Other(msg));
            }
            warn(&msg);
        }
    }
    Ok(())
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().clone().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let out = nix::sys::memfd::memfd_create(c"berth-hook", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| format!("memfd: {e}"))?;
    let mut out = std::fs::File::from(out);
    let out2 = out.try_clone().map_err(|e| e.to_string())?;
    let out3 = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped()).stdout(out2).stderr(out3);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading stdin; EPIPE is not its failure.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let mut nap = Duration::from_micros(200);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", hook.timeout().unwrap_or(0)));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = out.rewind();
    let _ = (&mut out).take(4096).read_to_string(&mut text);
    let text = text.trim().replace('\n', " ");
    if text.is_empty() {
        Err(format!("{status}"))
    } else {
        Err(format!("{status}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_args_and_env() {
        let dir = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$1 $FOO\" >> {0}","x","arg1"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        run_all(&[h], Kind::Prestart, "{\"id\":\"c\"}", &mut |_| {}).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, "{\"id\":\"c\"}arg1 bar\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failing_fatal_hook_reports_its_output() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo boom >&2; exit 3"]}"#);
        let err = run_all(&[h], Kind::CreateRuntime, "{}", &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("createRuntime hook #0") && err.contains("boom"),
            "{err}"
        );
    }

    #[test]
    fn failing_poststop_warns_and_continues() {
        let bad = hook(r#"{"path":"/bin/false"}"#);
        let dir = std::env::temp_dir().join(format!("berth-hook2-{}", std::process::id()));
        let good = hook(&format!(
            r#"{{"path":"/bin/mkdir","args":["mkdir","{}"]}}"#,
            dir.display()
        ));
        let mut warnings = Vec::new();
        run_all(&[bad, good], Kind::Poststop, "{}", &mut |w| {
            warnings.push(w.to_string())
        })
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(dir.is_dir());
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn timeout_kills_the_hook() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","30"],"timeout":1}"#);
        let t = Instant::now();
        let err = run_all(&[h], Kind::Prestart, "{}", &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
