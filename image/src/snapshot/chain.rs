//! Chain ids: a snapshot's identity is its layer and every layer below it (the OCI ChainID
//! recipe, over the manifest's layer digests).

use crate::manifest::Descriptor;
use dock_registry::digest::{Algorithm, Digest};

/// The chain id (hex, the snapshot directory's name) of each layer prefix, base first.
pub fn chain_ids(layers: &[Descriptor]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(layers.len());
    let mut prev: Option<String> = None;
    for layer in layers {
        let id = match &prev {
            None => layer.digest.to_string(),
            Some(p) => Digest::of_bytes(
                Algorithm::Sha256,
                format!("{p} {}", layer.digest).as_bytes(),
            )
            .to_string(),
        };
        let hex = id.rsplit(':').next().unwrap_or(&id).to_string();
        out.push(hex);
        prev = Some(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(d: &Digest) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: d.clone(),
            size: 1,
            platform: None,
            annotations: Default::default(),
            urls: vec![],
        }
    }

    #[test]
    fn chain_ids_depend_on_every_layer_below() {
        let a = Digest::of_bytes(Algorithm::Sha256, b"a");
        let b = Digest::of_bytes(Algorithm::Sha256, b"b");
        let ab = chain_ids(&[desc(&a), desc(&b)]);
        let ba = chain_ids(&[desc(&b), desc(&a)]);
        assert_eq!(ab[0], a.to_string().trim_start_matches("sha256:"));
        assert_ne!(ab[1], ba[1]);
        assert_ne!(ab[1], b.to_string().trim_start_matches("sha256:"));
        // The recipe: sha256("sha256:<a> sha256:<b>").
        let expect = Digest::of_bytes(Algorithm::Sha256, format!("{a} {b}").as_bytes());
        assert_eq!(ab[1], expect.to_string().trim_start_matches("sha256:"));
        assert_eq!(ab[1].len(), 64);
    }
}
