//! The build cache: `<root>/cache/<key>.json`, one entry per layer-producing step (RUN, COPY,
//! ADD, WORKDIR), holding the layer it made (or none, for a step that changed nothing).
//!
//! A key chains the stage's key so far (its base image's manifest digest or an earlier stage's
//! key, then every instruction as expanded, metadata-only ones included) with the step's own
//! description: the instruction as expanded, plus the content digest of its inputs for COPY
//! and ADD, plus the build args in scope for RUN (they are part of its `created_by`). So a
//! changed file re-runs its COPY and every step after it, never one before it. Metadata steps
//! are not stored: recomputing them is cheaper than reading an entry. An entry whose layer
//! blob is gone (swept by `rmi`) is a miss.

use super::stage::Layer;
use crate::manifest::Descriptor;
use crate::store::Store;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The step's layer, `None` when it changed nothing.
    layer: Option<Descriptor>,
    diff_id: Option<String>,
    created_by: String,
}

/// A cache hit: the step's layer (if any) and history text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The layer the step made.
    pub layer: Option<Layer>,
    /// Its `created_by`.
    pub created_by: String,
}

/// The cache of one store.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (creating) `<root>/cache`.
    pub fn open(store: &Store) -> Result<Cache> {
        let dir = store.root().join("cache");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Cache { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The entry for `key`, if present and its blob is still stored.
    pub fn get(&self, store: &Store, key: &str) -> Option<Hit> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        let layer = match (e.layer, e.diff_id) {
            (Some(desc), Some(diff_id)) => {
                if !store.has_blob(&desc.digest) {
                    return None;
                }
                Some(Layer { desc, diff_id })
            }
            (None, _) => None,
            (Some(_), None) => return None,
        };
        Some(Hit {
            layer,
            created_by: e.created_by,
        })
    }

    /// Record what step `key` made.
    pub fn put(&self, key: &str, layer: Option<&Layer>, created_by: &str) -> Result<()> {
        let e = Entry {
            layer: layer.map(|l| l.desc.clone()),
            diff_id: layer.map(|l| l.diff_id.clone()),
            created_by: created_by.to_string(),
        };
        let path = self.path(key);
        crate::store::blobs::write_atomic(&path, &serde_json::to_vec(&e)?)
            .with_context(|| format!("writing the cache entry {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dock_registry::digest::{Algorithm, Digest};

    #[test]
    fn entries_round_trip_and_need_their_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = Cache::open(&store).unwrap();
        let data = b"layer bytes";
        let digest = Digest::of_bytes(Algorithm::Sha256, data);
        let layer = Layer {
            desc: Descriptor {
                media_type: super::super::stage::LAYER_GZIP.into(),
                digest: digest.clone(),
                size: data.len() as u64,
                platform: None,
                annotations: Default::default(),
                urls: vec![],
            },
            diff_id: "sha256:00".into(),
        };
        cache.put("k1", Some(&layer), "RUN x").unwrap();
        assert_eq!(cache.get(&store, "k1"), None, "blob missing: a miss");
        store.put_blob(&digest, data).unwrap();
        let hit = cache.get(&store, "k1").unwrap();
        assert_eq!(hit.layer, Some(layer));
        assert_eq!(hit.created_by, "RUN x");
        cache.put("k2", None, "WORKDIR /").unwrap();
        assert_eq!(cache.get(&store, "k2").unwrap().layer, None);
        assert_eq!(cache.get(&store, "k3"), None);
    }
}
