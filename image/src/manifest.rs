//! OCI and Docker schema 2 manifests, indexes and descriptors as read from JSON, the media
//! types that tell them apart, and picking one platform's manifest out of an index.
//!
//! Manifests are only ever parsed to learn what they reference; the stored and pushed bytes are
//! always the original ones, so digests never change.

use dock_registry::api::media::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use dock_registry::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest media types we ask registries for, best first.
pub const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("malformed manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// A media type we do not handle (e.g. schema 1).
    #[error("unsupported manifest media type {0:?}")]
    Unsupported(String),
    /// An index with nothing for our platform.
    #[error("no manifest for {0} in the image index")]
    NoPlatform(String),
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Platform of a manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Alternative download locations (non-distributable layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// CPU variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageIndex {
    /// The listed manifests.
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone)]
pub enum Manifest {
    /// One image.
    Image(ImageManifest),
    /// Several, per platform.
    Index(ImageIndex),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

/// The effective media type: the one the server declared, else the JSON's own `mediaType`,
/// else (OCI allows omitting it) guessed from the shape.
pub fn media_type_of(declared: Option<&str>, bytes: &[u8]) -> Result<String, ManifestError> {
    let declared = declared
        .map(|d| d.split(';').next().unwrap_or(d).trim())
        .filter(|d| ACCEPTED.contains(d));
    if let Some(d) = declared {
        return Ok(d.to_string());
    }
    let probe: Probe = serde_json::from_slice(bytes)?;
    if probe.schema_version != Some(2) {
        return Err(ManifestError::Unsupported(format!(
            "schemaVersion {:?}",
            probe.schema_version
        )));
    }
    Ok(match probe.media_type {
        Some(m) => m,
        None if probe.manifests.is_some() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    })
}

impl Manifest {
    /// Parse bytes of the given media type.
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        match media_type {
            OCI_MANIFEST | DOCKER_MANIFEST => Ok(Manifest::Image(serde_json::from_slice(bytes)?)),
            OCI_INDEX | DOCKER_LIST => Ok(Manifest::Index(serde_json::from_slice(bytes)?)),
            other => Err(ManifestError::Unsupported(other.to_string())),
        }
    }
}

/// The platform this host runs, in OCI's names.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    ("linux", arch)
}

/// The index entry for `os`/`architecture`: an exact platform match, preferring entries without
/// a variant; attestation manifests (`unknown/unknown`) never match.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    os: &str,
    architecture: &str,
) -> Result<&'a Descriptor, ManifestError> {
    let mut matching = index.manifests.iter().filter(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == architecture)
    });
    let first = matching.next();
    let plain = index.manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == os && p.architecture == architecture && p.variant.is_none())
    });
    plain
        .or(first)
        .ok_or_else(|| ManifestError::NoPlatform(format!("{os}/{architecture}")))
}

/// Layer media types we know how to unpack later, with their compression.
#[allow(dead_code)] // Called by the unpacker, the next step of issue #8.
pub fn layer_compression(media_type: &str) -> Option<&'static str> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some("none"),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some("gzip"),
        "application/vnd.oci.image.layer.v1.tar+zstd" => Some("zstd"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    fn index_json() -> String {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST, "digest": d('1'), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": DOCKER_MANIFEST, "digest": d('2'), "size": 2,
                 "platform": {"os": "linux", "architecture": "amd64", "variant": "v2"}},
                {"mediaType": DOCKER_MANIFEST, "digest": d('3'), "size": 3,
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": d('4'), "size": 4,
                 "platform": {"os": "unknown", "architecture": "unknown"}},
            ]
        })
        .to_string()
    }

    #[test]
    fn picks_linux_amd64_without_variant() {
        let bytes = index_json();
        let mt = media_type_of(None, bytes.as_bytes()).unwrap();
        assert_eq!(mt, DOCKER_LIST);
        let Manifest::Index(idx) = Manifest::parse(&mt, bytes.as_bytes()).unwrap() else {
            panic!("not an index");
        };
        assert_eq!(
            select_platform(&idx, "linux", "amd64")
                .unwrap()
                .digest
                .to_string(),
            d('3')
        );
        assert_eq!(
            select_platform(&idx, "linux", "arm64")
                .unwrap()
                .digest
                .to_string(),
            d('1')
        );
        assert!(matches!(
            select_platform(&idx, "linux", "s390x"),
            Err(ManifestError::NoPlatform(_))
        ));
    }

    #[test]
    fn media_type_from_header_field_or_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}"#;
        assert_eq!(media_type_of(None, m).unwrap(), OCI_MANIFEST);
        assert_eq!(
            media_type_of(
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                m
            )
            .unwrap(),
            DOCKER_MANIFEST
        );
        assert!(media_type_of(None, br#"{"schemaVersion":1}"#).is_err());
        let Manifest::Image(img) = Manifest::parse(OCI_MANIFEST, m).unwrap() else {
            panic!("not an image");
        };
        assert_eq!(img.config.size, 1);
        assert!(Manifest::parse("text/plain", m).is_err());
    }

    #[test]
    fn knows_layer_compressions() {
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some("zstd")
        );
        assert_eq!(
            layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some("gzip")
        );
        assert_eq!(layer_compression("application/json"), None);
    }
}
