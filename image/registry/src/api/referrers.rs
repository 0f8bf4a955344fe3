//! The referrers API: `GET /v2/<name>/referrers/<digest>[?artifactType=]`, an OCI index of
//! the manifests whose `subject` is the digest.

use super::media::OCI_INDEX;
use super::{parse_digest, respond, Ctx};
use crate::access::Action;
use crate::error::ApiError;
use crate::storage::Storage;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

/// `GET /v2/<name>/referrers/<digest>`.
pub async fn get<S: Storage>(ctx: &Ctx<'_, S>, name: &str, d: &str) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Pull)?;
    let subject = parse_digest(d)?;
    let mut list = ctx.reg.storage.referrers(name, &subject).await?;
    let filter = ctx.query.get("artifactType");
    if let Some(at) = filter {
        list.retain(|desc| desc.get("artifactType").and_then(|v| v.as_str()) == Some(at));
    }
    list.sort_by(|a, b| {
        let key =
            |v: &serde_json::Value| v.get("digest").and_then(|d| d.as_str()).map(str::to_string);
        key(a).cmp(&key(b))
    });
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": list,
    });
    let mut headers = vec![("content-type", OCI_INDEX.to_string())];
    if filter.is_some() {
        headers.push(("oci-filters-applied", "artifactType".to_string()));
    }
    Ok(respond(
        StatusCode::OK,
        &headers,
        Body::from(body.to_string()),
    ))
}
