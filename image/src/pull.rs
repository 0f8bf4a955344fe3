//! `dock pull`: resolve a reference to one image manifest (choosing this host's platform from
//! an index), download config and layers in parallel into the store — verifying digest and size
//! while streaming and continuing partial downloads with `Range` — then name the manifest.

use crate::manifest::{
    host_platform, media_type_of, select_platform, Descriptor, Manifest, ACCEPTED,
};
use crate::progress::{short, BlobProgress, Progress};
use crate::reference::Reference;
use crate::remote::{connect, credentials, expect_status, Session};
use crate::store::blobs::BlobWriter;
use crate::store::{Store, StoreError};
use anyhow::{bail, Context, Result};
use dock_registry::digest::{Algorithm, Digest};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::StatusCode;
use std::path::PathBuf;
use std::time::Duration;

/// How many blobs move at once.
pub const PARALLEL_BLOBS: usize = 4;
/// The largest manifest we accept (the distribution spec's recommended limit).
const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// What every remote command needs to reach a registry.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Registries (`host[:port]`) allowed over plain http.
    pub insecure: Vec<String>,
    /// docker's config.json holding credentials.
    pub config_path: PathBuf,
}

impl RemoteOptions {
    /// A session for `reference`'s repository with `scopes`.
    pub async fn session(&self, reference: &Reference, scopes: Vec<String>) -> Result<Session> {
        let creds = credentials::load(&self.config_path, &reference.domain)?;
        let (client, base) = connect(&reference.domain, &self.insecure).await?;
        Ok(Session::new(client, base, &reference.path, scopes, creds))
    }
}

/// Pull `reference` into `store`; returns the stored image manifest's descriptor.
pub async fn pull(
    store: &Store,
    reference: &Reference,
    opts: &RemoteOptions,
    progress: &Progress,
) -> Result<Descriptor> {
    let _active = store.activity()?;
    let scope = format!("repository:{}:pull", reference.path);
    let session = opts.session(reference, vec![scope]).await?;
    let (mut desc, mut bytes) = fetch_manifest(
        &session,
        &reference.remote_reference(),
        reference.digest.as_ref(),
    )
    .await?;
    let image = loop {
        match Manifest::parse(&desc.media_type, &bytes)? {
            Manifest::Image(m) => break m,
            Manifest::Index(index) => {
                let (os, arch) = host_platform();
                let chosen = select_platform(&index, os, arch)?.clone();
                let (d, b) =
                    fetch_manifest(&session, &chosen.digest.to_string(), Some(&chosen.digest))
                        .await?;
                desc = d;
                bytes = b;
            }
        }
    };
    let blobs: Vec<Descriptor> = std::iter::once(image.config.clone())
        .chain(image.layers.iter().cloned())
        .collect();
    futures_util::stream::iter(
        blobs
            .into_iter()
            .map(|b| fetch_blob(&session, store, b, progress)),
    )
    .buffer_unordered(PARALLEL_BLOBS)
    .try_collect::<Vec<()>>()
    .await?;
    store.put_blob(&desc.digest, &bytes)?;
    let mut name = reference.clone();
    if name.tag.is_some() {
        name.digest = None;
    }
    store.set_name(&name, &desc, Some(&reference.repository()))?;
    Ok(desc)
}

/// GET a manifest, check it against `expected` and the server's Docker-Content-Digest.
pub async fn fetch_manifest(
    session: &Session,
    reference: &str,
    expected: Option<&Digest>,
) -> Result<(Descriptor, Vec<u8>)> {
    let url = session.url(&format!("manifests/{reference}"));
    let accept = ACCEPTED.join(", ");
    let resp = session
        .send(|c| Ok(c.get(&url).header(ACCEPT, &accept)))
        .await
        .with_context(|| format!("fetching manifest {reference}"))?;
    let resp = expect_status(resp, &[StatusCode::OK], &format!("manifest {reference}")).await?;
    let declared = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let server_digest = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok());
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_MANIFEST)
    {
        bail!("manifest {reference} is larger than {MAX_MANIFEST} bytes");
    }
    let bytes = resp.bytes().await?.to_vec();
    if bytes.len() > MAX_MANIFEST {
        bail!("manifest {reference} is larger than {MAX_MANIFEST} bytes");
    }
    let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
    let digest = Digest::of_bytes(algorithm, &bytes);
    if let Some(e) = expected {
        if *e != digest {
            bail!("manifest {reference} has digest {digest}, expected {e}");
        }
    }
    if let Some(s) = server_digest.filter(|s| s.algorithm() == algorithm) {
        if s != digest {
            bail!("manifest {reference}: registry says {s}, content is {digest}");
        }
    }
    let media_type = media_type_of(declared.as_deref(), &bytes)?;
    Ok((
        Descriptor {
            media_type,
            size: bytes.len() as u64,
            digest,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
        },
        bytes,
    ))
}

/// Download one blob into the store unless it is there, continuing a partial download.
async fn fetch_blob(
    session: &Session,
    store: &Store,
    desc: Descriptor,
    progress: &Progress,
) -> Result<()> {
    let bar = progress.blob(short(&desc.digest), desc.size);
    if store.has_blob(&desc.digest) {
        bar.finish("already exists");
        return Ok(());
    }
    let done = match download(session, store, &desc, &bar).await {
        // A partial left by an earlier attempt may itself be bad; the mismatch deleted it, so
        // one fresh download tells a poisoned resume from a registry serving wrong bytes.
        Err(e) if matches!(e.downcast_ref(), Some(StoreError::Mismatch { .. })) => {
            bar.status("verification failed, downloading again");
            download(session, store, &desc, &bar).await
        }
        other => other,
    }
    .with_context(|| format!("downloading {}", desc.digest))?;
    bar.finish(done);
    Ok(())
}

/// The blob's ingest file once no other dock process is writing it, or `None` when that
/// process has finished the blob meanwhile.
async fn ingest_when_free(
    store: &Store,
    desc: &Descriptor,
    bar: &BlobProgress,
) -> Result<Option<BlobWriter>> {
    let mut told = false;
    loop {
        match store.ingest(&desc.digest) {
            Ok(w) if store.has_blob(&desc.digest) => {
                w.discard();
                return Ok(None);
            }
            Ok(w) => return Ok(Some(w)),
            Err(StoreError::Busy(_)) => {
                if !told {
                    bar.status("waiting for another dock process");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn download(
    session: &Session,
    store: &Store,
    desc: &Descriptor,
    bar: &BlobProgress,
) -> Result<&'static str> {
    let Some(mut writer) = ingest_when_free(store, desc, bar).await? else {
        return Ok("already exists");
    };
    if writer.len() > desc.size {
        writer.reset()?;
    }
    let offset = writer.len();
    let url = session.url(&format!("blobs/{}", desc.digest));
    let resp = session
        .send(|c| {
            let rb = c.get(&url);
            Ok(if offset > 0 {
                rb.header(RANGE, format!("bytes={offset}-"))
            } else {
                rb
            })
        })
        .await?;
    let resp = expect_status(
        resp,
        &[StatusCode::OK, StatusCode::PARTIAL_CONTENT],
        "blob download",
    )
    .await?;
    if resp.status() == StatusCode::PARTIAL_CONTENT {
        let start = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes "))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse::<u64>().ok());
        if start != Some(offset) {
            writer.reset()?;
            bail!("the registry resumed at {start:?}, not at {offset}; retry the pull");
        }
        bar.status(&format!("resuming at {offset} bytes"));
        bar.set_position(offset);
    } else {
        if offset > 0 {
            writer.reset()?;
        }
        bar.status(&format!("downloading {} bytes", desc.size));
    }
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        writer.write(&chunk)?;
        writer.check_not_over(desc.size)?;
        bar.advance(chunk.len() as u64);
    }
    writer.commit(desc.size)?;
    Ok("pull complete")
}
