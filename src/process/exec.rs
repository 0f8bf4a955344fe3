//! The final step: finds the program (PATH lookup like Go's exec.LookPath, which runc
//! uses) and execve's it with the container's environment.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
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

/// Interpreter levels the kernel follows for `#!` scripts (BINPRM_MAX_RECURSION), plus one.
const MAX_INTERPRETERS: usize = 5;

/// The interpreter named by a `#!` line at the start of `head`, if any.
fn shebang_interpreter(head: &[u8]) -> Option<PathBuf> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
    let word = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(word)))
}

/// Refuses to run the runtime's own binary in the container (CVE-2019-5736): `program`, or
/// the interpreter of a `#!` script (say `#!/proc/self/exe`), must not be the file this
/// process runs, which is the host's berth binary until execve. A container process could
/// otherwise hold it open through /proc/<pid>/exe once it is dumpable and rewrite it after
/// berth exits. Without /proc in the container there is no /proc/self/exe to reach it by.
fn refuse_runtime_binary(program: &Path) -> Result<(), ProcessError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/self/exe") else {
        return Ok(());
    };
    let mut path = program.to_path_buf();
    for _ in 0..MAX_INTERPRETERS {
        let Ok(mut file) = std::fs::File::open(&path) else {
            return Ok(());
        };
        let Ok(meta) = file.metadata() else {
            return Ok(());
        };
        if meta.dev() == own.dev() && meta.ino() == own.ino() {
            return Err(ProcessError::invalid(format!(
                "exec: {}: refusing to run the runtime binary inside the container",
                program.display()
            )));
        }
        let mut head = [0u8; 256];
        let n = file.read(&mut head).unwrap_or(0);
        match shebang_interpreter(&head[..n]) {
            Some(next) => path = next,
            None => return Ok(()),
        }
    }
    Ok(())
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
    if let Err(err) = refuse_runtime_binary(&resolved) {
        return err;
    }
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
    fn shebang_lines() {
        assert_eq!(
            shebang_interpreter(b"#!/proc/self/exe\n"),
            Some(PathBuf::from("/proc/self/exe"))
        );
        assert_eq!(
            shebang_interpreter(b"#! \t/bin/sh -e\necho"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(shebang_interpreter(b"\x7fELF"), None);
        assert_eq!(shebang_interpreter(b"#!\n"), None);
    }

    #[test]
    fn the_runtime_binary_is_refused_directly_and_as_interpreter() {
        let tmp = TempDir::new("own-binary");
        let script = tmp.0.join("evil");
        std::fs::write(&script, "#!/proc/self/exe\n").expect("write");
        let inner = tmp.0.join("inner");
        std::fs::write(&inner, format!("#!{}\n", script.display())).expect("write");
        for path in [Path::new("/proc/self/exe"), &script, &inner] {
            let err = refuse_runtime_binary(path).unwrap_err();
            assert!(err.to_string().contains("runtime binary"), "{err}");
        }
        let ok = tmp.0.join("ok");
        write_file(&ok, 0o755);
        refuse_runtime_binary(&ok).expect("a plain script runs");
        refuse_runtime_binary(Path::new("/bin/sh")).expect("a plain binary runs");
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
