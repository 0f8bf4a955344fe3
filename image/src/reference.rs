//! Image references parsed with docker's defaults: a name without a registry host lives on
//! `docker.io`, a single-component docker.io name lives under `library/`, and a reference with
//! neither tag nor digest means `:latest`. `host[:port]/` is a registry only when the first
//! component contains `.` or `:`, is `localhost`, or has an uppercase letter (as docker decides).

use dock_registry::digest::Digest;
use dock_registry::name::{is_valid_name, is_valid_tag};
use std::fmt;

/// The registry that names without a host refer to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// docker's legacy alias for [`DEFAULT_DOMAIN`].
const LEGACY_DOMAIN: &str = "index.docker.io";
/// The namespace single-component docker.io names live in.
const OFFICIAL_NAMESPACE: &str = "library/";
/// The tag used when a reference names none.
pub const DEFAULT_TAG: &str = "latest";
/// The longest full name (domain and path) docker accepts.
const MAX_FULL_NAME: usize = 255;

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Empty input.
    #[error("empty image reference")]
    Empty,
    /// The repository path has uppercase letters.
    #[error("invalid reference {0:?}: repository name must be lowercase")]
    Uppercase(String),
    /// A 64-hex string, which docker reserves for image IDs.
    #[error("invalid repository name {0:?}: 64-byte hexadecimal strings are image IDs, not names")]
    LooksLikeId(String),
    /// Anything else that breaks the grammar.
    #[error("invalid reference format: {0:?}")]
    Format(String),
    /// A bad `@digest`.
    #[error("invalid digest in {0:?}: {1}")]
    Digest(String, dock_registry::digest::DigestError),
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host, with port when given (`docker.io`, `127.0.0.1:5000`).
    pub domain: String,
    /// Repository path inside the registry (`library/alpine`).
    pub path: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The pinned digest, if any.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parse with docker's normalisation.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let bad = || ReferenceError::Format(input.to_string());
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|e| ReferenceError::Digest(input.to_string(), e))?;
                (r, Some(digest))
            }
            None => (input, None),
        };
        // The tag is after the last ':' that is not followed by a '/' (a port is).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !is_valid_tag(t) {
                return Err(bad());
            }
        }
        let (domain, path) = split_domain(name);
        if !is_valid_domain(&domain) {
            return Err(bad());
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input.to_string()));
        }
        if !is_valid_name(&path) || domain.len() + 1 + path.len() > MAX_FULL_NAME {
            return Err(bad());
        }
        if domain == DEFAULT_DOMAIN && !name.contains('/') && is_hex64(name) {
            return Err(ReferenceError::LooksLikeId(input.to_string()));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path`, the repository's full name.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name docker shows: no `docker.io/`, no `library/`.
    pub fn familiar_repository(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.repository();
        }
        self.path
            .strip_prefix(OFFICIAL_NAMESPACE)
            .filter(|p| !p.contains('/'))
            .unwrap_or(&self.path)
            .to_string()
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn remote_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Split off the registry host the way docker does, normalising docker.io's aliases.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_NAMESPACE}{path}")
    } else {
        path
    };
    (domain, path)
}

/// `host[:port]` with DNS-ish labels, or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_defaults() {
        assert_eq!(full("ubuntu"), "docker.io/library/ubuntu:latest");
        assert_eq!(full("debian:12"), "docker.io/library/debian:12");
        assert_eq!(full("library/debian"), "docker.io/library/debian:latest");
        assert_eq!(full("docker/docker"), "docker.io/docker/docker:latest");
        assert_eq!(full("docker.io/debian"), "docker.io/library/debian:latest");
        assert_eq!(
            full("index.docker.io/debian"),
            "docker.io/library/debian:latest"
        );
        assert_eq!(
            full("index.docker.io/docker/docker"),
            "docker.io/docker/docker:latest"
        );
        assert_eq!(full("library/foo/bar"), "docker.io/library/foo/bar:latest");
    }

    #[test]
    fn hosts_and_ports() {
        let r = Reference::parse("127.0.0.1:5000/debian").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str()),
            ("127.0.0.1:5000", "debian")
        );
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse("localhost:5000/foo/bar:v1").unwrap();
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.path, "foo/bar");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(
            Reference::parse("localhost/debian").unwrap().domain,
            "localhost"
        );
        assert_eq!(
            Reference::parse("192.168.0.1:8/debian").unwrap().domain,
            "192.168.0.1:8"
        );
        // Without a '/', "host:port" is a name and a tag, as in docker.
        let r = Reference::parse("192.168.0.1:80").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/192.168.0.1:80");
        assert_eq!(full("[::1]:5000/a/b"), "[::1]:5000/a/b:latest");
        // An uppercase first component is a host.
        assert_eq!(Reference::parse("Foo/bar").unwrap().domain, "Foo");
        // A component without '.' or ':' is a path.
        assert_eq!(full("foo/bar"), "docker.io/foo/bar:latest");
    }

    #[test]
    fn digests_and_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.remote_reference(), d);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
        let r = Reference::parse(&format!("localhost:5000/x:v2@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.remote_reference(), d);
        assert!(matches!(
            Reference::parse("busybox@sha256:abc"),
            Err(ReferenceError::Digest(..))
        ));
    }

    #[test]
    fn refused_like_docker() {
        for bad in [
            "https://github.com/docker/docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker///docker",
            "foo:",
            "foo:-bad",
            ":tag",
            "a b",
            "",
            "localhost:abc/foo",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(matches!(
            Reference::parse("docker/Docker"),
            Err(ReferenceError::Uppercase(_))
        ));
        assert!(matches!(
            Reference::parse("docker.io/docker/Docker"),
            Err(ReferenceError::Uppercase(_))
        ));
        let id = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        assert!(matches!(
            Reference::parse(id),
            Err(ReferenceError::LooksLikeId(_))
        ));
        // With a namespace it is a valid name.
        assert!(Reference::parse(&format!("docker.io/{id}")).is_ok());
        let long = format!("a/{}", "b".repeat(260));
        assert!(Reference::parse(&long).is_err());
    }

    #[test]
    fn familiar_names() {
        let f = |s: &str| Reference::parse(s).unwrap().familiar_repository();
        assert_eq!(f("docker.io/library/ubuntu"), "ubuntu");
        assert_eq!(f("docker.io/library/foo/bar"), "library/foo/bar");
        assert_eq!(f("docker/docker"), "docker/docker");
        assert_eq!(f("localhost:5000/x"), "localhost:5000/x");
    }
}
