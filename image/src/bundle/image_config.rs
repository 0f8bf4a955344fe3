//! The parts of an image config (`config` in the OCI image config JSON, or docker's
//! `container_config`-free equivalent) that decide how a container runs.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What the image says about running it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDefaults {
    /// `KEY=VALUE` entries.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Default command.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Fixed prefix of the command.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user[:group]`.
    #[serde(default)]
    pub user: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal to stop it with.
    #[serde(default)]
    pub stop_signal: Option<String>,
}

impl ImageDefaults {
    /// Read them from a whole image config; a config without `config` has no defaults. A field
    /// of the wrong type is an error naming it.
    pub fn from_image_config(config: &serde_json::Value) -> Result<ImageDefaults, String> {
        match config.get("config") {
            None | Some(serde_json::Value::Null) => Ok(ImageDefaults::default()),
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|e| format!("image config field config: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_fields() {
        let d = ImageDefaults::from_image_config(&serde_json::json!({
            "architecture": "amd64",
            "config": {"Env": ["A=1"], "Cmd": ["sh"], "Entrypoint": null, "WorkingDir": "/w",
                       "User": "app", "Labels": {"k": "v"}, "StopSignal": "SIGQUIT",
                       "ExposedPorts": {"80/tcp": {}}}
        }))
        .unwrap();
        assert_eq!(d.env.unwrap(), ["A=1"]);
        assert_eq!(d.entrypoint, None);
        assert_eq!(d.working_dir.as_deref(), Some("/w"));
        assert_eq!(d.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(d.labels.unwrap()["k"], "v");
        assert_eq!(
            ImageDefaults::from_image_config(&serde_json::json!({})).unwrap(),
            ImageDefaults::default()
        );
        let e = ImageDefaults::from_image_config(&serde_json::json!({"config": {"Cmd": "sh"}}))
            .unwrap_err();
        assert!(e.contains("config"), "{e}");
    }
}
