//! Docker token auth: HS256-signed JWTs carrying `repository:NAME:pull,push` grants.
//!
//! The signing key is random per process, so tokens die with the server (they are short-lived
//! anyway and clients fetch new ones on a 401).

use crate::digest::to_hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// One grant inside a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name (or `catalog`).
    pub name: String,
    /// Granted actions (`pull`, `push`, `*`).
    pub actions: Vec<String>,
}

/// Token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer (the service).
    pub iss: String,
    /// Subject: the user, empty for anonymous.
    pub sub: String,
    /// Audience (the service).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique id.
    pub jti: String,
    /// Grants.
    pub access: Vec<Grant>,
}

/// Signs and verifies tokens.
pub struct TokenSigner {
    key: Vec<u8>,
    service: String,
    ttl: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Constant-time comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parse a scope such as `repository:foo/bar:pull,push`.
pub fn parse_scope(scope: &str) -> Option<Grant> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(Grant {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

impl TokenSigner {
    /// A signer with a fresh random key.
    pub fn new(service: &str, ttl: u64) -> std::io::Result<Self> {
        let key = crate::storage::atomic::random_hex(32)?.into_bytes();
        Ok(TokenSigner {
            key,
            service: service.to_string(),
            ttl,
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Token lifetime in seconds.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Issue a token for `user` with `access`.
    pub fn issue(&self, user: &str, access: Vec<Grant>) -> Result<String, serde_json::Error> {
        let t = now();
        let claims = Claims {
            iss: self.service.clone(),
            sub: user.to_string(),
            aud: self.service.clone(),
            exp: t.saturating_add(self.ttl),
            nbf: t.saturating_sub(5),
            iat: t,
            jti: crate::storage::atomic::random_hex(8).unwrap_or_default(),
            access,
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
        let signing_input = format!("{header}.{body}");
        let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, signing_input.as_bytes()));
        Ok(format!("{signing_input}.{sig}"))
    }

    /// Verify a token's signature, audience and validity period.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (signing_input, sig) = token.rsplit_once('.')?;
        let (header, body) = signing_input.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        if !same(&sig, &hmac_sha256(&self.key, signing_input.as_bytes())) {
            return None;
        }
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "HS256" {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        let t = now();
        (claims.aud == self.service && claims.nbf <= t && t < claims.exp).then_some(claims)
    }
}

/// Hex fingerprint of a token (for logs, never the token itself).
pub fn fingerprint(token: &str) -> String {
    to_hex(&Sha256::digest(token.as_bytes())[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn issue_verify_and_tamper() {
        let s = TokenSigner::new("svc", 60).unwrap();
        let g = parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!(g.name, "a/b");
        assert_eq!(g.actions, vec!["pull", "push"]);
        let t = s.issue("alice", vec![g.clone()]).unwrap();
        let c = s.verify(&t).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.access, vec![g]);
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(s.verify(&bad).is_none());
        assert!(TokenSigner::new("svc", 60).unwrap().verify(&t).is_none());
    }
}
