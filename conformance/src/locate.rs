//! Finds the runtime under test, the static checker binary and busybox.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(workspace_dir().join("target"));
    dirs
}

/// The runtime binary: `$RUNTIME`, else `$CARGO_TARGET_DIR/debug/berth`, else
/// `<workspace>/target/debug/berth`. Panics when none exists.
pub fn runtime() -> &'static Path {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        if let Some(path) = std::env::var_os("RUNTIME") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "RUNTIME={} does not exist or is not a file",
                path.display()
            );
            return path;
        }
        let candidates: Vec<PathBuf> = target_dirs()
            .into_iter()
            .map(|d| d.join("debug").join("berth"))
            .collect();
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no runtime to test: set RUNTIME=/path/to/runtime or build berth \
                 (`cargo build -p berth`); looked at {candidates:?}"
                )
            })
    })
}

/// The runtime binary's file name ("berth", "runc", "crun", …).
pub fn runtime_name() -> String {
    runtime()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether the runtime under test is berth.
pub fn is_berth() -> bool {
    runtime_name() == "berth"
}

/// The statically linked checker: `$BERTH_CHECK`, else the `x86_64-unknown-linux-gnu`
/// debug build in the target dir. Panics with the build command when missing.
pub fn checker() -> &'static Path {
    static CHECKER: OnceLock<PathBuf> = OnceLock::new();
    CHECKER.get_or_init(|| {
        if let Some(path) = std::env::var_os("BERTH_CHECK") {
            return PathBuf::from(path);
        }
        let candidates: Vec<PathBuf> = target_dirs()
            .into_iter()
            .map(|d| d.join("x86_64-unknown-linux-gnu/debug/berth-check"))
            .collect();
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "static checker not built; run: RUSTFLAGS='-C target-feature=+crt-static' \
                 cargo build -p berth-conformance --bin berth-check \
                 --target x86_64-unknown-linux-gnu (or set BERTH_CHECK); looked at {candidates:?}"
                )
            })
    })
}

/// Debian's busybox-static binary.
pub fn busybox() -> &'static Path {
    let path = Path::new("/bin/busybox");
    assert!(
        path.is_file(),
        "/bin/busybox missing: apt-get install busybox-static"
    );
    path
}

/// A client tool at its Debian path (`/usr/bin/podman`, `/usr/sbin/dockerd`, …); panics
/// naming the package to install when it is missing, so CI fails with a clear message.
pub fn tool(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} missing: apt-get install {package} (.ci/run installs it)"
    );
    p
}

/// Our containerd shim, `containerd-shim-berth-v2`: `$SHIM_BINARY`, else beside the runtime
/// under test, else the target dir's debug build. Panics with the build command when missing.
pub fn berth_shim() -> PathBuf {
    if let Some(p) = std::env::var_os("SHIM_BINARY") {
        return PathBuf::from(p);
    }
    let mut candidates = vec![runtime().with_file_name("containerd-shim-berth-v2")];
    candidates.extend(
        target_dirs()
            .into_iter()
            .map(|d| d.join("debug/containerd-shim-berth-v2")),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "containerd-shim-berth-v2 not built: cargo build -p containerd-shim-berth \
                 (or set SHIM_BINARY); looked at {candidates:?}"
            )
        })
}
