//! Registry errors: the distribution-spec error codes, their HTTP statuses and JSON bodies.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error code from the distribution spec (plus the Docker ones clients rely on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Blob unknown to registry.
    BlobUnknown,
    /// Blob upload invalid.
    BlobUploadInvalid,
    /// Blob upload unknown to registry.
    BlobUploadUnknown,
    /// Provided digest did not match uploaded content.
    DigestInvalid,
    /// Blob unknown to registry (referenced by a manifest).
    ManifestBlobUnknown,
    /// Manifest invalid.
    ManifestInvalid,
    /// Manifest unknown.
    ManifestUnknown,
    /// Invalid repository name.
    NameInvalid,
    /// Repository name not known to registry.
    NameUnknown,
    /// Provided length did not match content length.
    SizeInvalid,
    /// Authentication required.
    Unauthorized,
    /// Requested access to the resource is denied.
    Denied,
    /// The operation is unsupported.
    Unsupported,
    /// Too many requests.
    TooManyRequests,
    /// Range not satisfiable (chunk out of order).
    RangeInvalid,
    /// Tag is invalid or immutable in this repository.
    TagInvalid,
    /// The `n` pagination parameter is not a valid number.
    PaginationNumberInvalid,
}

impl Code {
    /// The code string used in error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::RangeInvalid => "BLOB_UPLOAD_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown => StatusCode::NOT_FOUND,
            Code::BlobUploadInvalid
            | Code::DigestInvalid
            | Code::ManifestBlobUnknown
            | Code::ManifestInvalid
            | Code::NameInvalid
            | Code::SizeInvalid
            | Code::TagInvalid
            | Code::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }
}

/// An error returned to an API client.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    /// The spec code.
    pub code: Code,
    /// Human-readable message.
    pub message: String,
    /// HTTP status, normally `code.status()`.
    pub status: StatusCode,
    /// Extra headers (Range on 416, WWW-Authenticate on 401).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with the code's usual status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: code.status(),
            headers: Vec::new(),
        }
    }

    /// Override the HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Add a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as E;
        match e {
            E::BlobUnknown => ApiError::new(Code::BlobUnknown, "blob unknown to registry"),
            E::UploadUnknown => ApiError::new(Code::BlobUploadUnknown, "upload unknown"),
            E::DigestMismatch => ApiError::new(
                Code::DigestInvalid,
                "provided digest did not match uploaded content",
            ),
            E::SizeMismatch => ApiError::new(Code::SizeInvalid, "length did not match content"),
            E::ManifestUnknown => ApiError::new(Code::ManifestUnknown, "manifest unknown"),
            E::NameUnknown => ApiError::new(Code::NameUnknown, "repository name not known"),
            E::OutOfOrder { size } => {
                let range = if size == 0 {
                    "0-0".to_string()
                } else {
                    format!("0-{}", size - 1)
                };
                ApiError::new(Code::RangeInvalid, "chunk out of order").with_header("Range", range)
            }
            E::BodyRead(msg) => ApiError::new(
                Code::BlobUploadInvalid,
                format!("reading request body: {msg}"),
            ),
            E::Io(err) => ApiError::new(Code::Unsupported, format!("storage failure: {err}"))
                .with_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code.as_str(), "message": self.message, "detail": null }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_carries_range() {
        let e: ApiError = crate::storage::StorageError::OutOfOrder { size: 10 }.into();
        assert_eq!(e.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(e.headers, vec![("Range", "0-9".to_string())]);
    }

    #[test]
    fn codes_map_to_statuses() {
        assert_eq!(Code::NameUnknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(Code::DigestInvalid.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Code::Unauthorized.status(), StatusCode::UNAUTHORIZED);
    }
}
