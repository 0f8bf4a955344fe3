//! Names → manifests: the entries of the layout's `index.json`, each a manifest descriptor
//! annotated with the image's full name (`org.opencontainers.image.ref.name`) and the
//! repository it came from (used for cross-repository mounts on push).

use super::blobs::write_atomic;
use super::{io_err, Store, StoreError};
use crate::manifest::Descriptor;
use crate::reference::Reference;
use serde::{Deserialize, Serialize};

/// The OCI annotation that names an index entry.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Our annotation: `domain/path` of the repository the image was pulled from or pushed to.
pub const SOURCE: &str = "io.berth.dock.source";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// A named image in the store.
#[derive(Debug, Clone)]
pub struct NamedImage {
    /// Its full name.
    pub name: String,
    /// The manifest it points to.
    pub manifest: Descriptor,
}

impl NamedImage {
    /// Where it was last pulled from or pushed to, as `domain/path`.
    pub fn source(&self) -> Option<&str> {
        self.manifest.annotations.get(SOURCE).map(String::as_str)
    }
}

impl Store {
    fn index_path(&self) -> std::path::PathBuf {
        self.root.join("index.json")
    }

    fn read_index(&self) -> Result<IndexFile, StoreError> {
        let p = self.index_path();
        let bytes = std::fs::read(&p).map_err(io_err("reading", &p))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json { path: p, source })
    }

    fn write_index(&self, index: &IndexFile) -> Result<(), StoreError> {
        let p = self.index_path();
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| StoreError::Json {
            path: p.clone(),
            source,
        })?;
        write_atomic(&p, &bytes)
    }

    /// All named images, in `index.json` order.
    pub fn list_names(&self) -> Result<Vec<NamedImage>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter_map(|d| {
                let name = d.annotations.get(REF_NAME)?.clone();
                Some(NamedImage { name, manifest: d })
            })
            .collect())
    }

    /// Point `reference` at `manifest` (replacing what it named before).
    pub fn set_name(
        &self,
        reference: &Reference,
        manifest: &Descriptor,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let name = reference.to_string();
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(REF_NAME) != Some(&name));
        let mut entry = manifest.clone();
        entry.platform = None;
        entry.annotations.clear();
        entry.annotations.insert(REF_NAME.to_string(), name);
        if let Some(s) = source {
            entry.annotations.insert(SOURCE.to_string(), s.to_string());
        }
        index.manifests.push(entry);
        self.write_index(&index)
    }

    /// The image a reference names: its exact name, or for `name@digest` any entry of that
    /// repository with that manifest digest.
    pub fn resolve(&self, reference: &Reference) -> Result<NamedImage, StoreError> {
        let name = reference.to_string();
        let names = self.list_names()?;
        if let Some(found) = names.iter().find(|n| n.name == name) {
            return Ok(found.clone());
        }
        if let Some(d) = &reference.digest {
            let repo = reference.repository();
            if let Some(found) = names.iter().find(|n| {
                n.manifest.digest == *d
                    && Reference::parse(&n.name).is_ok_and(|r| r.repository() == repo)
            }) {
                return Ok(found.clone());
            }
        }
        Err(StoreError::NotFound(name))
    }

    /// Remove a name, then delete blobs no remaining image needs. Returns the removed blobs.
    pub fn remove_name(&self, reference: &Reference) -> Result<Vec<String>, StoreError> {
        let found = self.resolve(reference)?;
        {
            let _lock = self.lock()?;
            let mut index = self.read_index()?;
            index
                .manifests
                .retain(|d| d.annotations.get(REF_NAME) != Some(&found.name));
            self.write_index(&index)?;
        }
        self.sweep_unreferenced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dock_registry::digest::{Algorithm, Digest};

    fn desc(data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: Digest::of_bytes(Algorithm::Sha256, data),
            size: data.len() as u64,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
        }
    }

    #[test]
    fn names_are_set_replaced_and_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r = Reference::parse("alpine").unwrap();
        store
            .set_name(&r, &desc(b"one"), Some("docker.io/library/alpine"))
            .unwrap();
        store.set_name(&r, &desc(b"two"), None).unwrap();
        let names = store.list_names().unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(names[0].name, "docker.io/library/alpine:latest");
        assert_eq!(names[0].manifest.digest, desc(b"two").digest);
        assert_eq!(names[0].source(), None);
        let by_digest = Reference::parse(&format!("alpine@{}", desc(b"two").digest)).unwrap();
        assert_eq!(store.resolve(&by_digest).unwrap().name, names[0].name);
        assert!(matches!(
            store.resolve(&Reference::parse("busybox").unwrap()),
            Err(StoreError::NotFound(_))
        ));
        // The layout stays readable as OCI: ref.name annotations in index.json.
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(
            v["manifests"][0]["annotations"][REF_NAME],
            names[0].name.as_str()
        );
        assert!(dir.path().join("oci-layout").is_file());
    }
}
