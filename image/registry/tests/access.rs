//! Access control over HTTP: challenges, Basic and token auth, per-repository permissions,
//! public repositories, immutable tags, the loopback rule and TLS.

mod common;

use common::*;
use dock_registry::{ServeError, ServeOptions};
use reqwest::{Method, StatusCode};

const CONFIG: &str = r#"{
    "access_log": false,
    "public_repositories": ["pub/*"],
    "immutable_tags": ["prod/*"],
    "permissions": {"bob": {"team/*": "pull"}}
}"#;

async fn secured() -> TestRegistry {
    start(CONFIG, &[("alice", "a-pass"), ("bob", "b-pass")]).await
}

async fn push_as_alice(reg: &TestRegistry, repo: &str, tag: &str, layer: &[u8]) -> String {
    let config = b"{}";
    let mut digests = Vec::new();
    for blob in [&config[..], layer] {
        let d = sha256(blob);
        let r = reg
            .req(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            )
            .basic_auth("alice", Some("a-pass"))
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        digests.push(d);
    }
    let m = image_manifest(&digests[0], 2, &digests[1], layer.len(), None);
    let r = reg
        .req(Method::PUT, &format!("/v2/{repo}/manifests/{tag}"))
        .basic_auth("alice", Some("a-pass"))
        .header("content-type", OCI_MANIFEST)
        .body(m)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    header(&r, "docker-content-digest")
}

#[tokio::test]
async fn challenges_and_basic_auth() {
    let reg = secured().await;
    let r = reg.req(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&r, "www-authenticate");
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{}/token\",service=\"dock-registry\"",
            reg.server.addr
        )
    );
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = reg
        .req(Method::GET, "/v2/")
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = reg
        .req(Method::GET, "/v2/")
        .basic_auth("alice", Some("a-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .req(Method::GET, "/v2/priv/tags/list")
        .send()
        .await
        .unwrap();
    assert!(header(&r, "www-authenticate").ends_with(",scope=\"repository:priv:pull\""));
}

#[tokio::test]
async fn public_private_and_per_repository_permissions() {
    let reg = secured().await;
    push_as_alice(&reg, "pub/x", "v1", b"public layer").await;
    push_as_alice(&reg, "team/y", "v1", b"team layer").await;
    // Anonymous: pull public only.
    let r = reg
        .req(Method::GET, "/v2/pub/x/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .req(Method::GET, "/v2/team/y/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = reg
        .req(Method::POST, "/v2/pub/x/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    // Bob: pull team/*, nothing more.
    let bob = |m: Method, p: &str| reg.req(m, p).basic_auth("bob", Some("b-pass")).send();
    assert_eq!(
        bob(Method::GET, "/v2/team/y/manifests/v1")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = bob(Method::POST, "/v2/team/y/blobs/uploads/")
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    let r = bob(Method::GET, "/v2/other/tags/list").await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    // Catalog shows each caller what it may pull.
    let r = reg.req(Method::GET, "/v2/_catalog").send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["pub/x"]));
    let r = bob(Method::GET, "/v2/_catalog").await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["pub/x", "team/y"]));
    // Alice may read team/y, so she can mount from it.
    let d = sha256(b"team layer");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/alice/own/blobs/uploads/?mount={d}&from=team/y"),
        )
        .basic_auth("alice", Some("a-pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn token_flow_grants_only_permitted_scopes() {
    let reg = secured().await;
    push_as_alice(&reg, "team/y", "v1", b"layer").await;
    push_as_alice(&reg, "pub/x", "v1", b"layer").await;
    let token = |user: Option<(&str, &str)>, scope: &str| {
        let mut rb = reg.req(
            Method::GET,
            &format!("/token?service=dock-registry&scope={scope}"),
        );
        if let Some((u, p)) = user {
            rb = rb.basic_auth(u, Some(p));
        }
        async move {
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: serde_json::Value = r.json().await.unwrap();
            v["token"].as_str().unwrap().to_string()
        }
    };
    let t = token(Some(("bob", "b-pass")), "repository:team/y:pull,push").await;
    let r = reg
        .req(Method::GET, "/v2/team/y/manifests/v1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .req(Method::POST, "/v2/team/y/blobs/uploads/")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = reg
        .req(Method::GET, "/v2/pub/x/manifests/v1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "token is scoped to team/y"
    );
    // Anonymous tokens cover public pulls.
    let t = token(None, "repository:pub/x:pull").await;
    let r = reg
        .req(Method::GET, "/v2/pub/x/manifests/v1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A forged token is refused.
    let r = reg
        .req(Method::GET, "/v2/")
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    // Repeated scope parameters (as docker sends for a cross-repository mount) all count.
    let t = token(
        Some(("bob", "b-pass")),
        "repository:team/y:pull&scope=repository:pub/x:pull",
    )
    .await;
    for repo in ["team/y", "pub/x"] {
        let r = reg
            .req(Method::GET, &format!("/v2/{repo}/manifests/v1"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{repo}");
    }
    let t = token(Some(("alice", "a-pass")), "repository:team/y:push").await;
    let r = reg
        .req(Method::POST, "/v2/team/y/blobs/uploads/")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn immutable_tags() {
    let reg = secured().await;
    let first = push_as_alice(&reg, "prod/app", "v1", b"one").await;
    // Re-pushing the same manifest is fine; moving the tag is not.
    assert_eq!(push_as_alice(&reg, "prod/app", "v1", b"one").await, first);
    let config = sha256(b"{}");
    let layer = sha256(b"one");
    let other = image_manifest(
        &config,
        2,
        &layer,
        3,
        Some(serde_json::json!({"annotations": {"x": "y"}})),
    );
    let r = reg
        .req(Method::PUT, "/v2/prod/app/manifests/v1")
        .basic_auth("alice", Some("a-pass"))
        .header("content-type", OCI_MANIFEST)
        .body(other)
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "TAG_INVALID").await;
    let r = reg
        .req(Method::DELETE, "/v2/prod/app/manifests/v1")
        .basic_auth("alice", Some("a-pass"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    // Mutable elsewhere.
    push_as_alice(&reg, "dev/app", "v1", b"one").await;
    push_as_alice(&reg, "dev/app", "v1", b"two").await;
}

#[tokio::test]
async fn anonymous_refuses_non_loopback_bind() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ServeOptions {
        addr: "0.0.0.0:0".parse().unwrap(),
        root: dir.path().join("root"),
        config: None,
        tls_cert: None,
        tls_key: None,
        insecure_anonymous: false,
    };
    match dock_registry::start(opts).await {
        Err(ServeError::AnonymousNonLoopback(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("anonymous non-loopback bind was allowed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls_with_rustls() {
    use std::process::Command;
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
            || Command::new(tool)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if !have("openssl") || !have("curl") {
        eprintln!("SKIPPED: openssl and curl are needed to make and check a certificate");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let server = dock_registry::start(ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        root: dir.path().join("root"),
        config: None,
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        insecure_anonymous: false,
    })
    .await
    .unwrap();
    let addr = server.addr;
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&cert)
            .arg(format!("https://{addr}/v2/"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP is not served on the TLS port.
    let r = reqwest::get(format!("http://{addr}/v2/")).await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
    server.abort();
}
