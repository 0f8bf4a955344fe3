//! A step's overlay upper dir to a layer: the reproducible gzip tar
//! ([`dock::build::layer::tar_upper_dir`]) moved into the store as a blob, and the upper dir
//! itself adopted as the snapshot of the new layer chain, so the next step mounts it without
//! unpacking the tar again. A step that changed nothing makes no layer.

use super::stage::{Layer, LAYER_GZIP};
use crate::manifest::Descriptor;
use crate::snapshot::{chain_ids, Snapshots};
use crate::store::Store;
use anyhow::{Context, Result};
use dock::build::layer::{tar_upper_dir, LayerOptions};
use dock_registry::digest::Digest;
use std::path::Path;

/// Turn `upper` into a layer on top of `below`; `None` when the upper dir holds no change.
pub fn commit_upper(
    store: &Store,
    snaps: &Snapshots,
    below: &[Descriptor],
    upper: &Path,
    epoch: u64,
    out_dir: &Path,
) -> Result<Option<Layer>> {
    let blob = tar_upper_dir(upper, &LayerOptions { epoch }, out_dir)
        .with_context(|| format!("making a layer of {}", upper.display()))?;
    if blob.empty {
        let _ = std::fs::remove_file(&blob.path);
        return Ok(None);
    }
    let digest: Digest = blob
        .digest
        .parse()
        .with_context(|| format!("layer digest {:?}", blob.digest))?;
    store.put_blob_file(&digest, &blob.path)?;
    let desc = Descriptor {
        media_type: LAYER_GZIP.to_string(),
        digest,
        size: blob.size,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
    };
    let mut chain: Vec<Descriptor> = below.to_vec();
    chain.push(desc.clone());
    let ids = chain_ids(&chain);
    let parent = ids.len().checked_sub(2).map(|i| ids[i].as_str());
    if let Some(id) = ids.last() {
        // A failed adoption only costs an unpack later (ensure_image makes what is missing).
        let _ = snaps.adopt(id, parent, &desc, upper);
    }
    Ok(Some(Layer {
        desc,
        diff_id: blob.diff_id,
    }))
}
