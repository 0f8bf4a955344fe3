//! berth's non-forking verbs (start, kill, delete, pause, resume, update, ps) called through
//! berth's library inside the shim, instead of a fork+exec of the berth CLI per call (a
//! `ctr run --rm` makes three such calls: start, kill or none, delete).
//!
//! # Why this is safe from the shim's threads
//! None of these verbs forks, enters a namespace (setns), changes directory, umask,
//! environment, signal dispositions or any other process-wide state: they read and write
//! files under berth's root, write the start byte into the container's exec fifo, signal
//! pids, and write cgroup files. `create` and `exec` fork container processes and stay on
//! the CLI (berth_cli.rs). Two cases where berth's library *would* touch process-wide
//! state are sent to the CLI instead ([`Handled::UseCli`]):
//! * **hooks**: poststart (start) and poststop (delete) hooks are child processes berth
//!   reaps itself; in the shim the crate's reaper thread `waitpid(-1)`s every child and
//!   would take their exit status.
//! * **delete of a container whose init the shim has not reaped** (created or running):
//!   berth's delete then kills the init and `waitpid`s it, and the init is the shim's child
//!   (the shim is its subreaper), so the exit would be taken from the reaper. The caller
//!   passes `init_reaped`.
//!
//! # When the library is used at all
//! Only for containers whose state berth's library can read, checked once after `create`
//! ([`Library::detect`]): a `BinaryName` naming another runtime (runc's state.json differs)
//! or the option `Driver = "cli"` keep every call on the CLI. The shim and the berth binary
//! come from one workspace, so they agree on the state layout.

use berth::container;
use berth::hooks::{self, Kind};
use berth::state::{Root, State};
use std::path::Path;

/// Whether the library did the call, or the CLI must.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Done,
    UseCli,
}

/// berth's library for one container root.
#[derive(Debug, Clone)]
pub struct Library {
    root: Root,
}

impl Library {
    /// The library for container `id` under `root`, when berth's library reads its state.
    pub fn detect(root: &Path, id: &str) -> Option<Library> {
        let root = Root::new(root);
        root.load(id).ok().map(|_| Library { root })
    }

    fn has_hooks(&self, id: &str, kind: Kind) -> Result<bool, berth::Error> {
        let st: State = self.root.load(id)?;
        Ok(!hooks::list(st.hooks.as_ref(), kind).is_empty())
    }

    /// `berth start ID`: releases the init to exec the user process.
    pub fn start(&self, id: &str) -> Result<Handled, berth::Error> {
        if self.has_hooks(id, Kind::Poststart)? {
            return Ok(Handled::UseCli);
        }
        container::start(&self.root, id)?;
        Ok(Handled::Done)
    }

    /// `berth kill [--all] ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<Handled, berth::Error> {
        let sig = container::parse_signal(&signal.to_string())?;
        container::kill(&self.root, id, sig, all)?;
        Ok(Handled::Done)
    }

    /// `berth delete ID` once the shim has reaped the init (see the module doc).
    pub fn delete(&self, id: &str, init_reaped: bool) -> Result<Handled, berth::Error> {
        if !init_reaped || self.has_hooks(id, Kind::Poststop)? {
            return Ok(Handled::UseCli);
        }
        container::delete(&self.root, id, false)?;
        Ok(Handled::Done)
    }

    /// `berth pause ID`.
    pub fn pause(&self, id: &str) -> Result<Handled, berth::Error> {
        container::pause(&self.root, id)?;
        Ok(Handled::Done)
    }

    /// `berth resume ID`.
    pub fn resume(&self, id: &str) -> Result<Handled, berth::Error> {
        container::resume(&self.root, id)?;
        Ok(Handled::Done)
    }

    /// `berth update --resources FILE ID`.
    pub fn update(&self, id: &str, resources: &Path) -> Result<Handled, berth::Error> {
        let Some(file) = resources.to_str() else {
            return Ok(Handled::UseCli);
        };
        let flags = container::UpdateFlags::default();
        container::update(&self.root, id, Some(file), &flags)?;
        Ok(Handled::Done)
    }

    /// `berth ps --format json ID`: the container's pids.
    pub fn pids(&self, id: &str) -> Result<Vec<u32>, berth::Error> {
        let pids = container::ps::pids(&self.root, id)?;
        Ok(pids.into_iter().map(|p| p as u32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("berth-shim-lib-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("c1")).unwrap();
        dir
    }

    fn berth_state(id: &str) -> State {
        State {
            id: id.into(),
            pid: 0,
            pid_start: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: String::new(),
            annotations: Default::default(),
            cgroup: None,
            hooks: None,
            created_ok: true,
            private_pid_ns: true,
        }
    }

    #[test]
    fn only_berth_state_selects_the_library() {
        let dir = scratch("detect");
        assert!(Library::detect(&dir, "c1").is_none(), "no state yet");
        // runc's state.json (another BinaryName) has other fields: stay on the CLI.
        std::fs::write(
            dir.join("c1/state.json"),
            r#"{"id":"c1","init_process_pid":42,"init_process_start":7}"#,
        )
        .unwrap();
        assert!(Library::detect(&dir, "c1").is_none(), "runc state");
        berth_state("c1").save(&Root::new(&dir)).unwrap();
        assert!(Library::detect(&dir, "c1").is_some(), "berth state");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreaped_init_and_stopped_kill_keep_berths_answers() {
        let dir = scratch("verbs");
        berth_state("c1").save(&Root::new(&dir)).unwrap();
        let lib = Library::detect(&dir, "c1").unwrap();
        // An init the shim has not reaped is deleted by the CLI (it waits for the init).
        assert_eq!(lib.delete("c1", false).unwrap(), Handled::UseCli);
        // pid 0: stopped; berth's own wording comes back.
        let e = lib.kill("c1", 15, false).unwrap_err();
        assert!(e.to_string().contains("is not running"), "{e}");
        assert_eq!(lib.kill("c1", 9, true).unwrap(), Handled::Done);
        assert_eq!(lib.delete("c1", true).unwrap(), Handled::Done);
        assert!(!dir.join("c1").exists(), "delete removed the state dir");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
