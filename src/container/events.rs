//! `events`: runc's JSON event stream for a container, one object per line:
//! `{"type":"stats","id":ID,"data":{…}}` from the cgroup every interval, and
//! `{"type":"oom","id":ID}` when the kernel's OOM killer acts in the container's memory
//! cgroup. `--stats` prints one stats event and returns. The stream ends when the
//! container stops or its cgroup goes away.

use crate::cgroups::Stats;
use crate::cgroups::{CgroupManager, OomEvent, OomWatcher};
use crate::error::{Error, Result};
use crate::state::{Root, State, Status};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// Longest pause between looks at the container's status.
const STATUS_POLL: Duration = Duration::from_millis(250);

/// `events [--stats] [--interval D] ID`, writing to `out`.
pub fn events(
    root: &Root,
    id: &str,
    stats_once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<()> {
    if interval.is_zero() {
        return Err(Error::invalid("--interval: must be greater than zero"));
    }
    let st = root.load(id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::Other(format!(
            "container with id {id} is not running"
        )));
    }
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Other(format!("container {id} has no cgroup")))?;
    if stats_once {
        return emit_stats(out, id, cg);
    }
    // Without a memory hierarchy there are no OOM events; stats still flow.
    let mut watcher = OomWatcher::new(cg).ok();
    let mut next_stats = Instant::now() + interval;
    loop {
        let slice = next_stats
            .saturating_duration_since(Instant::now())
            .min(STATUS_POLL);
        if let Some(w) = watcher.as_mut() {
            match w.wait(slice)? {
                OomEvent::Oom => emit(out, &Event::oom(id))?,
                OomEvent::Gone => return Ok(()),
                OomEvent::Timeout => {}
            }
        } else {
            std::thread::sleep(slice);
        }
        if stopped(&st, root) {
            // An OOM kill that stopped the container is reported before the end.
            if let Some(w) = watcher.as_mut() {
                if w.wait(Duration::from_millis(1))? == OomEvent::Oom {
                    emit(out, &Event::oom(id))?;
                }
            }
            return Ok(());
        }
        if Instant::now() >= next_stats {
            emit_stats(out, id, cg)?;
            next_stats += interval;
        }
    }
}

fn stopped(st: &State, root: &Root) -> bool {
    st.status(root) == Status::Stopped
}

fn emit_stats(out: &mut dyn Write, id: &str, cg: &CgroupManager) -> Result<()> {
    let stats = cg.stats()?;
    emit(
        out,
        &Event {
            kind: "stats",
            id,
            data: Some(&stats),
        },
    )
}

/// One line of the stream, with runc's field order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

impl<'a> Event<'a> {
    fn oom(id: &'a str) -> Self {
        Event {
            kind: "oom",
            id,
            data: None,
        }
    }
}

fn emit(out: &mut dyn Write, event: &Event<'_>) -> Result<()> {
    let mut line = serde_json::to_string(event).map_err(|e| Error::Other(e.to_string()))?;
    line.push('\n');
    out.write_all(line.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// A duration in Go's notation, as runc's `--interval` takes it: one or more
/// `<number><unit>` parts with units ns, us (µs), ms, s, m, h, e.g. "5s", "1.5s",
/// "250ms", "1m30s"; a bare "0" is zero.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (use e.g. 5s, 500ms, 1m)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * seconds;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "1..2s", "-1s", "5 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn events_are_single_json_lines() {
        let mut out = Vec::new();
        emit(&mut out, &Event::oom("c1")).unwrap();
        let stats = Stats::default();
        let stats_event = Event {
            kind: "stats",
            id: "c1",
            data: Some(&stats),
        };
        emit(&mut out, &stats_event).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"type":"oom","id":"c1"}"#);
        assert!(lines[1].starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":"#));
        assert!(text.ends_with("}\n") && lines.len() == 2);
    }
}
