//! The shim's runtime options: which berth binary to run, its `--root`, and the systemd
//! cgroup flag. They arrive in CreateTaskRequest.options as either runc's options type
//! (`containerd.runc.v1.Options`: what `ctr run --runc-binary/--runc-root` and CRI's runc-style
//! `options` table send, so `BinaryName` and `Root` work as for the runc shim) or
//! `runtimeoptions.v1.Options`, whose `ConfigPath` names a small TOML file with the same keys
//! (what `ctr run --runtime-config-path` and CRI send for other runtime types).
//!
//! Where berth is found: `BinaryName` (a path, or a name looked up in PATH), else `berth`
//! next to the shim binary, else `berth` in PATH.

use crate::shim_api::api::RuncOptions;
use crate::shim_api::pb::{Any, CodedInputStream, Message};
use std::path::{Path, PathBuf};

/// Default `--root` base; the namespace is appended, as the runc shim does.
pub const DEFAULT_ROOT: &str = "/run/containerd/berth";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeOptions {
    pub binary_name: String,
    pub root: String,
    pub systemd_cgroup: bool,
    /// `Driver = "cli"`: every berth call execs the CLI, none goes through berth's library
    /// (berth_lib.rs). Only the TOML form has it; runc's options type has no such field.
    pub cli_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("runtime options: cannot decode {type_url}: {reason}")]
    Decode { type_url: String, reason: String },
    #[error("runtime options: cannot read ConfigPath {path}: {source}")]
    ReadConfig {
        path: String,
        source: std::io::Error,
    },
    #[error("runtime options: {path} line {line}: {reason}")]
    Config {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("runtime options: unsupported type {0} (want containerd.runc.v1.Options or runtimeoptions.v1.Options)")]
    UnknownType(String),
}

impl RuntimeOptions {
    /// Decodes the options Any of a Create request (None or empty: defaults).
    pub fn from_any(any: Option<&Any>) -> Result<Self, OptionsError> {
        let Some(any) = any.filter(|a| !a.type_url.is_empty()) else {
            return Ok(Self::default());
        };
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let decode_err = |e: String| OptionsError::Decode {
            type_url: any.type_url.clone(),
            reason: e,
        };
        match name {
            "containerd.runc.v1.Options" => {
                let o = RuncOptions::parse_from_bytes(&any.value)
                    .map_err(|e| decode_err(e.to_string()))?;
                Ok(Self::from_runc(&o))
            }
            "runtimeoptions.v1.Options" => {
                let config_path = runtimeoptions_config_path(&any.value).map_err(decode_err)?;
                if config_path.is_empty() {
                    return Ok(Self::default());
                }
                let text = std::fs::read_to_string(&config_path).map_err(|source| {
                    OptionsError::ReadConfig {
                        path: config_path.clone(),
                        source,
                    }
                })?;
                Self::from_toml(&config_path, &text)
            }
            other => Err(OptionsError::UnknownType(other.to_string())),
        }
    }

    pub fn from_runc(o: &RuncOptions) -> Self {
        RuntimeOptions {
            binary_name: o.binary_name.clone(),
            root: o.root.clone(),
            systemd_cgroup: o.systemd_cgroup,
            cli_only: false,
        }
    }

    pub fn to_runc(&self) -> RuncOptions {
        RuncOptions {
            binary_name: self.binary_name.clone(),
            root: self.root.clone(),
            systemd_cgroup: self.systemd_cgroup,
            ..Default::default()
        }
    }

    /// Top-level `Key = value` lines of a TOML file: BinaryName, Root (strings),
    /// SystemdCgroup (bool). Comments, blank lines and table headers are skipped; other
    /// keys are errors naming the line.
    pub fn from_toml(path: &str, text: &str) -> Result<Self, OptionsError> {
        let mut o = RuntimeOptions::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('[') {
                continue;
            }
            let err = |reason: String| OptionsError::Config {
                path: path.to_string(),
                line: i + 1,
                reason,
            };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("expected `Key = value`, got `{line}`")))?;
            let (key, value) = (key.trim(), value.trim());
            let string = || {
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
                    .ok_or_else(|| err(format!("{key} must be a quoted string")))
            };
            match key {
                "BinaryName" | "binary_name" => o.binary_name = string()?,
                "Root" | "root" => o.root = string()?,
                "SystemdCgroup" | "systemd_cgroup" => {
                    o.systemd_cgroup = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err(format!("{key} must be true or false"))),
                    }
                }
                "Driver" | "driver" => {
                    o.cli_only = match string()?.as_str() {
                        "cli" => true,
                        "library" => false,
                        other => {
                            return Err(err(format!(
                                "{key} must be \"library\" or \"cli\", got \"{other}\""
                            )))
                        }
                    }
                }
                _ => return Err(err(format!("unknown key {key}"))),
            }
        }
        Ok(o)
    }

    /// berth's `--root` for `namespace`.
    pub fn root_for(&self, namespace: &str) -> PathBuf {
        let base = if self.root.is_empty() {
            DEFAULT_ROOT
        } else {
            &self.root
        };
        Path::new(base).join(namespace)
    }

    /// The berth binary: BinaryName, else `berth` beside `shim_exe`, else `berth` from PATH.
    pub fn berth_binary(&self, shim_exe: Option<&Path>) -> PathBuf {
        if !self.binary_name.is_empty() {
            let name = Path::new(&self.binary_name);
            if name.is_absolute() {
                return name.to_path_buf();
            }
            return find_in_path(&self.binary_name).unwrap_or_else(|| name.to_path_buf());
        }
        if let Some(beside) = shim_exe
            .and_then(Path::parent)
            .map(|dir| dir.join("berth"))
            .filter(|p| p.is_file())
        {
            return beside;
        }
        find_in_path("berth").unwrap_or_else(|| PathBuf::from("berth"))
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Field 2 (`config_path`) of runtimeoptions.v1.Options.
fn runtimeoptions_config_path(bytes: &[u8]) -> Result<String, String> {
    let mut input = CodedInputStream::from_bytes(bytes);
    let mut config_path = String::new();
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(|e| e.to_string())? {
        let (field, wire) = (tag >> 3, tag & 7);
        if field == 2 && wire == 2 {
            config_path = input.read_string().map_err(|e| e.to_string())?;
        } else {
            let wire_type = protobuf_wire_type(wire)?;
            input.skip_field(wire_type).map_err(|e| e.to_string())?;
        }
    }
    Ok(config_path)
}

pub(crate) fn protobuf_wire_type(
    wire: u32,
) -> Result<containerd_shim_protos::protobuf::rt::WireType, String> {
    containerd_shim_protos::protobuf::rt::WireType::new(wire)
        .ok_or_else(|| format!("bad protobuf wire type {wire}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_and_errors() {
        let o = RuntimeOptions::from_toml(
            "f",
            "# c\n[x]\nBinaryName = \"/usr/bin/berth\"\nRoot = \"/r\"\nSystemdCgroup = true\n",
        )
        .unwrap();
        assert_eq!(o.binary_name, "/usr/bin/berth");
        assert_eq!(o.root, "/r");
        assert!(o.systemd_cgroup);
        let e = RuntimeOptions::from_toml("f", "Nope = 1\n").unwrap_err();
        assert_eq!(e.to_string(), "runtime options: f line 1: unknown key Nope");
        assert!(RuntimeOptions::from_toml("f", "Root = /x\n").is_err());
        let cli = RuntimeOptions::from_toml("f", "Driver = \"cli\"\n").unwrap();
        assert!(cli.cli_only);
        assert!(
            !RuntimeOptions::from_toml("f", "Driver = \"library\"\n")
                .unwrap()
                .cli_only
        );
        let e = RuntimeOptions::from_toml("f", "Driver = \"fast\"\n").unwrap_err();
        assert!(e.to_string().contains("line 1: Driver must be"), "{e}");
    }

    #[test]
    fn runc_options_round_trip_through_any() {
        let o = RuntimeOptions {
            binary_name: "/b".into(),
            root: "/r".into(),
            systemd_cgroup: false,
            cli_only: false,
        };
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.to_runc().write_to_bytes().unwrap(),
            ..Default::default()
        };
        assert_eq!(RuntimeOptions::from_any(Some(&any)).unwrap(), o);
        assert_eq!(
            RuntimeOptions::from_any(None).unwrap(),
            RuntimeOptions::default()
        );
    }

    #[test]
    fn runtimeoptions_config_path_is_field_two() {
        // field 1 "t", field 2 "/p"
        let bytes = [0x0a, 1, b't', 0x12, 2, b'/', b'p'];
        assert_eq!(runtimeoptions_config_path(&bytes).unwrap(), "/p");
    }

    #[test]
    fn root_and_binary_defaults() {
        let o = RuntimeOptions::default();
        assert_eq!(o.root_for("ns"), PathBuf::from("/run/containerd/berth/ns"));
        let abs = RuntimeOptions {
            binary_name: "/opt/berth".into(),
            ..Default::default()
        };
        assert_eq!(abs.berth_binary(None), PathBuf::from("/opt/berth"));
    }
}
