//! ADD of a local archive: a tar, plain or compressed (gzip, zstd in-process; bzip2 and xz
//! through the host's `bzip2 -dc` / `xz -dc`), is extracted into the destination directory by
//! the layer unpacker (`crate::unpack`, with its in-root rules and limits). A file is an archive
//! when its decompressed first 512 bytes are a tar header with a valid checksum, as docker
//! decides; anything else is copied as a plain file.
//!
//! Entries keep the owners and modes the tar gives them (`--chown`/`--chmod` are not applied
//! to extracted entries); symlinks in the archive resolve inside the destination directory.

use super::CopyError;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

fn format_of(head: &[u8]) -> Format {
    if head.starts_with(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if head.starts_with(b"BZh") {
        Format::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Format::Xz
    } else {
        Format::Plain
    }
}

/// Whether a 512-byte block is a tar header: its checksum field matches its bytes (summed
/// with the field itself as spaces), as Go's archive/tar checks.
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let text = text.trim_start_matches(' ');
    let Ok(want) = u64::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u64 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == want
}

/// A decompressing child process (`bzip2 -dc`, `xz -dc`); its exit status is checked at the
/// end of the stream, and it is killed if dropped early.
struct ToolReader {
    child: Child,
    out: ChildStdout,
    tool: &'static str,
    done: bool,
}

impl Read for ToolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.out.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let status = self.child.wait()?;
            if !status.success() {
                return Err(io::Error::other(format!(
                    "{} -dc failed: {status}",
                    self.tool
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for ToolReader {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The tar bytes of `file` (read from its start).
fn decompressed(file: &File, format: Format) -> io::Result<Box<dyn Read>> {
    let f = file.try_clone()?;
    // Fresh offset: the clone shares it, so read through a positioned reader.
    let plain = PositionedReader { file: f, pos: 0 };
    Ok(match format {
        Format::Plain => Box::new(plain),
        Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(plain))),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::new(plain)?),
        Format::Bzip2 | Format::Xz => {
            let tool = if format == Format::Bzip2 {
                "bzip2"
            } else {
                "xz"
            };
            // The child reads the fd's shared offset: from the start, every time.
            (&*file).seek(io::SeekFrom::Start(0))?;
            let mut child = Command::new(tool)
                .arg("-dc")
                .stdin(Stdio::from(file.try_clone()?))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{tool} is needed to extract this archive: {e}"),
                    )
                })?;
            let out = child
                .stdout
                .take()
                .ok_or_else(|| io::Error::other("no stdout pipe"))?;
            Box::new(ToolReader {
                child,
                out,
                tool,
                done: false,
            })
        }
    })
}

/// Reads a file from an offset of its own (pread), independent of the fd's offset.
struct PositionedReader {
    file: File,
    pos: u64,
}

impl Read for PositionedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The archive format of `file` when it is a (possibly compressed) tar, else `None`.
pub fn detect(file: &File) -> io::Result<Option<Format>> {
    let mut head = [0u8; 8];
    let n = file.read_at(&mut head, 0)?;
    let format = format_of(&head[..n]);
    let mut reader = decompressed(file, format)?;
    let mut block = Vec::with_capacity(512);
    // A stream that fails to decompress is not an archive (a stray magic number).
    if reader.by_ref().take(512).read_to_end(&mut block).is_err() {
        return Ok(None);
    }
    Ok(is_tar_header(&block).then_some(format))
}

/// Extract `file` (an archive of `format`) into the directory `dest` (an fd resolved inside
/// the destination root).
pub fn extract(
    file: &File,
    format: Format,
    dest: BorrowedFd<'_>,
    shown: &str,
) -> Result<(), CopyError> {
    let reader = decompressed(file, format).map_err(|source| CopyError::Io {
        path: shown.to_string(),
        what: "decompressing",
        source,
    })?;
    // The unpacker opens its root by path; this names exactly the directory we hold.
    let dest_path = format!("/proc/self/fd/{}", dest.as_raw_fd());
    crate::unpack::apply_layer(
        reader,
        "application/x-tar",
        Path::new(&dest_path),
        &crate::unpack::Limits::default(),
    )
    .map(|_| ())
    .map_err(|source| CopyError::Extract {
        path: shown.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_by_checksum() {
        let mut h = tar::Header::new_ustar();
        h.set_path("a").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(is_tar_header(h.as_bytes()));
        let mut bad = *h.as_bytes();
        bad[0] = b'b';
        assert!(!is_tar_header(&bad));
        assert!(!is_tar_header(&[0u8; 512]));
        assert!(!is_tar_header(b"hello"));
        assert_eq!(format_of(b"BZh91AY"), Format::Bzip2);
        assert_eq!(format_of(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]), Format::Xz);
    }
}
