//! Filesystem storage backend.
//!
//! Layout under the root directory:
//! - `blobs/<alg>/<hex[..2]>/<hex>`: content-addressed blobs, only ever created by an atomic
//!   rename of a fully written, fsynced, digest-verified file, so no torn blob is ever visible;
//! - `uploads/<id>/{data,repo}`: upload sessions (the data so far and the owning repository);
//! - `tmp/`: scratch files for small blobs before their rename;
//! - `repositories/<name>/_layers/<alg>/<hex>`: blob links (empty files);
//! - `repositories/<name>/_manifests/revisions/<alg>/<hex>`: manifest links holding the media type;
//! - `repositories/<name>/_manifests/tags/<tag>`: the digest a tag points at;
//! - `repositories/<name>/_referrers/<alg>-<hex>/<alg>-<hex>.json`: referrer descriptors.
//!
//! Name components never start with `_`, so the `_` directories cannot collide with nested
//! repository names.

use super::atomic::{create_empty, random_hex, remove_file, sync_dir, write_file};
use super::{ByteReader, ByteStream, ReferrerDescriptor, Storage, StorageError, StorageResult};
use crate::digest::{Algorithm, Digest, Hasher};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Size of the buffers used when streaming blob data.
const IO_BUF: usize = 256 * 1024;

/// The running hash of an upload, valid while `at` equals the data file's length.
struct HashState {
    hasher: Hasher,
    at: u64,
}

/// A [`Storage`] on a local directory.
pub struct FsStorage {
    root: PathBuf,
    uploads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<HashState>>>>,
}

fn blocking_err(e: tokio::task::JoinError) -> StorageError {
    StorageError::Io(io::Error::other(e))
}

async fn blocking<T, F>(f: F) -> StorageResult<T>
where
    F: FnOnce() -> StorageResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(blocking_err)?
}

fn not_found_as<T>(r: io::Result<T>, none: T) -> io::Result<T> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(none),
        other => other,
    }
}

/// Whether a string is a well-formed upload id (so it is safe as a path component).
fn valid_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Sorted entry names of a directory, skipping dot-files (temp files); empty if absent.
fn list_names(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in rd {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Digests stored under `dir/<alg>/<hex>` (or with `fanout`, `dir/<alg>/<xx>/<hex>`).
fn list_digests(dir: &Path, fanout: bool) -> io::Result<Vec<(Digest, PathBuf)>> {
    let mut out = Vec::new();
    for alg in list_names(dir)? {
        let alg_dir = dir.join(&alg);
        let leaf_dirs = if fanout {
            list_names(&alg_dir)?
                .into_iter()
                .map(|n| alg_dir.join(n))
                .collect()
        } else {
            vec![alg_dir]
        };
        for leaf in leaf_dirs {
            for hex in list_names(&leaf)? {
                if let Ok(d) = format!("{alg}:{hex}").parse::<Digest>() {
                    out.push((d, leaf.join(hex)));
                }
            }
        }
    }
    Ok(out)
}

/// Stream a file through a hasher.
fn hash_file(path: &Path, algorithm: Algorithm) -> io::Result<Digest> {
    let mut f = fs::File::open(path)?;
    let mut h = Hasher::new(algorithm);
    let mut buf = vec![0u8; IO_BUF];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

/// Set a file's modification time to now (marks a blob as recently used for GC's grace period).
fn touch(path: &Path) -> io::Result<()> {
    fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

impl FsStorage {
    /// A backend rooted at `root`, creating its directories.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for sub in ["blobs", "uploads", "tmp", "repositories"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(FsStorage {
            root,
            uploads: Mutex::new(HashMap::new()),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().name())
            .join(&d.hex()[..2])
            .join(d.hex())
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    fn layer_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_layers")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    fn revision_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests/revisions")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    fn tag_path(&self, repo: &str, tag: &str) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags").join(tag)
    }

    fn referrer_dir(&self, repo: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_referrers").join(format!(
            "{}-{}",
            subject.algorithm().name(),
            subject.hex()
        ))
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// Check that upload `id` exists and belongs to `repo`; returns its data path.
    fn upload_data(&self, repo: &str, id: &str) -> StorageResult<PathBuf> {
        if !valid_upload_id(id) {
            return Err(StorageError::UploadUnknown);
        }
        let dir = self.upload_dir(id);
        match fs::read_to_string(dir.join("repo")) {
            Ok(owner) if owner == repo => Ok(dir.join("data")),
            Ok(_) => Err(StorageError::UploadUnknown),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::UploadUnknown),
            Err(e) => Err(e.into()),
        }
    }

    fn hash_state(&self, id: &str) -> Arc<tokio::sync::Mutex<HashState>> {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(HashState {
                    hasher: Hasher::new(Algorithm::Sha256),
                    // Unknown state (e.g. after a restart): forces a rehash unless empty.
                    at: u64::MAX,
                }))
            })
            .clone()
    }

    fn forget_upload(&self, id: &str) {
        let mut map = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

/// A file's modification time, `None` if it does not exist.
async fn modified(path: PathBuf) -> StorageResult<Option<SystemTime>> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(Some(m.modified()?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Durably place a verified file at `target` (or drop it if that blob already exists).
fn install_blob(src: &Path, target: &Path) -> io::Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other("blob path has no parent"))?;
    fs::create_dir_all(dir)?;
    if target.exists() {
        touch(target)?;
        let _ = fs::remove_file(src);
        return Ok(());
    }
    let f = fs::File::options().write(true).open(src)?;
    f.sync_all()?;
    f.set_modified(SystemTime::now())?;
    drop(f);
    fs::rename(src, target)?;
    sync_dir(dir)
}

/// Link a stored blob into a repository, refreshing the blob's mtime for GC's grace period.
fn link_blob_sync(blob: &Path, link: &Path) -> StorageResult<()> {
    match touch(blob) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::BlobUnknown),
        r => r?,
    }
    if !link.exists() {
        create_empty(link)?;
    }
    Ok(())
}

impl Storage for FsStorage {
    async fn blob_size(&self, d: &Digest) -> StorageResult<Option<u64>> {
        match tokio::fs::metadata(self.blob_path(d)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn blob_read(&self, d: &Digest, offset: u64, len: u64) -> StorageResult<ByteReader> {
        let mut f = match tokio::fs::File::open(self.blob_path(d)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::BlobUnknown),
            Err(e) => return Err(e.into()),
        };
        if offset > 0 {
            f.seek(io::SeekFrom::Start(offset)).await?;
        }
        // No extra buffering: the API reads in large chunks already.
        Ok(Box::pin(f.take(len)))
    }

    async fn blob_stream(&self, d: &Digest, offset: u64, len: u64) -> StorageResult<ByteStream> {
        let path = self.blob_path(d);
        let file = blocking(move || match fs::File::open(path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::BlobUnknown),
            Err(e) => Err(e.into()),
        })
        .await?;
        Ok(super::read_ahead::stream_file(file, offset, len))
    }

    async fn blob_bytes(&self, d: &Digest) -> StorageResult<Vec<u8>> {
        match tokio::fs::read(self.blob_path(d)).await {
            Ok(v) => Ok(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::BlobUnknown),
            Err(e) => Err(e.into()),
        }
    }

    async fn blob_put_bytes(&self, d: &Digest, data: Vec<u8>) -> StorageResult<()> {
        let tmp = self.root.join("tmp").join(random_hex(16)?);
        let target = self.blob_path(d);
        blocking(move || {
            let r = fs::write(&tmp, &data).and_then(|()| install_blob(&tmp, &target));
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            Ok(r?)
        })
        .await
    }

    async fn blob_delete(&self, d: &Digest) -> StorageResult<()> {
        match tokio::fs::remove_file(self.blob_path(d)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn blob_list(&self) -> StorageResult<Vec<(Digest, Duration)>> {
        let dir = self.root.join("blobs");
        blocking(move || {
            let now = SystemTime::now();
            let mut out = Vec::new();
            for (d, path) in list_digests(&dir, true)? {
                let Some(meta) = not_found_as(fs::metadata(&path).map(Some), None)? else {
                    continue;
                };
                let age = now
                    .duration_since(meta.modified()?)
                    .unwrap_or(Duration::ZERO);
                out.push((d, age));
            }
            Ok(out)
        })
        .await
    }

    async fn link_blob(&self, repo: &str, d: &Digest) -> StorageResult<()> {
        let (blob, link) = (self.blob_path(d), self.layer_link(repo, d));
        blocking(move || link_blob_sync(&blob, &link)).await
    }

    async fn unlink_blob(&self, repo: &str, d: &Digest) -> StorageResult<bool> {
        let link = self.layer_link(repo, d);
        blocking(move || Ok(remove_file(&link)?)).await
    }

    async fn is_blob_linked(&self, repo: &str, d: &Digest) -> StorageResult<bool> {
        Ok(tokio::fs::try_exists(self.layer_link(repo, d)).await?
            && tokio::fs::try_exists(self.blob_path(d)).await?)
    }

    async fn upload_start(&self, repo: &str) -> StorageResult<String> {
        let id = random_hex(16)?;
        let dir = self.upload_dir(&id);
        let repo = repo.to_string();
        blocking(move || {
            fs::create_dir_all(&dir)?;
            fs::write(dir.join("data"), b"")?;
            fs::write(dir.join("repo"), repo.as_bytes())?;
            Ok(())
        })
        .await?;
        let state = self.hash_state(&id);
        state.lock().await.at = 0;
        Ok(id)
    }

    async fn upload_size(&self, repo: &str, id: &str) -> StorageResult<u64> {
        let data = self.upload_data(repo, id)?;
        Ok(tokio::fs::metadata(data).await?.len())
    }

    async fn upload_append(
        &self,
        repo: &str,
        id: &str,
        start: Option<u64>,
        len: Option<u64>,
        body: ByteReader,
    ) -> StorageResult<u64> {
        let data = self.upload_data(repo, id)?;
        let state = self.hash_state(id);
        let mut state = state.lock().await;
        let (file, size) = blocking(move || {
            let file = fs::File::options().append(true).open(&data)?;
            let size = file.metadata()?.len();
            Ok((file, size))
        })
        .await?;
        if let Some(s) = start {
            if s != size {
                return Err(StorageError::OutOfOrder { size });
            }
        }
        let hasher = (state.at == size).then(|| state.hasher.clone());
        let (written, hasher) = super::upload_writer::append(file, size, len, hasher, body).await?;
        let new_size = size + written;
        match hasher {
            Some(h) => {
                state.hasher = h;
                state.at = new_size;
            }
            None => state.at = u64::MAX,
        }
        Ok(new_size)
    }

    async fn upload_commit(&self, repo: &str, id: &str, d: &Digest) -> StorageResult<u64> {
        let data = self.upload_data(repo, id)?;
        let state = self.hash_state(id);
        let state = state.lock().await;
        let size = tokio::fs::metadata(&data).await?.len();
        let actual = if state.at == size && d.algorithm() == state.hasher.algorithm() {
            state.hasher.clone().finish()
        } else {
            let (path, alg) = (data.clone(), d.algorithm());
            blocking(move || Ok(hash_file(&path, alg)?)).await?
        };
        drop(state);
        if &actual != d {
            self.upload_cancel(repo, id).await?;
            return Err(StorageError::DigestMismatch);
        }
        let (blob, link) = (self.blob_path(d), self.layer_link(repo, d));
        blocking(move || {
            install_blob(&data, &blob)?;
            link_blob_sync(&blob, &link)
        })
        .await?;
        self.upload_cancel(repo, id).await?;
        Ok(size)
    }

    async fn upload_cancel(&self, repo: &str, id: &str) -> StorageResult<()> {
        self.upload_data(repo, id)?;
        self.forget_upload(id);
        let dir = self.upload_dir(id);
        blocking(move || Ok(not_found_as(fs::remove_dir_all(dir), ())?)).await
    }

    async fn upload_expire(&self, idle: Duration) -> StorageResult<usize> {
        let dir = self.root.join("uploads");
        let expired = blocking(move || {
            let now = SystemTime::now();
            let mut gone = Vec::new();
            for id in list_names(&dir)? {
                let data = dir.join(&id).join("data");
                let modified = match fs::metadata(&data).and_then(|m| m.modified()) {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // A session dir without data is debris from a crash.
                        idle.checked_mul(2)
                            .and_then(|i| now.checked_sub(i))
                            .unwrap_or(std::time::UNIX_EPOCH)
                    }
                    Err(e) => return Err(e.into()),
                };
                if now.duration_since(modified).unwrap_or(Duration::ZERO) > idle {
                    not_found_as(fs::remove_dir_all(dir.join(&id)), ())?;
                    gone.push(id);
                }
            }
            Ok(gone)
        })
        .await?;
        for id in &expired {
            self.forget_upload(id);
        }
        // Scratch files orphaned by a crash mid-write.
        let tmp = self.root.join("tmp");
        blocking(move || {
            let now = SystemTime::now();
            for name in list_names(&tmp)? {
                let path = tmp.join(name);
                let old = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .map(|m| now.duration_since(m).unwrap_or(Duration::ZERO) > idle)
                    .unwrap_or(false);
                if old {
                    not_found_as(fs::remove_file(&path), ())?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(expired.len())
    }

    async fn manifest_link(&self, repo: &str, d: &Digest, media_type: &str) -> StorageResult<()> {
        let link = self.revision_link(repo, d);
        let mt = media_type.to_string();
        blocking(move || Ok(write_file(&link, mt.as_bytes())?)).await
    }

    async fn manifest_media_type(&self, repo: &str, d: &Digest) -> StorageResult<Option<String>> {
        match tokio::fs::read_to_string(self.revision_link(repo, d)).await {
            Ok(mt) => Ok(Some(mt)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn manifest_unlink(&self, repo: &str, d: &Digest) -> StorageResult<bool> {
        let link = self.revision_link(repo, d);
        blocking(move || Ok(remove_file(&link)?)).await
    }

    async fn manifest_list(&self, repo: &str) -> StorageResult<Vec<Digest>> {
        let dir = self.repo_dir(repo).join("_manifests/revisions");
        blocking(move || {
            Ok(list_digests(&dir, false)?
                .into_iter()
                .map(|(d, _)| d)
                .collect())
        })
        .await
    }

    async fn tag_set(&self, repo: &str, tag: &str, d: &Digest) -> StorageResult<()> {
        let path = self.tag_path(repo, tag);
        let val = d.to_string();
        blocking(move || Ok(write_file(&path, val.as_bytes())?)).await
    }

    async fn tag_get(&self, repo: &str, tag: &str) -> StorageResult<Option<Digest>> {
        match tokio::fs::read_to_string(self.tag_path(repo, tag)).await {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn tag_delete(&self, repo: &str, tag: &str) -> StorageResult<bool> {
        let path = self.tag_path(repo, tag);
        blocking(move || Ok(remove_file(&path)?)).await
    }

    async fn tag_modified(&self, repo: &str, tag: &str) -> StorageResult<Option<SystemTime>> {
        modified(self.tag_path(repo, tag)).await
    }

    async fn manifest_modified(&self, repo: &str, d: &Digest) -> StorageResult<Option<SystemTime>> {
        modified(self.revision_link(repo, d)).await
    }

    async fn tag_list(&self, repo: &str) -> StorageResult<Vec<String>> {
        let dir = self.repo_dir(repo).join("_manifests/tags");
        blocking(move || Ok(list_names(&dir)?)).await
    }

    async fn referrer_add(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
        desc: &ReferrerDescriptor,
    ) -> StorageResult<()> {
        let path = self.referrer_dir(repo, subject).join(format!(
            "{}-{}.json",
            referrer.algorithm().name(),
            referrer.hex()
        ));
        let body = serde_json::to_vec(desc).map_err(io::Error::other)?;
        blocking(move || Ok(write_file(&path, &body)?)).await
    }

    async fn referrer_remove(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> StorageResult<()> {
        let path = self.referrer_dir(repo, subject).join(format!(
            "{}-{}.json",
            referrer.algorithm().name(),
            referrer.hex()
        ));
        blocking(move || {
            remove_file(&path)?;
            Ok(())
        })
        .await
    }

    async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> StorageResult<Vec<ReferrerDescriptor>> {
        let dir = self.referrer_dir(repo, subject);
        blocking(move || {
            let mut out = Vec::new();
            for name in list_names(&dir)? {
                let Some(bytes) = not_found_as(fs::read(dir.join(name)).map(Some), None)? else {
                    continue;
                };
                if let Ok(v) = serde_json::from_slice(&bytes) {
                    out.push(v);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn repo_exists(&self, repo: &str) -> StorageResult<bool> {
        let dir = self.repo_dir(repo);
        Ok(tokio::fs::try_exists(dir.join("_layers")).await?
            || tokio::fs::try_exists(dir.join("_manifests")).await?)
    }

    async fn repositories(&self) -> StorageResult<Vec<String>> {
        let base = self.root.join("repositories");
        blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![(base.clone(), String::new())];
            while let Some((dir, prefix)) = stack.pop() {
                let names = list_names(&dir)?;
                if names.iter().any(|n| n == "_layers" || n == "_manifests") {
                    out.push(prefix.clone());
                }
                for n in names.into_iter().filter(|n| !n.starts_with('_')) {
                    let child = dir.join(&n);
                    if child.is_dir() {
                        let name = if prefix.is_empty() {
                            n
                        } else {
                            format!("{prefix}/{n}")
                        };
                        stack.push((child, name));
                    }
                }
            }
            out.retain(|n| !n.is_empty());
            out.sort();
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(data: &'static [u8]) -> ByteReader {
        Box::pin(data)
    }

    #[tokio::test]
    async fn chunked_upload_commits_verified_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let id = s.upload_start("a/b").await.unwrap();
        assert_eq!(
            s.upload_append("a/b", &id, Some(0), Some(3), reader(b"abc"))
                .await
                .unwrap(),
            3
        );
        let err = s
            .upload_append("a/b", &id, Some(0), None, reader(b"x"))
            .await;
        assert!(matches!(err, Err(StorageError::OutOfOrder { size: 3 })));
        // A short body is rolled back.
        let err = s
            .upload_append("a/b", &id, Some(3), Some(5), reader(b"de"))
            .await;
        assert!(matches!(err, Err(StorageError::SizeMismatch)));
        assert_eq!(s.upload_size("a/b", &id).await.unwrap(), 3);
        s.upload_append("a/b", &id, None, None, reader(b"def"))
            .await
            .unwrap();
        assert!(matches!(
            s.upload_size("other", &id).await,
            Err(StorageError::UploadUnknown)
        ));
        let d = Digest::of_bytes(Algorithm::Sha256, b"abcdef");
        assert_eq!(s.upload_commit("a/b", &id, &d).await.unwrap(), 6);
        assert!(s.is_blob_linked("a/b", &d).await.unwrap());
        assert!(!s.is_blob_linked("a", &d).await.unwrap());
        assert_eq!(s.blob_bytes(&d).await.unwrap(), b"abcdef");
        assert_eq!(s.repositories().await.unwrap(), vec!["a/b".to_string()]);
        assert!(matches!(
            s.upload_size("a/b", &id).await,
            Err(StorageError::UploadUnknown)
        ));
    }

    #[tokio::test]
    async fn wrong_digest_leaves_no_blob_and_sha512_rehashes() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let id = s.upload_start("r").await.unwrap();
        s.upload_append("r", &id, None, None, reader(b"data"))
            .await
            .unwrap();
        let wrong = Digest::of_bytes(Algorithm::Sha256, b"other");
        assert!(matches!(
            s.upload_commit("r", &id, &wrong).await,
            Err(StorageError::DigestMismatch)
        ));
        assert_eq!(s.blob_size(&wrong).await.unwrap(), None);
        let id = s.upload_start("r").await.unwrap();
        s.upload_append("r", &id, None, None, reader(b"data"))
            .await
            .unwrap();
        let d512 = Digest::of_bytes(Algorithm::Sha512, b"data");
        s.upload_commit("r", &id, &d512).await.unwrap();
        assert_eq!(s.blob_size(&d512).await.unwrap(), Some(4));
    }

    #[tokio::test]
    async fn tags_manifests_referrers_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let d = Digest::of_bytes(Algorithm::Sha256, b"{}");
        s.blob_put_bytes(&d, b"{}".to_vec()).await.unwrap();
        s.manifest_link("r", &d, "application/x").await.unwrap();
        s.tag_set("r", "v2", &d).await.unwrap();
        s.tag_set("r", "v1", &d).await.unwrap();
        assert_eq!(s.tag_list("r").await.unwrap(), vec!["v1", "v2"]);
        assert_eq!(s.tag_get("r", "v1").await.unwrap(), Some(d.clone()));
        assert_eq!(
            s.manifest_media_type("r", &d).await.unwrap().as_deref(),
            Some("application/x")
        );
        assert!(s.tag_delete("r", "v1").await.unwrap());
        assert!(!s.tag_delete("r", "v1").await.unwrap());
        let desc = serde_json::json!({"digest": d.to_string()});
        s.referrer_add("r", &d, &d, &desc).await.unwrap();
        assert_eq!(s.referrers("r", &d).await.unwrap(), vec![desc]);
        s.referrer_remove("r", &d, &d).await.unwrap();
        assert!(s.referrers("r", &d).await.unwrap().is_empty());
        assert_eq!(s.manifest_list("r").await.unwrap(), vec![d.clone()]);
        assert!(s.manifest_unlink("r", &d).await.unwrap());
    }

    #[tokio::test]
    async fn expires_idle_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let id = s.upload_start("r").await.unwrap();
        let scratch = dir.path().join("tmp/leftover");
        fs::write(&scratch, b"x").unwrap();
        assert_eq!(s.upload_expire(Duration::from_secs(3600)).await.unwrap(), 0);
        assert!(scratch.exists());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.upload_expire(Duration::ZERO).await.unwrap(), 1);
        assert!(s.upload_size("r", &id).await.is_err());
        assert!(!scratch.exists());
    }
}
