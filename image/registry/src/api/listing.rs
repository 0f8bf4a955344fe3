//! Listing endpoints: `tags/list` and `_catalog`, both paginated with `n`/`last` and `Link`.

use super::paginate::paginate;
use super::{respond, Ctx};
use crate::access::Action;
use crate::error::{ApiError, Code};
use crate::storage::Storage;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

fn json_page(body: serde_json::Value, link: Option<String>) -> Response {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(l) = link {
        headers.push(("link", l));
    }
    respond(StatusCode::OK, &headers, Body::from(body.to_string()))
}

/// `GET /v2/<name>/tags/list`.
pub async fn tags<S: Storage>(ctx: &Ctx<'_, S>, name: &str) -> Result<Response, ApiError> {
    ctx.authorize(name, Action::Pull)?;
    let storage = &ctx.reg.storage;
    if !storage.repo_exists(name).await? {
        return Err(ApiError::new(
            Code::NameUnknown,
            "repository name not known",
        ));
    }
    let all = storage.tag_list(name).await?;
    let page = paginate(all, &ctx.query, &format!("/v2/{name}/tags/list"))?;
    Ok(json_page(
        serde_json::json!({ "name": name, "tags": page.items }),
        page.link,
    ))
}

/// `GET /v2/_catalog`: repositories the caller may pull from.
pub async fn catalog<S: Storage>(ctx: &Ctx<'_, S>) -> Result<Response, ApiError> {
    let access = &ctx.reg.access;
    let user = ctx.principal.user.as_deref();
    if !access.is_open() && user.is_none() && access.config().public_repositories.is_empty() {
        access.check(&ctx.principal, None, Action::Pull, &ctx.realm)?;
    }
    let all: Vec<String> = ctx
        .reg
        .storage
        .repositories()
        .await?
        .into_iter()
        .filter(|r| access.permitted(user, r, Action::Pull))
        .collect();
    let page = paginate(all, &ctx.query, "/v2/_catalog")?;
    Ok(json_page(
        serde_json::json!({ "repositories": page.items }),
        page.link,
    ))
}
