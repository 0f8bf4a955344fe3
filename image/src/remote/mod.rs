//! Our distribution-spec client, on reqwest. We write it rather than use the oci-client crate
//! because dock needs control it does not expose: resuming blob downloads with `Range` into the
//! store's ingest files, verifying digest and size while streaming, per-layer progress, exact
//! manifest bytes on push, cross-repository mounts and a chunk size we choose. reqwest is built
//! with rustls and the system's root store (rustls-native-certs): no OpenSSL to link, and the
//! host's CA decisions are honoured (`SSL_CERT_FILE`/`SSL_CERT_DIR` too). Plain http is only
//! ever used for loopback registries and `--insecure-registry` names, after HTTPS (without
//! certificate checks, as docker does for those) got no TLS answer; see [`connect`].
//!
//! [`Session`] is one repository on one registry with its scopes; it answers 401s with Basic
//! credentials or a Docker token from the challenge's realm and retries once.

pub mod challenge;
pub mod credentials;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use credentials::Credentials;
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

/// Where the Docker Hub API lives.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Whether `domain` may be spoken to over plain http: loopback names and addresses (as docker
/// allows) and registries named with `--insecure-registry`.
pub fn allows_plain_http(domain: &str, insecure: &[String]) -> bool {
    let host = if let Some(v6) = domain.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        domain.split(':').next().unwrap_or(domain)
    };
    let loopback = host == "localhost"
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.octets()[0] == 127)
        || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
    loopback || insecure.iter().any(|i| i == domain || i == host)
}

/// The host serving a registry domain's API.
fn api_host(domain: &str) -> &str {
    if domain == crate::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_API
    } else {
        domain
    }
}

fn http_client(verify_tls: bool) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("dock/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .danger_accept_invalid_certs(!verify_tls)
        .build()
        .context("building the HTTP client")
}

/// A client and API base URL for `domain`. Secure registries get verified HTTPS only. Like
/// docker, insecure ones (loopback, `--insecure-registry`) are tried over HTTPS without
/// certificate checks first and fall back to plain http when no TLS answers.
pub async fn connect(domain: &str, insecure: &[String]) -> Result<(reqwest::Client, String)> {
    let host = api_host(domain);
    if !allows_plain_http(domain, insecure) {
        return Ok((http_client(true)?, format!("https://{host}")));
    }
    let client = http_client(false)?;
    let https = format!("https://{host}");
    let probe = client
        .get(format!("{https}/v2/"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    match probe {
        Ok(_) => Ok((client, https)),
        Err(_) => Ok((client, format!("http://{host}"))),
    }
}

/// One repository on one registry, authenticated lazily.
pub struct Session {
    http: reqwest::Client,
    base: String,
    repository: String,
    scopes: Vec<String>,
    creds: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

impl Session {
    /// A session for `repository` at `base` asking for `scopes` when a token is needed.
    pub fn new(
        http: reqwest::Client,
        base: String,
        repository: &str,
        scopes: Vec<String>,
        creds: Option<Credentials>,
    ) -> Session {
        Session {
            http,
            base,
            repository: repository.to_string(),
            scopes,
            creds,
            authorization: Mutex::new(None),
        }
    }

    /// `base/v2/<repository>/<rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// `base/v2/` (the API root).
    pub fn root_url(&self) -> String {
        format!("{}/v2/", self.base)
    }

    /// An upload `Location` made absolute.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    fn current(&self) -> Option<String> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    /// Build the request and add our credentials, only when it goes to the registry itself (an
    /// upload Location or blob URL elsewhere never sees them).
    fn authorized(&self, rb: RequestBuilder) -> Result<reqwest::Request> {
        let mut req = rb.build().context("building a request")?;
        if same_origin(req.url().as_str(), &self.base) {
            if let Some(v) = self.current().and_then(|a| HeaderValue::from_str(&a).ok()) {
                req.headers_mut().insert(AUTHORIZATION, v);
            }
        }
        Ok(req)
    }

    /// Send the request `make` builds; on a 401, authenticate and send a fresh one once.
    pub async fn send<F>(&self, make: F) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> Result<RequestBuilder>,
    {
        let resp = self
            .http
            .execute(self.authorized(make(&self.http)?)?)
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.authenticate(challenge.as_deref()).await?;
        let resp = self
            .http
            .execute(self.authorized(make(&self.http)?)?)
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            bail!("{}: unauthorized (check `dock login`)", resp.url());
        }
        Ok(resp)
    }

    async fn authenticate(&self, header: Option<&str>) -> Result<()> {
        let Some(c) = header.and_then(challenge::parse) else {
            bail!("the registry answered 401 without a usable WWW-Authenticate challenge");
        };
        let basic = self.creds.as_ref().map(|c| {
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", c.username, c.password))
            )
        });
        let value = match c.scheme.as_str() {
            "basic" => match basic {
                Some(b) => b,
                None => bail!("the registry requires a login: run `dock login`"),
            },
            "bearer" => {
                let realm = c
                    .params
                    .get("realm")
                    .context("Bearer challenge without a realm")?;
                let mut query: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = c.params.get("service") {
                    query.push(("service", s));
                }
                for s in &self.scopes {
                    query.push(("scope", s));
                }
                let mut rb = self.http.get(realm).query(&query);
                if let Some(b) = &basic {
                    rb = rb.header(AUTHORIZATION, b);
                }
                let resp = rb.send().await.context("requesting a registry token")?;
                if !resp.status().is_success() {
                    bail!(
                        "token request to {realm} refused: {} (check `dock login`)",
                        resp.status()
                    );
                }
                let body: serde_json::Value =
                    resp.json().await.context("reading the token response")?;
                let token = body["token"]
                    .as_str()
                    .or_else(|| body["access_token"].as_str())
                    .context("token response without a token")?;
                format!("Bearer {token}")
            }
            other => bail!("unsupported authentication scheme {other:?}"),
        };
        if let Ok(mut a) = self.authorization.lock() {
            *a = Some(value);
        }
        Ok(())
    }

    /// Check the credentials against the API root (for `dock login`).
    pub async fn ping(&self) -> Result<()> {
        let url = self.root_url();
        let resp = self.send(|c| Ok(c.get(&url))).await?;
        if !resp.status().is_success() {
            bail!("{url}: {}", resp.status());
        }
        Ok(())
    }
}

/// Whether `url` is on the registry at `base` (same scheme, host and port).
fn same_origin(url: &str, base: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(base)) {
        (Ok(u), Ok(b)) => u.origin() == b.origin(),
        _ => false,
    }
}

/// Turn a non-success response into an error with the registry's message.
pub async fn expect_status(resp: Response, ok: &[StatusCode], what: &str) -> Result<Response> {
    if ok.contains(&resp.status()) {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    bail!("{what}: {status}: {}", body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_named_insecure() {
        let none: Vec<String> = vec![];
        assert!(allows_plain_http("localhost:5000", &none));
        assert!(allows_plain_http("127.0.0.1:5000", &none));
        assert!(allows_plain_http("127.9.8.7", &none));
        assert!(allows_plain_http("[::1]:5000", &none));
        assert!(!allows_plain_http("128.0.0.1", &none));
        assert!(!allows_plain_http("registry.example.com", &none));
        assert!(!allows_plain_http("localhost.example.com", &none));
        let insecure = vec!["reg.lan:5000".to_string()];
        assert!(allows_plain_http("reg.lan:5000", &insecure));
        assert!(!allows_plain_http("reg.lan:5001", &insecure));
        assert!(same_origin("http://127.0.0.1:5/v2/x", "http://127.0.0.1:5"));
        assert!(!same_origin(
            "http://127.0.0.1:55/v2/x",
            "http://127.0.0.1:5"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:5.evil/v2/",
            "http://127.0.0.1:5"
        ));
        assert!(!same_origin(
            "https://127.0.0.1:5/v2/",
            "http://127.0.0.1:5"
        ));
        assert!(same_origin(
            "https://Reg.example:443/v2/",
            "https://reg.example"
        ));
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("127.0.0.1:1"), "127.0.0.1:1");
    }
}
