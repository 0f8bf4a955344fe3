//! The HTTP API: routing `/v2/...` requests (and the token endpoint) to handlers, with
//! authentication in front and the spec's headers on the way out.

pub mod blobs;
pub mod listing;
pub mod manifests;
pub mod media;
pub mod paginate;
pub mod range;
pub mod referrers;
pub mod route;
pub mod uploads;

use crate::access::{Access, Action, Principal};
use crate::error::{ApiError, Code};
use crate::storage::{ByteReader, Storage};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::TryStreamExt;
use route::Route;
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::io::StreamReader;

/// Everything a request handler needs.
pub struct Registry<S> {
    /// The storage backend.
    pub storage: S,
    /// The access policy.
    pub access: Access,
    /// Held shared by operations that make blobs reachable (upload commits, mounts, manifest
    /// puts) and exclusively by garbage collection's mark-and-sweep.
    pub gc_lock: tokio::sync::RwLock<()>,
    /// Whether the server speaks TLS (for the token realm URL).
    pub tls: bool,
}

/// The axum router serving the registry API.
pub fn router<S: Storage>(reg: Arc<Registry<S>>) -> Router {
    Router::new().fallback(dispatch::<S>).with_state(reg)
}

/// Per-request context passed to handlers.
pub struct Ctx<'a, S> {
    /// The registry.
    pub reg: &'a Registry<S>,
    /// Request method.
    pub method: Method,
    /// Request headers.
    pub headers: HeaderMap,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
    /// The caller.
    pub principal: Principal,
    /// Token realm URL for challenges.
    pub realm: String,
}

impl<S: Storage> Ctx<'_, S> {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Content-Length, if declared.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// Authorize `action` on `repo`.
    pub fn authorize(&self, repo: &str, action: Action) -> Result<(), ApiError> {
        self.reg
            .access
            .check(&self.principal, Some(repo), action, &self.realm)
    }
}

/// Turn a request body into a byte stream for storage.
pub fn body_reader(body: Body) -> ByteReader {
    Box::pin(StreamReader::new(
        body.into_data_stream().map_err(std::io::Error::other),
    ))
}

/// Build a response with headers.
pub fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().insert(name, val);
        }
    }
    resp
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    if crate::name::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::new(Code::NameInvalid, "invalid repository name"))
    }
}

fn realm(headers: &HeaderMap, tls: bool) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

/// The authenticated user of a request, left in response extensions for the access log.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser(pub String);

async fn dispatch<S: Storage>(State(reg): State<Arc<Registry<S>>>, req: Request) -> Response {
    let mut user = None;
    let mut resp = match handle(&reg, req, &mut user).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(u) = user {
        resp.extensions_mut().insert(AuthenticatedUser(u));
    }
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn handle<S: Storage>(
    reg: &Registry<S>,
    req: Request,
    user: &mut Option<String>,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let mut query: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        // Token requests repeat `scope` (docker asks for the source repository of a
        // cross-repository mount too): keep them all, space-separated as issue_token reads them.
        match query.get_mut(&k) {
            Some(prev) if k == "scope" => {
                prev.push(' ');
                prev.push_str(&v);
            }
            _ => {
                query.insert(k, v);
            }
        }
    }
    let realm = realm(&parts.headers, reg.tls);
    let principal = reg.access.identify(&parts.headers, &realm)?;
    user.clone_from(&principal.user);
    let path = parts.uri.path().to_string();
    let ctx = Ctx {
        reg,
        method: parts.method,
        headers: parts.headers,
        query,
        principal,
        realm,
    };
    if path == "/token" && ctx.method == Method::GET {
        return token(&ctx);
    }
    let Some(route) = route::parse(&path) else {
        return Err(
            ApiError::new(Code::NameUnknown, "no such endpoint").with_status(StatusCode::NOT_FOUND)
        );
    };
    if let Some(name) = route.repository() {
        validate_name(name)?;
    }
    let m = ctx.method.clone();
    match route {
        Route::Base => {
            reg.access
                .check(&ctx.principal, None, Action::Pull, &ctx.realm)?;
            Ok(respond(
                StatusCode::OK,
                &[("content-type", "application/json".into())],
                Body::from("{}"),
            ))
        }
        Route::Catalog if m == Method::GET => listing::catalog(&ctx).await,
        Route::Tags(name) if m == Method::GET => listing::tags(&ctx, name).await,
        Route::Blob(name, d) if m == Method::GET || m == Method::HEAD => {
            blobs::get(&ctx, name, d).await
        }
        Route::Blob(name, d) if m == Method::DELETE => blobs::delete(&ctx, name, d).await,
        Route::UploadStart(name) if m == Method::POST => uploads::start(&ctx, name, body).await,
        Route::Upload(name, id) if m == Method::PATCH => uploads::patch(&ctx, name, id, body).await,
        Route::Upload(name, id) if m == Method::PUT => uploads::put(&ctx, name, id, body).await,
        Route::Upload(name, id) if m == Method::GET => uploads::status(&ctx, name, id).await,
        Route::Upload(name, id) if m == Method::DELETE => uploads::cancel(&ctx, name, id).await,
        Route::Manifest(name, r) if m == Method::GET || m == Method::HEAD => {
            manifests::get(&ctx, name, r).await
        }
        Route::Manifest(name, r) if m == Method::PUT => manifests::put(&ctx, name, r, body).await,
        Route::Manifest(name, r) if m == Method::DELETE => manifests::delete(&ctx, name, r).await,
        Route::Referrers(name, d) if m == Method::GET => referrers::get(&ctx, name, d).await,
        _ => Err(ApiError::new(
            Code::Unsupported,
            "method not allowed on this endpoint",
        )),
    }
}

fn token<S: Storage>(ctx: &Ctx<'_, S>) -> Result<Response, ApiError> {
    let scopes: Vec<String> = ctx.query.get("scope").cloned().into_iter().collect();
    let body = ctx.reg.access.issue_token(&ctx.principal, &scopes)?;
    Ok(respond(
        StatusCode::OK,
        &[("content-type", "application/json".into())],
        Body::from(body.to_string()),
    ))
}

/// Parse a digest from a path or query, mapping failure to DIGEST_INVALID.
pub fn parse_digest(s: &str) -> Result<crate::digest::Digest, ApiError> {
    s.parse()
        .map_err(|e: crate::digest::DigestError| ApiError::new(Code::DigestInvalid, e.to_string()))
}
