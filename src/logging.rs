//! Log lines for `--log FILE` and `--log-format text|json`.
//!
//! JSON lines are `{"level":"error","msg":"…","time":"…"}`: containerd's shim shows the
//! last `"level":"error"` line to its user, so the real cause must be in it. Without
//! `--log`, lines go to stderr as text.

use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Sink {
    file: Option<std::fs::File>,
    format: Format,
    debug: bool,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Opens the log file (append, created 0644) and sets the format; call once at startup.
pub fn init(path: Option<&std::path::Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    if let Ok(mut s) = SINK.lock() {
        *s = Some(Sink {
            file,
            format,
            debug,
        });
    }
    Ok(())
}

fn write(level: &str, msg: &str) {
    let Ok(mut guard) = SINK.lock() else { return };
    let (format, debug) = guard
        .as_ref()
        .map_or((Format::Text, false), |s| (s.format, s.debug));
    if level == "debug" && !debug {
        return;
    }
    let line = match format {
        Format::Json => {
            let obj = serde_json::json!({
                "level": level,
                "msg": msg,
                "time": crate::state::now_rfc3339(),
            });
            format!("{obj}\n")
        }
        Format::Text => format!("{} {level}: {msg}\n", crate::state::now_rfc3339()),
    };
    match guard.as_mut().and_then(|s| s.file.as_mut()) {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            if level != "debug" || debug {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    write("debug", msg);
}

/// True when log lines go to a file (so errors must also be printed to stderr).
pub fn has_file() -> bool {
    SINK.lock()
        .is_ok_and(|s| s.as_ref().is_some_and(|s| s.file.is_some()))
}
