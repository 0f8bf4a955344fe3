//! Reading archives (docker-archive or oci-archive, optionally gzip-compressed, from a file
//! or stdin). Every regular entry is copied to a numbered temp file under the store's
//! `ingest/` while it is hashed; symlinks (docker's deduplicated layers) are followed by name
//! inside the archive. No path from the archive is ever created. Blobs enter the store only
//! through the verifying ingest, and names are set last.

use super::{io_err, ArchiveError, CONTAINERD_NAME, REF_NAME};
use crate::manifest::{Descriptor, Manifest};
use crate::reference::Reference;
use crate::store::Store;
use dock_registry::api::media::OCI_MANIFEST;
use dock_registry::digest::{Algorithm, Digest, Hasher};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

/// One regular file of the archive.
#[derive(Debug, Clone)]
struct Member {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

/// The archive's files by normalised name.
struct Contents {
    files: HashMap<String, Member>,
    links: HashMap<String, String>,
}

/// `./a/../b` → `b`; `None` when it leaves the archive's root.
fn normalise(name: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

impl Contents {
    fn get(&self, name: &str) -> Option<&Member> {
        let mut name = name.to_string();
        for _ in 0..16 {
            if let Some(m) = self.files.get(&name) {
                return Some(m);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    fn need(&self, name: &str) -> Result<&Member, ArchiveError> {
        self.get(name)
            .ok_or_else(|| ArchiveError::Format(format!("the archive has no {name}")))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let m = self.need(name)?;
        std::fs::read(&m.path).map_err(io_err("reading", &m.path))
    }
}

/// Unpack the archive's regular files into numbered files in `scratch`.
fn read_archive(input: impl Read, scratch: &Path) -> Result<Contents, ArchiveError> {
    let mut input = BufReader::new(input);
    let head = input
        .fill_buf()
        .map_err(io_err("reading", Path::new("the archive")))?;
    let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut archive = tar::Archive::new(reader);
    let mut contents = Contents {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    let bad = |e: std::io::Error| ArchiveError::Format(format!("not a readable tar archive: {e}"));
    let mut buf = vec![0u8; 256 * 1024];
    for (n, entry) in archive.entries().map_err(bad)?.enumerate() {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(name) = normalise(&raw) else {
            return Err(ArchiveError::Format(format!(
                "entry {} leaves the archive",
                raw.display()
            )));
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let path = scratch.join(n.to_string());
                let mut out = File::create(&path).map_err(io_err("creating", &path))?;
                let mut hasher = Hasher::new(Algorithm::Sha256);
                let mut size = 0u64;
                loop {
                    let k = entry.read(&mut buf).map_err(bad)?;
                    if k == 0 {
                        break;
                    }
                    hasher.update(&buf[..k]);
                    out.write_all(&buf[..k]).map_err(io_err("writing", &path))?;
                    size += k as u64;
                }
                contents.files.insert(
                    name,
                    Member {
                        path,
                        digest: hasher.finish(),
                        size,
                    },
                );
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let Some(target) = entry.link_name().map_err(bad)? else {
                    continue;
                };
                // Symlinks are relative to the entry's directory; hard links name the target.
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                    Path::new(&name)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .join(target)
                } else {
                    target.into_owned()
                };
                if let Some(t) = normalise(&joined) {
                    contents.links.insert(name, t);
                }
            }
            _ => {}
        }
    }
    Ok(contents)
}

/// Put an archive member into the store as the blob `digest`.
fn put(store: &Store, m: &Member, digest: &Digest) -> Result<(), ArchiveError> {
    if m.digest != *digest {
        return Err(ArchiveError::Format(format!(
            "blob {digest} in the archive has digest {}",
            m.digest
        )));
    }
    if store.has_blob(digest) {
        return Ok(());
    }
    let mut w = store.ingest(digest)?;
    w.reset()?;
    let mut f = File::open(&m.path).map_err(io_err("reading", &m.path))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io_err("reading", &m.path))?;
        if n == 0 {
            break;
        }
        w.write(&buf[..n])?;
    }
    w.commit(m.size)?;
    Ok(())
}

/// A loaded image's names and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Names set (full references).
    pub names: Vec<String>,
    /// Image id (config digest).
    pub id: String,
}

fn oci_blob<'a>(c: &'a Contents, d: &Descriptor) -> Result<&'a Member, ArchiveError> {
    c.need(&format!(
        "blobs/{}/{}",
        d.digest.algorithm().name(),
        d.digest.hex()
    ))
}

/// Import a manifest or index and everything it references that the archive holds.
fn import_oci(store: &Store, c: &Contents, d: &Descriptor) -> Result<Option<String>, ArchiveError> {
    let m = oci_blob(c, d)?;
    put(store, m, &d.digest)?;
    let bytes = std::fs::read(&m.path).map_err(io_err("reading", &m.path))?;
    match Manifest::parse(&d.media_type, &bytes)
        .map_err(|e| ArchiveError::Format(format!("manifest {}: {e}", d.digest)))?
    {
        Manifest::Image(img) => {
            for blob in std::iter::once(&img.config).chain(&img.layers) {
                put(store, oci_blob(c, blob)?, &blob.digest)?;
            }
            Ok(Some(img.config.digest.to_string()))
        }
        Manifest::Index(index) => {
            let mut id = None;
            for child in &index.manifests {
                // Indexes may list platforms the archive does not carry.
                if oci_blob(c, child).is_ok() {
                    let (os, arch) = crate::manifest::host_platform();
                    let ours = child
                        .platform
                        .as_ref()
                        .is_none_or(|p| p.os == os && p.architecture == arch);
                    let got = import_oci(store, c, child)?;
                    if ours {
                        id = id.or(got);
                    }
                }
            }
            Ok(id)
        }
    }
}

/// The name an OCI index entry gives: a full reference in containerd's annotation or in
/// `org.opencontainers.image.ref.name` (a bare tag like `latest` names no repository).
fn oci_name(d: &Descriptor) -> Option<Reference> {
    for key in [CONTAINERD_NAME, REF_NAME] {
        if let Some(v) = d.annotations.get(key) {
            if v.contains('/') || v.contains(':') {
                if let Ok(r) = Reference::parse(v) {
                    return Some(r);
                }
            }
        }
    }
    None
}

fn load_oci(store: &Store, c: &Contents) -> Result<Vec<Loaded>, ArchiveError> {
    let index: crate::manifest::ImageIndex = serde_json::from_slice(&c.read("index.json")?)
        .map_err(|e| ArchiveError::Format(format!("index.json: {e}")))?;
    let mut loaded = Vec::new();
    for d in &index.manifests {
        let id = import_oci(store, c, d)?.unwrap_or_default();
        let mut names = Vec::new();
        if let Some(r) = oci_name(d) {
            let mut entry = d.clone();
            entry.annotations = BTreeMap::new();
            store.set_name(&r, &entry, None)?;
            names.push(r.to_string());
        }
        loaded.push(Loaded { names, id });
    }
    Ok(loaded)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The OCI layer media type for a layer file, by its magic bytes.
fn layer_media_type(path: &Path) -> Result<&'static str, ArchiveError> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(io_err("reading", path))?;
    let n = f.read(&mut magic).map_err(io_err("reading", path))?;
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    })
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        platform: None,
        annotations: BTreeMap::new(),
        urls: vec![],
    }
}

fn load_docker(store: &Store, c: &Contents) -> Result<Vec<Loaded>, ArchiveError> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(&c.read("manifest.json")?)
        .map_err(|e| ArchiveError::Format(format!("manifest.json: {e}")))?;
    let mut loaded = Vec::new();
    for e in entries {
        let config = c.need(&e.config)?;
        put(store, config, &config.digest)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let m = c.need(l)?;
            put(store, m, &m.digest)?;
            layers.push(descriptor(
                layer_media_type(&m.path)?,
                m.digest.clone(),
                m.size,
            ));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config.digest.clone(), config.size),
            "layers": layers,
        });
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Format(e.to_string()))?;
        let digest = Digest::of_bytes(Algorithm::Sha256, &bytes);
        store.put_blob(&digest, &bytes)?;
        let desc = descriptor(OCI_MANIFEST, digest, bytes.len() as u64);
        let mut names = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            let r = Reference::parse(&t)
                .map_err(|err| ArchiveError::Format(format!("RepoTags {t:?}: {err}")))?;
            store.set_name(&r, &desc, None)?;
            names.push(r.to_string());
        }
        loaded.push(Loaded {
            names,
            id: config.digest.to_string(),
        });
    }
    Ok(loaded)
}

/// Load an archive of either format into the store.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<Loaded>, ArchiveError> {
    let scratch = store
        .root()
        .join("ingest")
        .join(format!("load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(io_err("creating", &scratch))?;
    // Blobs written but not yet named must survive a concurrent sweep.
    let _active = store.activity()?;
    let result = read_archive(input, &scratch).and_then(|c| {
        if c.get("index.json").is_some() && c.get("oci-layout").is_some() {
            load_oci(store, &c)
        } else if c.get("manifest.json").is_some() {
            load_docker(store, &c)
        } else {
            Err(ArchiveError::Format(
                "not a docker-archive (no manifest.json) or oci-archive (no index.json and oci-layout)".into(),
            ))
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_inside_the_archive() {
        assert_eq!(normalise(Path::new("./a/b")).as_deref(), Some("a/b"));
        assert_eq!(normalise(Path::new("/a/../b")).as_deref(), Some("b"));
        assert_eq!(normalise(Path::new("../x")), None);
        assert_eq!(normalise(Path::new("a/../../x")), None);
    }

    #[test]
    fn oci_names_need_a_repository() {
        let mut d = descriptor(OCI_MANIFEST, Digest::of_bytes(Algorithm::Sha256, b""), 0);
        d.annotations.insert(REF_NAME.into(), "latest".into());
        assert!(oci_name(&d).is_none());
        d.annotations
            .insert(REF_NAME.into(), "docker.io/library/bb:v1".into());
        assert_eq!(oci_name(&d).unwrap().to_string(), "docker.io/library/bb:v1");
    }

    #[test]
    fn garbage_is_refused_and_scratch_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = load(&store, &b"not a tar at all, just some bytes"[..])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a"), "{e}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("ingest"))
            .unwrap()
            .collect();
        assert!(left.is_empty());
    }
}
