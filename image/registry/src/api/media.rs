//! Manifest media types: which ones we store, parsing a pushed manifest into the references it
//! makes (config, layers, child manifests, subject), and Accept-header negotiation.

use crate::digest::Digest;
use crate::error::{ApiError, Code};
use serde_json::Value;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a media type is a list of manifests rather than an image.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// A descriptor referenced by a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Its digest.
    pub digest: Digest,
    /// Whether it has external `urls` (non-distributable layers need not be present).
    pub external: bool,
}

/// What a pushed manifest is and refers to.
#[derive(Debug)]
pub struct ParsedManifest {
    /// The effective media type.
    pub media_type: String,
    /// Blobs (config and layers) an image manifest needs.
    pub blobs: Vec<Reference>,
    /// Manifests an index lists.
    pub manifests: Vec<Digest>,
    /// The `subject` descriptor's digest, if any.
    pub subject: Option<Digest>,
    /// The artifact type for the referrers API (`artifactType`, else the config media type).
    pub artifact_type: Option<String>,
    /// Annotations, for the referrers API.
    pub annotations: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::ManifestInvalid, msg)
}

fn descriptor_digest(v: &Value, what: &str) -> Result<Reference, ApiError> {
    let d = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what} descriptor has no digest")))?;
    let digest = d
        .parse()
        .map_err(|_| invalid(format!("{what} descriptor has invalid digest {d:?}")))?;
    if !v.get("size").is_some_and(Value::is_u64) {
        return Err(invalid(format!("{what} descriptor has no valid size")));
    }
    let external = v
        .get("urls")
        .and_then(Value::as_array)
        .is_some_and(|u| !u.is_empty());
    Ok(Reference { digest, external })
}

/// Parse and check a manifest body against its Content-Type (parameters ignored).
pub fn parse_manifest(content_type: Option<&str>, body: &[u8]) -> Result<ParsedManifest, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("manifest is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(invalid("manifest is not a JSON object"));
    }
    if v.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("only schemaVersion 2 manifests are supported"));
    }
    let field = v.get("mediaType").and_then(Value::as_str);
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty());
    let media_type = match (header, field) {
        (Some(h), Some(f)) if h != f => {
            return Err(invalid(format!(
                "Content-Type {h} does not match mediaType {f}"
            )))
        }
        (_, Some(f)) => f.to_string(),
        (Some(h), None) if [OCI_MANIFEST, OCI_INDEX].contains(&h) => h.to_string(),
        (Some(h), None) => return Err(invalid(format!("unsupported manifest type {h}"))),
        (None, None) if v.get("manifests").is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    let mut parsed = ParsedManifest {
        media_type,
        blobs: Vec::new(),
        manifests: Vec::new(),
        subject: None,
        artifact_type: v
            .get("artifactType")
            .and_then(Value::as_str)
            .map(str::to_string),
        annotations: v.get("annotations").filter(|a| a.is_object()).cloned(),
    };
    match parsed.media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = v
                .get("config")
                .ok_or_else(|| invalid("manifest has no config"))?;
            parsed.blobs.push(descriptor_digest(config, "config")?);
            if parsed.artifact_type.is_none() {
                parsed.artifact_type = config
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            let layers = v
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("manifest has no layers array"))?;
            for l in layers {
                parsed.blobs.push(descriptor_digest(l, "layer")?);
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            let list = v
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("index has no manifests array"))?;
            for m in list {
                parsed
                    .manifests
                    .push(descriptor_digest(m, "manifest")?.digest);
            }
        }
        other => return Err(invalid(format!("unsupported manifest type {other}"))),
    }
    if let Some(s) = v.get("subject") {
        parsed.subject = Some(descriptor_digest(s, "subject")?.digest);
    }
    Ok(parsed)
}

/// Whether a client's Accept header admits `media_type`. No header, `*/*` and
/// `application/*` admit everything; single-image manifests are always served (clients that
/// omit them from Accept still expect them), lists only when asked for.
pub fn accepts(accept_headers: &[&str], media_type: &str) -> bool {
    if !is_index(media_type) {
        return true;
    }
    let mut any = false;
    for entry in accept_headers.iter().flat_map(|h| h.split(',')) {
        let t = entry.split(';').next().unwrap_or("").trim();
        if t.is_empty() {
            continue;
        }
        any = true;
        if t == media_type || t == "*/*" || t == "application/*" {
            return true;
        }
    }
    !any
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn parses_image_manifest_with_subject() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/x.cfg", "digest": d('a'), "size": 2},
            "layers": [{"mediaType": "l", "digest": d('b'), "size": 3, "urls": ["http://x"]}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('c'), "size": 4}
        });
        let p = parse_manifest(Some(OCI_MANIFEST), body.to_string().as_bytes()).unwrap();
        assert_eq!(p.blobs.len(), 2);
        assert!(p.blobs[1].external);
        assert_eq!(p.subject.unwrap().to_string(), d('c'));
        assert_eq!(p.artifact_type.as_deref(), Some("application/x.cfg"));
    }

    #[test]
    fn rejects_bad_manifests() {
        let cases = [
            (Some(OCI_MANIFEST), "not json".to_string()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":1}"#.to_string()),
            (
                Some(DOCKER_MANIFEST),
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}"}}"#),
            ),
            (Some("text/plain"), r#"{"schemaVersion":2}"#.to_string()),
            (
                Some(OCI_MANIFEST),
                r#"{"schemaVersion":2,"config":{"digest":"sha256:zz","size":1},"layers":[]}"#
                    .to_string(),
            ),
            (Some(OCI_INDEX), r#"{"schemaVersion":2}"#.to_string()),
        ];
        for (ct, body) in cases {
            let e = parse_manifest(ct, body.as_bytes()).unwrap_err();
            assert_eq!(e.code, Code::ManifestInvalid, "{body}");
        }
    }

    #[test]
    fn negotiates_lists() {
        assert!(accepts(&[], OCI_INDEX));
        assert!(accepts(&[DOCKER_MANIFEST], OCI_MANIFEST));
        assert!(!accepts(&[DOCKER_MANIFEST], OCI_INDEX));
        assert!(accepts(&["application/json, */*;q=0.5"], DOCKER_LIST));
        assert!(accepts(&[DOCKER_MANIFEST, OCI_INDEX], OCI_INDEX));
    }
}
