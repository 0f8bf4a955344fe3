//! Parsing `/v2/...` paths into API routes. Repository names contain `/`, so the path is
//! split from the right: the last segments select the endpoint, the rest is the name.

/// One API endpoint with its raw (not yet validated) path parameters.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(&'a str),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/blobs/<digest>`
    Blob(&'a str, &'a str),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(&'a str),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(&'a str, &'a str),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(&'a str, &'a str),
}

/// Parse a request path; `None` if it is no API endpoint.
pub fn parse(path: &str) -> Option<Route<'_>> {
    if path == "/v2" || path == "/v2/" {
        return Some(Route::Base);
    }
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    let (head, last) = rest.rsplit_once('/')?;
    if let Some(name) = head.strip_suffix("/blobs/uploads") {
        return Some(if last.is_empty() {
            Route::UploadStart(name)
        } else {
            Route::Upload(name, last)
        });
    }
    if last.is_empty() {
        return None;
    }
    if let Some(name) = head.strip_suffix("/blobs") {
        return Some(Route::Blob(name, last));
    }
    if let Some(name) = head.strip_suffix("/manifests") {
        return Some(Route::Manifest(name, last));
    }
    if let Some(name) = head.strip_suffix("/referrers") {
        return Some(Route::Referrers(name, last));
    }
    if last == "list" {
        if let Some(name) = head.strip_suffix("/tags") {
            return Some(Route::Tags(name));
        }
    }
    None
}

impl Route<'_> {
    /// The repository the route addresses, if any.
    pub fn repository(&self) -> Option<&str> {
        match *self {
            Route::Base | Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_endpoint() {
        assert_eq!(parse("/v2/"), Some(Route::Base));
        assert_eq!(parse("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(parse("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            parse("/v2/a/manifests/latest"),
            Some(Route::Manifest("a", "latest"))
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:x"),
            Some(Route::Blob("a", "sha256:x"))
        );
        assert_eq!(parse("/v2/a/blobs/uploads/"), Some(Route::UploadStart("a")));
        assert_eq!(
            parse("/v2/a/blobs/uploads/id"),
            Some(Route::Upload("a", "id"))
        );
        assert_eq!(parse("/v2/a/referrers/d"), Some(Route::Referrers("a", "d")));
    }

    #[test]
    fn names_may_contain_endpoint_words() {
        assert_eq!(
            parse("/v2/x/blobs/blobs/uploads/"),
            Some(Route::UploadStart("x/blobs"))
        );
        assert_eq!(
            parse("/v2/manifests/manifests/t"),
            Some(Route::Manifest("manifests", "t"))
        );
    }

    #[test]
    fn rejects_non_api_paths() {
        assert_eq!(parse("/v3/"), None);
        assert_eq!(parse("/v2/a/manifests/"), None);
        assert_eq!(parse("/v2/a"), None);
        assert_eq!(parse("/v2/a/unknown/x"), None);
    }
}
