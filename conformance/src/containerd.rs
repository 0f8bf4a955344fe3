//! A private containerd 1.6 for end-to-end tests: its own config.toml, root, state and grpc
//! socket under a temp dir, never the system's /run/containerd or /var/lib/containerd.
//!
//! [`Containerd::start`] writes the config (plus any extra TOML the test passes, e.g. runtimes
//! or CRI plugin settings), starts Debian's /usr/bin/containerd, and waits until `ctr version`
//! answers. [`Containerd::ctr`] runs `ctr --address SOCK --namespace NS …`. On drop every task
//! and container of the namespace is killed and removed, the daemon is stopped, shims it
//! started are killed, mounts under its dirs are detached, the namespace's parent cgroups are
//! removed and the temp dir goes.

use crate::tempdir::TempDir;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Debian's containerd 1.6 daemon.
pub const CONTAINERD: &str = "/usr/bin/containerd";
/// Its client.
pub const CTR: &str = "/usr/bin/ctr";
/// How long the daemon may take to answer after start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one cleanup step may wait for tasks or the daemon to go.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What one ctr call returned.
#[derive(Debug)]
pub struct CtrOutput {
    /// ctr's arguments after the global flags.
    pub args: Vec<String>,
    /// Exit code (None when killed by a signal).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// What to start: extra config and whether the CRI plugin runs.
#[derive(Default, Clone)]
pub struct Options {
    /// TOML appended to the generated config.toml (tables such as
    /// `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]`).
    pub extra_config: String,
    /// Keep the CRI plugin enabled (disabled by default: it is slow to start and needs more).
    pub cri: bool,
    /// Directories prepended to the daemon's PATH (where it looks for shim binaries).
    pub path_prepend: Vec<PathBuf>,
}

/// A running private containerd; stopped and cleaned up on drop.
pub struct Containerd {
    child: Option<Child>,
    /// The namespace tests use (`berth-<label>-<pid>-<n>`); its parent cgroups are removed on drop.
    pub namespace: String,
    /// The grpc socket (`--address` for ctr).
    pub address: PathBuf,
    /// containerd's root (content, snapshots, metadata).
    pub root: PathBuf,
    /// containerd's state dir (task bundles, fifos).
    pub state: PathBuf,
    /// Where ctr creates the fifos of tasks (`--fifo-dir`).
    pub fifo_dir: PathBuf,
    dir: TempDir,
}

impl Containerd {
    /// Starts containerd on private dirs and waits for it. Panics with the daemon's log
    /// when it does not come up, or when containerd is not installed.
    pub fn start(label: &str, options: &Options) -> Containerd {
        assert!(
            Path::new(CONTAINERD).is_file() && Path::new(CTR).is_file(),
            "{CONTAINERD} or {CTR} missing: apt-get install containerd"
        );
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = TempDir::new(&format!("containerd-{label}"));
        let base = dir.path();
        let root = base.join("root");
        let state = base.join("state");
        let fifo_dir = base.join("fifo");
        for d in [&root, &state, &fifo_dir] {
            fs::create_dir_all(d).expect("mkdir containerd dirs");
        }
        let address = base.join("containerd.sock");
        let config = config_toml(&root, &state, &address, options);
        let config_path = base.join("config.toml");
        fs::write(&config_path, config).expect("write containerd config.toml");
        let log = fs::File::create(base.join("containerd.log")).expect("create containerd.log");
        let mut path = options
            .path_prepend
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>();
        path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()));
        let child = Command::new(CONTAINERD)
            .arg("--config")
            .arg(&config_path)
            .env("PATH", path.join(":"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CONTAINERD}: {e}"));
        let namespace = format!("berth-{label}-{}-{n}", std::process::id());
        let mut daemon = Containerd {
            child: Some(child),
            namespace,
            address,
            root,
            state,
            fifo_dir,
            dir,
        };
        daemon.wait_ready();
        daemon
    }

    /// The test's private directory (config.toml, containerd.log, root/, state/).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("containerd exited early ({status}); log:\n{}", self.log());
                }
            }
            if self.address.exists() && self.ctr(&["version"]).status == Some(0) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "containerd did not answer within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `ctr --address SOCK --namespace NS` command, for callers that need pipes or a tty.
    pub fn ctr_command(&self) -> Command {
        let mut cmd = Command::new(CTR);
        cmd.arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(&self.namespace);
        cmd
    }

    /// Runs `ctr … ARGS` to completion with no stdin and returns what it printed.
    pub fn ctr(&self, args: &[&str]) -> CtrOutput {
        let output = self
            .ctr_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {CTR}: {e}"));
        CtrOutput {
            args: args.iter().map(|a| a.to_string()).collect(),
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `ctr … ARGS` and panics with its output unless it exits 0; returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert_eq!(
            out.status,
            Some(0),
            "ctr {args:?} failed: stdout: {} stderr: {}",
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs `ctr … ARGS` with a pty as its stdin/stdout/stderr (for `-t`), returns its exit
    /// code and everything written to the terminal (with `\r\n` line ends).
    pub fn ctr_in_pty(&self, args: &[&str]) -> CtrOutput {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        // SAFETY: openpty writes two fds into the valid out-pointers; name/termios/winsize
        // are null (defaults).
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        use std::os::fd::FromRawFd;
        // SAFETY: openpty just returned these fds; each is owned once from here on.
        let master = unsafe { fs::File::from_raw_fd(master) };
        // SAFETY: as above.
        let slave = unsafe { std::os::fd::OwnedFd::from_raw_fd(slave) };
        let mut child = self
            .ctr_command()
            .args(args)
            .stdin(Stdio::from(slave.try_clone().expect("dup pty")))
            .stdout(Stdio::from(slave.try_clone().expect("dup pty")))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap_or_else(|e| panic!("run {CTR}: {e}"));
        let mut output = Vec::new();
        let mut reader = &master;
        let mut buf = [0u8; 4096];
        use std::io::Read;
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => output.extend_from_slice(&buf[..n]),
            }
        }
        let status = child.wait().expect("wait ctr");
        CtrOutput {
            args: args.iter().map(|a| a.to_string()).collect(),
            status: status.code(),
            stdout: String::from_utf8_lossy(&output).into_owned(),
            stderr: String::new(),
        }
    }

    /// Imports an image archive (see `image_archive`) into this namespace.
    pub fn import(&self, archive: &Path) {
        self.ctr_ok(&[
            "images",
            "import",
            "--no-unpack=false",
            archive.to_str().expect("utf-8 archive path"),
        ]);
    }

    /// Ids of the namespace's tasks / containers (`ls -q`).
    pub fn list(&self, what: &str) -> Vec<String> {
        self.ctr(&[what, "ls", "-q"])
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Pids of the shim processes serving this daemon (their argv names its grpc address).
    pub fn shim_pids(&self) -> Vec<i32> {
        processes_mentioning(&self.address.display().to_string())
            .into_iter()
            .filter(|&pid| Some(pid) != self.child.as_ref().map(|c| c.id() as i32))
            .collect()
    }

    fn remove_all_tasks(&self) {
        for id in self.list("tasks") {
            let _ = self.ctr(&["tasks", "kill", "--all", "--signal", "SIGKILL", &id]);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for id in self.list("tasks") {
            loop {
                let out = self.ctr(&["tasks", "delete", "--force", &id]);
                if out.status == Some(0) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        for id in self.list("containers") {
            let _ = self.ctr(&["containers", "delete", &id]);
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the pid of our own child, which we have not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill_shims(&self) {
        for pid in self.shim_pids() {
            // SAFETY: kill(2) with a pid read from /proc whose argv names our private socket.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.shim_pids().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn unmount_all(&self) {
        let base = self.dir().to_path_buf();
        for target in mounts_under(&base).into_iter().rev() {
            if let Ok(c) = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()) {
                // SAFETY: c is a valid NUL-terminated path; MNT_DETACH unmounts lazily.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }

    fn remove_namespace_cgroups(&self) {
        for hierarchy in cgroup_hierarchies() {
            let dir = hierarchy.join(&self.namespace);
            if dir.is_dir() {
                let _ = fs::remove_dir(&dir);
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all_tasks();
        }
        self.stop_daemon();
        self.kill_shims();
        self.unmount_all();
        self.remove_namespace_cgroups();
    }
}

/// The generated config.toml: version 2, private root/state/sockets, no metrics or debug
/// listener, CRI disabled unless asked for, then the caller's extra TOML.
fn config_toml(root: &Path, state: &Path, address: &Path, options: &Options) -> String {
    let mut disabled = vec!["\"io.containerd.internal.v1.tracing\"".to_string()];
    if !options.cri {
        disabled.push("\"io.containerd.grpc.v1.cri\"".to_string());
    }
    format!(
        "version = 2\n\
         root = \"{root}\"\n\
         state = \"{state}\"\n\
         disabled_plugins = [{disabled}]\n\
         \n\
         [grpc]\n\
         address = \"{address}\"\n\
         \n\
         [ttrpc]\n\
         address = \"{address}.ttrpc\"\n\
         \n\
         [debug]\n\
         address = \"\"\n\
         level = \"info\"\n\
         \n\
         [metrics]\n\
         address = \"\"\n\
         \n\
         {extra}\n",
        root = root.display(),
        state = state.display(),
        address = address.display(),
        disabled = disabled.join(", "),
        extra = options.extra_config,
    )
}

/// Pids whose command line contains `needle` (one argv element equal to it).
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|&b| b == 0)
            .any(|arg| arg == needle.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points at or under `base`, in mountinfo order.
fn mounts_under(base: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(base))
        .collect()
}

/// Every mounted cgroup hierarchy root (v1 controllers and the unified one).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut dirs = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(target) = left.split(' ').nth(4) {
            let target = PathBuf::from(target);
            if target.starts_with("/sys/fs/cgroup") && !dirs.contains(&target) {
                dirs.push(target);
            }
        }
    }
    dirs
}

/// Whether a cgroup named `relative` (e.g. "ns/id") exists in any hierarchy.
pub fn cgroup_exists(relative: &str) -> bool {
    cgroup_hierarchies()
        .iter()
        .any(|h| h.join(relative.trim_start_matches('/')).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_private_dirs_and_appends_extra() {
        let options = Options {
            extra_config: "[plugins.x]\ny = 1".into(),
            ..Options::default()
        };
        let toml = config_toml(
            Path::new("/t/root"),
            Path::new("/t/state"),
            Path::new("/t/c.sock"),
            &options,
        );
        assert!(toml.contains("root = \"/t/root\""));
        assert!(toml.contains("state = \"/t/state\""));
        assert!(toml.contains("address = \"/t/c.sock\""));
        assert!(toml.contains("\"io.containerd.grpc.v1.cri\""));
        assert!(toml.ends_with("[plugins.x]\ny = 1\n"));
        let with_cri = config_toml(
            Path::new("/r"),
            Path::new("/s"),
            Path::new("/a"),
            &Options {
                cri: true,
                ..Options::default()
            },
        );
        assert!(!with_cri.contains("grpc.v1.cri"));
    }

    #[test]
    fn finds_this_process_by_argv() {
        let me = std::env::args().next().expect("argv0");
        assert!(processes_mentioning(&me).contains(&(std::process::id() as i32)));
    }
}
