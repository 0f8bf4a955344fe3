//! `dock ps` output: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS,
//! NAMES) or, with `--format json`, one JSON object per line with docker's field names.

use crate::containers::ids::short_id;
use crate::containers::meta::{Meta, State};
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// docker's HumanDuration ("Less than a second", "3 seconds", "About a minute", "5 hours"...).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let minutes = (d.as_secs_f64() / 60.0).round() as u64;
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match s {
        0 => "Less than a second".into(),
        s if s < 60 => plural(s, "second"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => plural(minutes, "minute"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => plural(hours, "hour"),
        _ if hours < 24 * 7 * 2 => plural(hours / 24, "day"),
        _ if hours < 24 * 30 * 2 => plural(hours / 24 / 7, "week"),
        _ if hours < 24 * 365 * 2 => plural(hours / 24 / 30, "month"),
        _ => plural(hours / 24 / 365, "year"),
    }
}

fn since(t: Option<&str>, now: SystemTime) -> Duration {
    t.and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or(Duration::ZERO)
}

/// The STATUS column.
pub fn status_text(m: &Meta, now: SystemTime) -> String {
    match m.live_state() {
        State::Created => "Created".into(),
        State::Running => format!("Up {}", human_duration(since(m.started_at.as_deref(), now))),
        State::Exited => format!(
            "Exited ({}) {} ago",
            m.exit_code.unwrap_or(-1),
            human_duration(since(m.finished_at.as_deref(), now))
        ),
    }
}

/// The COMMAND column: quoted, cut to 20 characters with an ellipsis, as docker prints it.
pub fn command_text(m: &Meta) -> String {
    let full = m.command.join(" ");
    let cut: String = if full.chars().count() > 20 {
        full.chars().take(19).collect::<String>() + "…"
    } else {
        full
    };
    format!("\"{cut}\"")
}

/// One `--format json` line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsRow {
    /// Full id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Name.
    pub names: String,
    /// Image as given.
    pub image: String,
    /// Command line.
    pub command: String,
    /// RFC 3339.
    pub created_at: String,
    /// created / running / exited.
    pub state: String,
    /// The STATUS text.
    pub status: String,
    /// Exit code once exited.
    pub exit_code: Option<i32>,
    /// `k=v,k=v` as docker prints labels.
    pub labels: String,
    /// none / host.
    pub networks: String,
    /// Bind mount sources.
    pub mounts: String,
    /// CREATED text ("3 seconds ago").
    pub running_for: String,
    /// Init pid while running.
    pub pid: Option<i32>,
}

impl PsRow {
    /// The row for a container.
    pub fn new(m: &Meta, now: SystemTime) -> PsRow {
        let state = m.live_state();
        PsRow {
            id: m.id.clone(),
            names: m.name.clone(),
            image: m.image.clone(),
            command: m.command.join(" "),
            created_at: m.created.clone(),
            state: state.as_str().into(),
            status: status_text(m, now),
            exit_code: (state == State::Exited).then_some(m.exit_code.unwrap_or(-1)),
            labels: m
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            networks: m.network.clone(),
            mounts: m
                .volumes
                .iter()
                .map(|v| v.source.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
            running_for: format!("{} ago", human_duration(since(Some(&m.created), now))),
            pid: if state == State::Running { m.pid } else { None },
        }
    }
}

/// The table.
pub fn table(containers: &[Meta], now: SystemTime) -> String {
    let header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    let rows: Vec<[String; 7]> = containers
        .iter()
        .map(|m| {
            [
                short_id(&m.id).to_string(),
                m.image.clone(),
                command_text(m),
                format!("{} ago", human_duration(since(Some(&m.created), now))),
                status_text(m, now),
                String::new(),
                m.name.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, v) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                s.push_str(v);
            } else {
                let pad = widths[i] - v.chars().count();
                s.push_str(v);
                s.push_str(&" ".repeat(pad + 3));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_docker() {
        let d = Duration::from_secs;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(45)), "45 seconds");
        assert_eq!(human_duration(d(80)), "About a minute");
        assert_eq!(human_duration(d(600)), "10 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(5 * 3600)), "5 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
        assert_eq!(human_duration(d(30 * 86400)), "4 weeks");
        assert_eq!(human_duration(d(800 * 86400)), "2 years");
    }

    #[test]
    fn columns() {
        let mut m: Meta = serde_json::from_value(serde_json::json!({
            "id": "0123456789ab".repeat(5) + "cdef", "name": "web", "image": "busybox",
            "image_id": "sha256:x", "created": "2024-01-01T00:00:00Z",
            "command": ["sh", "-c", "echo a long command line"], "labels": {"a": "1"},
            "stop_signal": "SIGTERM", "network": "none", "volumes": [], "runtime": "/b",
            "auto_remove": false, "tty": false, "interactive": false, "state": "exited",
            "exit_code": 3, "finished_at": "2024-01-01T00:00:10Z"
        }))
        .unwrap();
        let now = humantime::parse_rfc3339("2024-01-01T00:00:15Z").unwrap();
        assert_eq!(command_text(&m), "\"sh -c echo a long c…\"");
        assert_eq!(status_text(&m, now), "Exited (3) 5 seconds ago");
        let t = table(&[m.clone()], now);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("0123456789ab   busybox   \"sh -c"),
            "{t}"
        );
        assert!(
            lines[1].ends_with("Exited (3) 5 seconds ago           web"),
            "{t}"
        );
        let row = PsRow::new(&m, now);
        assert_eq!(row.labels, "a=1");
        assert_eq!(row.exit_code, Some(3));
        m.state = State::Created;
        assert_eq!(status_text(&m, now), "Created");
    }
}
