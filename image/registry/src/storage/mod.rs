//! The storage contract the API is written against, so backends (filesystem today, an
//! S3-compatible object store later) can be swapped without touching the HTTP layer.
//!
//! Every method takes already-validated names, tags and digests (see [`crate::name`] and
//! [`crate::digest`]); backends may use them as path components directly.

pub mod atomic;
pub mod fs;
pub mod read_ahead;
pub mod upload_writer;

use crate::digest::Digest;
use bytes::Bytes;
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncRead;

/// A boxed byte stream, used for request bodies going in and blob contents coming out.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// Blob contents as a stream of owned chunks, ready to become an HTTP body without copying.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Chunk size for [`Storage::blob_stream`]'s default implementation.
const DEFAULT_STREAM_CHUNK: usize = 256 * 1024;

/// Result alias for storage operations.
pub type StorageResult<T> = Result<T, StorageError>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such blob.
    #[error("blob unknown")]
    BlobUnknown,
    /// No such upload session (or it belongs to another repository).
    #[error("upload unknown")]
    UploadUnknown,
    /// Content hashed to something other than the claimed digest.
    #[error("digest mismatch")]
    DigestMismatch,
    /// Body length differs from the declared one.
    #[error("size mismatch")]
    SizeMismatch,
    /// No such manifest.
    #[error("manifest unknown")]
    ManifestUnknown,
    /// No such repository.
    #[error("repository unknown")]
    NameUnknown,
    /// A chunk did not start where the upload currently ends.
    #[error("chunk out of order; upload holds {size} bytes")]
    OutOfOrder {
        /// Bytes the upload currently holds.
        size: u64,
    },
    /// The request body could not be read.
    #[error("reading body: {0}")]
    BodyRead(String),
    /// Backend I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A referrer recorded against a subject: the descriptor the referrers API returns.
pub type ReferrerDescriptor = serde_json::Value;

/// Persistence for blobs, repository links, uploads, manifests, tags and referrers.
pub trait Storage: Send + Sync + 'static {
    /// Size of a stored blob, or `None` if absent.
    fn blob_size(&self, d: &Digest) -> impl Future<Output = StorageResult<Option<u64>>> + Send;
    /// Read `len` bytes of a blob from `offset`.
    fn blob_read(
        &self,
        d: &Digest,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = StorageResult<ByteReader>> + Send;
    /// Stream `len` bytes of a blob from `offset` (what blob GETs send). Backends override
    /// this when they can read ahead better than through [`Storage::blob_read`].
    fn blob_stream(
        &self,
        d: &Digest,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = StorageResult<ByteStream>> + Send {
        async move {
            let reader = self.blob_read(d, offset, len).await?;
            let stream: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(
                reader,
                DEFAULT_STREAM_CHUNK,
            ));
            Ok(stream)
        }
    }
    /// Read a whole (small) blob into memory; callers bound the size first.
    fn blob_bytes(&self, d: &Digest) -> impl Future<Output = StorageResult<Vec<u8>>> + Send;
    /// Store bytes whose digest the caller has computed.
    fn blob_put_bytes(
        &self,
        d: &Digest,
        data: Vec<u8>,
    ) -> impl Future<Output = StorageResult<()>> + Send;
    /// Remove a blob from the store (garbage collection only).
    fn blob_delete(&self, d: &Digest) -> impl Future<Output = StorageResult<()>> + Send;
    /// Every stored blob with its age (time since last modification).
    fn blob_list(&self) -> impl Future<Output = StorageResult<Vec<(Digest, Duration)>>> + Send;

    /// Make a stored blob visible in a repository.
    fn link_blob(&self, repo: &str, d: &Digest) -> impl Future<Output = StorageResult<()>> + Send;
    /// Remove a repository's link to a blob; false if there was none.
    fn unlink_blob(
        &self,
        repo: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<bool>> + Send;
    /// Whether a repository links a blob (and the blob exists).
    fn is_blob_linked(
        &self,
        repo: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Open an upload session for a repository; returns its id.
    fn upload_start(&self, repo: &str) -> impl Future<Output = StorageResult<String>> + Send;
    /// Bytes received so far by an upload.
    fn upload_size(&self, repo: &str, id: &str) -> impl Future<Output = StorageResult<u64>> + Send;
    /// Append a chunk. `start` (from Content-Range) must equal the current size; `len` (from
    /// Content-Length / Content-Range) must match the body. A failed chunk is rolled back.
    /// Returns the new size.
    fn upload_append(
        &self,
        repo: &str,
        id: &str,
        start: Option<u64>,
        len: Option<u64>,
        body: ByteReader,
    ) -> impl Future<Output = StorageResult<u64>> + Send;
    /// Verify the upload against `d`, move it into the blob store durably, link it into the
    /// repository and close the session. Returns the blob size.
    fn upload_commit(
        &self,
        repo: &str,
        id: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<u64>> + Send;
    /// Drop an upload session.
    fn upload_cancel(&self, repo: &str, id: &str)
        -> impl Future<Output = StorageResult<()>> + Send;
    /// Drop sessions idle for longer than `idle`; returns how many.
    fn upload_expire(&self, idle: Duration) -> impl Future<Output = StorageResult<usize>> + Send;

    /// Record a manifest revision (its blob must already be stored) with its media type.
    fn manifest_link(
        &self,
        repo: &str,
        d: &Digest,
        media_type: &str,
    ) -> impl Future<Output = StorageResult<()>> + Send;
    /// The media type of a manifest revision in a repository, if present.
    fn manifest_media_type(
        &self,
        repo: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<Option<String>>> + Send;
    /// Remove a manifest revision; false if absent.
    fn manifest_unlink(
        &self,
        repo: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<bool>> + Send;
    /// Every manifest revision of a repository.
    fn manifest_list(&self, repo: &str) -> impl Future<Output = StorageResult<Vec<Digest>>> + Send;

    /// Point a tag at a manifest.
    fn tag_set(
        &self,
        repo: &str,
        tag: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<()>> + Send;
    /// The manifest a tag points at.
    fn tag_get(
        &self,
        repo: &str,
        tag: &str,
    ) -> impl Future<Output = StorageResult<Option<Digest>>> + Send;
    /// Remove a tag; false if absent.
    fn tag_delete(&self, repo: &str, tag: &str)
        -> impl Future<Output = StorageResult<bool>> + Send;
    /// When a tag was last set.
    fn tag_modified(
        &self,
        repo: &str,
        tag: &str,
    ) -> impl Future<Output = StorageResult<Option<SystemTime>>> + Send;
    /// When a manifest revision was last linked.
    fn manifest_modified(
        &self,
        repo: &str,
        d: &Digest,
    ) -> impl Future<Output = StorageResult<Option<SystemTime>>> + Send;
    /// All tags of a repository, sorted lexically.
    fn tag_list(&self, repo: &str) -> impl Future<Output = StorageResult<Vec<String>>> + Send;

    /// Record that `referrer` (described by `desc`) has `subject` as its subject.
    fn referrer_add(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
        desc: &ReferrerDescriptor,
    ) -> impl Future<Output = StorageResult<()>> + Send;
    /// Forget a referrer.
    fn referrer_remove(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> impl Future<Output = StorageResult<()>> + Send;
    /// Descriptors of everything referring to `subject`.
    fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> impl Future<Output = StorageResult<Vec<ReferrerDescriptor>>> + Send;

    /// Whether the repository exists (has anything linked).
    fn repo_exists(&self, repo: &str) -> impl Future<Output = StorageResult<bool>> + Send;
    /// All repository names, sorted lexically.
    fn repositories(&self) -> impl Future<Output = StorageResult<Vec<String>>> + Send;
}
