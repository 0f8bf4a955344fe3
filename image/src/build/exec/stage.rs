//! One build stage's state: the image config it is making (the `config` object docker writes),
//! its layers with their diff ids, its history, the variables its instructions see, its SHELL,
//! and the cache key of everything so far. A stage starts from `scratch`, an image in dock's
//! store (pulled when missing), or an earlier stage.

use crate::manifest::Descriptor;
use crate::reference::Reference;
use crate::store::{Store, StoreError};
use anyhow::{bail, Context, Result};
use dock::build::expand::StageVars;
use dock_registry::digest::{Algorithm, Digest};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The OCI media type of the gzip layers dock build writes (and of docker's, converted).
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// docker's media type for the same bytes.
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// docker's media type for an uncompressed layer.
const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// One layer of a stage: its blob and the digest of its uncompressed tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The blob in the store (OCI media type).
    pub desc: Descriptor,
    /// `sha256:…` of the uncompressed tar.
    pub diff_id: String,
}

/// A stage being built.
#[derive(Debug, Clone)]
pub struct Stage {
    /// `AS name`, lower-cased (docker matches stage names case-insensitively).
    pub name: Option<String>,
    /// The image config's `config` object.
    pub config: Map<String, Value>,
    /// The image config's `author` (MAINTAINER).
    pub author: Option<String>,
    /// Layers, base first.
    pub layers: Vec<Layer>,
    /// History entries, base image's first.
    pub history: Vec<Value>,
    /// ARGs and ENV as instructions see them.
    pub vars: StageVars,
    /// SHELL (`["/bin/sh", "-c"]` unless the base or SHELL set another).
    pub shell: Vec<String>,
    /// Whether CMD was set in this stage (docker: ENTRYPOINT clears only an inherited CMD).
    pub cmd_set: bool,
    /// Cache key of the stage so far (hex).
    pub key: String,
}

/// The default SHELL.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// `sha256` hex of `text`.
pub fn hash_hex(text: &str) -> String {
    Digest::of_bytes(Algorithm::Sha256, text.as_bytes())
        .hex()
        .to_string()
}

/// `KEY=VALUE` entries as a map (later entries win).
pub fn env_map(env: &[String]) -> BTreeMap<String, String> {
    env.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

impl Stage {
    /// An empty stage (`FROM scratch`). Its Env starts with the default PATH, as buildkit and
    /// buildah write it.
    pub fn scratch(name: Option<String>) -> Stage {
        let path = crate::bundle::spec::DEFAULT_PATH;
        let mut config = Map::new();
        config.insert("Env".into(), Value::from(vec![path.to_string()]));
        let (k, v) = path.split_once('=').unwrap_or(("PATH", ""));
        let env = BTreeMap::from([(k.to_string(), v.to_string())]);
        Stage {
            name,
            config,
            author: None,
            layers: Vec::new(),
            history: Vec::new(),
            vars: StageVars::new(env),
            shell: default_shell(),
            cmd_set: false,
            key: hash_hex("FROM scratch"),
        }
    }

    /// A stage continuing an earlier one (`FROM earlier-stage`): its config, layers and history,
    /// and its ENV as variables; ARGs are not inherited.
    pub fn from_stage(name: Option<String>, earlier: &Stage) -> Stage {
        let mut s = earlier.clone();
        s.name = name;
        s.cmd_set = false;
        s.vars = StageVars::new(env_map(&s.env()));
        s.key = hash_hex(&format!("FROM stage {}", earlier.key));
        s
    }

    /// A stage from an image in the store (`pull` it first when it is missing).
    pub fn from_image(
        name: Option<String>,
        store: &Store,
        image: &str,
        pull: impl FnOnce(&str) -> Result<()>,
    ) -> Result<Stage> {
        let r = Reference::parse(image).with_context(|| format!("FROM {image}"))?;
        let named = match store.resolve(&r) {
            Ok(n) => n,
            Err(StoreError::NotFound(_)) => {
                pull(image)?;
                store.resolve(&r)?
            }
            Err(e) => return Err(e.into()),
        };
        let stored = store.open_image(&named)?;
        let config = store.image_config(&stored)?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != stored.manifest.layers.len() {
            bail!(
                "FROM {image}: the config lists {} diff_ids for {} layers",
                diff_ids.len(),
                stored.manifest.layers.len()
            );
        }
        let mut layers = Vec::with_capacity(diff_ids.len());
        for (desc, diff_id) in stored.manifest.layers.iter().zip(diff_ids) {
            let mut desc = desc.clone();
            desc.media_type = match desc.media_type.as_str() {
                DOCKER_LAYER_GZIP => LAYER_GZIP.to_string(),
                DOCKER_LAYER_TAR => "application/vnd.oci.image.layer.v1.tar".to_string(),
                other => other.to_string(),
            };
            desc.annotations.clear();
            desc.platform = None;
            desc.urls.clear();
            layers.push(Layer { desc, diff_id });
        }
        let mut cfg = match config.get("config") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        // Build-host facts of whoever made the base have no place in ours.
        for k in ["Hostname", "Domainname", "Image", "ContainerConfig"] {
            cfg.remove(k);
        }
        let shell = cfg
            .get("Shell")
            .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_shell);
        let history = config["history"].as_array().cloned().unwrap_or_default();
        let mut s = Stage {
            name,
            config: cfg,
            author: config["author"].as_str().map(str::to_string),
            layers,
            history,
            vars: StageVars::new(BTreeMap::new()),
            shell,
            cmd_set: false,
            key: hash_hex(&format!("FROM {}", stored.manifest_desc.digest)),
        };
        s.vars = StageVars::new(env_map(&s.env()));
        Ok(s)
    }

    /// The config's Env.
    pub fn env(&self) -> Vec<String> {
        self.config
            .get("Env")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default()
    }

    /// Set `KEY=VALUE` in the config's Env (replacing the same key) and in the variables.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
        self.config.insert("Env".into(), Value::from(env));
        self.vars.set_env(key, value.to_string());
    }

    /// The config's WorkingDir ("/" when unset).
    pub fn workdir(&self) -> String {
        self.config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    /// The config's User ("" = root).
    pub fn user(&self) -> String {
        self.config
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }

    /// The layer descriptors, base first.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        self.layers.iter().map(|l| l.desc.clone()).collect()
    }

    /// Chain the cache key with one more step's description.
    pub fn advance_key(&mut self, step: &str) {
        self.key = hash_hex(&format!("{}\n{step}", self.key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_replaced_by_key_and_keys_chain() {
        let mut s = Stage::scratch(None);
        s.set_env("A", "1");
        s.set_env("B", "2");
        s.set_env("A", "3");
        assert_eq!(s.env()[1..], ["A=3", "B=2"]);
        assert!(s.env()[0].starts_with("PATH=/usr/local/sbin:"));
        assert_eq!(s.vars.get("A").as_deref(), Some("3"));
        let k0 = s.key.clone();
        s.advance_key("ENV A=3");
        let k1 = s.key.clone();
        let mut t = Stage::scratch(None);
        t.advance_key("ENV A=3");
        assert_eq!(t.key, k1);
        assert_ne!(k0, k1);
        t.advance_key("x");
        assert_ne!(t.key, k1);
        assert_eq!(s.workdir(), "/");
        let derived = Stage::from_stage(Some("b".into()), &s);
        assert_eq!(derived.vars.get("B").as_deref(), Some("2"));
        assert_ne!(derived.key, s.key);
    }
}
