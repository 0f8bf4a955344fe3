//! The image a build makes: its config (architecture, os, `created` and every history entry at
//! the build's epoch, the stage's `config` object, `rootfs.diff_ids`, history) and an OCI
//! manifest, stored as blobs and named under every `-t`. No host data goes in: the same
//! Dockerfile and context give the same bytes, hence the same digests, on every machine.

use super::stage::Stage;
use crate::manifest::Descriptor;
use crate::reference::Reference;
use crate::store::Store;
use anyhow::Result;
use dock_registry::api::media::OCI_MANIFEST;
use dock_registry::digest::{Algorithm, Digest};
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

/// The OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// RFC 3339 of the epoch (seconds since 1970).
pub fn timestamp(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// A history entry at `epoch`.
pub fn history_entry(epoch: u64, created_by: &str, empty_layer: bool) -> Value {
    let mut h = json!({
        "created": timestamp(epoch),
        "created_by": created_by,
        "comment": "dock build",
    });
    if empty_layer {
        h["empty_layer"] = json!(true);
    }
    h
}

/// The image config JSON of `stage`, with the `--label`s laid over its Labels.
pub fn image_config(stage: &Stage, labels: &[(String, String)], epoch: u64) -> Value {
    let mut config = stage.config.clone();
    if !labels.is_empty() {
        let slot = config
            .entry("Labels".to_string())
            .or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        for (k, v) in labels {
            slot[k.as_str()] = json!(v);
        }
    }
    let diff_ids: Vec<&str> = stage.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let mut c = json!({
        "created": timestamp(epoch),
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": stage.history,
    });
    if let Some(a) = &stage.author {
        c["author"] = json!(a);
    }
    c
}

/// What [`commit`] stored.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The config digest: the image id.
    pub id: Digest,
}

/// Store config and manifest; name the image under each of `tags`.
pub fn commit(
    store: &Store,
    stage: &Stage,
    labels: &[(String, String)],
    epoch: u64,
    tags: &[Reference],
) -> Result<Committed> {
    let config = serde_json::to_vec(&image_config(stage, labels, epoch))?;
    let config_digest = Digest::of_bytes(Algorithm::Sha256, &config);
    store.put_blob(&config_digest, &config)?;
    let layers: Vec<&Descriptor> = stage.layers.iter().map(|l| &l.desc).collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
    }))?;
    let manifest_digest = Digest::of_bytes(Algorithm::Sha256, &manifest);
    store.put_blob(&manifest_digest, &manifest)?;
    let desc = Descriptor {
        media_type: OCI_MANIFEST.to_string(),
        digest: manifest_digest,
        size: manifest.len() as u64,
        platform: None,
        annotations: Default::default(),
        urls: vec![],
    };
    for t in tags {
        store.set_name(t, &desc, None)?;
    }
    Ok(Committed { id: config_digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_times_are_the_epoch_and_labels_merge() {
        let mut s = Stage::scratch(None);
        s.config.insert("Labels".into(), json!({"a": "1"}));
        s.history.push(history_entry(0, "ENV A=1", true));
        let c = image_config(&s, &[("b".into(), "2".into())], 0);
        assert_eq!(c["created"], "1970-01-01T00:00:00Z");
        assert_eq!(c["config"]["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(c["history"][0]["empty_layer"], true);
        assert_eq!(c["rootfs"], json!({"type": "layers", "diff_ids": []}));
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
