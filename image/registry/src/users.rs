//! The users file (`users.json` in the registry root): user name → argon2 PHC hash, and the
//! password checks against it (successful checks are cached so each request does not pay for
//! a fresh argon2 run).

use crate::digest::{Algorithm, Digest};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

/// Most cached successful verifications kept before the cache is reset.
const CACHE_LIMIT: usize = 4096;

/// Why the users file or a password operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// I/O on the users file.
    #[error("users file: {0}")]
    Io(#[from] std::io::Error),
    /// The users file is not valid JSON.
    #[error("users file: {0}")]
    Parse(#[from] serde_json::Error),
    /// Hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The user name is not a valid name.
    #[error("invalid user name {0:?} (use [a-z0-9._-], 1-64 characters)")]
    BadName(String),
}

/// The set of users and their password hashes.
#[derive(Default)]
pub struct Users {
    hashes: BTreeMap<String, String>,
    verified: Mutex<HashSet<Digest>>,
}

/// Whether a user name is acceptable.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    let salt_hex = crate::storage::atomic::random_hex(16)?;
    let salt =
        SaltString::encode_b64(salt_hex.as_bytes()).map_err(|e| UsersError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Hash(e.to_string()))
}

impl Users {
    /// Load `path`; a missing file means no users.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let hashes = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Users {
            hashes,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Add or replace a user in the file at `path` (written atomically).
    pub fn add_to_file(path: &Path, name: &str, password: &str) -> Result<(), UsersError> {
        if !valid_user_name(name) {
            return Err(UsersError::BadName(name.to_string()));
        }
        let mut users = Users::load(path)?;
        users
            .hashes
            .insert(name.to_string(), hash_password(password)?);
        let body = serde_json::to_vec_pretty(&users.hashes)?;
        crate::storage::atomic::write_file(path, &body)?;
        Ok(())
    }

    /// Whether no users are configured (the registry is then anonymous).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Check a user's password.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        let Some(phc) = self.hashes.get(name) else {
            return false;
        };
        let key = Digest::of_bytes(
            Algorithm::Sha256,
            format!("{name}\0{password}\0{phc}").as_bytes(),
        );
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.contains(&key) {
            return true;
        }
        let ok = PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        assert!(Users::load(&path).unwrap().is_empty());
        Users::add_to_file(&path, "alice", "s3cret").unwrap();
        let users = Users::load(&path).unwrap();
        assert!(users.verify("alice", "s3cret"));
        assert!(users.verify("alice", "s3cret"));
        assert!(!users.verify("alice", "wrong"));
        assert!(!users.verify("bob", "s3cret"));
        assert!(Users::add_to_file(&path, "Bad Name", "x").is_err());
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains("$argon2id$") && !raw.contains("s3cret"));
    }
}
