//! The berth binary as the shim executes it: through one read-only overlay view per shim
//! process (`berth::exe_seal::sealed_view`), named `/proc/self/fd/N`.
//!
//! berth re-executes itself from such a view before `create` and `exec` (CVE-2019-5736).
//! Started from the view already, it finds itself sealed and goes on: one execve of berth
//! per call instead of two. The view is made on first use and kept for the shim's life;
//! its fd is O_CLOEXEC, so berth and the containers never inherit it. Where no view can be
//! made (no overlayfs, no privilege), or when the binary is a script (a wrapper as
//! BinaryName), the shim execs the plain path and berth seals itself.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `binary` opened through its read-only overlay view.
struct View {
    binary: PathBuf,
    file: OwnedFd,
}

impl View {
    /// The view of `binary`, when it is an ELF file and the overlay can be made.
    fn make(binary: &Path, root: &Path) -> Option<View> {
        if !is_elf(binary) {
            return None;
        }
        let file = berth::exe_seal::sealed_view(binary, root).ok()?;
        Some(View {
            binary: binary.to_path_buf(),
            file,
        })
    }

    /// The path that executes the view, valid in this process and its children until exec.
    fn program(&self) -> OsString {
        format!("/proc/self/fd/{}", self.file.as_raw_fd()).into()
    }
}

/// What to execute for `binary`: its sealed view when one exists or can be made, else
/// `binary` itself. `root` is berth's state root (the view's empty layer lives there).
pub fn program(binary: &Path, root: &Path) -> OsString {
    static VIEW: OnceLock<Option<View>> = OnceLock::new();
    match VIEW.get_or_init(|| View::make(binary, root)) {
        Some(v) if v.binary == binary => v.program(),
        _ => binary.into(),
    }
}

/// Only an ELF binary can be executed from a close-on-exec fd: a script's interpreter
/// would be handed `/proc/self/fd/N` after the fd is gone (a wrapper as BinaryName).
fn is_elf(binary: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(binary)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn only_elf_binaries_get_a_view() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("wrapper");
        std::fs::write(&script, "#!/bin/sh\nexec berth \"$@\"\n").unwrap();
        assert!(!is_elf(&script));
        assert!(View::make(&script, dir.path()).is_none());
        assert!(!is_elf(&dir.path().join("missing")));
        assert!(is_elf(Path::new("/proc/self/exe")));
    }

    /// target/<profile>/berth, next to this test's deps/ directory.
    fn built_berth() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let berth = exe.parent().and_then(Path::parent).unwrap().join("berth");
        assert!(
            berth.is_file(),
            "{} missing: cargo build -p berth first",
            berth.display()
        );
        berth
    }

    /// `berth --trace exec` of a missing container: `exec` seals itself before looking,
    /// so its trace says whether it re-executed (`exe-overlay`) or found itself sealed.
    fn exec_trace(program: &OsString, root: &Path) -> String {
        let out = Command::new(program)
            .arg("--root")
            .arg(root)
            .args(["--trace", "exec", "no-such-container", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "exec of a missing container succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    #[test]
    fn berth_started_from_the_view_does_not_re_execute() {
        // SAFETY: geteuid only returns a number.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: the overlay view needs root");
            return;
        }
        let berth = built_berth();
        let root = tempfile::tempdir().unwrap();
        let plain = exec_trace(&berth.clone().into_os_string(), root.path());
        assert!(plain.contains("exe-overlay"), "{plain}");
        let view = View::make(&berth, root.path()).expect("overlay view of berth");
        let viewed = exec_trace(&view.program(), root.path());
        assert!(
            viewed.contains("exe-sealed") && !viewed.contains("exe-overlay"),
            "{viewed}"
        );
    }
}
