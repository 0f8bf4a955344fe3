//! The final step: finds the program (PATH lookup like Go's exec.LookPath, which runc
//! uses) and execve's it with the container's environment.
//!
//! The program may be anything the container holds, berth included (`#!/proc/self/exe`
//! names the executable of the process running execve): berth runs from a sealed copy
//! (`crate::exe_seal`), so whatever a container process reaches through /proc/<pid>/exe,
//! before or after this execve, cannot be written. The former refusal to exec berth's own
//! binary checked a path that the container could swap after the check, and is no longer
//! needed.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::env::env_value;
use super::{errno_text, ProcessError};

/// PATH used when the container's environment has none (runc's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Where `file` is executed from: as given when it has a '/' (after checking it is an
/// executable file), else the first executable regular file named `file` in the
/// ':'-separated `path` (an empty entry is "."). Errors read like runc's (Go's LookPath):
/// `exec: "foo": executable file not found in $PATH`, `exec: "/x": stat /x: no such file
/// or directory`, `exec: "/etc": permission denied`.
pub fn lookup_path(file: &str, path: &str) -> Result<PathBuf, ProcessError> {
    if file.contains('/') {
        return match std::fs::metadata(file) {
            Err(err) => {
                let errno = err
                    .raw_os_error()
                    .map(Errno::from_raw)
                    .unwrap_or(Errno::EIO);
                Err(ProcessError::invalid(format!(
                    "exec: {file:?}: stat {file}: {}",
                    errno_text(errno)
                )))
            }
            Ok(_) if is_executable_file(Path::new(file)) => Ok(PathBuf::from(file)),
            Ok(_) => Err(ProcessError::invalid(format!(
                "exec: {file:?}: permission denied"
            ))),
        };
    }
    if !file.is_empty() {
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = Path::new(dir).join(file);
            if is_executable_file(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(ProcessError::invalid(format!(
        "exec: {file:?}: executable file not found in $PATH"
    )))
}

fn cstrings(items: &[String], what: &str) -> Result<Vec<CString>, ProcessError> {
    items
        .iter()
        .map(|item| {
            CString::new(item.as_bytes())
                .map_err(|_| ProcessError::invalid(format!("{what} {item:?} contains a NUL byte")))
        })
        .collect()
}

pub(crate) fn exec(args: &[String], env: &[String]) -> ProcessError {
    let Some(program) = args.first() else {
        return ProcessError::invalid("exec: process.args must not be empty");
    };
    let path = env_value(env, "PATH").unwrap_or(DEFAULT_PATH);
    let resolved = match lookup_path(program, path) {
        Ok(resolved) => resolved,
        Err(err) => return err,
    };
    let shown = resolved.display().to_string();
    let prepared = CString::new(resolved.into_os_string().into_encoded_bytes())
        .map_err(|_| {
            ProcessError::invalid(format!("process.args[0] {program:?} contains a NUL byte"))
        })
        .and_then(|file| {
            Ok((
                file,
                cstrings(args, "process.args entry")?,
                cstrings(env, "process.env entry")?,
            ))
        });
    let (file, argv, envp) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return err,
    };
    match nix::unistd::execve(&file, &argv, &envp) {
        Err(errno) => ProcessError::os(format!("exec {shown}"), errno),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_child::{self, TempDir};
    use super::*;

    fn write_file(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\nexit 3\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lookup_finds_first_executable_regular_file() {
        let tmp = TempDir::new("lookup");
        let (a, b, c) = (tmp.0.join("a"), tmp.0.join("b"), tmp.0.join("c"));
        for dir in [&a, &b, &c] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        write_file(&a.join("tool"), 0o644); // not executable: skipped
        std::fs::create_dir(b.join("tool")).expect("mkdir"); // a directory: skipped
        write_file(&c.join("tool"), 0o755);
        let path = format!("{}:{}:{}", a.display(), b.display(), c.display());
        assert_eq!(lookup_path("tool", &path).expect("found"), c.join("tool"));
    }

    #[test]
    fn lookup_failure_reads_like_runc() {
        let err = lookup_path("nosuchtool", "/nonexistent-berth").unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"nosuchtool\": executable file not found in $PATH"
        );
        assert!(lookup_path("", DEFAULT_PATH).is_err());
    }

    #[test]
    fn names_with_a_slash_are_checked_not_looked_up() {
        let tmp = TempDir::new("slash");
        let tool = tmp.0.join("tool");
        write_file(&tool, 0o700);
        let name = tool.display().to_string();
        assert_eq!(lookup_path(&name, "/nonexistent").expect("as given"), tool);
        let missing = tmp.0.join("missing").display().to_string();
        assert_eq!(
            lookup_path(&missing, DEFAULT_PATH).unwrap_err().to_string(),
            format!("exec: \"{missing}\": stat {missing}: no such file or directory")
        );
        let dir = tmp.0.display().to_string();
        assert_eq!(
            lookup_path(&dir, DEFAULT_PATH).unwrap_err().to_string(),
            format!("exec: \"{dir}\": permission denied")
        );
    }

    #[test]
    fn exec_uses_path_from_env() {
        let code = test_child::exit_code(|| {
            let _ = exec(
                &strings(&["sh", "-c", "exit $CODE"]),
                &strings(&["PATH=/nonexistent:/bin:/usr/bin", "CODE=7"]),
            );
        });
        assert_eq!(code, 7);
    }

    #[test]
    fn exec_failures_read_like_runc() {
        let tmp = TempDir::new("exec");
        let plain = tmp.0.join("plain");
        write_file(&plain, 0o644);
        let garbage = tmp.0.join("garbage");
        std::fs::write(&garbage, "garbage\n").expect("write");
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let (plain_name, garbage_name) =
            (plain.display().to_string(), garbage.display().to_string());
        let report = test_child::run(move || {
            let not_found = exec(&strings(&["nosuchtool"]), &strings(&["PATH=/nonexistent"]));
            let denied = exec(&[plain.display().to_string()], &[]);
            let format = exec(&[garbage.display().to_string()], &[]);
            Ok(format!(
                "{not_found}|{denied}|{format}|{:?}",
                format.errno()
            ))
        });
        let expected = [
            "exec: \"nosuchtool\": executable file not found in $PATH".to_string(),
            format!("exec: \"{plain_name}\": permission denied"),
            format!("exec {garbage_name}: exec format error"),
            "Some(ENOEXEC)".to_string(),
        ]
        .join("|");
        assert_eq!(report, Ok(expected));
    }

    #[test]
    fn exec_refuses_empty_args_and_nul_bytes() {
        assert!(exec(&[], &[]).to_string().contains("must not be empty"));
        let err = exec(&strings(&["/bin/sh", "a\0b"]), &[]);
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}
