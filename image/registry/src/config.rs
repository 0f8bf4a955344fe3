//! The registry's configuration file (JSON): access rules, tag immutability, upload expiry and
//! GC grace period. Every field is optional.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid configuration JSON.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A permission a user holds on matching repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Read manifests, tags, blobs.
    Pull,
    /// Pull plus write and delete.
    Push,
}

/// Parsed configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Repository patterns anyone may pull from (`name`, `prefix/*` or `*`).
    pub public_repositories: Vec<String>,
    /// Repository patterns whose tags, once set, can never move or be deleted.
    pub immutable_tags: Vec<String>,
    /// Per-user permissions: user → pattern → permission. A user without an entry may push
    /// everywhere.
    pub permissions: HashMap<String, HashMap<String, Permission>>,
    /// Upload sessions idle this long are dropped.
    pub upload_expiry_secs: u64,
    /// Unreferenced blobs younger than this survive GC (protects pushes in flight).
    pub gc_grace_secs: u64,
    /// Service name used in token auth challenges and tokens.
    pub token_service: String,
    /// Token lifetime.
    pub token_ttl_secs: u64,
    /// Print one JSON access-log line per request on stderr.
    pub access_log: bool,
    /// Run garbage collection inside the server this often (0: never).
    pub gc_interval_secs: u64,
    /// Lifecycle policies applied by garbage collection.
    pub lifecycle: Vec<LifecyclePolicy>,
}

/// A retention rule for matching repositories, applied before GC marks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// Repository pattern (`name`, `prefix/*`, `*`).
    pub repositories: String,
    /// Tags this rule counts: those starting with this prefix (empty: all tags).
    pub tag_prefix: String,
    /// Keep only the newest N matching tags (by when they were set); others are deleted.
    pub keep_last: Option<usize>,
    /// Delete untagged manifests older than this many days (unless listed by a surviving
    /// index or referring to a surviving subject).
    pub expire_untagged_days: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_repositories: Vec::new(),
            immutable_tags: Vec::new(),
            permissions: HashMap::new(),
            upload_expiry_secs: 24 * 3600,
            gc_grace_secs: 3600,
            token_service: "dock-registry".to_string(),
            token_ttl_secs: 300,
            access_log: true,
            gc_interval_secs: 0,
            lifecycle: Vec::new(),
        }
    }
}

impl Config {
    /// Load from a JSON file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Whether `repo` matches `pattern`: exact, `*` (everything) or `prefix/*` (anything below).
pub fn pattern_matches(pattern: &str, repo: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(prefix) => repo
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/')),
        None => pattern == repo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "a/b"));
        assert!(pattern_matches("lib/*", "lib/x"));
        assert!(pattern_matches("lib/*", "lib/x/y"));
        assert!(!pattern_matches("lib/*", "lib"));
        assert!(!pattern_matches("lib/*", "libx/y"));
        assert!(pattern_matches("a", "a"));
        assert!(!pattern_matches("a", "a/b"));
    }

    #[test]
    fn parses_config() {
        let c: Config = serde_json::from_str(
            r#"{"public_repositories":["pub/*"],"permissions":{"bob":{"team/*":"pull"}}}"#,
        )
        .unwrap();
        assert_eq!(c.permissions["bob"]["team/*"], Permission::Pull);
        assert_eq!(c.upload_expiry_secs, 86400);
        assert!(serde_json::from_str::<Config>(r#"{"bogus":1}"#).is_err());
    }
}
