//! The container lifecycle: create (with its init), start, kill, delete, state, list, run.

mod cgroup_teardown;
mod clone;
pub mod create;
mod device_rules;
pub mod events;
pub mod exec;
mod idmap;
mod init;
mod netns_maker;
mod ns_hold;
mod pause;
pub mod ps;
pub mod run;
pub mod update;

pub use create::{create, CreateOptions, Created};
pub use events::events;
pub use netns_maker::start_before_reexec;
pub use ns_hold::NamespaceHold;
pub use pause::{pause, resume};
pub use update::{update, UpdateFlags};

use crate::error::{Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{self, OciState, Root, State, Status};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// `start`: lets the init exec the user process, then runs poststart hooks.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let st = root.load(id)?;
    match st.status(root) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::Other(format!(
                "cannot start a container that has stopped: {id}"
            )))
        }
        other => {
            return Err(Error::Other(format!(
                "cannot start container {id}: it is {other}, not created"
            )))
        }
    }
    let watcher = release_init(root, &st)?;
    wait_for_exec(&watcher, &st.id)?;
    run_poststart(&st)
}

/// Runs the poststart hooks, if any (the init must have exec'd).
pub(crate) fn run_poststart(st: &State) -> Result<()> {
    let list = hooks::list(st.hooks.as_ref(), Kind::Poststart);
    if !list.is_empty() {
        let doc = serde_json::to_string(&st.oci_state(Status::Running))
            .map_err(|e| Error::Other(e.to_string()))?;
        hooks::run_all(&list, Kind::Poststart, &doc, &mut |w| {
            crate::logging::warn(w)
        })?;
    }
    Ok(())
}

/// Whether the container has poststart hooks (which must wait for the init's exec).
pub(crate) fn has_poststart(st: &State) -> bool {
    !hooks::list(st.hooks.as_ref(), Kind::Poststart).is_empty()
}

use std::os::unix::fs::OpenOptionsExt;

/// Writes the start byte into exec.fifo and unlinks it. Returns a reader of the fifo
/// opened *before* the write, for [`wait_for_exec`].
///
/// The init holds the fifo open read-write with O_CLOEXEC, so its execve is the moment the
/// last writer goes away: the returned reader then sees POLLHUP.
pub(crate) fn release_init(root: &Root, st: &State) -> Result<std::fs::File> {
    let fifo = st.dir(root).join(state::FIFO_FILE);
    let id = st.id.as_str();
    let open = |write: bool| {
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo)
    };
    let gone = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ENXIO) {
            Error::Other(format!("cannot start container {id}: its init has exited"))
        } else {
            Error::io(&fifo, e)
        }
    };
    let watcher = open(false).map_err(|e| Error::io(&fifo, e))?;
    let writer = open(true).map_err(gone)?;
    use std::io::Write;
    (&writer).write_all(b"0").map_err(|e| Error::io(&fifo, e))?;
    drop(writer);
    let _ = std::fs::remove_file(&fifo);
    crate::fault::point("started");
    Ok(watcher)
}

/// Returns once the init has exec'd the user process (or exited): the last writer of the
/// fifo is gone. Until the init has taken the byte, the reader also sees POLLIN, so we nap
/// and look again.
pub(crate) fn wait_for_exec(watcher: &std::fs::File, id: &str) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Error::sys("wait for the container's exec", e)),
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLHUP) && !revents.contains(PollFlags::POLLIN) {
            return Ok(());
        }
        if revents.contains(PollFlags::POLLIN) {
            // The byte is still waiting for the init: look again shortly.
            std::thread::sleep(Duration::from_micros(50));
        }
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "container {id}: init did not exec in time"
            )));
        }
    }
}

/// Parses a signal given as a number, "TERM" or "SIGTERM" (any case).
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::invalid(format!("unknown signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::invalid(format!("unknown signal {s:?}")))
}

/// `kill [--all] ID SIGNAL`.
pub fn kill(root: &Root, id: &str, sig: Signal, all: bool) -> Result<()> {
    let st = root.load(id)?;
    let status = st.status(root);
    if all {
        // Clients send `kill --all` to containers that have already stopped: signal whatever
        // is still in the cgroup, and succeed when nothing is.
        if let Some(cg) = &st.cgroup {
            cg.kill_all(sig)?;
        }
        if status != Status::Stopped {
            let _ = signal_init(&st, sig);
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(Error::Other(format!("container {id} is not running")));
    }
    signal_init(&st, sig)
}

fn signal_init(st: &State, sig: Signal) -> Result<()> {
    if !state::process_alive(st.pid, st.pid_start) {
        return Err(Error::Other(format!("container {} is not running", st.id)));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), sig)
        .map_err(|e| Error::sys(format!("signal {sig} to container {}", st.id), e))
}

/// `delete [--force] ID`.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let st = match root.load(id) {
        Ok(st) => st,
        Err(Error::NotFound(_)) => {
            crate::config::validate_id(id)?;
            // A create that died before writing state.json leaves only the directory.
            let dir = root.container_dir(id);
            let existed = dir.exists();
            let _ = std::fs::remove_dir_all(&dir);
            if force || existed {
                return Ok(());
            }
            return Err(Error::NotFound(id.to_string()));
        }
        Err(e) => return Err(e),
    };
    match st.status(root) {
        Status::Stopped => {}
        // runc deletes a created container without --force, and containerd's shim relies on it.
        Status::Created | Status::Creating => kill_and_wait(&st)?,
        status @ (Status::Running | Status::Paused) => {
            if !force {
                return Err(Error::Other(format!(
                    "cannot delete container {id} that is not stopped: {status}"
                )));
            }
            kill_and_wait(&st)?;
        }
    }
    destroy(root, &st)
}

/// SIGKILL the container (every process when it shares a pid namespace) and wait for the
/// init to be gone.
fn kill_and_wait(st: &State) -> Result<()> {
    if let Some(cg) = &st.cgroup {
        if !st.private_pid_ns || cg.is_frozen().unwrap_or(false) {
            cg.kill_all(Signal::SIGKILL)?;
        }
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(st.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut nap = Duration::from_micros(100);
    while state::process_alive(st.pid, st.pid_start) {
        // Our own child (run, or a test harness) must be reaped to stop being "alive".
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(st.pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "container {} init (pid {}) did not exit after SIGKILL",
                st.id, st.pid
            )));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

/// Removes what create made and runs poststop hooks (failures are warnings).
fn destroy(root: &Root, st: &State) -> Result<()> {
    if let Some(cg) = &st.cgroup {
        cgroup_teardown::empty_and_remove(cg, &st.id)?;
    }
    let list = hooks::list(st.hooks.as_ref(), Kind::Poststop);
    if !list.is_empty() {
        let doc = serde_json::to_string(&st.oci_state(Status::Stopped))
            .map_err(|e| Error::Other(e.to_string()))?;
        hooks::run_all(&list, Kind::Poststop, &doc, &mut |w| {
            crate::logging::warn(w)
        })?;
    }
    Root::remove_container_dir(&st.dir(root))
}

/// `state ID`.
pub fn oci_state(root: &Root, id: &str) -> Result<OciState> {
    let st = root.load(id)?;
    let status = st.status(root);
    Ok(st.oci_state(status))
}

/// `list`: the state of every container under the root.
pub fn list(root: &Root) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    for id in root.ids()? {
        if let Ok(st) = root.load(&id) {
            let status = st.status(root);
            out.push(st.oci_state(status));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("hup").unwrap(), Signal::SIGHUP);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
