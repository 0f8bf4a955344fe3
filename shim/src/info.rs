//! `containerd-shim-berth-v2 -info`: containerd (1.7+, and `ctr plugins` / introspection)
//! asks the shim to describe its runtime before any instance exists. We answer a
//! RuntimeInfo protobuf: our runtime name and version, the options we were given back, and
//! berth's runtime-spec features (`berth features`) as the `features` Any.

use crate::options::RuntimeOptions;
use crate::shim_api::pb::{Any, Message, MessageField, RuntimeInfo, RuntimeVersion};
use anyhow::{Context, Result};
use std::io::{IsTerminal, Read, Write};

/// The Any type containerd expects for runtime-spec features.
pub const FEATURES_TYPE: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub fn run(runtime_id: &str) -> Result<()> {
    let mut input = Vec::new();
    if !std::io::stdin().is_terminal() {
        std::io::stdin()
            .lock()
            .take(10 << 20)
            .read_to_end(&mut input)
            .context("-info: read options from stdin")?;
    }
    let options = if input.is_empty() {
        None
    } else {
        Some(Any::parse_from_bytes(&input).context("-info: options on stdin are not an Any")?)
    };
    let runtime = RuntimeOptions::from_any(options.as_ref()).context("-info")?;
    let berth = runtime.berth_binary(std::env::current_exe().ok().as_deref());
    let out = std::process::Command::new(&berth)
        .arg("features")
        .output()
        .with_context(|| format!("-info: run {} features", berth.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "-info: {} features failed: {}",
            berth.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let info = RuntimeInfo {
        name: runtime_id.to_string(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            revision: String::new(),
            ..Default::default()
        }),
        options: options.into(),
        features: MessageField::some(Any {
            type_url: FEATURES_TYPE.to_string(),
            value: out.stdout,
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = info.write_to_bytes().context("-info: encode")?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&bytes).context("-info: write")?;
    stdout.flush().context("-info: write")?;
    Ok(())
}
