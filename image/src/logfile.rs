//! A container's output log in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC 3339 with nanoseconds"}`. The monitor is the
//! only writer; `logs` reads whole lines and follows the file while the container runs.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::SystemTime;

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// fd 1 (and everything from a tty).
    Stdout,
    /// fd 2.
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, ending in a newline unless the output ended without one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When the monitor read it.
    pub time: String,
}

/// A line longer than this is split, as docker splits at 16 KiB.
const MAX_LINE: usize = 16 * 1024;

/// The monitor's writer: buffers partial lines per stream.
pub struct Writer {
    file: File,
    partial: [Vec<u8>; 2],
}

impl Writer {
    /// Open (appending, creating) the log.
    pub fn open(path: &Path) -> std::io::Result<Writer> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Writer {
            file,
            partial: [Vec::new(), Vec::new()],
        })
    }

    fn emit(&mut self, stream: Stream, bytes: &[u8]) -> std::io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(bytes).into_owned(),
            stream: match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            }
            .into(),
            time: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }

    /// Log output; complete lines are written at once, the rest waits for its newline.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let i = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            self.emit(stream, &buf[start..start + nl + 1])?;
            start += nl + 1;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        self.partial[i] = buf[start..].to_vec();
        Ok(())
    }

    /// Write what is left without a newline (the output ended).
    pub fn finish(&mut self) -> std::io::Result<()> {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let rest = std::mem::take(&mut self.partial[i]);
            if !rest.is_empty() {
                self.emit(stream, &rest)?;
            }
        }
        Ok(())
    }
}

/// Reads entries from an offset, only whole lines (the monitor may be mid-write).
pub struct Reader {
    reader: BufReader<File>,
    offset: u64,
}

impl Reader {
    /// Open the log (a container that never wrote has none: read as empty).
    pub fn open(path: &Path) -> std::io::Result<Option<Reader>> {
        match File::open(path) {
            Ok(f) => Ok(Some(Reader {
                reader: BufReader::new(f),
                offset: 0,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The entries written since the last call.
    pub fn next_entries(&mut self) -> std::io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.reader.seek(SeekFrom::Start(self.offset))?;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            self.offset += n as u64;
            if let Ok(e) = serde_json::from_slice::<Entry>(&line) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_streams_and_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("json.log");
        assert!(Reader::open(&path).unwrap().is_none());
        let mut w = Writer::open(&path).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        let mut r = Reader::open(&path).unwrap().unwrap();
        let got: Vec<(String, String)> = r
            .next_entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.stream, e.log))
            .collect();
        assert_eq!(
            got,
            [
                ("stdout".into(), "one\n".into()),
                ("stderr".into(), "err\n".into())
            ]
        );
        w.write(Stream::Stdout, b"o\nend").unwrap();
        w.finish().unwrap();
        let logs: Vec<String> = r
            .next_entries()
            .unwrap()
            .into_iter()
            .map(|e| e.log)
            .collect();
        assert_eq!(logs, ["two\n", "end"]);
        assert!(r.next_entries().unwrap().is_empty());
        let long = vec![b'x'; MAX_LINE + 5];
        w.write(Stream::Stdout, &long).unwrap();
        w.finish().unwrap();
        let sizes: Vec<usize> = r
            .next_entries()
            .unwrap()
            .iter()
            .map(|e| e.log.len())
            .collect();
        assert_eq!(sizes, [MAX_LINE, 5]);
    }
}
