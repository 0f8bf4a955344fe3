//! The values of `dock run`'s resource and volume flags, parsed as docker parses them:
//! `-m 512m` (binary units, `b`/`k`/`m`/`g`/`t`/`p`, optional trailing `b`), `--cpus 1.5`,
//! `-v /host:/ctr[:ro|rw]`. Errors name the flag.

use crate::containers::meta::Volume;
use std::path::PathBuf;

/// A flag value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {flag} {value:?}: {why}")]
pub struct FlagError {
    /// The flag.
    pub flag: &'static str,
    /// What was given.
    pub value: String,
    /// Why it is refused.
    pub why: &'static str,
}

fn err(flag: &'static str, value: &str, why: &'static str) -> FlagError {
    FlagError {
        flag,
        value: value.to_string(),
        why,
    }
}

/// `-m`/`--memory`: bytes. docker's minimum is 6 MiB.
pub fn memory(value: &str) -> Result<i64, FlagError> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').filter(|s| !s.is_empty()).unwrap_or(&v);
    let (num, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        Some('t') => (&v[..v.len() - 1], 1 << 40),
        Some('p') => (&v[..v.len() - 1], 1 << 50),
        _ => (v, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| err("--memory", value, "expected a size like 512m or 1g"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(err("--memory", value, "must be a positive size"));
    }
    let bytes = n * mult as f64;
    if bytes > i64::MAX as f64 {
        return Err(err("--memory", value, "too large"));
    }
    let bytes = bytes as i64;
    if bytes < 6 << 20 {
        return Err(err("--memory", value, "the minimum memory limit is 6m"));
    }
    Ok(bytes)
}

/// The CFS period docker uses with `--cpus`.
pub const CPU_PERIOD: u64 = 100_000;

/// `--cpus`: the CFS quota for [`CPU_PERIOD`].
pub fn cpus(value: &str) -> Result<i64, FlagError> {
    let n: f64 = value
        .trim()
        .parse()
        .map_err(|_| err("--cpus", value, "expected a number like 1.5"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(err("--cpus", value, "must be more than 0"));
    }
    let available = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if n > available {
        return Err(err("--cpus", value, "more CPUs than this host has"));
    }
    Ok((n * CPU_PERIOD as f64).round() as i64)
}

/// `-v HOST:CTR[:ro|rw]`: only host paths (bind mounts); named volumes are not supported.
pub fn volume(value: &str) -> Result<Volume, FlagError> {
    let parts: Vec<&str> = value.split(':').collect();
    let (host, ctr, read_only) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, _] => return Err(err("--volume", value, "the mode must be ro or rw")),
        _ => return Err(err("--volume", value, "expected HOST:CONTAINER[:ro]")),
    };
    if !host.starts_with('/') {
        return Err(err(
            "--volume",
            value,
            "the host path must be absolute (named volumes are not supported)",
        ));
    }
    if !ctr.starts_with('/') || ctr == "/" {
        return Err(err(
            "--volume",
            value,
            "the container path must be absolute and not /",
        ));
    }
    Ok(Volume {
        source: PathBuf::from(host),
        destination: ctr.to_string(),
        read_only,
    })
}

/// `-e K=V` as docker reads it: `K` alone takes the value from dock's own environment and is
/// dropped when unset there.
pub fn env(value: &str) -> Result<Option<String>, FlagError> {
    let key = value.split('=').next().unwrap_or_default();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(err("--env", value, "expected KEY=VALUE"));
    }
    if value.contains('=') {
        return Ok(Some(value.to_string()));
    }
    Ok(std::env::var(key).ok().map(|v| format!("{key}={v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_like_docker() {
        assert_eq!(memory("512m"), Ok(512 << 20));
        assert_eq!(memory("1g"), Ok(1 << 30));
        assert_eq!(memory("1GB"), Ok(1 << 30));
        assert_eq!(memory("1.5g"), Ok(3 << 29));
        assert_eq!(memory("104857600"), Ok(100 << 20));
        assert!(memory("1m").is_err());
        assert!(memory("lots").is_err());
        assert!(memory("-5m").is_err());
        assert!(memory("b").is_err());
    }

    #[test]
    fn cpus_become_a_quota() {
        assert_eq!(cpus("1"), Ok(100_000));
        assert_eq!(cpus("0.5"), Ok(50_000));
        assert!(cpus("0").is_err());
        assert!(cpus("x").is_err());
        assert!(cpus("100000").is_err());
    }

    #[test]
    fn volumes() {
        let v = volume("/srv:/data:ro").unwrap();
        assert_eq!(v.source, PathBuf::from("/srv"));
        assert_eq!(v.destination, "/data");
        assert!(v.read_only);
        assert!(!volume("/srv:/data").unwrap().read_only);
        assert!(volume("named:/data").is_err());
        assert!(volume("/srv:data").is_err());
        assert!(volume("/srv:/").is_err());
        assert!(volume("/srv:/d:zz").is_err());
        assert!(volume("/srv").is_err());
        let e = volume("/srv").unwrap_err().to_string();
        assert!(e.starts_with("invalid --volume \"/srv\""), "{e}");
    }

    #[test]
    fn env_values() {
        assert_eq!(env("A=1"), Ok(Some("A=1".into())));
        assert_eq!(env("A="), Ok(Some("A=".into())));
        assert!(env("=1").is_err());
        assert_eq!(env("DOCK_TEST_SURELY_UNSET_VAR"), Ok(None));
        assert_eq!(
            env("PATH"),
            Ok(Some(format!("PATH={}", std::env::var("PATH").unwrap())))
        );
    }
}
