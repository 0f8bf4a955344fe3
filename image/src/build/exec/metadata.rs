//! Instructions that only change the image config (ENV, LABEL, ARG, USER, CMD, ENTRYPOINT,
//! EXPOSE, VOLUME, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), written as docker
//! writes them, and the history `created_by` text of every instruction.
//!
//! `created_by` follows buildkit's style (the instruction as expanded, `RUN` with the shell
//! prefix and, when build args are in scope, buildkit's `|N K=V` marker) without buildkit's
//! trailing `# buildkit` comment: `ENV A=1`, `CMD ["sh","-c","x"]`,
//! `RUN |1 V=2 /bin/sh -c make`, `COPY src /dst`, `WORKDIR /app`.

use super::stage::Stage;
use anyhow::{anyhow, bail, Result};
use dock::build::dockerfile::{Healthcheck, InstructionKind, ShellOrExec};
use dock::build::expand::{expand_word, BuildArgs};
use serde_json::{json, Map, Value};

/// Expand one word with the stage's variables (quotes removed).
pub fn expand(stage: &Stage, word: &str, escape: char) -> Result<String> {
    let vars = &stage.vars;
    expand_word(word, escape, &|n: &str| vars.get(n)).map_err(|e| anyhow!("{e}"))
}

/// A JSON array as docker prints argv in history: `["a","b"]`.
pub fn json_argv(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The argv of CMD / ENTRYPOINT / RUN: shell form through the stage's SHELL.
pub fn argv(stage: &Stage, c: &ShellOrExec) -> Vec<String> {
    match c {
        ShellOrExec::Exec(v) => v.clone(),
        ShellOrExec::Shell(s) => {
            let mut v = stage.shell.clone();
            v.push(s.clone());
            v
        }
    }
}

fn map_of<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// `EXPOSE` values as docker stores them: `80` → `80/tcp`, protocols lower-cased, ranges
/// (`8000-8002/udp`) expanded.
pub fn exposed_ports(value: &str) -> Result<Vec<String>> {
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        bail!("EXPOSE {value}: the protocol must be tcp, udp or sctp");
    }
    let bad = || anyhow!("EXPOSE {value}: not a port or port range");
    let (lo, hi) = match port.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = port.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as docker stores healthcheck times.
fn duration_ns(flag: &str, v: &str) -> Result<u64> {
    let d = humantime::parse_duration(v)
        .map_err(|e| anyhow!("HEALTHCHECK --{flag}={v}: not a duration ({e})"))?;
    Ok(d.as_nanos() as u64)
}

fn healthcheck(stage: &Stage, h: &Healthcheck) -> Result<(Value, String)> {
    match h {
        Healthcheck::None => Ok((json!({"Test": ["NONE"]}), "HEALTHCHECK NONE".into())),
        Healthcheck::Cmd { options, command } => {
            let (test, text) = match command {
                ShellOrExec::Shell(s) => (vec!["CMD-SHELL".to_string(), s.clone()], s.clone()),
                ShellOrExec::Exec(v) => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(v.iter().cloned());
                    (t, json_argv(v))
                }
            };
            let _ = stage;
            let mut hc = Map::new();
            hc.insert("Test".into(), json!(test));
            let mut flags = String::new();
            for (name, value) in options {
                let key = match name.as_str() {
                    "interval" => "Interval",
                    "timeout" => "Timeout",
                    "start-period" => "StartPeriod",
                    "start-interval" => "StartInterval",
                    "retries" => {
                        let n: u64 = value.parse().map_err(|_| {
                            anyhow!("HEALTHCHECK --retries={value}: not a whole number")
                        })?;
                        hc.insert("Retries".into(), json!(n));
                        flags.push_str(&format!("--{name}={value} "));
                        continue;
                    }
                    other => bail!("HEALTHCHECK: unknown flag --{other}"),
                };
                hc.insert(key.into(), json!(duration_ns(name, value)?));
                flags.push_str(&format!("--{name}={value} "));
            }
            Ok((Value::Object(hc), format!("HEALTHCHECK {flags}CMD {text}")))
        }
    }
}

/// Apply a metadata-only instruction to the stage; returns its `created_by`. `None` when the
/// instruction is not metadata-only (FROM, RUN, COPY, ADD, WORKDIR).
pub fn apply(
    stage: &mut Stage,
    kind: &InstructionKind,
    escape: char,
    build_args: &mut BuildArgs,
) -> Result<Option<String>> {
    let created_by = match kind {
        InstructionKind::Arg(args) => {
            let mut parts = Vec::new();
            for (name, default) in args {
                let default = match default {
                    Some(d) => Some(expand(stage, d, escape)?),
                    None => None,
                };
                stage.vars.declare_arg(build_args, name, default.clone());
                parts.push(match default {
                    Some(d) => format!("{name}={d}"),
                    None => name.clone(),
                });
            }
            format!("ARG {}", parts.join(" "))
        }
        InstructionKind::Env(pairs) => {
            // Every pair sees the variables as they were before the instruction.
            let mut set = Vec::new();
            for kv in pairs {
                set.push((kv.key.clone(), expand(stage, &kv.value, escape)?));
            }
            let mut parts = Vec::new();
            for (k, v) in set {
                stage.set_env(&k, &v);
                parts.push(format!("{k}={v}"));
            }
            format!("ENV {}", parts.join(" "))
        }
        InstructionKind::Label(pairs) => {
            let mut set = Vec::new();
            for kv in pairs {
                set.push((
                    expand(stage, &kv.key, escape)?,
                    expand(stage, &kv.value, escape)?,
                ));
            }
            let mut parts = Vec::new();
            let labels = map_of(&mut stage.config, "Labels");
            for (k, v) in set {
                parts.push(format!("{k}={v}"));
                labels.insert(k, Value::from(v));
            }
            format!("LABEL {}", parts.join(" "))
        }
        InstructionKind::User(u) => {
            let u = expand(stage, u, escape)?;
            if u.is_empty() {
                bail!("USER needs a user");
            }
            stage.config.insert("User".into(), Value::from(u.clone()));
            format!("USER {u}")
        }
        InstructionKind::Cmd(c) => {
            let v = argv(stage, c);
            stage.config.insert("Cmd".into(), json!(v));
            stage.cmd_set = true;
            format!("CMD {}", json_argv(&v))
        }
        InstructionKind::Entrypoint(c) => {
            let v = argv(stage, c);
            stage.config.insert("Entrypoint".into(), json!(v));
            if !stage.cmd_set {
                // docker: an ENTRYPOINT resets the CMD inherited from the base.
                stage.config.remove("Cmd");
            }
            format!("ENTRYPOINT {}", json_argv(&v))
        }
        InstructionKind::Expose(ports) => {
            let mut all = Vec::new();
            for p in ports {
                all.extend(exposed_ports(&expand(stage, p, escape)?)?);
            }
            let exposed = map_of(&mut stage.config, "ExposedPorts");
            for p in &all {
                exposed.insert(p.clone(), json!({}));
            }
            format!("EXPOSE {}", all.join(" "))
        }
        InstructionKind::Volume(paths) => {
            let mut all = Vec::new();
            for p in paths {
                all.push(expand(stage, p, escape)?);
            }
            let vols = map_of(&mut stage.config, "Volumes");
            for p in &all {
                vols.insert(p.clone(), json!({}));
            }
            format!("VOLUME {}", json_argv(&all))
        }
        InstructionKind::Shell(v) => {
            stage.shell = v.clone();
            stage.config.insert("Shell".into(), json!(v));
            format!("SHELL {}", json_argv(v))
        }
        InstructionKind::StopSignal(s) => {
            let s = expand(stage, s, escape)?;
            if crate::signals::parse(&s).is_none() {
                bail!("STOPSIGNAL {s}: not a signal name or number");
            }
            stage
                .config
                .insert("StopSignal".into(), Value::from(s.clone()));
            format!("STOPSIGNAL {s}")
        }
        InstructionKind::Healthcheck(h) => {
            let (value, text) = healthcheck(stage, h)?;
            stage.config.insert("Healthcheck".into(), value);
            text
        }
        InstructionKind::Onbuild { text, .. } => {
            let list = stage
                .config
                .entry("OnBuild".to_string())
                .or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(a) = list {
                a.push(Value::from(text.clone()));
            }
            format!("ONBUILD {text}")
        }
        InstructionKind::Maintainer(m) => {
            stage.author = Some(m.clone());
            format!("MAINTAINER {m}")
        }
        _ => return Ok(None),
    };
    Ok(Some(created_by))
}

/// WORKDIR's new value: relative paths join the current one, as docker does.
pub fn workdir(stage: &Stage, value: &str, escape: char) -> Result<String> {
    let w = expand(stage, value, escape)?;
    if w.is_empty() {
        bail!("WORKDIR needs a path");
    }
    let joined = if w.starts_with('/') {
        w
    } else {
        format!("{}/{w}", stage.workdir().trim_end_matches('/'))
    };
    // Clean like Go's filepath.Clean (docker stores the cleaned path).
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dock::build::dockerfile::parse;

    fn apply_all(stage: &mut Stage, text: &str) -> Vec<String> {
        let f = parse(text, "Dockerfile").unwrap();
        let mut args = BuildArgs::default();
        f.instructions
            .iter()
            .map(|i| apply(stage, &i.kind, '\\', &mut args).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn config_fields_as_docker_writes_them() {
        let mut s = Stage::scratch(None);
        s.config.insert("Cmd".into(), json!(["base"]));
        let h = apply_all(
            &mut s,
            "ENV A=1 B=\"two words\"\nENV C=$A\nLABEL \"k\"=v x=$B\nUSER app:app\nEXPOSE 80 53/UDP 8000-8001\nVOLUME /data\nVOLUME [\"/a\", \"/b\"]\nSTOPSIGNAL SIGQUIT\nENTRYPOINT [\"/ep\"]\nHEALTHCHECK --interval=30s --retries=3 CMD true\nONBUILD RUN make\nMAINTAINER me\n",
        );
        assert_eq!(s.env()[1..], ["A=1", "B=two words", "C=1"]);
        assert_eq!(s.config["Labels"], json!({"k": "v", "x": "two words"}));
        assert_eq!(s.config["User"], "app:app");
        assert_eq!(
            s.config["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(
            s.config["Volumes"],
            json!({"/data": {}, "/a": {}, "/b": {}})
        );
        assert_eq!(s.config["StopSignal"], "SIGQUIT");
        assert_eq!(s.config["Entrypoint"], json!(["/ep"]));
        assert!(
            s.config.get("Cmd").is_none(),
            "ENTRYPOINT resets the base CMD"
        );
        assert_eq!(
            s.config["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000u64, "Retries": 3})
        );
        assert_eq!(s.config["OnBuild"], json!(["RUN make"]));
        assert_eq!(s.author.as_deref(), Some("me"));
        assert_eq!(h[0], "ENV A=1 B=two words");
        assert_eq!(h[8], "ENTRYPOINT [\"/ep\"]");
    }

    #[test]
    fn cmd_set_in_the_stage_survives_entrypoint_and_shell_form_uses_shell() {
        let mut s = Stage::scratch(None);
        let h = apply_all(
            &mut s,
            "SHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\nENTRYPOINT [\"/ep\"]\n",
        );
        assert_eq!(s.config["Cmd"], json!(["/bin/bash", "-c", "echo hi"]));
        assert_eq!(s.config["Shell"], json!(["/bin/bash", "-c"]));
        assert_eq!(h[1], "CMD [\"/bin/bash\",\"-c\",\"echo hi\"]");
    }

    #[test]
    fn workdir_joins_and_cleans() {
        let mut s = Stage::scratch(None);
        assert_eq!(workdir(&s, "app", '\\').unwrap(), "/app");
        s.config.insert("WorkingDir".into(), json!("/srv"));
        assert_eq!(workdir(&s, "a/../b/./c/", '\\').unwrap(), "/srv/b/c");
        assert_eq!(workdir(&s, "/x", '\\').unwrap(), "/x");
    }

    #[test]
    fn bad_values_are_named() {
        assert!(exposed_ports("http")
            .unwrap_err()
            .to_string()
            .contains("EXPOSE http"));
        assert!(exposed_ports("80/foo").is_err());
        let mut s = Stage::scratch(None);
        let f = parse("STOPSIGNAL NOPE\n", "D").unwrap();
        let e = apply(
            &mut s,
            &f.instructions[0].kind,
            '\\',
            &mut BuildArgs::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("STOPSIGNAL NOPE"), "{e}");
    }
}
