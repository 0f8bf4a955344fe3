//! Appending a request body to an upload's data file: the async side reads the body, a
//! blocking thread hashes and writes what it receives over a bounded channel (so hashing, disk
//! writes and the network overlap), and asks the kernel to start writing back every few MiB,
//! so the fsync at commit finds little left to flush.

use super::{ByteReader, StorageError, StorageResult};
use crate::digest::Hasher;
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Bytes read from the body per chunk handed to the writer.
const READ_CHUNK: usize = 256 * 1024;
/// Chunks in flight between the body and the writer.
const DEPTH: usize = 8;
/// Start writeback of dirty pages after this many new bytes.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Append `body` to `file` (opened for append, currently `size` bytes long). `len`, when
/// known, is the exact byte count the body must carry; `hasher` continues the running digest
/// when it is in step with the file. On any failure the file is cut back to `size`.
/// Returns the bytes written and the advanced hasher.
pub async fn append(
    file: File,
    size: u64,
    len: Option<u64>,
    hasher: Option<Hasher>,
    mut body: ByteReader,
) -> StorageResult<(u64, Option<Hasher>)> {
    let (tx, rx) = mpsc::channel::<Bytes>(DEPTH);
    let writer = tokio::task::spawn_blocking(move || {
        let result = write_loop(&file, size, hasher, rx);
        (file, result)
    });
    let fed: StorageResult<u64> = async {
        let mut written: u64 = 0;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            let n = body
                .read_buf(&mut buf)
                .await
                .map_err(|e| StorageError::BodyRead(e.to_string()))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if len.is_some_and(|l| written > l) {
                return Err(StorageError::SizeMismatch);
            }
            if buf.len() >= READ_CHUNK && tx.send(buf.split().freeze()).await.is_err() {
                // The writer stopped: its error is reported below.
                return Ok(written);
            }
        }
        if !buf.is_empty() {
            let _ = tx.send(buf.split().freeze()).await;
        }
        if len.is_some_and(|l| written != l) {
            return Err(StorageError::SizeMismatch);
        }
        Ok(written)
    }
    .await;
    drop(tx);
    let (file, wrote) = writer
        .await
        .map_err(|e| StorageError::Io(io::Error::other(e)))?;
    let result = match (fed, wrote) {
        (Ok(n), Ok((w, hasher))) if n == w => Ok((n, hasher)),
        (Ok(_), Ok(_)) => Err(StorageError::Io(io::Error::other(
            "upload writer lost bytes",
        ))),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(StorageError::Io(e)),
    };
    if result.is_err() {
        // Roll the chunk back so the session stays consistent and resumable.
        tokio::task::spawn_blocking(move || file.set_len(size))
            .await
            .map_err(|e| StorageError::Io(io::Error::other(e)))??;
    }
    result
}

/// The blocking side: hash and write every chunk until the channel closes.
fn write_loop(
    mut file: &File,
    start: u64,
    mut hasher: Option<Hasher>,
    mut rx: mpsc::Receiver<Bytes>,
) -> io::Result<(u64, Option<Hasher>)> {
    let mut written: u64 = 0;
    let mut flushed_to = start;
    while let Some(chunk) = rx.blocking_recv() {
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        file.write_all(&chunk)?;
        written += chunk.len() as u64;
        let end = start + written;
        if end - flushed_to >= WRITEBACK_STEP {
            start_writeback(file, flushed_to, end - flushed_to);
            flushed_to = end;
        }
    }
    Ok((written, hasher))
}

/// Ask the kernel to begin writing a range back to disk without waiting (durability still
/// comes from the fsync at commit; this only spreads the work over the upload).
fn start_writeback(file: &File, offset: u64, len: u64) {
    let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the fd is valid for the
    // borrow of `file`. A failure (e.g. a filesystem without support) is harmless: the
    // commit's fsync writes everything anyway.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, Digest};
    use std::io::Read;

    fn reader(chunks: Vec<io::Result<Vec<u8>>>) -> ByteReader {
        let s = futures_util::stream::iter(chunks.into_iter().map(|c| c.map(Bytes::from)));
        Box::pin(tokio_util::io::StreamReader::new(s))
    }

    fn open(dir: &std::path::Path, initial: &[u8]) -> (std::path::PathBuf, File) {
        let path = dir.join("data");
        std::fs::write(&path, initial).unwrap();
        let f = File::options().append(true).open(&path).unwrap();
        (path, f)
    }

    #[tokio::test]
    async fn appends_hashes_and_counts_across_writeback_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = open(dir.path(), b"head");
        let piece: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 249) as u8).collect();
        let chunks = (0..4).map(|_| Ok(piece.clone())).collect();
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"head");
        let total = piece.len() as u64 * 4;
        let (n, hasher) = append(file, 4, Some(total), Some(h), reader(chunks))
            .await
            .unwrap();
        assert_eq!(n, total);
        let mut data = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut data).unwrap();
        assert_eq!(data.len() as u64, 4 + total);
        assert_eq!(
            hasher.unwrap().finish(),
            Digest::of_bytes(Algorithm::Sha256, &data)
        );
    }

    #[tokio::test]
    async fn short_long_and_broken_bodies_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        for (chunks, len) in [
            (vec![Ok(b"abc".to_vec())], Some(5)),
            (vec![Ok(b"abcdef".to_vec())], Some(5)),
            (
                vec![Ok(b"abc".to_vec()), Err(io::Error::other("cut"))],
                None,
            ),
        ] {
            let (path, file) = open(dir.path(), b"kept");
            let r = append(file, 4, len, None, reader(chunks)).await;
            assert!(r.is_err());
            assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        }
    }
}
