//! A container's metadata file (`meta.json`): what `run` decided (name, image, command, labels,
//! stop signal, mounts, runtime) and the state the monitor saw last (pids, exit code, times).
//! Written whole to a temp file and renamed, so readers never see half a file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lifecycle states docker shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Made, never started (or failed to start).
    Created,
    /// The monitor started it and has not seen it exit.
    Running,
    /// It exited; `exit_code` says how.
    Exited,
}

impl State {
    /// docker's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }
}

/// A `-v` bind mount as recorded for `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Host path.
    pub source: PathBuf,
    /// Path in the container.
    pub destination: String,
    /// Read-write unless `:ro`.
    pub read_only: bool,
}

/// Everything dock remembers about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image ID (config digest).
    pub image_id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The process: entrypoint + command as run.
    pub command: Vec<String>,
    /// The entrypoint part of it (docker's Config.Entrypoint).
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The command part (Config.Cmd).
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Image labels (also the bundle's annotations).
    pub labels: BTreeMap<String, String>,
    /// Signal `stop` sends first (`SIGTERM` unless the image says otherwise).
    pub stop_signal: String,
    /// `none` or `host`.
    pub network: String,
    /// `-v` mounts.
    pub volumes: Vec<Volume>,
    /// The berth binary this container runs on (later commands use the same one).
    pub runtime: PathBuf,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// Last state seen.
    pub state: State,
    /// The container's init pid while it runs.
    #[serde(default)]
    pub pid: Option<i32>,
    /// Its start time (clock ticks after boot, /proc/PID/stat field 22): guards against pid
    /// reuse.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// The monitor's pid and start time.
    #[serde(default)]
    pub monitor: Option<(i32, u64)>,
    /// How it exited (128+N for a signal).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Why it failed to start.
    #[serde(default)]
    pub error: Option<String>,
}

/// Read `meta.json`.
pub fn read(path: &Path) -> std::io::Result<Meta> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Write `meta.json` atomically (temp file + rename; no fsync: losing the last update in a
/// power cut only loses the container's last state, which is re-derived from the pids).
pub fn write(path: &Path, meta: &Meta) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The start time of `pid` (field 22 of /proc/PID/stat), `None` when it is gone.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); field 22 is index 19. A zombie has exited.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether the process `pid` that started at `start` still runs.
pub fn alive(pid: i32, start: u64) -> bool {
    process_start_time(pid) == Some(start)
}

impl Meta {
    /// Whether the container's init still runs.
    pub fn init_alive(&self) -> bool {
        matches!((self.pid, self.pid_start), (Some(p), Some(s)) if alive(p, s))
    }

    /// Whether its monitor still runs.
    pub fn monitor_alive(&self) -> bool {
        self.monitor.is_some_and(|(p, s)| alive(p, s))
    }

    /// The state, corrected when a recorded `running` container's init and monitor are both
    /// gone (the monitor was killed before it could record the exit).
    pub fn live_state(&self) -> State {
        if self.state == State::Running && !self.init_alive() && !self.monitor_alive() {
            State::Exited
        } else {
            self.state
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Meta {
        Meta {
            id: "ab".repeat(32),
            name: "n".into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            created: "2024-01-01T00:00:00Z".into(),
            command: vec!["sh".into()],
            entrypoint: vec![],
            cmd: vec!["sh".into()],
            labels: BTreeMap::new(),
            stop_signal: "SIGTERM".into(),
            network: "none".into(),
            volumes: vec![],
            runtime: "/bin/berth".into(),
            auto_remove: false,
            tty: false,
            interactive: false,
            state: State::Running,
            pid: Some(i32::MAX),
            pid_start: Some(1),
            monitor: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            error: None,
        }
    }

    #[test]
    fn round_trips_and_derives_dead_running_as_exited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        let m = sample();
        write(&path, &m).unwrap();
        assert_eq!(read(&path).unwrap(), m);
        assert_eq!(m.live_state(), State::Exited);
        let me = std::process::id() as i32;
        let mine = Meta {
            pid: Some(me),
            pid_start: process_start_time(me),
            ..m
        };
        assert!(mine.pid_start.is_some());
        assert_eq!(mine.live_state(), State::Running);
    }
}
