//! Registry credentials in docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths.<server>.auth` = base64(`user:password`). Other keys in the
//! file are kept as they are; the file is replaced atomically with mode 0600. Credential helpers
//! (`credsStore`) are not supported.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The key docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// Errors reading or writing the config file.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// File I/O failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not JSON we understand.
    #[error("{}: {reason}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Neither DOCKER_CONFIG nor HOME is set.
    #[error("cannot locate the docker config: neither DOCKER_CONFIG nor HOME is set")]
    NoHome,
}

/// The config file path docker would use.
pub fn config_path() -> Result<PathBuf, CredentialsError> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").ok_or(CredentialsError::NoHome)?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

/// The `auths` key for a registry domain.
pub fn server_key(domain: &str) -> String {
    if domain == crate::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_KEY.to_string()
    } else {
        domain.to_string()
    }
}

fn json_err(path: &Path, reason: impl ToString) -> CredentialsError {
    CredentialsError::Json {
        path: path.into(),
        reason: reason.to_string(),
    }
}

fn read_config(path: &Path) -> Result<Map<String, Value>, CredentialsError> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(json_err(path, "not an object")),
            Err(e) => Err(json_err(path, e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(CredentialsError::Io {
            path: path.into(),
            source,
        }),
    }
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let bytes = serde_json::to_vec_pretty(config).map_err(|e| json_err(path, e))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    // The temp file may have existed with wider permissions: force 0600 before writing secrets.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Credentials saved for `domain`, trying docker's spellings of the key.
pub fn load(path: &Path, domain: &str) -> Result<Option<Credentials>, CredentialsError> {
    let config = read_config(path)?;
    let Some(Value::Object(auths)) = config.get("auths") else {
        return Ok(None);
    };
    let key = server_key(domain);
    let candidates = [
        key.clone(),
        format!("https://{domain}"),
        format!("http://{domain}"),
        format!("https://{domain}/v2/"),
    ];
    for c in candidates {
        let Some(entry) = auths.get(&c) else {
            continue;
        };
        let Some(auth) = entry.get("auth").and_then(Value::as_str) else {
            continue;
        };
        let decoded = STANDARD
            .decode(auth)
            .map_err(|e| json_err(path, format!("auths.{c}.auth: {e}")))?;
        let text = String::from_utf8_lossy(&decoded);
        if let Some((u, p)) = text.split_once(':') {
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Save credentials for `domain`.
pub fn save(path: &Path, domain: &str, creds: &Credentials) -> Result<(), CredentialsError> {
    let mut config = read_config(path)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let encoded = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
    if let Value::Object(a) = auths {
        a.insert(server_key(domain), serde_json::json!({ "auth": encoded }));
    }
    write_config(path, &config)
}

/// Forget credentials for `domain`; returns whether any were saved.
pub fn remove(path: &Path, domain: &str) -> Result<bool, CredentialsError> {
    let mut config = read_config(path)?;
    let removed = match config.get_mut("auths") {
        Some(Value::Object(a)) => a.remove(&server_key(domain)).is_some(),
        _ => false,
    };
    if removed {
        write_config(path, &config)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove_keeps_other_keys_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"psFormat":"table","auths":{"other":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = Credentials {
            username: "alice".into(),
            password: "pa:ss".into(),
        };
        save(&path, "127.0.0.1:5000", &c).unwrap();
        save(&path, "docker.io", &c).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "table");
        assert_eq!(
            v["auths"]["127.0.0.1:5000"]["auth"],
            STANDARD.encode("alice:pa:ss")
        );
        assert!(v["auths"][DOCKER_HUB_KEY].is_object());
        assert_eq!(load(&path, "127.0.0.1:5000").unwrap(), Some(c.clone()));
        assert_eq!(load(&path, "docker.io").unwrap(), Some(c));
        assert_eq!(
            load(&path, "other").unwrap().map(|c| c.username),
            Some("x".to_string())
        );
        assert!(remove(&path, "127.0.0.1:5000").unwrap());
        assert!(!remove(&path, "127.0.0.1:5000").unwrap());
        assert_eq!(load(&path, "127.0.0.1:5000").unwrap(), None);
        assert_eq!(load(&dir.path().join("none.json"), "x").unwrap(), None);
    }
}
