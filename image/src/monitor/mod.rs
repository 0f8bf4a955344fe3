//! The per-container monitor (`dock _monitor`, like podman's conmon): a small single-threaded
//! process, in its own session, that outlives the `dock run` that started it. It
//!
//! 1. becomes the child subreaper and runs `berth create` with the container's stdout/stderr
//!    on pipes it holds (or a pty whose master berth sends over `console.sock`), then `berth
//!    start`, and tells `dock run` `started PID` or `failed CODE MESSAGE` ([`handshake`]);
//! 2. copies the output into `json.log` (and to the attached `dock run`'s stdout/stderr in the
//!    foreground) until the init exits, reaping it ([`relay`]);
//! 3. runs `berth delete`, records the exit code and time in `meta.json`, removes the
//!    container with `--rm`, and exits with the container's exit code.
//!
//! It never uses threads or tokio; berth is only ever exec'd.

pub mod handshake;
pub mod relay;

use crate::containers::meta::{Meta, State};
use crate::containers::{Containers, CONFIG, LOG};
use crate::logfile::Writer;
use crate::runtime::Runtime;
use handshake::Outcome;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pty socket, relative to the container directory (the monitor's cwd), which keeps the
/// path short enough for a unix socket however deep the store is.
const CONSOLE_SOCKET: &str = "console.sock";
/// berth's `--pid-file`.
const PID_FILE: &str = "init.pid";

/// What the monitor needs to know.
#[derive(Debug, Clone)]
pub struct MonitorArgs {
    /// Dock root.
    pub root: PathBuf,
    /// Container id.
    pub id: String,
    /// The inherited pipe to report the start on.
    pub sync_fd: i32,
    /// Whether stdout/stderr are an attached `dock run`'s.
    pub attached: bool,
}

/// A started container's I/O handles and init pid.
struct Started {
    pid: i32,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    master: Option<OwnedFd>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

/// Everything readable now from a pipe whose writers are gone.
fn read_available(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = File::from(fd).take(64 * 1024).read_to_string(&mut text);
    text
}

/// The last non-empty line, without berth's level prefix noise.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("the runtime failed without a message")
        .trim()
        .to_string()
}

fn fail(message: String) -> Outcome {
    Outcome::Failed(handshake::failure_code(&message), message)
}

/// `berth create` + `berth start`.
fn start(rt: &Runtime, m: &Meta, dir: &Path) -> Result<Started, Outcome> {
    let io = |e: std::io::Error| fail(format!("starting the container: {e}"));
    let (err_r, err_w) = pipe().map_err(io)?;
    let mut cmd = rt.command(["create", "--bundle"]);
    cmd.arg(dir).arg("--pid-file").arg(dir.join(PID_FILE));
    let mut stdout = None;
    let mut listener = None;
    if m.tty {
        let _ = std::fs::remove_file(CONSOLE_SOCKET);
        listener = Some(UnixListener::bind(CONSOLE_SOCKET).map_err(io)?);
        cmd.arg("--console-socket").arg(CONSOLE_SOCKET);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
    } else {
        let (out_r, out_w) = pipe().map_err(io)?;
        stdout = Some(out_r);
        cmd.stdout(Stdio::from(out_w));
        if m.interactive {
            cmd.stdin(Stdio::inherit());
        } else {
            cmd.stdin(Stdio::null());
        }
    }
    cmd.arg(&m.id).stderr(Stdio::from(err_w));
    let status = cmd.spawn().and_then(|mut c| c.wait());
    // Our copies of the write ends go with the command, so the pipes end when the container's do.
    drop(cmd);
    let status = status.map_err(|e| fail(format!("running {}: {e}", rt.bin.display())))?;
    if !status.success() {
        return Err(fail(last_line(&read_available(err_r))));
    }
    let master = match listener {
        Some(l) => {
            // berth create has returned, so its connection (with the master) is queued already.
            l.set_nonblocking(true).map_err(io)?;
            let (conn, _) = l.accept().map_err(|e| {
                fail(format!(
                    "the runtime sent no pty over {CONSOLE_SOCKET}: {e}"
                ))
            })?;
            let master = berth::console::recv_master(conn.as_raw_fd())
                .map_err(|e| fail(format!("receiving the pty: {e}")))?;
            let _ = std::fs::remove_file(CONSOLE_SOCKET);
            Some(master)
        }
        None => None,
    };
    let pid: i32 = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| fail("the runtime wrote no pid file".into()))?;
    let out = rt
        .command(["start", &m.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fail(format!("running {}: {e}", rt.bin.display())))?;
    if !out.status.success() {
        return Err(fail(last_line(&String::from_utf8_lossy(&out.stderr))));
    }
    let stderr = if m.tty { None } else { Some(err_r) };
    Ok(Started {
        pid,
        stdout,
        stderr,
        master,
    })
}

/// `berth delete`, forced when the plain one fails (a half-made container).
fn delete(rt: &Runtime, id: &str, force: bool) {
    let quiet = |c: &mut Command| {
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if force || !quiet(&mut rt.command(["delete", id])) {
        quiet(&mut rt.command(["delete", "--force", id]));
    }
}

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// Leave the caller's session and signal state behind: a new session (no controlling
/// terminal, so no SIGINT/SIGHUP from one), default dispositions, nothing blocked (the
/// foreground `dock run` blocks the signals it forwards before starting us).
fn detach() {
    let _ = nix::unistd::setsid();
    let _ = nix::sys::signal::SigSet::all().thread_unblock();
    // SAFETY: setting dispositions to SIG_IGN/SIG_DFL installs no handler code.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
        let _ = nix::sys::signal::signal(
            nix::sys::signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        );
        let _ = nix::sys::signal::signal(
            nix::sys::signal::SIGINT,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// The monitor's life; returns the exit code for the process.
pub fn run(args: MonitorArgs) -> i32 {
    detach();
    // SAFETY: the fd number was given by our parent, which left it open for us alone; we take
    // sole ownership of it here, once.
    let sync = unsafe { OwnedFd::from_raw_fd(args.sync_fd) };
    let _ = nix::fcntl::fcntl(
        &sync,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let report = |o: &Outcome| {
        if let Ok(fd) = sync.try_clone() {
            let _ = o.send(File::from(fd));
        }
    };
    let containers = match Containers::open(&args.root) {
        Ok(c) => c,
        Err(e) => {
            report(&Outcome::Failed(125, e.to_string()));
            return 125;
        }
    };
    let mut m = match containers.read(&args.id) {
        Ok(m) => m,
        Err(e) => {
            report(&Outcome::Failed(125, e.to_string()));
            return 125;
        }
    };
    let dir = containers.dir(&m.id);
    let me = std::process::id() as i32;
    m.monitor = crate::containers::meta::process_start_time(me).map(|s| (me, s));
    let _ = containers.write(&m);
    let rt = Runtime::new(m.runtime.clone(), &args.root);
    if let Err(e) = std::env::set_current_dir(&dir) {
        report(&Outcome::Failed(
            125,
            format!("entering {}: {e}", dir.display()),
        ));
        return 125;
    }
    debug_assert!(dir.join(CONFIG).exists());
    let started = match start(&rt, &m, &dir) {
        Ok(s) => s,
        Err(outcome) => {
            delete(&rt, &m.id, true);
            let code = match &outcome {
                Outcome::Failed(code, msg) => {
                    m.error = Some(msg.clone());
                    *code
                }
                Outcome::Started(_) => 125,
            };
            m.monitor = None;
            if m.auto_remove {
                let _ = crate::lifecycle::remove_files(&args.root, &m.id, false);
            } else {
                let _ = containers.write(&m);
            }
            report(&outcome);
            return code;
        }
    };
    m.state = State::Running;
    m.pid = Some(started.pid);
    m.pid_start = crate::containers::meta::process_start_time(started.pid);
    m.started_at = Some(now());
    m.error = None;
    let _ = containers.write(&m);
    report(&Outcome::Started(started.pid));
    drop(sync);
    let io = relay::Io {
        stdout: started.stdout,
        stderr: started.stderr,
        master: started.master,
        stdin_to_master: m.interactive && args.attached,
        attached: args.attached,
    };
    let code = match Writer::open(&dir.join(LOG)) {
        Ok(mut log) => relay::run(started.pid, io, &mut log).unwrap_or(255),
        Err(_) => 255,
    };
    delete(&rt, &m.id, false);
    // Re-read: `rm -f` or `stop` may have changed nothing we own, but keep their view.
    let mut m = containers.read(&m.id).unwrap_or(m);
    m.state = State::Exited;
    m.exit_code = Some(code);
    m.finished_at = Some(now());
    m.pid = None;
    m.pid_start = None;
    m.monitor = None;
    if m.auto_remove {
        let _ = crate::lifecycle::remove_files(&args.root, &m.id, false);
    } else if containers.dir(&m.id).exists() {
        let _ = containers.write(&m);
    }
    code
}
