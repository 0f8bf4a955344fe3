//! Who may do what: identifying callers (Basic or Bearer), deciding pull/push on repositories,
//! building `WWW-Authenticate` challenges, and issuing tokens at the token endpoint.
//!
//! With no users the registry is open. With users, anonymous callers may only pull from
//! public repositories; users may push everywhere unless the configuration restricts them.

use crate::config::{pattern_matches, Config, Permission};
use crate::error::{ApiError, Code};
use crate::token::{parse_scope, Grant, TokenSigner};
use crate::users::Users;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The access an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read.
    Pull,
    /// Write or delete.
    Push,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

/// An identified caller.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    /// The user, `None` for anonymous.
    pub user: Option<String>,
    /// Grants carried by a bearer token (`None` when not using a token).
    pub grants: Option<Vec<Grant>>,
}

/// The access policy of a running registry.
pub struct Access {
    users: Users,
    config: Config,
    signer: TokenSigner,
}

impl Access {
    /// Build from users, configuration and a token signer.
    pub fn new(users: Users, config: Config, signer: TokenSigner) -> Self {
        Access {
            users,
            config,
            signer,
        }
    }

    /// Whether the registry serves everyone (no users configured).
    pub fn is_open(&self) -> bool {
        self.users.is_empty()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether tags in `repo` are immutable.
    pub fn tags_immutable(&self, repo: &str) -> bool {
        self.config
            .immutable_tags
            .iter()
            .any(|p| pattern_matches(p, repo))
    }

    /// Identify the caller from the Authorization header; bad credentials are a 401.
    pub fn identify(&self, headers: &HeaderMap, realm: &str) -> Result<Principal, ApiError> {
        let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Ok(Principal::default());
        };
        if self.is_open() {
            return Ok(Principal::default());
        }
        if let Some((user, pass)) = basic_credentials(auth) {
            if self.users.verify(&user, &pass) {
                return Ok(Principal {
                    user: Some(user),
                    grants: None,
                });
            }
        } else if let Some(token) = auth.strip_prefix("Bearer ") {
            if let Some(claims) = self.signer.verify(token.trim()) {
                return Ok(Principal {
                    user: (!claims.sub.is_empty()).then_some(claims.sub),
                    grants: Some(claims.access),
                });
            }
        }
        Err(self.unauthorized(realm, None, "invalid credentials"))
    }

    /// Whether `user` (or anonymous) holds `action` on `repo` by policy.
    pub fn permitted(&self, user: Option<&str>, repo: &str, action: Action) -> bool {
        if self.is_open() {
            return true;
        }
        let public = self
            .config
            .public_repositories
            .iter()
            .any(|p| pattern_matches(p, repo));
        if action == Action::Pull && public {
            return true;
        }
        let Some(user) = user else {
            return false;
        };
        let Some(rules) = self.config.permissions.get(user) else {
            return true;
        };
        let best = rules
            .iter()
            .filter(|(p, _)| pattern_matches(p, repo))
            .map(|(_, perm)| *perm)
            .max();
        matches!(
            (best, action),
            (Some(Permission::Push), _) | (Some(Permission::Pull), Action::Pull)
        )
    }

    /// Authorize an operation on `repo` (`None`: the base or catalog endpoint).
    pub fn check(
        &self,
        p: &Principal,
        repo: Option<&str>,
        action: Action,
        realm: &str,
    ) -> Result<(), ApiError> {
        if self.is_open() {
            return Ok(());
        }
        let Some(repo) = repo else {
            return match (&p.user, &p.grants) {
                (Some(_), _) | (None, Some(_)) => Ok(()),
                _ => Err(self.unauthorized(realm, None, "authentication required")),
            };
        };
        let by_token = match &p.grants {
            None => true,
            Some(grants) => grants.iter().any(|g| {
                g.kind == "repository"
                    && g.name == repo
                    && g.actions.iter().any(|a| a == action.name() || a == "*")
            }),
        };
        if by_token && self.permitted(p.user.as_deref(), repo, action) {
            return Ok(());
        }
        if p.user.is_none() || !by_token {
            let scope = format!(
                "repository:{repo}:{}",
                match action {
                    Action::Pull => "pull",
                    Action::Push => "pull,push",
                }
            );
            return Err(self.unauthorized(realm, Some(&scope), "authentication required"));
        }
        Err(ApiError::new(
            Code::Denied,
            "requested access to the resource is denied",
        ))
    }

    /// A 401 with a Bearer challenge (clients may also answer it with Basic credentials).
    pub fn unauthorized(&self, realm: &str, scope: Option<&str>, msg: &str) -> ApiError {
        let mut challenge = format!(
            "Bearer realm=\"{realm}\",service=\"{}\"",
            self.signer.service()
        );
        if let Some(s) = scope {
            challenge.push_str(&format!(",scope=\"{s}\""));
        }
        ApiError::new(Code::Unauthorized, msg).with_header("WWW-Authenticate", challenge)
    }

    /// Token endpoint: grant the requested scopes the caller is entitled to.
    pub fn issue_token(
        &self,
        p: &Principal,
        scopes: &[String],
    ) -> Result<serde_json::Value, ApiError> {
        let mut grants = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some(mut g) = parse_scope(scope) else {
                continue;
            };
            match g.kind.as_str() {
                "repository" if crate::name::is_valid_name(&g.name) => {
                    g.actions.retain(|a| {
                        let act = match a.as_str() {
                            "pull" => Action::Pull,
                            "push" | "delete" | "*" => Action::Push,
                            _ => return false,
                        };
                        self.permitted(p.user.as_deref(), &g.name, act)
                    });
                }
                "registry" if g.name == "catalog" && (p.user.is_some() || self.is_open()) => {}
                _ => g.actions.clear(),
            }
            grants.push(g);
        }
        let token = self
            .signer
            .issue(p.user.as_deref().unwrap_or(""), grants)
            .map_err(|e| ApiError::new(Code::Unsupported, e.to_string()))?;
        Ok(serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": self.signer.ttl(),
        }))
    }
}

/// Decode `Basic base64(user:pass)`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let b64 = header.strip_prefix("Basic ")?;
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(config: &str) -> (Access, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        Users::add_to_file(&path, "alice", "pw").unwrap();
        Users::add_to_file(&path, "bob", "pw").unwrap();
        let a = Access::new(
            Users::load(&path).unwrap(),
            serde_json::from_str(config).unwrap(),
            TokenSigner::new("svc", 60).unwrap(),
        );
        (a, dir)
    }

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
        h.insert("authorization", v.parse().unwrap());
        h
    }

    #[test]
    fn anonymous_pulls_only_public() {
        let (a, _d) = access(r#"{"public_repositories":["pub/*"]}"#);
        let anon = Principal::default();
        assert!(a.check(&anon, Some("pub/x"), Action::Pull, "r").is_ok());
        let e = a
            .check(&anon, Some("pub/x"), Action::Push, "r")
            .unwrap_err();
        assert_eq!(e.code, Code::Unauthorized);
        assert!(a.check(&anon, Some("priv"), Action::Pull, "r").is_err());
        assert!(a.check(&anon, None, Action::Pull, "r").is_err());
    }

    #[test]
    fn per_user_permissions_and_basic() {
        let (a, _d) = access(r#"{"permissions":{"bob":{"team/*":"pull"}}}"#);
        assert!(a.identify(&basic("alice", "bad"), "r").is_err());
        let alice = a.identify(&basic("alice", "pw"), "r").unwrap();
        assert!(a.check(&alice, Some("any"), Action::Push, "r").is_ok());
        let bob = a.identify(&basic("bob", "pw"), "r").unwrap();
        assert!(a.check(&bob, Some("team/x"), Action::Pull, "r").is_ok());
        let e = a
            .check(&bob, Some("team/x"), Action::Push, "r")
            .unwrap_err();
        assert_eq!(e.code, Code::Denied);
        assert!(a.check(&bob, Some("other"), Action::Pull, "r").is_err());
    }

    #[test]
    fn tokens_carry_only_permitted_scopes() {
        let (a, _d) = access(r#"{"permissions":{"bob":{"team/*":"pull"}}}"#);
        let bob = a.identify(&basic("bob", "pw"), "r").unwrap();
        let t = a
            .issue_token(&bob, &["repository:team/x:pull,push".to_string()])
            .unwrap();
        let mut h = HeaderMap::new();
        let v = format!("Bearer {}", t["token"].as_str().unwrap());
        h.insert("authorization", v.parse().unwrap());
        let p = a.identify(&h, "r").unwrap();
        assert!(a.check(&p, Some("team/x"), Action::Pull, "r").is_ok());
        assert!(a.check(&p, Some("team/x"), Action::Push, "r").is_err());
        assert!(a.check(&p, Some("team/y"), Action::Pull, "r").is_err());
    }
}
