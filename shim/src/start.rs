//! The `start` subcommand: containerd runs it in the bundle dir to get a shim address.
//!
//! Two handshakes: the legacy one (containerd 1.x to 2.2: `-namespace -id -address` flags,
//! `TTRPC_ADDRESS` in the environment, maybe runtime options on stdin; the reply is the bare
//! address, which every containerd takes as a task-v2 shim) and containerd 2.3's bootstrap
//! (a `containerd.runtime.bootstrap.v1.BootstrapParams` protobuf on stdin; the reply is a
//! `BootstrapResult` carrying version 2, the address and "ttrpc").
//!
//! One shim per pod: when the bundle's config.json carries the CRI sandbox annotation, the
//! socket is derived from the sandbox id, and a second container of the pod gets the running
//! shim's address. Otherwise a new server is spawned (this binary, no action) in its own
//! process group; its stdout closes once it listens, then the `address` file is written.

use crate::options::protobuf_wire_type;
use crate::shim_api::pb::{CodedInputStream, CodedOutputStream};
use crate::shim_api::{socket_address, write_address, Flags};
use anyhow::{anyhow, Context, Result};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// containerd's cap on the bootstrap payload.
const MAX_INPUT: u64 = 10 << 20;
/// The task API version we serve.
pub const TASK_API_VERSION: i32 = 2;
/// The annotation CRI puts on every container of a pod (the sandbox's own id on the sandbox).
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// What containerd told `start`.
#[derive(Debug, Default, PartialEq)]
pub struct StartParams {
    pub instance_id: String,
    pub namespace: String,
    pub ttrpc_address: String,
    pub grpc_address: String,
    pub containerd_binary: String,
    pub debug: bool,
    /// Whether containerd spoke the 2.3 bootstrap protocol (and wants a BootstrapResult).
    pub bootstrap: bool,
}

/// Runs `start` and prints the reply.
pub fn run(flags: &Flags) -> Result<()> {
    let input = read_stdin()?;
    let params = parse(&input, flags)?;
    if params.ttrpc_address.is_empty() {
        return Err(anyhow!(
            "start: no containerd TTRPC address (TTRPC_ADDRESS or bootstrap params)"
        ));
    }
    let grouping = grouping_id(&params.instance_id);
    let address = socket_address(&params.grpc_address, &params.namespace, &grouping);
    let path = address.trim_start_matches("unix://").to_string();
    if !serving(&path) {
        let _ = std::fs::remove_file(&path);
        spawn_server(&params, &address)?;
    }
    write_address(&address).map_err(|e| anyhow!("start: write address file: {e}"))?;
    let reply = if params.bootstrap {
        encode_result(&address)
    } else {
        address.into_bytes()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&reply).context("start: write reply")?;
    out.flush().context("start: write reply")?;
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(Vec::new());
    }
    let mut input = Vec::new();
    stdin
        .lock()
        .take(MAX_INPUT)
        .read_to_end(&mut input)
        .context("start: read stdin")?;
    Ok(input)
}

/// Bootstrap params when stdin holds them for this instance, else the legacy flags.
pub fn parse(input: &[u8], flags: &Flags) -> Result<StartParams> {
    if let Some((mut params, more_than_identity)) = decode_bootstrap(input) {
        if params.instance_id == flags.id && params.namespace == flags.namespace {
            params.bootstrap = true;
            params.debug = flags.debug;
            return Ok(params);
        }
        // Runtime options (an Any: type_url, value) decode as fields 1 and 2 alone.
        if more_than_identity {
            return Err(anyhow!(
                "start: bootstrap params for {}/{} do not match -namespace {} -id {}",
                params.namespace,
                params.instance_id,
                flags.namespace,
                flags.id
            ));
        }
    }
    let grpc = if flags.address.is_empty() {
        std::env::var("GRPC_ADDRESS").unwrap_or_default()
    } else {
        flags.address.clone()
    };
    Ok(StartParams {
        instance_id: flags.id.clone(),
        namespace: flags.namespace.clone(),
        ttrpc_address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
        grpc_address: grpc,
        containerd_binary: flags.publish_binary.clone(),
        debug: flags.debug,
        bootstrap: false,
    })
}

/// The string fields of BootstrapParams we use (1, 2, 5, 6, 7), and whether any field
/// beyond 1 and 2 was present; None when `input` is not such a protobuf message.
fn decode_bootstrap(input: &[u8]) -> Option<(StartParams, bool)> {
    if input.is_empty() {
        return None;
    }
    let mut params = StartParams::default();
    let mut more = false;
    let mut stream = CodedInputStream::from_bytes(input);
    while let Some(tag) = stream.read_raw_tag_or_eof().ok()? {
        let (field, wire) = (tag >> 3, tag & 7);
        let slot = match (field, wire) {
            (1, 2) => Some(&mut params.instance_id),
            (2, 2) => Some(&mut params.namespace),
            (5, 2) => Some(&mut params.ttrpc_address),
            (6, 2) => Some(&mut params.grpc_address),
            (7, 2) => Some(&mut params.containerd_binary),
            _ => None,
        };
        if field > 2 {
            more = true;
        }
        match slot {
            Some(slot) => *slot = stream.read_string().ok()?,
            None => stream.skip_field(protobuf_wire_type(wire).ok()?).ok()?,
        }
    }
    Some((params, more))
}

/// BootstrapResult { version: 2, address, protocol: "ttrpc" }.
fn encode_result(address: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        let _ = stream.write_int32(1, TASK_API_VERSION);
        let _ = stream.write_string(2, address);
        let _ = stream.write_string(3, "ttrpc");
        let _ = stream.flush();
    }
    out
}

/// The id the shim socket is derived from: the pod's sandbox id when CRI set it.
fn grouping_id(id: &str) -> String {
    let Ok(text) = std::fs::read_to_string("config.json") else {
        return id.to_string();
    };
    let Ok(spec) = serde_json::from_str::<serde_json::Value>(&text) else {
        return id.to_string();
    };
    spec.pointer("/annotations")
        .and_then(|a| a.get(SANDBOX_ID_ANNOTATION))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string())
}

/// Whether a shim already answers on `path`.
fn serving(path: &str) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

fn spawn_server(params: &StartParams, address: &str) -> Result<()> {
    let exe = std::env::current_exe().context("start: locate own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "-namespace",
        &params.namespace,
        "-id",
        &params.instance_id,
        "-address",
        &params.grpc_address,
        "-socket",
        address,
    ]);
    if !params.containerd_binary.is_empty() {
        cmd.args(["-publish-binary", &params.containerd_binary]);
    }
    if params.debug {
        cmd.arg("-debug");
    }
    cmd.env("TTRPC_ADDRESS", &params.ttrpc_address)
        .env("GRPC_ADDRESS", &params.grpc_address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().context("start: spawn shim server")?;
    // The server points its stdout elsewhere once it listens: end-of-file means ready.
    if let Some(mut out) = child.stdout.take() {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    }
    if let Ok(Some(status)) = child.try_wait() {
        if !status.success() {
            return Err(anyhow!("start: shim server exited at once ({status})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(id: &str, ns: &str) -> Flags {
        Flags {
            id: id.into(),
            namespace: ns.into(),
            address: "/c.sock".into(),
            ..Default::default()
        }
    }

    fn bootstrap_bytes() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut s = CodedOutputStream::vec(&mut out);
            s.write_string(1, "c1").unwrap();
            s.write_string(2, "ns").unwrap();
            s.write_int32(3, -4).unwrap();
            s.write_string(4, "v2.3.0").unwrap();
            s.write_string(5, "/run/c.sock.ttrpc").unwrap();
            s.write_string(6, "/run/c.sock").unwrap();
            s.flush().unwrap();
        }
        out
    }

    #[test]
    fn bootstrap_params_are_recognised() {
        let p = parse(&bootstrap_bytes(), &flags("c1", "ns")).unwrap();
        assert!(p.bootstrap);
        assert_eq!(p.ttrpc_address, "/run/c.sock.ttrpc");
        assert_eq!(p.grpc_address, "/run/c.sock");
    }

    #[test]
    fn bootstrap_for_another_instance_is_an_error() {
        let e = parse(&bootstrap_bytes(), &flags("c2", "ns")).unwrap_err();
        assert!(e.to_string().contains("do not match"), "{e}");
    }

    #[test]
    fn runtime_options_any_means_legacy() {
        let mut any = Vec::new();
        {
            let mut s = CodedOutputStream::vec(&mut any);
            s.write_string(1, "containerd.runc.v1.Options").unwrap();
            s.write_bytes(2, b"\x0a\x01x").unwrap();
            s.flush().unwrap();
        }
        let p = parse(&any, &flags("c1", "ns")).unwrap();
        assert!(!p.bootstrap);
        assert_eq!(p.grpc_address, "/c.sock");
        let empty = parse(b"", &flags("c1", "ns")).unwrap();
        assert!(!empty.bootstrap);
    }

    #[test]
    fn result_encodes_version_two() {
        let bytes = encode_result("unix:///x");
        let mut s = CodedInputStream::from_bytes(&bytes);
        assert_eq!(s.read_raw_tag_or_eof().unwrap(), Some(1 << 3));
        assert_eq!(s.read_int32().unwrap(), 2);
        assert_eq!(s.read_raw_tag_or_eof().unwrap(), Some(2 << 3 | 2));
        assert_eq!(s.read_string().unwrap(), "unix:///x");
    }
}
