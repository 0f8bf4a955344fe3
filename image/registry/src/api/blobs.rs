//! Blob endpoints: HEAD/GET (streamed, with Range) and DELETE (unlinks from the repository).

use super::range::{parse_range, RangeRequest};
use super::{parse_digest, respond, Ctx};
use crate::access::Action;
use crate::error::{ApiError, Code};
use crate::storage::Storage;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;

/// `HEAD`/`GET /v2/<name>/blobs/<digest>`.
pub async fn get<S: Storage>(ctx: &Ctx<'_, S>, name: &str, d: &str) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Pull)?;
    let d = parse_digest(d)?;
    let storage = &ctx.reg.storage;
    let unknown = || ApiError::new(Code::BlobUnknown, "blob unknown to registry");
    if !storage.is_blob_linked(name, &d).await? {
        return Err(unknown());
    }
    let size = storage.blob_size(&d).await?.ok_or_else(unknown)?;
    let mut headers = vec![
        ("content-type", "application/octet-stream".to_string()),
        ("docker-content-digest", d.to_string()),
        ("accept-ranges", "bytes".to_string()),
        ("etag", format!("\"{d}\"")),
    ];
    let (status, offset, len) = match parse_range(ctx.header("range"), size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial(r) => {
            headers.push((
                "content-range",
                format!("bytes {}-{}/{size}", r.start, r.end),
            ));
            (StatusCode::PARTIAL_CONTENT, r.start, r.byte_count())
        }
        RangeRequest::Unsatisfiable => {
            return Err(ApiError::new(Code::BlobUnknown, "range not satisfiable")
                .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
                .with_header("Content-Range", format!("bytes */{size}")));
        }
    };
    headers.push(("content-length", len.to_string()));
    if ctx.method == Method::HEAD {
        return Ok(respond(status, &headers, Body::empty()));
    }
    let body = Body::from_stream(storage.blob_stream(&d, offset, len).await?);
    Ok(respond(status, &headers, body))
}

/// `DELETE /v2/<name>/blobs/<digest>`: remove the repository's link; GC reclaims the data.
pub async fn delete<S: Storage>(
    ctx: &Ctx<'_, S>,
    name: &str,
    d: &str,
) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Push)?;
    let d = parse_digest(d)?;
    if !ctx.reg.storage.unlink_blob(name, &d).await? {
        return Err(ApiError::new(Code::BlobUnknown, "blob unknown to registry"));
    }
    Ok(respond(
        StatusCode::ACCEPTED,
        &[
            ("docker-content-digest", d.to_string()),
            ("content-length", "0".into()),
        ],
        Body::empty(),
    ))
}
