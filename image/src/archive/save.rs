//! Writing archives. OCI archives copy the stored blobs byte for byte (digests unchanged);
//! docker archives hold each layer uncompressed as docker does, checked against the config's
//! diff ids while it is decompressed.

use super::{io_err, ArchiveError, ArchiveFormat, CONTAINERD_NAME, REF_NAME};
use crate::reference::Reference;
use crate::store::images::StoredImage;
use crate::store::Store;
use dock_registry::digest::{Algorithm, Digest, Hasher};
use serde_json::json;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn add_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = header(data.len() as u64);
    tar.append_data(&mut h, path, data)
        .map_err(io_err("writing the archive entry", Path::new(path)))
}

fn add_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    file: &Path,
) -> Result<(), ArchiveError> {
    let mut f = File::open(file).map_err(io_err("opening", file))?;
    let size = f.metadata().map_err(io_err("reading", file))?.len();
    let mut h = header(size);
    tar.append_data(&mut h, path, &mut f)
        .map_err(io_err("writing the archive entry", Path::new(path)))
}

fn add_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    tar.append_data(&mut h, path, std::io::empty())
        .map_err(io_err("writing the archive entry", Path::new(path)))
}

/// An image to save and the name it is saved under.
pub struct Saved {
    /// The stored image.
    pub image: StoredImage,
    /// Its full name (`docker.io/library/bb:latest`).
    pub name: String,
}

/// Write `images` as an OCI archive.
pub fn oci<W: Write>(store: &Store, images: &[Saved], out: W) -> Result<W, ArchiveError> {
    let mut tar = tar::Builder::new(out);
    add_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut manifests = Vec::new();
    add_dir(&mut tar, "blobs/")?;
    add_dir(&mut tar, "blobs/sha256/")?;
    let mut written = HashSet::new();
    for s in images {
        let m = &s.image.manifest;
        let mut digests = vec![&s.image.manifest_desc.digest, &m.config.digest];
        digests.extend(m.layers.iter().map(|l| &l.digest));
        for d in digests {
            if written.insert(d.clone()) {
                let path = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
                add_file(&mut tar, &path, &store.blob_path(d))?;
            }
        }
        let mut desc = json!({
            "mediaType": s.image.manifest_desc.media_type,
            "digest": s.image.manifest_desc.digest,
            "size": s.image.manifest_desc.size,
        });
        if !s.name.is_empty() {
            desc["annotations"] = json!({REF_NAME: s.name, CONTAINERD_NAME: s.name});
        }
        manifests.push(desc);
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    add_bytes(&mut tar, "index.json", index.to_string().as_bytes())?;
    tar.into_inner()
        .map_err(io_err("finishing", Path::new("the archive")))
}

/// Decompress `layer` into `tmp` (truncated first); returns the uncompressed digest.
fn uncompressed(
    store: &Store,
    layer: &crate::manifest::Descriptor,
    tmp: &mut File,
    tmp_path: &Path,
) -> Result<Digest, ArchiveError> {
    let blob = store.blob_path(&layer.digest);
    let f = File::open(&blob).map_err(io_err("opening", &blob))?;
    let mut reader: Box<dyn Read> = match crate::manifest::layer_compression(&layer.media_type) {
        Some("none") => Box::new(f),
        Some("gzip") => Box::new(flate2::read::GzDecoder::new(f)),
        Some("zstd") => {
            Box::new(zstd::stream::read::Decoder::new(f).map_err(io_err("decompressing", &blob))?)
        }
        _ => {
            return Err(ArchiveError::Format(format!(
                "layer {} has media type {:?}, which cannot be saved",
                layer.digest, layer.media_type
            )))
        }
    };
    tmp.set_len(0).map_err(io_err("truncating", tmp_path))?;
    tmp.rewind().map_err(io_err("rewinding", tmp_path))?;
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(io_err("decompressing", &blob))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(io_err("writing", tmp_path))?;
    }
    tmp.flush().map_err(io_err("writing", tmp_path))?;
    Ok(hasher.finish())
}

/// The name docker writes in RepoTags (`bb:latest`, `127.0.0.1:5000/x/y:v1`).
fn repo_tag(name: &str) -> Option<String> {
    let r = Reference::parse(name).ok()?;
    Some(format!("{}:{}", r.familiar_repository(), r.tag?))
}

/// Write `images` as a docker archive; `scratch` is a directory for decompressed layers.
pub fn docker<W: Write>(
    store: &Store,
    images: &[Saved],
    out: W,
    scratch: &Path,
) -> Result<W, ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut manifest = Vec::new();
    let mut written = HashSet::new();
    let tmp_path = scratch.join("layer.tar");
    let mut tmp = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&tmp_path)
        .map_err(io_err("creating", &tmp_path))?;
    for s in images {
        let config_bytes = store.read_blob(&s.image.manifest.config.digest)?;
        let config: serde_json::Value = serde_json::from_slice(&config_bytes).map_err(|e| {
            ArchiveError::Format(format!(
                "image config {}: {e}",
                s.image.manifest.config.digest
            ))
        })?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != s.image.manifest.layers.len() {
            return Err(ArchiveError::Format(format!(
                "image {}: its config lists {} diff ids for {} layers",
                s.name,
                diff_ids.len(),
                s.image.manifest.layers.len()
            )));
        }
        let config_file = format!("{}.json", s.image.manifest.config.digest.hex());
        if written.insert(config_file.clone()) {
            add_bytes(&mut tar, &config_file, &config_bytes)?;
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in s.image.manifest.layers.iter().zip(&diff_ids) {
            let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
            let path = format!("{hex}/layer.tar");
            if written.insert(path.clone()) {
                let digest = uncompressed(store, layer, &mut tmp, &tmp_path)?;
                if digest.to_string() != *diff_id {
                    return Err(ArchiveError::Format(format!(
                        "layer {} uncompresses to {digest}, not its diff id {diff_id}",
                        layer.digest
                    )));
                }
                add_dir(&mut tar, &format!("{hex}/"))?;
                add_file(&mut tar, &path, &tmp_path)?;
            }
            layers.push(path);
        }
        manifest.push(json!({
            "Config": config_file,
            "RepoTags": repo_tag(&s.name).into_iter().collect::<Vec<_>>(),
            "Layers": layers,
        }));
    }
    let _ = std::fs::remove_file(&tmp_path);
    add_bytes(
        &mut tar,
        "manifest.json",
        serde_json::Value::Array(manifest).to_string().as_bytes(),
    )?;
    tar.into_inner()
        .map_err(io_err("finishing", Path::new("the archive")))
}

/// Save in `format`.
pub fn save<W: Write>(
    store: &Store,
    images: &[Saved],
    format: ArchiveFormat,
    out: W,
    scratch: &Path,
) -> Result<W, ArchiveError> {
    match format {
        ArchiveFormat::OciArchive => oci(store, images, out),
        ArchiveFormat::DockerArchive => docker(store, images, out, scratch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_are_familiar() {
        assert_eq!(
            repo_tag("docker.io/library/bb:latest").as_deref(),
            Some("bb:latest")
        );
        assert_eq!(
            repo_tag("127.0.0.1:5000/x/y:v1").as_deref(),
            Some("127.0.0.1:5000/x/y:v1")
        );
        assert_eq!(
            repo_tag(&format!("docker.io/library/bb@sha256:{}", "a".repeat(64))),
            None
        );
    }
}
