//! The shim's process table: containers (one per task; several when one shim serves a pod),
//! their init and exec processes, and the exits that arrive before the pid they belong to
//! is known.
//!
//! Exit ordering, without racing Start: the reaper reports an exit by pid. A process being
//! started (`starting`) keeps its exit in `pending_exit` until Start has queued TaskStart /
//! TaskExecStarted; an exit whose pid is not yet known (an exec that ends before `berth exec`
//! has returned its pid) is kept in `early_exits` while any start is in flight.

use crate::berth_cli::Berth;
use crate::shim_api::pb::{ProcessStatus, Timestamp};
use crate::stdio::{ProcessIo, StdioPaths};
use std::collections::HashMap;
use std::path::PathBuf;

/// One process (the init, or an exec).
pub struct Proc {
    /// Empty for the init.
    pub exec_id: String,
    pub pid: i32,
    pub status: ProcessStatus,
    pub exit_code: u32,
    pub exited_at: Option<Timestamp>,
    pub paths: StdioPaths,
    pub io: ProcessIo,
    /// Set while Start runs for this process.
    pub starting: bool,
    pub pending_exit: Option<i32>,
    /// The exec's OCI process JSON (from ExecProcessRequest.spec).
    pub spec: Vec<u8>,
}

impl Proc {
    pub fn new(exec_id: &str, paths: StdioPaths) -> Proc {
        Proc {
            exec_id: exec_id.to_string(),
            pid: 0,
            status: ProcessStatus::CREATED,
            exit_code: 0,
            exited_at: None,
            paths,
            io: ProcessIo::default(),
            starting: false,
            pending_exit: None,
            spec: Vec::new(),
        }
    }

    pub fn stopped(&self) -> bool {
        self.status == ProcessStatus::STOPPED
    }
}

/// One container and how to drive it.
pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub berth: Berth,
    /// linux.cgroupsPath from config.json (for Stats and OOM).
    pub cgroups_path: Option<String>,
    pub rootfs_mounted: bool,
    /// The init's mount and network namespaces, held until its exit has been reported so
    /// the init's exit does not wait for their teardown (berth's `ns_hold`).
    pub ns_hold: Option<berth::container::NamespaceHold>,
    pub init: Proc,
    pub execs: HashMap<String, Proc>,
    pub paused: bool,
}

impl Container {
    /// The init for an empty exec id, else that exec.
    pub fn process(&self, exec_id: &str) -> Option<&Proc> {
        if exec_id.is_empty() {
            Some(&self.init)
        } else {
            self.execs.get(exec_id)
        }
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Option<&mut Proc> {
        if exec_id.is_empty() {
            Some(&mut self.init)
        } else {
            self.execs.get_mut(exec_id)
        }
    }
}

/// Everything under the service's lock.
#[derive(Default)]
pub struct Table {
    pub containers: HashMap<String, Container>,
    /// Starts in flight (Create, Start, exec Start).
    pub starting: u32,
    /// Exits of pids not (yet) in the table, kept while `starting` > 0.
    pub early_exits: HashMap<i32, i32>,
}

/// Where an exit belongs.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitOwner {
    /// (container id, exec id; empty for the init)
    Process(String, String),
    Unknown,
}

impl Table {
    /// The running process with `pid`, if any.
    pub fn owner_of(&self, pid: i32) -> ExitOwner {
        for c in self.containers.values() {
            if c.init.pid == pid && !c.init.stopped() {
                return ExitOwner::Process(c.id.clone(), String::new());
            }
            for p in c.execs.values() {
                if p.pid == pid && !p.stopped() {
                    return ExitOwner::Process(c.id.clone(), p.exec_id.clone());
                }
            }
        }
        ExitOwner::Unknown
    }

    /// One start fewer in flight; forget stray exits once none is.
    pub fn start_done(&mut self) {
        self.starting = self.starting.saturating_sub(1);
        if self.starting == 0 {
            self.early_exits.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, pid: i32) -> Container {
        let mut init = Proc::new("", StdioPaths::default());
        init.pid = pid;
        init.status = ProcessStatus::RUNNING;
        Container {
            id: id.into(),
            bundle: PathBuf::from("/b"),
            berth: Berth {
                binary: "berth".into(),
                root: "/r".into(),
                log: "/b/log.json".into(),
                systemd_cgroup: false,
                library: None,
            },
            cgroups_path: None,
            ns_hold: None,
            rootfs_mounted: false,
            init,
            execs: HashMap::new(),
            paused: false,
        }
    }

    #[test]
    fn exits_find_their_process() {
        let mut t = Table::default();
        let mut c = container("c1", 10);
        let mut e = Proc::new("e1", StdioPaths::default());
        e.pid = 11;
        e.status = ProcessStatus::RUNNING;
        c.execs.insert("e1".into(), e);
        t.containers.insert("c1".into(), c);
        assert_eq!(t.owner_of(10), ExitOwner::Process("c1".into(), "".into()));
        assert_eq!(t.owner_of(11), ExitOwner::Process("c1".into(), "e1".into()));
        assert_eq!(t.owner_of(12), ExitOwner::Unknown);
    }

    #[test]
    fn stray_exits_are_forgotten_when_no_start_is_in_flight() {
        let mut t = Table {
            starting: 2,
            ..Default::default()
        };
        t.early_exits.insert(5, 0);
        t.start_done();
        assert_eq!(t.early_exits.len(), 1);
        t.start_done();
        assert!(t.early_exits.is_empty());
    }
}
