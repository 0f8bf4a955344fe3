//! Blob upload endpoints: POST (session, single-request with `digest`, or cross-repository
//! mount), chunked PATCH with Content-Range ordering, PUT to finish, GET status, DELETE cancel.

use super::range::parse_content_range;
use super::{body_reader, parse_digest, respond, Ctx};
use crate::access::Action;
use crate::digest::Digest;
use crate::error::{ApiError, Code};
use crate::storage::Storage;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn session_response(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    respond(
        status,
        &[
            ("location", format!("/v2/{name}/blobs/uploads/{id}")),
            ("range", range_header(size)),
            ("docker-upload-uuid", id.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

fn created(name: &str, d: &Digest) -> Response {
    respond(
        StatusCode::CREATED,
        &[
            ("location", format!("/v2/{name}/blobs/{d}")),
            ("docker-content-digest", d.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    )
}

/// Whether the request carries a body worth appending.
fn has_body<S: Storage>(ctx: &Ctx<'_, S>) -> bool {
    match ctx.content_length() {
        Some(n) => n > 0,
        None => ctx.header("transfer-encoding").is_some(),
    }
}

/// `POST /v2/<name>/blobs/uploads/`.
pub async fn start<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let storage = &ctx.reg.storage;
    if let (Some(mount), Some(from)) = (ctx.query.get("mount"), ctx.query.get("from")) {
        let d = parse_digest(mount)?;
        let may_read = crate::name::is_valid_name(from)
            && ctx
                .reg
                .access
                .check(&ctx.principal, Some(from), Action::Pull, &ctx.realm)
                .is_ok();
        if may_read && storage.is_blob_linked(from, &d).await? {
            let _gc = ctx.reg.gc_lock.read().await;
            storage.link_blob(name, &d).await?;
            return Ok(created(name, &d));
        }
        // Not mountable: fall through to an ordinary upload session, as the spec requires.
    }
    if let Some(d) = ctx.query.get("digest") {
        let d = parse_digest(d)?;
        let id = storage.upload_start(name).await?;
        let result = async {
            storage
                .upload_append(name, &id, None, ctx.content_length(), body_reader(body))
                .await?;
            let _gc = ctx.reg.gc_lock.read().await;
            storage.upload_commit(name, &id, &d).await
        }
        .await;
        if let Err(e) = result {
            let _ = storage.upload_cancel(name, &id).await;
            return Err(e.into());
        }
        return Ok(created(name, &d));
    }
    let id = storage.upload_start(name).await?;
    Ok(session_response(StatusCode::ACCEPTED, name, &id, 0))
}

/// Parse Content-Range and check it against Content-Length; returns (start, length).
fn chunk_bounds<S: Storage>(ctx: &Ctx<'_, S>) -> Result<(Option<u64>, Option<u64>), ApiError> {
    let declared = ctx.content_length();
    let Some(cr) = ctx.header("content-range") else {
        return Ok((None, declared));
    };
    let r = parse_content_range(cr).ok_or_else(|| {
        ApiError::new(Code::BlobUploadInvalid, "malformed Content-Range")
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    })?;
    if declared.is_some_and(|n| n != r.byte_count()) {
        return Err(ApiError::new(
            Code::SizeInvalid,
            "Content-Length does not match Content-Range",
        ));
    }
    Ok((Some(r.start), Some(r.byte_count())))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`.
pub async fn patch<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let (start, len) = chunk_bounds(ctx)?;
    let size = ctx
        .reg
        .storage
        .upload_append(name, id, start, len, body_reader(body))
        .await?;
    Ok(session_response(StatusCode::ACCEPTED, name, id, size))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: optional last chunk, then commit.
pub async fn put<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    id: &str,
    body: Body,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let storage = &ctx.reg.storage;
    let d = ctx
        .query
        .get("digest")
        .ok_or_else(|| ApiError::new(Code::DigestInvalid, "digest parameter missing"))
        .and_then(|d| parse_digest(d))?;
    if has_body(ctx) {
        let (start, len) = chunk_bounds(ctx)?;
        storage
            .upload_append(name, id, start, len, body_reader(body))
            .await?;
    } else {
        // Still confirm the session exists before taking the GC lock.
        storage.upload_size(name, id).await?;
    }
    let _gc = ctx.reg.gc_lock.read().await;
    storage.upload_commit(name, id, &d).await?;
    Ok(created(name, &d))
}

/// `GET /v2/<name>/blobs/uploads/<id>`.
pub async fn status<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let size = ctx.reg.storage.upload_size(name, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, name, id, size))
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`.
pub async fn cancel<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    id: &str,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    ctx.reg.storage.upload_cancel(name, id).await?;
    Ok(respond(
        StatusCode::NO_CONTENT,
        &[("content-length", "0".into())],
        Body::empty(),
    ))
}
