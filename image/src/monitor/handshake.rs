//! The one message a monitor sends the `dock run` that started it, over an inherited pipe:
//! `started PID` once the container runs, or `failed CODE MESSAGE` (CODE as docker: 125 for
//! a runtime error, 126 when the command cannot be run, 127 when it is not found). The pipe
//! closing without a message means the monitor died.

use std::io::{Read, Write};

/// How starting the container went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Running; the init's pid.
    Started(i32),
    /// Not started: exit code for `dock run` and a one-line reason.
    Failed(i32, String),
}

/// docker's exit code for a failed start, from the runtime's message.
pub fn failure_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("exec:") || m.contains("executable file") {
        if m.contains("not found") || m.contains("no such file") {
            return 127;
        }
        if m.contains("permission denied") {
            return 126;
        }
    }
    125
}

impl Outcome {
    fn line(&self) -> String {
        match self {
            Outcome::Started(pid) => format!("started {pid}\n"),
            Outcome::Failed(code, msg) => {
                format!("failed {code} {}\n", msg.replace(['\n', '\r'], " ").trim())
            }
        }
    }

    /// Write it.
    pub fn send(&self, mut to: impl Write) -> std::io::Result<()> {
        to.write_all(self.line().as_bytes())
    }

    /// Read it (to end of file); `None` when the monitor said nothing.
    pub fn receive(mut from: impl Read) -> std::io::Result<Option<Outcome>> {
        let mut text = String::new();
        from.read_to_string(&mut text)?;
        let line = text.lines().next().unwrap_or("");
        Ok(if let Some(pid) = line.strip_prefix("started ") {
            pid.trim().parse().ok().map(Outcome::Started)
        } else if let Some(rest) = line.strip_prefix("failed ") {
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(Outcome::Failed(
                code.parse().unwrap_or(125),
                msg.to_string(),
            ))
        } else {
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_codes() {
        for o in [
            Outcome::Started(42),
            Outcome::Failed(
                127,
                "exec: \"x\": executable file not found in $PATH".into(),
            ),
        ] {
            let mut buf = Vec::new();
            o.send(&mut buf).unwrap();
            assert_eq!(Outcome::receive(&buf[..]).unwrap(), Some(o));
        }
        let mut buf = Vec::new();
        Outcome::Failed(125, "two\nlines".into())
            .send(&mut buf)
            .unwrap();
        assert_eq!(
            Outcome::receive(&buf[..]).unwrap(),
            Some(Outcome::Failed(125, "two lines".into()))
        );
        assert_eq!(Outcome::receive(&b""[..]).unwrap(), None);
        assert_eq!(
            failure_code("exec: \"nosuch\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            failure_code("exec: \"/x\": stat /x: no such file or directory"),
            127
        );
        assert_eq!(failure_code("exec: \"/etc\": permission denied"), 126);
        assert_eq!(failure_code("cgroup: no such file or directory"), 125);
    }
}
