//! `update`: changes a live container's cgroup resources, runc-style. The base is the
//! LinuxResources JSON of `--resources FILE` (or `-` for stdin, as containerd sends it);
//! each flag then overrides its field. Sizes take runc's forms (bytes, or a number with a
//! k/m/g/t/p suffix in powers of 1024, "-1" for unlimited). Nothing is persisted: the
//! cgroup files are the record. As in runc, a zero (or empty cpuset) means "leave as is":
//! dockerd sends `"quota": 0, "period": 0` for a container without CPU limits. Device rules
//! are never changed, as in runc: containerd's CRI plugin sends the container's whole
//! resources, devices included, and there only a bare "deny all".

use crate::error::{Error, Result};
use crate::state::{Root, Status};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::io::Read;

// The per-field flags of `update`; each is the raw text the caller gave. A plain comment,
// not a doc comment: clap takes a flattened struct's doc comment as the command's about
// line, over `update`'s own.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct UpdateFlags {
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation, the soft limit (bytes or with suffix).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory + swap limit (bytes or with suffix; -1 for unlimited swap).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (bytes or with suffix).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (bytes or with suffix).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight); --cpu-shares also accepted.
    #[arg(long = "cpu-share", alias = "cpu-shares", value_name = "N")]
    pub cpu_shares: Option<String>,
    /// CFS quota in microseconds per period (-1 for none).
    #[arg(long, value_name = "USECS", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CFS period in microseconds.
    #[arg(long, value_name = "USECS")]
    pub cpu_period: Option<String>,
    /// Realtime period in microseconds.
    #[arg(long, value_name = "USECS")]
    pub cpu_rt_period: Option<String>,
    /// Realtime runtime in microseconds per period.
    #[arg(long, value_name = "USECS", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs the container may use, e.g. "0-1" or "0,2".
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for no limit; 0 leaves it as is).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, value_name = "N")]
    pub blkio_weight: Option<String>,
}

/// `update [--resources FILE|-] [flags] ID`.
pub fn update(root: &Root, id: &str, resources: Option<&str>, flags: &UpdateFlags) -> Result<()> {
    let st = root.load(id)?;
    if st.status(root) == Status::Stopped {
        return Err(Error::Other(format!("container {id} is not running")));
    }
    let base = match resources {
        None => Value::Object(Map::new()),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io("<stdin>", e))?;
            parse_json(&text, "stdin")?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            parse_json(&text, path)?
        }
    };
    let wanted = merge_flags(base, flags)?;
    let wanted = without_devices(wanted);
    let cg = st
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::Other(format!("container {id} has no cgroup to update")))?;
    cg.update(&wanted)?;
    Ok(())
}

/// `resources` without device rules, which `update` leaves as they are (runc skips them).
fn without_devices(mut resources: LinuxResources) -> LinuxResources {
    resources.set_devices(None);
    resources
}

fn parse_json(text: &str, from: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("--resources {from}: not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::invalid(format!(
            "--resources {from}: expected a LinuxResources JSON object"
        )));
    }
    Ok(value)
}

/// Lays the flags over the JSON `base` and reads the result as LinuxResources.
pub fn merge_flags(mut base: Value, flags: &UpdateFlags) -> Result<LinuxResources> {
    let sizes = [
        ("memory", "limit", &flags.memory),
        ("memory", "reservation", &flags.memory_reservation),
        ("memory", "swap", &flags.memory_swap),
        ("memory", "kernel", &flags.kernel_memory),
        ("memory", "kernelTCP", &flags.kernel_memory_tcp),
    ];
    for (section, field, flag) in sizes {
        if let Some(text) = flag {
            let bytes = parse_size(text).map_err(|why| bad_flag(flag_name(field), text, &why))?;
            set(&mut base, section, field, json!(bytes));
        }
    }
    let unsigned = [
        ("cpu-share", "shares", &flags.cpu_shares),
        ("cpu-period", "period", &flags.cpu_period),
        ("cpu-rt-period", "realtimePeriod", &flags.cpu_rt_period),
    ];
    for (name, field, flag) in unsigned {
        if let Some(text) = flag {
            let v: u64 = text.trim().parse().map_err(|e| bad_flag(name, text, &e))?;
            set(&mut base, "cpu", field, json!(v));
        }
    }
    let signed = [
        ("cpu-quota", "quota", &flags.cpu_quota),
        ("cpu-rt-runtime", "realtimeRuntime", &flags.cpu_rt_runtime),
    ];
    for (name, field, flag) in signed {
        if let Some(text) = flag {
            let v: i64 = text.trim().parse().map_err(|e| bad_flag(name, text, &e))?;
            set(&mut base, "cpu", field, json!(v));
        }
    }
    if let Some(cpus) = &flags.cpuset_cpus {
        set(&mut base, "cpu", "cpus", json!(cpus));
    }
    if let Some(mems) = &flags.cpuset_mems {
        set(&mut base, "cpu", "mems", json!(mems));
    }
    if let Some(text) = &flags.pids_limit {
        let v: i64 = text
            .trim()
            .parse()
            .map_err(|e| bad_flag("pids-limit", text, &e))?;
        set(&mut base, "pids", "limit", json!(v));
    }
    if let Some(text) = &flags.blkio_weight {
        let v: u16 = text
            .trim()
            .parse()
            .map_err(|e| bad_flag("blkio-weight", text, &e))?;
        if v != 0 && !(10..=1000).contains(&v) {
            return Err(bad_flag("blkio-weight", text, &"not in 10..1000"));
        }
        set(&mut base, "blockIO", "weight", json!(v));
    }
    drop_unchanged(&mut base);
    serde_json::from_value(base)
        .map_err(|e| Error::invalid(format!("--resources: not LinuxResources JSON: {e}")))
}

/// Fields whose zero (or "") runc's update reads as "unchanged", by section.
const ZERO_IS_UNCHANGED: &[(&str, &[&str])] = &[
    (
        "memory",
        &["limit", "reservation", "swap", "kernel", "kernelTCP"],
    ),
    (
        "cpu",
        &[
            "shares",
            "quota",
            "period",
            "realtimeRuntime",
            "realtimePeriod",
            "cpus",
            "mems",
        ],
    ),
    ("blockIO", &["weight", "leafWeight"]),
];

/// Removes the zero-valued fields of [`ZERO_IS_UNCHANGED`], so they are not written.
fn drop_unchanged(base: &mut Value) {
    for (section, fields) in ZERO_IS_UNCHANGED {
        if let Some(Value::Object(map)) = base.get_mut(*section) {
            map.retain(|k, v| {
                let zero = v.as_i64() == Some(0) || v.as_str() == Some("");
                !(zero && fields.contains(&k.as_str()))
            });
        }
    }
}

fn flag_name(field: &str) -> &'static str {
    match field {
        "limit" => "memory",
        "reservation" => "memory-reservation",
        "swap" => "memory-swap",
        "kernel" => "kernel-memory",
        _ => "kernel-memory-tcp",
    }
}

fn bad_flag(name: &str, text: &str, why: &dyn std::fmt::Display) -> Error {
    Error::invalid(format!("--{name} {text:?}: {why}"))
}

/// Sets `base[section][field]`, making `section` an object when it is not one.
fn set(base: &mut Value, section: &str, field: &str, value: Value) {
    let Value::Object(map) = base else { return };
    let entry = map
        .entry(section.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        inner.insert(field.to_string(), value);
    }
}

/// A size as runc's update takes it: "-1" is unlimited; otherwise a non-negative number
/// (decimals allowed) with an optional k/m/g/t/p unit in powers of 1024, an optional "i"
/// and an optional "b", in any case, e.g. "1024", "64m", "1.5G", "10MiB", "512kb".
pub fn parse_size(text: &str) -> std::result::Result<i64, String> {
    let s = text.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err("expected a size such as 1024, 64m or 1g".into());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 1024, 64m or 1g".to_string())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut rest = unit.as_str();
    let shift = match rest.chars().next() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        rest = &rest[1..];
    }
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(format!("unknown size unit in {text:?}"));
    }
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn device_rules_are_dropped() {
        let base = json!({"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 5}});
        let r = without_devices(merge_flags(base, &UpdateFlags::default()).unwrap());
        assert!(r.devices().is_none());
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(5));
    }

    #[derive(Parser)]
    struct Cli {
        #[arg(short = 'r', long)]
        resources: Option<String>,
        #[command(flatten)]
        flags: UpdateFlags,
        id: String,
    }

    #[test]
    fn sizes_in_runc_forms() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("2 m"), Ok(2 << 20));
        for bad in [
            "",
            "m",
            "-2",
            "1x",
            "1.2.3",
            "abc",
            "1mm",
            "1  m",
            ".5m",
            "99999999p",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn flags_override_json() {
        let cli = Cli::parse_from([
            "update",
            "--resources=/tmp/r.json",
            "--memory",
            "32m",
            "--memory-swap=-1",
            "--cpu-shares",
            "512",
            "--cpu-quota",
            "-1",
            "--pids-limit",
            "7",
            "--cpuset-cpus",
            "0",
            "c1",
        ]);
        assert_eq!(cli.resources.as_deref(), Some("/tmp/r.json"));
        assert_eq!(cli.id, "c1");
        let base = json!({"memory": {"limit": 1, "reservation": 5}, "cpu": {"period": 100000}});
        let r = merge_flags(base, &cli.flags).unwrap();
        let m = r.memory().unwrap();
        assert_eq!(m.limit(), Some(32 << 20));
        assert_eq!(m.reservation(), Some(5));
        assert_eq!(m.swap(), Some(-1));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.quota(), Some(-1));
        assert_eq!(c.period(), Some(100000));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert_eq!(r.pids().unwrap().limit(), 7);
        assert!(r.block_io().is_none());
    }

    #[test]
    fn runc_spelling_and_bad_values() {
        let cli = Cli::parse_from(["update", "--cpu-share", "2", "--blkio-weight", "300", "c"]);
        let r = merge_flags(json!({}), &cli.flags).unwrap();
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(2));
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        let bad = UpdateFlags {
            cpu_period: Some("-5".into()),
            ..Default::default()
        };
        let err = merge_flags(json!({}), &bad).unwrap_err().to_string();
        assert!(err.contains("--cpu-period"), "{err}");
        let bad = UpdateFlags {
            memory: Some("lots".into()),
            ..Default::default()
        };
        let err = merge_flags(json!({}), &bad).unwrap_err().to_string();
        assert!(err.contains("--memory \"lots\""), "{err}");
        let bad = UpdateFlags {
            blkio_weight: Some("5".into()),
            ..Default::default()
        };
        assert!(merge_flags(json!({}), &bad).is_err());
        assert!(merge_flags(json!({"memory": {"limit": "x"}}), &UpdateFlags::default()).is_err());
    }

    #[test]
    fn zeros_leave_values_unchanged() {
        // What dockerd sends for `docker update --memory 64m` on a container without
        // CPU limits.
        let docker = json!({
            "memory": {"limit": 67108864, "reservation": 0, "swap": 0},
            "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": "", "realtimeRuntime": 0},
            "blockIO": {"weight": 0},
            "pids": {"limit": 0}
        });
        let r = merge_flags(docker, &UpdateFlags::default()).unwrap();
        let m = r.memory().unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!((m.reservation(), m.swap()), (None, None));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota(), c.period()), (None, None, None));
        assert_eq!((c.cpus().as_deref(), c.realtime_runtime()), (None, None));
        assert_eq!(r.block_io().as_ref().unwrap().weight(), None);
        // Negative values (unlimited) are kept.
        let r = merge_flags(json!({"cpu": {"quota": -1}}), &UpdateFlags::default()).unwrap();
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(-1));
    }
}
