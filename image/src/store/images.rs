//! Questions about stored images: the manifest and config an image name leads to, its layers
//! in order with their media types (the seam the unpacker builds on), its size, and sweeping
//! blobs no named image references any more.

use super::names::NamedImage;
use super::{Store, StoreError};
use crate::manifest::{host_platform, select_platform, Descriptor, ImageManifest, Manifest};
use crate::reference::Reference;
use dock_registry::digest::Digest;
use std::collections::HashSet;

/// A stored image opened down to its platform manifest.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The name and the manifest descriptor it points at.
    pub named: NamedImage,
    /// The image manifest (the platform's one when the name points at an index).
    pub manifest: ImageManifest,
    /// The image manifest's descriptor (media type, digest, size).
    pub manifest_desc: Descriptor,
}

impl StoredImage {
    /// The compressed size of config and layers.
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

impl Store {
    fn parse_manifest(&self, desc: &Descriptor) -> Result<Manifest, StoreError> {
        let bytes = self.read_blob(&desc.digest)?;
        Manifest::parse(&desc.media_type, &bytes)
            .map_err(|e| StoreError::Manifest(desc.digest.to_string(), e))
    }

    /// Open a named image down to its image manifest.
    pub fn open_image(&self, named: &NamedImage) -> Result<StoredImage, StoreError> {
        let mut desc = named.manifest.clone();
        loop {
            match self.parse_manifest(&desc)? {
                Manifest::Image(manifest) => {
                    return Ok(StoredImage {
                        named: named.clone(),
                        manifest,
                        manifest_desc: desc,
                    })
                }
                Manifest::Index(index) => {
                    let (os, arch) = host_platform();
                    desc = select_platform(&index, os, arch)
                        .map_err(|e| StoreError::Manifest(desc.digest.to_string(), e))?
                        .clone();
                }
            }
        }
    }

    /// The layers of the image `reference` names, base first, each with digest, size and media
    /// type (see [`crate::manifest::layer_compression`]); the blob of each is at
    /// [`Store::blob_path`]. This is the seam layer unpacking builds on.
    pub fn image_layers(&self, reference: &Reference) -> Result<Vec<Descriptor>, StoreError> {
        let image = self.open_image(&self.resolve(reference)?)?;
        Ok(image.manifest.layers)
    }

    /// The image config JSON.
    pub fn image_config(&self, image: &StoredImage) -> Result<serde_json::Value, StoreError> {
        let bytes = self.read_blob(&image.manifest.config.digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: self.blob_path(&image.manifest.config.digest),
            source,
        })
    }

    /// Every blob some named image needs (manifests, indexes' children present here, configs,
    /// layers).
    fn referenced_blobs(&self) -> Result<HashSet<Digest>, StoreError> {
        let mut keep = HashSet::new();
        let mut todo: Vec<Descriptor> =
            self.list_names()?.into_iter().map(|n| n.manifest).collect();
        while let Some(desc) = todo.pop() {
            if !keep.insert(desc.digest.clone()) || !self.has_blob(&desc.digest) {
                continue;
            }
            match self.parse_manifest(&desc) {
                Ok(Manifest::Image(m)) => {
                    keep.insert(m.config.digest);
                    keep.extend(m.layers.into_iter().map(|l| l.digest));
                }
                Ok(Manifest::Index(i)) => todo.extend(i.manifests),
                Err(_) => {}
            }
        }
        Ok(keep)
    }

    /// Delete blobs no named image references; returns their digests. Nothing is swept while
    /// a pull or push runs (the next sweep catches up).
    pub fn sweep_unreferenced(&self) -> Result<Vec<String>, StoreError> {
        let Some(_idle) = self.idle()? else {
            return Ok(Vec::new());
        };
        let _lock = self.lock()?;
        let keep = self.referenced_blobs()?;
        let mut removed = Vec::new();
        for d in self.list_blobs()? {
            if !keep.contains(&d) {
                self.remove_blob(&d)?;
                removed.push(d.to_string());
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dock_registry::digest::Algorithm;

    fn put(store: &Store, data: &[u8]) -> Digest {
        let d = Digest::of_bytes(Algorithm::Sha256, data);
        store.put_blob(&d, data).unwrap();
        d
    }

    #[test]
    fn layers_in_order_and_rmi_sweeps_only_unshared_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = put(&store, config);
        let l1 = put(&store, b"layer one");
        let l2 = put(&store, b"layer two");
        let manifest = |layers: &[&Digest]| {
            serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
                "layers": layers.iter().map(|l| serde_json::json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l, "size": 9
                })).collect::<Vec<_>>(),
            })
            .to_string()
        };
        let m_a = manifest(&[&l1, &l2]);
        let m_b = manifest(&[&l1]);
        let desc = |m: &str| Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: put(&store, m.as_bytes()),
            size: m.len() as u64,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
        };
        let a = Reference::parse("a").unwrap();
        let b = Reference::parse("b").unwrap();
        store.set_name(&a, &desc(&m_a), None).unwrap();
        store.set_name(&b, &desc(&m_b), None).unwrap();
        let img = store.open_image(&store.resolve(&a).unwrap()).unwrap();
        let layers = store.image_layers(&a).unwrap();
        let digests: Vec<_> = layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(digests, vec![l1.clone(), l2.clone()]);
        assert_eq!(
            layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(img.size(), config.len() as u64 + 18);
        assert_eq!(store.image_config(&img).unwrap()["os"], "linux");
        let removed = store.remove_name(&a).unwrap();
        assert_eq!(removed.len(), 2, "manifest a and layer two go: {removed:?}");
        assert!(store.has_blob(&l1) && store.has_blob(&c) && !store.has_blob(&l2));
        // While a pull or push runs, nothing is swept.
        let active = store.activity().unwrap();
        store.remove_name(&b).unwrap();
        assert!(store.has_blob(&l1), "swept under an active pull");
        drop(active);
        store.sweep_unreferenced().unwrap();
        assert!(store.list_blobs().unwrap().is_empty());
    }
}
