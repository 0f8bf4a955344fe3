//! `dock inspect`: docker-shaped JSON for containers (Id, Created, Path, Args, State, Image,
//! Name, HostConfig, Mounts, Config, LogPath, ...) and images (Id, RepoTags, RepoDigests,
//! Created, Architecture, Os, Config, RootFS, Size).

use crate::containers::meta::{Meta, State};
use crate::containers::{Containers, CONFIG, LOG};
use crate::reference::Reference;
use crate::store::images::StoredImage;
use serde_json::{json, Value};

/// A container's inspect object; `config` is its bundle's config.json (for the resources).
pub fn container(c: &Containers, m: &Meta, config: &Value) -> Value {
    let dir = c.dir(&m.id);
    let state = m.live_state();
    let resources = &config["linux"]["resources"];
    let env = config["process"]["env"].clone();
    let user = &config["process"]["user"];
    let mounts: Vec<Value> = m
        .volumes
        .iter()
        .map(|v| {
            json!({"Type": "bind", "Source": v.source, "Destination": v.destination,
                   "Mode": if v.read_only { "ro" } else { "" }, "RW": !v.read_only,
                   "Propagation": "rprivate"})
        })
        .collect();
    let binds: Vec<String> = m
        .volumes
        .iter()
        .map(|v| {
            format!(
                "{}:{}{}",
                v.source.display(),
                v.destination,
                if v.read_only { ":ro" } else { "" }
            )
        })
        .collect();
    let nano_cpus = resources["cpu"]["quota"]
        .as_i64()
        .map(|q| q * 1_000_000_000 / crate::bundle::flags::CPU_PERIOD as i64)
        .unwrap_or(0);
    json!({
        "Id": m.id,
        "Created": m.created,
        "Path": m.command.first(),
        "Args": m.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": state.as_str(),
            "Running": state == State::Running,
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": if state == State::Running { m.pid.unwrap_or(0) } else { 0 },
            "ExitCode": m.exit_code.unwrap_or(0),
            "Error": m.error.clone().unwrap_or_default(),
            "StartedAt": m.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": m.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": m.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": dir.join(LOG),
        "Name": format!("/{}", m.name),
        "RestartCount": 0,
        "Driver": "dock",
        "Platform": "linux",
        "HostConfig": {
            "Binds": binds,
            "NetworkMode": m.network,
            "AutoRemove": m.auto_remove,
            "Runtime": m.runtime,
            "Memory": resources["memory"]["limit"].as_i64().unwrap_or(0),
            "MemorySwap": resources["memory"]["swap"].as_i64().unwrap_or(0),
            "NanoCpus": nano_cpus,
            "CpuQuota": resources["cpu"]["quota"].as_i64().unwrap_or(0),
            "CpuPeriod": resources["cpu"]["period"].as_i64().unwrap_or(0),
            "PidsLimit": resources["pids"]["limit"].as_i64(),
            "CapAdd": null,
            "CapDrop": null,
            "Privileged": false,
            "ReadonlyRootfs": false,
        },
        "GraphDriver": {"Name": "dock", "Data": {"MergedDir": config["root"]["path"]}},
        "Mounts": mounts,
        "Config": {
            "Hostname": config["hostname"],
            "User": match (user["uid"].as_u64(), user["gid"].as_u64()) {
                (Some(0), Some(0)) | (None, _) => String::new(),
                (Some(u), Some(g)) => format!("{u}:{g}"),
                (Some(u), None) => u.to_string(),
            },
            "Tty": m.tty,
            "OpenStdin": m.interactive,
            "Env": env,
            "Cmd": m.cmd,
            "Entrypoint": if m.entrypoint.is_empty() { Value::Null } else { json!(m.entrypoint) },
            "Image": m.image,
            "WorkingDir": config["process"]["cwd"],
            "Labels": m.labels,
            "StopSignal": m.stop_signal,
        },
        "BundlePath": dir,
        "BundleConfig": dir.join(CONFIG),
    })
}

/// An image's inspect object.
pub fn image(img: &StoredImage, names: &[String], config: &Value) -> Value {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for n in names {
        if let Ok(r) = Reference::parse(n) {
            let repo = r.familiar_repository();
            if let Some(t) = &r.tag {
                tags.push(format!("{repo}:{t}"));
            }
            digests.push(format!("{repo}@{}", img.manifest_desc.digest));
        }
    }
    digests.sort();
    digests.dedup();
    json!({
        "Id": img.manifest.config.digest.to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Created": config["created"],
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Config": config["config"],
        "RootFS": config["rootfs"],
        "Size": img.size(),
        "Manifest": {
            "MediaType": img.manifest_desc.media_type,
            "Digest": img.manifest_desc.digest.to_string(),
        },
    })
}
