//! Content-addressed blobs: written to `ingest/` first, hashed while written, fsynced, checked
//! against the expected digest and size, then renamed into `blobs/<alg>/<hex>`. A partial file
//! left in `ingest/` by an interrupted download is picked up again and continued.

use super::{io_err, Store, StoreError};
use dock_registry::digest::{Algorithm, Digest, Hasher};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Write `data` to `path` atomically (temp file, fsync, rename, fsync the directory).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(data).map_err(io_err("writing", &tmp))?;
    f.sync_all().map_err(io_err("syncing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("renaming into", path))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("syncing", dir))?;
    }
    Ok(())
}

impl Store {
    /// Where a blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Read a whole blob (manifests and configs; layers are streamed instead).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        std::fs::read(&p).map_err(io_err("reading", &p))
    }

    /// Store bytes that must hash to `digest`.
    pub fn put_blob(&self, digest: &Digest, data: &[u8]) -> Result<(), StoreError> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let mut w = self.ingest(digest)?;
        w.reset()?;
        w.write(data)?;
        w.commit(data.len() as u64)
    }

    /// Move the file at `path` (on the store's filesystem, already known to hash to `digest`,
    /// e.g. a layer `dock build` just wrote and hashed) into place as a blob.
    pub fn put_blob_file(&self, digest: &Digest, path: &Path) -> Result<(), StoreError> {
        if self.has_blob(digest) {
            let _ = std::fs::remove_file(path);
            return Ok(());
        }
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err("syncing", path))?;
        let dest = self.blob_path(digest);
        std::fs::rename(path, &dest).map_err(io_err("renaming into", &dest))?;
        sync_parent(&dest)
    }

    /// Open (or continue) the partial download of `digest`.
    pub fn ingest(&self, digest: &Digest) -> Result<BlobWriter, StoreError> {
        let path = self.root.join("ingest").join(format!(
            "{}-{}",
            digest.algorithm().name(),
            digest.hex()
        ));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        // Two dock processes fetching the same blob must not interleave their bytes.
        let mut file = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            if e == nix::errno::Errno::EWOULDBLOCK {
                StoreError::Busy(digest.to_string())
            } else {
                StoreError::Lock(e)
            }
        })?;
        // Re-hash what an earlier attempt left so the download can continue after it.
        let mut hasher = Hasher::new(digest.algorithm());
        let mut len = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(io_err("reading", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok(BlobWriter {
            store: self.clone(),
            path,
            file,
            hasher,
            len,
            digest: digest.clone(),
        })
    }

    /// Every blob digest in the store.
    pub fn list_blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(alg.name());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let e = e.map_err(io_err("listing", &dir))?;
                let name = e.file_name();
                if let Ok(d) = format!("{}:{}", alg.name(), name.to_string_lossy()).parse() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Remove a blob (callers hold the store lock and know it is unreferenced).
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let p = self.blob_path(digest);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", &p)(e)),
            _ => Ok(()),
        }
    }
}

/// A blob being written; only [`BlobWriter::commit`] makes it visible.
pub struct BlobWriter {
    store: Store,
    path: PathBuf,
    file: Flock<File>,
    hasher: Hasher,
    len: u64,
    digest: Digest,
}

impl BlobWriter {
    /// Bytes already written (what a resumed download starts after).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Throw away what was written (the server would not resume, or the data was wrong).
    pub fn reset(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .map_err(io_err("truncating", &self.path))?;
        self.hasher = Hasher::new(self.digest.algorithm());
        self.len = 0;
        Ok(())
    }

    /// Drop a writer that is not needed (the blob arrived meanwhile) and its file.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Append bytes, hashing them.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(data)
            .map_err(io_err("writing", &self.path))?;
        self.hasher.update(data);
        self.len += data.len() as u64;
        Ok(())
    }

    /// Fail early when more than `size` bytes arrived.
    pub fn check_not_over(&self, size: u64) -> Result<(), StoreError> {
        if self.len > size {
            return Err(StoreError::TooLarge(self.digest.to_string(), size));
        }
        Ok(())
    }

    /// Verify digest and size, fsync, and rename into place. On a mismatch the partial file is
    /// deleted so the next attempt starts clean.
    pub fn commit(self, size: u64) -> Result<(), StoreError> {
        let actual = self.hasher.clone().finish();
        if actual != self.digest || self.len != size {
            let _ = std::fs::remove_file(&self.path);
            return Err(StoreError::Mismatch {
                expected: self.digest.to_string(),
                actual: actual.to_string(),
                size: self.len,
                expected_size: size,
            });
        }
        self.file
            .sync_all()
            .map_err(io_err("syncing", &self.path))?;
        let dest = self.store.blob_path(&self.digest);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        std::fs::rename(&self.path, &dest).map_err(io_err("renaming into", &dest))?;
        sync_parent(&dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_write_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data = b"hello blob world";
        let d = Digest::of_bytes(Algorithm::Sha256, data);
        let mut w = store.ingest(&d).unwrap();
        w.write(&data[..5]).unwrap();
        assert!(
            matches!(store.ingest(&d), Err(StoreError::Busy(_))),
            "a second writer while the first is active"
        );
        drop(w);
        // A second writer continues after the first five bytes.
        let mut w = store.ingest(&d).unwrap();
        assert_eq!(w.len(), 5);
        w.write(&data[5..]).unwrap();
        w.commit(data.len() as u64).unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), data);
        assert_eq!(
            std::fs::read_dir(dir.path().join("ingest"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(store.list_blobs().unwrap(), vec![d]);
    }

    #[test]
    fn refuses_wrong_content_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::of_bytes(Algorithm::Sha256, b"right");
        assert!(matches!(
            store.put_blob(&d, b"wrong"),
            Err(StoreError::Mismatch { .. })
        ));
        assert!(!store.has_blob(&d));
        let mut w = store.ingest(&d).unwrap();
        w.write(b"right").unwrap();
        assert!(w.commit(4).is_err());
        assert!(!store.has_blob(&d));
        let mut w = store.ingest(&d).unwrap();
        assert_eq!(w.len(), 0, "a mismatched partial is not resumed");
        w.write(b"right!").unwrap();
        assert!(w.check_not_over(5).is_err());
    }
}
