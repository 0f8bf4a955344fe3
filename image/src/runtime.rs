//! Finding and calling the OCI runtime (berth) as a CLI: dock never forks container processes
//! itself. The binary is `--runtime PATH`, else `$DOCK_RUNTIME`, else `berth` next to the dock
//! binary, else `berth` on `$PATH`. berth keeps its state for dock's containers under
//! `<dock root>/berth`, apart from other berth users.

use std::path::{Path, PathBuf};
use std::process::Command;

/// No berth binary was found.
#[derive(Debug, thiserror::Error)]
#[error("cannot find the berth runtime ({0}): pass --runtime PATH or set DOCK_RUNTIME")]
pub struct NotFound(String);

fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Locate the runtime binary.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, NotFound> {
    if let Some(p) = explicit {
        return if executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(NotFound(format!(
                "--runtime {} is not an executable file",
                p.display()
            )))
        };
    }
    if let Some(p) = std::env::var_os("DOCK_RUNTIME").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(NotFound(format!(
                "DOCK_RUNTIME={} is not an executable file",
                p.display()
            )))
        };
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join("berth");
        if executable(&p) {
            return Ok(p);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("berth");
        if executable(&p) {
            return Ok(p);
        }
    }
    Err(NotFound("not next to dock nor on PATH".into()))
}

/// The runtime as dock calls it.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The berth binary.
    pub bin: PathBuf,
    /// Its `--root`.
    pub state: PathBuf,
}

impl Runtime {
    /// The runtime `bin` with state under `<dock_root>/berth`.
    pub fn new(bin: PathBuf, dock_root: &Path) -> Runtime {
        Runtime {
            bin,
            state: dock_root.join("berth"),
        }
    }

    /// `berth --root STATE ARGS...`.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.state).args(args);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_runtime_must_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("berth");
        std::fs::write(&f, "").unwrap();
        let e = find(Some(&f)).unwrap_err().to_string();
        assert!(
            e.contains("--runtime") && e.contains("not an executable"),
            "{e}"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find(Some(&f)).unwrap(), f);
        let r = Runtime::new(f.clone(), Path::new("/var/lib/dock"));
        let c = r.command(["state", "x"]);
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--root", "/var/lib/dock/berth", "state", "x"]);
    }
}
