//! Shared helpers for the integration tests: a registry on 127.0.0.1:0 in a temp dir, an HTTP
//! client, and shortcuts for pushing blobs and manifests.
#![allow(dead_code)]

use dock_registry::digest::{Algorithm, Digest};
use dock_registry::server::{users_file, RunningServer};
use dock_registry::users::Users;
use dock_registry::ServeOptions;
use reqwest::{Method, Response, StatusCode};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A running registry; stops (and removes its root) on drop.
pub struct TestRegistry {
    pub server: RunningServer,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn start(config: &str, users: &[(&str, &str)]) -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    for (u, p) in users {
        Users::add_to_file(&users_file(&root), u, p).unwrap();
    }
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, config).unwrap();
    let server = dock_registry::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        root,
        config: Some(cfg),
        tls_cert: None,
        tls_key: None,
        insecure_anonymous: false,
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    TestRegistry {
        server,
        base,
        client: reqwest::Client::new(),
        dir,
    }
}

pub async fn open() -> TestRegistry {
    start(r#"{"access_log": false}"#, &[]).await
}

pub fn sha256(data: &[u8]) -> String {
    Digest::of_bytes(Algorithm::Sha256, data).to_string()
}

impl TestRegistry {
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    pub fn url(&self, location: &str) -> String {
        if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// Push a blob in one POST; returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = self
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .body(data.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "push blob");
        d
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        ct: &str,
        body: &[u8],
    ) -> Response {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
            .header("content-type", ct)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Push a config and one layer and an OCI manifest naming them under `tag`; returns the
    /// manifest bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let c = self.push_blob(repo, config).await;
        let l = self.push_blob(repo, layer).await;
        let m = image_manifest(&c, config.len(), &l, layer.len(), None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let d = header(&r, "docker-content-digest");
        assert_eq!(d, sha256(&m));
        (m, d)
    }
}

pub fn image_manifest(
    config: &str,
    config_len: usize,
    layer: &str,
    layer_len: usize,
    extra: Option<serde_json::Value>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_len}],
    });
    if let Some(serde_json::Value::Object(extra)) = extra {
        for (k, val) in extra {
            v[k] = val;
        }
    }
    serde_json::to_vec(&v).unwrap()
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Assert a spec error response: status and code.
pub async fn assert_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status, "status for expected {code}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], code, "{v}");
}

/// Send a raw request line (paths the URL parser would normalise) and return the status.
pub async fn raw_status(addr: std::net::SocketAddr, request_line: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{request_line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}
