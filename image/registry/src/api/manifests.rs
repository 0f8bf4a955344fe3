//! Manifest endpoints: HEAD/GET/PUT/DELETE by tag or digest, with the 4 MiB limit, reference
//! checks, tag immutability and referrer bookkeeping for manifests that carry a `subject`.

use super::media::{accepts, parse_manifest};
use super::{parse_digest, respond, Ctx};
use crate::access::Action;
use crate::digest::{Algorithm, Digest};
use crate::error::{ApiError, Code};
use crate::storage::Storage;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;

/// Largest manifest accepted.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// A manifest reference from the path.
enum Reference {
    Tag(String),
    Digest(Digest),
}

fn parse_reference(r: &str) -> Result<Reference, ApiError> {
    if r.contains(':') {
        return Ok(Reference::Digest(parse_digest(r)?));
    }
    if crate::name::is_valid_tag(r) {
        Ok(Reference::Tag(r.to_string()))
    } else {
        Err(ApiError::new(Code::TagInvalid, "invalid tag"))
    }
}

fn manifest_unknown() -> ApiError {
    ApiError::new(Code::ManifestUnknown, "manifest unknown")
}

/// Resolve a reference to a digest with its media type, or a 404.
async fn resolve<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    r: &Reference,
) -> Result<(Digest, String), ApiError> {
    let storage = &ctx.reg.storage;
    let d = match r {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(t) => match storage.tag_get(name, t).await? {
            Some(d) => d,
            None if !storage.repo_exists(name).await? => {
                return Err(ApiError::new(
                    Code::NameUnknown,
                    "repository name not known",
                ))
            }
            None => return Err(manifest_unknown()),
        },
    };
    match storage.manifest_media_type(name, &d).await? {
        Some(mt) => Ok((d, mt)),
        None if !storage.repo_exists(name).await? => Err(ApiError::new(
            Code::NameUnknown,
            "repository name not known",
        )),
        None => Err(manifest_unknown()),
    }
}

/// `HEAD`/`GET /v2/<name>/manifests/<reference>`.
pub async fn get<S: Storage>(ctx: &Ctx<'_, S>, name: &str, r: &str) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Pull)?;
    let r = parse_reference(r)?;
    let (d, media_type) = resolve(ctx, name, &r).await?;
    let accept: Vec<&str> = ctx
        .headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !accepts(&accept, &media_type) {
        return Err(ApiError::new(
            Code::ManifestUnknown,
            format!("manifest is a {media_type}, which the Accept header does not admit"),
        ));
    }
    let storage = &ctx.reg.storage;
    let size = storage.blob_size(&d).await?.ok_or_else(manifest_unknown)?;
    let headers = [
        ("content-type", media_type),
        ("docker-content-digest", d.to_string()),
        ("etag", format!("\"{d}\"")),
        ("content-length", size.to_string()),
    ];
    if ctx.method == Method::HEAD {
        return Ok(respond(StatusCode::OK, &headers, Body::empty()));
    }
    let bytes = storage.blob_bytes(&d).await?;
    Ok(respond(StatusCode::OK, &headers, Body::from(bytes)))
}

/// Read a manifest body, refusing anything over [`MAX_MANIFEST`].
async fn read_limited<S: Storage>(ctx: &Ctx<'_, S>, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_big = || {
        ApiError::new(Code::ManifestInvalid, "manifest exceeds 4 MiB")
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    if ctx
        .content_length()
        .is_some_and(|n| n > MAX_MANIFEST as u64)
    {
        return Err(too_big());
    }
    match axum::body::to_bytes(body, MAX_MANIFEST).await {
        Ok(b) => Ok(b.to_vec()),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.to_string().contains("length limit") {
                    return Err(too_big());
                }
                source = s.source();
            }
            Err(ApiError::new(
                Code::ManifestInvalid,
                format!("reading manifest: {e}"),
            ))
        }
    }
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub async fn put<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    r: &str,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let r = parse_reference(r)?;
    let bytes = read_limited(ctx, body).await?;
    let parsed = parse_manifest(ctx.header("content-type"), &bytes)?;
    let d = match &r {
        Reference::Digest(want) => {
            let got = Digest::of_bytes(want.algorithm(), &bytes);
            if &got != want {
                return Err(ApiError::new(
                    Code::DigestInvalid,
                    "manifest digest does not match the reference",
                ));
            }
            got
        }
        Reference::Tag(_) => Digest::of_bytes(Algorithm::Sha256, &bytes),
    };
    let storage = &ctx.reg.storage;
    if let Reference::Tag(t) = &r {
        if ctx.reg.access.tags_immutable(name) {
            if let Some(existing) = storage.tag_get(name, t).await? {
                if existing != d {
                    return Err(ApiError::new(
                        Code::TagInvalid,
                        format!("tag {t} is immutable in this repository"),
                    ));
                }
            }
        }
    }
    let _gc = ctx.reg.gc_lock.read().await;
    for b in parsed.blobs.iter().filter(|b| !b.external) {
        if !storage.is_blob_linked(name, &b.digest).await? {
            return Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("blob {} unknown to repository", b.digest),
            ));
        }
        // Refresh the blob's age so a concurrent GC's grace period covers it.
        storage.link_blob(name, &b.digest).await?;
    }
    for m in &parsed.manifests {
        if storage.manifest_media_type(name, m).await?.is_none() {
            return Err(ApiError::new(
                Code::ManifestBlobUnknown,
                format!("manifest {m} unknown to repository"),
            ));
        }
    }
    let size = bytes.len();
    storage.blob_put_bytes(&d, bytes).await?;
    storage.manifest_link(name, &d, &parsed.media_type).await?;
    let mut headers = vec![
        ("location", format!("/v2/{name}/manifests/{d}")),
        ("docker-content-digest", d.to_string()),
        ("content-length", "0".to_string()),
    ];
    if let Some(subject) = &parsed.subject {
        let mut desc = serde_json::json!({
            "mediaType": parsed.media_type,
            "digest": d.to_string(),
            "size": size,
        });
        if let Some(at) = &parsed.artifact_type {
            desc["artifactType"] = at.clone().into();
        }
        if let Some(a) = &parsed.annotations {
            desc["annotations"] = a.clone();
        }
        storage.referrer_add(name, subject, &d, &desc).await?;
        headers.push(("oci-subject", subject.to_string()));
    }
    if let Reference::Tag(t) = &r {
        storage.tag_set(name, t, &d).await?;
    }
    Ok(respond(StatusCode::CREATED, &headers, Body::empty()))
}

/// `DELETE /v2/<name>/manifests/<reference>`: by tag removes the tag; by digest removes the
/// manifest, every tag pointing at it and its referrer entry.
pub async fn delete<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    r: &str,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let storage = &ctx.reg.storage;
    let immutable = ctx.reg.access.tags_immutable(name);
    let denied = || ApiError::new(Code::Denied, "tags are immutable in this repository");
    match parse_reference(r)? {
        Reference::Tag(t) => {
            if immutable && storage.tag_get(name, &t).await?.is_some() {
                return Err(denied());
            }
            if !storage.tag_delete(name, &t).await? {
                return Err(manifest_unknown());
            }
        }
        Reference::Digest(d) => {
            if storage.manifest_media_type(name, &d).await?.is_none() {
                return Err(manifest_unknown());
            }
            let mut tags = Vec::new();
            for t in storage.tag_list(name).await? {
                if storage.tag_get(name, &t).await?.as_ref() == Some(&d) {
                    tags.push(t);
                }
            }
            if immutable && !tags.is_empty() {
                return Err(denied());
            }
            for t in tags {
                storage.tag_delete(name, &t).await?;
            }
            if let Ok(bytes) = storage.blob_bytes(&d).await {
                if let Ok(p) = parse_manifest(None, &bytes) {
                    if let Some(subject) = p.subject {
                        storage.referrer_remove(name, &subject, &d).await?;
                    }
                }
            }
            storage.manifest_unlink(name, &d).await?;
        }
    }
    Ok(respond(
        StatusCode::ACCEPTED,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}
