//! Streaming a file range out as owned chunks: one blocking thread per stream reads ahead with
//! `pread` into fresh buffers and hands them over a bounded channel, so the async side never
//! waits on the disk, nothing is copied between the read and the socket write, and memory per
//! stream stays at most `CHUNK * (DEPTH + 1)` whatever the file size.

use super::ByteStream;
use bytes::Bytes;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use tokio::sync::mpsc;

/// Bytes per chunk: large enough that per-chunk overhead vanishes, small enough to keep the
/// first byte quick.
const CHUNK: usize = 512 * 1024;
/// Chunks read ahead of the socket.
const DEPTH: usize = 4;

/// Stream `len` bytes of `file` from `offset`. A file shorter than promised ends the stream
/// with an `UnexpectedEof` error (the HTTP body is then cut short, never padded).
pub fn stream_file(file: File, offset: u64, len: u64) -> ByteStream {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DEPTH);
    advise_sequential(&file, offset, len);
    tokio::task::spawn_blocking(move || read_loop(&file, offset, len, &tx));
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

fn read_loop(file: &File, mut pos: u64, len: u64, tx: &mpsc::Sender<io::Result<Bytes>>) {
    let end = pos.saturating_add(len);
    while pos < end {
        let want = usize::try_from(end - pos).map_or(CHUNK, |r| r.min(CHUNK));
        let mut buf = vec![0u8; want];
        let item = fill(file, &mut buf, pos).map(|()| Bytes::from(buf));
        let failed = item.is_err();
        // A send error means the client went away: stop reading.
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
        pos += want as u64;
    }
}

/// Fill `buf` from `pos`, retrying short reads.
fn fill(file: &File, buf: &mut [u8], pos: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], pos + done as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob shorter than its recorded size",
                ))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Tell the kernel the range will be read once, front to back (larger readahead).
fn advise_sequential(file: &File, offset: u64, len: u64) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // Advice only: failure changes nothing but speed.
    let _ = posix_fadvise(file, off, len, PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    async fn collect(file: File, offset: u64, len: u64) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut s = stream_file(file, offset, len);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => {
                    assert!(b.len() <= CHUNK);
                    out.extend_from_slice(&b);
                }
                Err(e) => return (out, Some(e.kind())),
            }
        }
        (out, None)
    }

    fn temp_file(data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn streams_whole_files_and_ranges_across_chunks() {
        let data: Vec<u8> = (0..CHUNK * 2 + 1234).map(|i| (i % 251) as u8).collect();
        let (_dir, path) = temp_file(&data);
        let (all, err) = collect(File::open(&path).unwrap(), 0, data.len() as u64).await;
        assert_eq!(err, None);
        assert_eq!(all, data);
        let start = CHUNK as u64 - 10;
        let (part, err) = collect(File::open(&path).unwrap(), start, 20 + CHUNK as u64).await;
        assert_eq!(err, None);
        assert_eq!(part, &data[start as usize..start as usize + 20 + CHUNK]);
        let (none, err) = collect(File::open(&path).unwrap(), 5, 0).await;
        assert_eq!((none.len(), err), (0, None));
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_ends_in_an_error() {
        let (_dir, path) = temp_file(b"short");
        let (got, err) = collect(File::open(&path).unwrap(), 0, 10).await;
        assert_eq!(err, Some(io::ErrorKind::UnexpectedEof));
        assert!(got.is_empty());
    }
}
