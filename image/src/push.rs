//! `dock push`: upload an image's config and layers in parallel — skipping blobs the registry
//! has, mounting them from the repository the image came from when that is on the same
//! registry, otherwise uploading in one PUT or in PATCH chunks — then PUT the manifest's
//! original bytes, so an unchanged pulled image keeps its digest.

use crate::manifest::Descriptor;
use crate::progress::{short, BlobProgress, Progress};
use crate::pull::{RemoteOptions, PARALLEL_BLOBS};
use crate::reference::Reference;
use crate::remote::{expect_status, Session};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

/// Blobs up to this size go up in one request; larger ones in chunks of this size.
/// Bodies are streamed from the store, so this bounds request sizes, not memory.
pub const DEFAULT_CHUNK_SIZE: u64 = 256 * 1024 * 1024;

/// Push the stored image named `reference`; returns the manifest descriptor pushed.
pub async fn push(
    store: &Store,
    reference: &Reference,
    opts: &RemoteOptions,
    progress: &Progress,
    chunk_size: u64,
) -> Result<Descriptor> {
    let _active = store.activity()?;
    let named = store.resolve(reference)?;
    let image = store.open_image(&named)?;
    let mount_from = named
        .source()
        .and_then(|s| Reference::parse(s).ok())
        .filter(|s| s.domain == reference.domain && s.path != reference.path)
        .map(|s| s.path);
    let mut scopes = vec![format!("repository:{}:pull,push", reference.path)];
    if let Some(from) = &mount_from {
        scopes.push(format!("repository:{from}:pull"));
    }
    let session = opts.session(reference, scopes).await?;
    let blobs: Vec<Descriptor> = std::iter::once(image.manifest.config.clone())
        .chain(image.manifest.layers.iter().cloned())
        .collect();
    let ctx = PushBlob {
        session: &session,
        store,
        progress,
        mount_from: mount_from.as_deref(),
        chunk_size: chunk_size.max(1),
    };
    futures_util::stream::iter(blobs.iter().map(|b| ctx.push(b)))
        .buffer_unordered(PARALLEL_BLOBS)
        .try_collect::<Vec<()>>()
        .await?;
    let desc = image.manifest_desc.clone();
    let bytes = store.read_blob(&desc.digest)?;
    let target = reference
        .tag
        .clone()
        .unwrap_or_else(|| desc.digest.to_string());
    let url = session.url(&format!("manifests/{target}"));
    let resp = session
        .send(|c| {
            Ok(c.put(&url)
                .header(CONTENT_TYPE, &desc.media_type)
                .body(bytes.clone()))
        })
        .await?;
    let resp = expect_status(resp, &[StatusCode::CREATED], "manifest upload").await?;
    if let Some(d) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        if d != desc.digest.to_string() {
            bail!(
                "the registry stored the manifest as {d}, we sent {}",
                desc.digest
            );
        }
    }
    store.set_name(reference, &named.manifest, Some(&reference.repository()))?;
    Ok(desc)
}

/// `len` bytes of the file at `offset`, streamed (never all in memory), advancing `bar`.
fn file_body(path: &Path, offset: u64, len: u64, bar: &BlobProgress) -> Result<reqwest::Body> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .with_context(|| format!("seeking in {}", path.display()))?;
    let reader = tokio::fs::File::from_std(file).take(len);
    let bar = bar.clone();
    let stream = ReaderStream::with_capacity(reader, 256 * 1024).inspect_ok(move |chunk| {
        bar.advance(chunk.len() as u64);
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

struct PushBlob<'a> {
    session: &'a Session,
    store: &'a Store,
    progress: &'a Progress,
    mount_from: Option<&'a str>,
    chunk_size: u64,
}

fn with_digest(location: &str, desc: &Descriptor) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", desc.digest)
}

fn location(resp: &reqwest::Response) -> Result<String> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .context("upload response without a Location")
}

impl PushBlob<'_> {
    async fn push(&self, desc: &Descriptor) -> Result<()> {
        let bar = self.progress.blob(short(&desc.digest), desc.size);
        self.push_inner(desc, &bar)
            .await
            .with_context(|| format!("pushing {}", desc.digest))
    }

    async fn push_inner(&self, desc: &Descriptor, bar: &BlobProgress) -> Result<()> {
        let s = self.session;
        let blob_url = s.url(&format!("blobs/{}", desc.digest));
        let head = s.send(|c| Ok(c.head(&blob_url))).await?;
        if head.status() == StatusCode::OK {
            bar.finish("layer already exists");
            return Ok(());
        }
        let start_url = match self.mount_from {
            Some(from) => s.url(&format!("blobs/uploads/?mount={}&from={from}", desc.digest)),
            None => s.url("blobs/uploads/"),
        };
        let resp = s
            .send(|c| Ok(c.post(&start_url).header(CONTENT_LENGTH, 0)))
            .await?;
        let resp = expect_status(
            resp,
            &[StatusCode::CREATED, StatusCode::ACCEPTED],
            "starting an upload",
        )
        .await?;
        if resp.status() == StatusCode::CREATED {
            bar.finish(&format!("mounted from {}", self.mount_from.unwrap_or("?")));
            return Ok(());
        }
        let mut loc = s.absolute(&location(&resp)?);
        let path = self.store.blob_path(&desc.digest);
        if desc.size <= self.chunk_size {
            bar.status("uploading");
            let url = with_digest(&loc, desc);
            let resp = s
                .send(|c| {
                    bar.set_position(0);
                    Ok(c.put(&url)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, desc.size)
                        .body(file_body(&path, 0, desc.size, bar)?))
                })
                .await?;
            expect_status(resp, &[StatusCode::CREATED], "uploading").await?;
        } else {
            bar.status("uploading in chunks");
            let mut offset = 0;
            while offset < desc.size {
                let len = self.chunk_size.min(desc.size - offset);
                let range = format!("{offset}-{}", offset + len - 1);
                let url = loc.clone();
                let resp = s
                    .send(|c| {
                        bar.set_position(offset);
                        Ok(c.patch(&url)
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header(CONTENT_RANGE, &range)
                            .header(CONTENT_LENGTH, len)
                            .body(file_body(&path, offset, len, bar)?))
                    })
                    .await?;
                let resp =
                    expect_status(resp, &[StatusCode::ACCEPTED], "uploading a chunk").await?;
                loc = s.absolute(&location(&resp)?);
                offset += len;
            }
            let url = with_digest(&loc, desc);
            let resp = s
                .send(|c| Ok(c.put(&url).header(CONTENT_LENGTH, 0)))
                .await?;
            expect_status(resp, &[StatusCode::CREATED], "finishing the upload").await?;
        }
        bar.finish("pushed");
        Ok(())
    }
}
