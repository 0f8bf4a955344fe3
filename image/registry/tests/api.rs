//! The distribution API driven over HTTP against a live server: every endpoint and its errors.

mod common;

use common::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn ping_has_api_version_header() {
    let reg = open().await;
    let r = reg.req(Method::GET, "/v2/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );
}

#[tokio::test]
async fn monolithic_upload_then_get_head_and_ranges() {
    let reg = open().await;
    let data = b"hello registry blob".to_vec();
    let d = sha256(&data);
    let r = reg
        .req(Method::POST, "/v2/a/b/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = header(&r, "location");
    assert!(loc.starts_with("/v2/a/b/blobs/uploads/"));
    assert_eq!(header(&r, "range"), "0-0");
    let r = reg
        .client
        .put(format!("{}?digest={d}", reg.url(&loc)))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), format!("/v2/a/b/blobs/{d}"));
    assert_eq!(header(&r, "docker-content-digest"), d);

    let r = reg
        .req(Method::HEAD, &format!("/v2/a/b/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = reg
        .req(Method::GET, &format!("/v2/a/b/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);

    let r = reg
        .req(Method::GET, &format!("/v2/a/b/blobs/{d}"))
        .header("range", "bytes=6-13")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 6-13/{}", data.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"registry");
    let r = reg
        .req(Method::GET, &format!("/v2/a/b/blobs/{d}"))
        .header("range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Not linked into another repository.
    let r = reg
        .req(Method::GET, &format!("/v2/other/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn single_post_with_digest_verifies_content() {
    let reg = open().await;
    reg.push_blob("r", b"exact").await;
    let wrong = sha256(b"something else");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/r/blobs/uploads/?digest={wrong}"),
        )
        .body("exact")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let r = reg
        .req(Method::HEAD, &format!("/v2/r/blobs/{wrong}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/?digest=sha256:abc")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn chunked_upload_enforces_order_and_reports_status() {
    let reg = open().await;
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let loc = reg.url(&header(&r, "location"));
    let patch = |range: &str, body: &'static [u8]| {
        reg.client
            .patch(&loc)
            .header("content-range", range.to_string())
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let r = patch("0-4", b"01234").await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&r, "range"), "0-4");
    // Overlapping chunk.
    let r = patch("3-7", b"34567").await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&r, "range"), "0-4");
    // Gap.
    let r = patch("6-7", b"67").await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // Content-Range promising more than the body carries.
    let r = patch("5-14", b"56789").await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "SIZE_INVALID").await;
    let r = patch("x-y", b"56789").await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = reg.client.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "range"), "0-4");
    let r = patch("5-9", b"56789").await.unwrap();
    assert_eq!(header(&r, "range"), "0-9");
    // A final chunk without Content-Range (streamed) then commit in the PUT.
    let r = reg.client.patch(&loc).body("ab").send().await.unwrap();
    assert_eq!(header(&r, "range"), "0-11");
    let d = sha256(b"0123456789abc");
    let r = reg
        .client
        .put(format!("{loc}?digest={d}"))
        .body("c")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg
        .req(Method::GET, &format!("/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"0123456789abc");
    // The session is gone.
    let r = reg.client.get(&loc).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn upload_cancel_unknown_and_wrong_repo() {
    let reg = open().await;
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let path = header(&r, "location");
    let id = path.rsplit('/').next().unwrap().to_string();
    let r = reg
        .req(Method::GET, &format!("/v2/other/blobs/uploads/{id}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let r = reg.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = reg.req(Method::GET, &path).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let r = reg
        .req(Method::PATCH, "/v2/r/blobs/uploads/..%2f..%2fetc")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    // PUT without digest.
    let r = reg
        .req(Method::POST, "/v2/r/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let r = reg
        .req(Method::PUT, &header(&r, "location"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn cross_repository_mount() {
    let reg = open().await;
    let d = reg.push_blob("src/repo", b"shared layer").await;
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), format!("/v2/dst/blobs/{d}"));
    let r = reg
        .req(Method::HEAD, &format!("/v2/dst/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Not in the source repository: an ordinary session instead.
    let missing = sha256(b"nope");
    let r = reg
        .req(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src/repo"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn blob_delete() {
    let reg = open().await;
    let d = reg.push_blob("r", b"to delete").await;
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .req(Method::GET, &format!("/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let reg = open().await;
    let (m, d) = reg.push_image("app", "v1", b"layer one").await;
    for reference in ["v1", d.as_str()] {
        let r = reg
            .req(Method::GET, &format!("/v2/app/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert_eq!(r.bytes().await.unwrap().as_ref(), &m[..]);
        let r = reg
            .req(Method::HEAD, &format!("/v2/app/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-length"), m.len().to_string());
    }
    let r = reg
        .req(Method::GET, "/v2/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = reg
        .req(Method::GET, "/v2/nothere/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    // PUT by digest must match.
    let r = reg
        .put_manifest("app", &sha256(b"x"), OCI_MANIFEST, &m)
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let r = reg.put_manifest("app", &d, OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg.put_manifest("app", "bad..tag/", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg.put_manifest("app", ".bad", OCI_MANIFEST, &m).await;
    assert_error(r, StatusCode::BAD_REQUEST, "TAG_INVALID").await;
}

#[tokio::test]
async fn manifest_validation_errors() {
    let reg = open().await;
    let c = reg.push_blob("r", b"{}").await;
    let missing = sha256(b"missing layer");
    let m = image_manifest(&c, 2, &missing, 13, None);
    let r = reg.put_manifest("r", "t", OCI_MANIFEST, &m).await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    let r = reg.put_manifest("r", "t", OCI_MANIFEST, b"{not json").await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    let r = reg.put_manifest("r", "t", DOCKER_MANIFEST, &m).await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    let r = reg
        .put_manifest(
            "r",
            "t",
            "application/vnd.docker.distribution.manifest.v1+json",
            b"{\"schemaVersion\":1}",
        )
        .await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = reg.put_manifest("r", "t", OCI_MANIFEST, &huge).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID").await;
    // Nothing got tagged.
    let r = reg
        .req(Method::GET, "/v2/r/manifests/t")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn docker_schema2_and_indexes_with_accept_negotiation() {
    let reg = open().await;
    let c = reg.push_blob("r", b"{\"os\":\"linux\"}").await;
    let l = reg.push_blob("r", b"layer").await;
    let docker = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c, "size": 14},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": l, "size": 5}],
    }))
    .unwrap();
    let r = reg
        .put_manifest("r", "docker", DOCKER_MANIFEST, &docker)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let dd = header(&r, "docker-content-digest");
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": dd, "size": docker.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let r = reg.put_manifest("r", "list", DOCKER_LIST, &list).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, od) = reg.push_image("r", "oci", b"oci layer").await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": od, "size": 1}],
    }))
    .unwrap();
    let r = reg.put_manifest("r", "index", OCI_INDEX, &index).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // An index naming an unknown manifest is refused.
    let bad = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(b"x"), "size": 1}],
    }))
    .unwrap();
    let r = reg.put_manifest("r", "bad", OCI_INDEX, &bad).await;
    assert_error(r, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    let get = |tag: &'static str, accept: &'static str| {
        reg.req(Method::GET, &format!("/v2/r/manifests/{tag}"))
            .header("accept", accept)
            .send()
    };
    let r = get("list", DOCKER_MANIFEST).await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = get("list", DOCKER_LIST).await.unwrap();
    assert_eq!(header(&r, "content-type"), DOCKER_LIST);
    let r = get(
        "index",
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
    )
    .await
    .unwrap();
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    let r = get("docker", DOCKER_MANIFEST).await.unwrap();
    assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
    let r = get("index", "*/*").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn referrers_with_artifact_type_filter() {
    let reg = open().await;
    let (_, subject) = reg.push_image("r", "v1", b"base").await;
    let empty = reg.push_blob("r", b"{}").await;
    let layer = reg.push_blob("r", b"signature bytes").await;
    let sig = image_manifest(
        &empty,
        2,
        &layer,
        15,
        Some(serde_json::json!({
            "artifactType": "application/vnd.example.sig",
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
            "annotations": {"k": "v"},
        })),
    );
    let r = reg
        .put_manifest("r", &sha256(&sig), OCI_MANIFEST, &sig)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "oci-subject"), subject);
    let r = reg
        .req(Method::GET, &format!("/v2/r/referrers/{subject}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    let v: serde_json::Value = r.json().await.unwrap();
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sha256(&sig));
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(list[0]["annotations"]["k"], "v");
    assert_eq!(list[0]["size"], sig.len());

    let r = reg
        .req(
            Method::GET,
            &format!("/v2/r/referrers/{subject}?artifactType=application/other"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["manifests"].as_array().unwrap().is_empty());
    let r = reg
        .req(
            Method::GET,
            &format!("/v2/r/referrers/{subject}?artifactType=application/vnd.example.sig"),
        )
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);

    // Deleting the referrer removes it from the list.
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/manifests/{}", sha256(&sig)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .req(Method::GET, &format!("/v2/r/referrers/{subject}"))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["manifests"].as_array().unwrap().is_empty());
    let r = reg
        .req(Method::GET, "/v2/r/referrers/sha256:nothex")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn tags_list_paginates_lexically() {
    let reg = open().await;
    let (m, _) = reg.push_image("r", "e", b"l").await;
    for t in ["c", "a", "d", "b"] {
        let r = reg.put_manifest("r", t, OCI_MANIFEST, &m).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = reg
        .req(Method::GET, "/v2/r/tags/list")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["name"], "r");
    assert_eq!(v["tags"], serde_json::json!(["a", "b", "c", "d", "e"]));
    let r = reg
        .req(Method::GET, "/v2/r/tags/list?n=2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "link"),
        "</v2/r/tags/list?n=2&last=b>; rel=\"next\""
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let r = reg
        .req(Method::GET, "/v2/r/tags/list?n=2&last=d")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tags"], serde_json::json!(["e"]));
    let r = reg
        .req(Method::GET, "/v2/none/tags/list")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
}

#[tokio::test]
async fn catalog_paginates() {
    let reg = open().await;
    for repo in ["b/x", "a", "c"] {
        reg.push_blob(repo, b"x").await;
    }
    let r = reg.req(Method::GET, "/v2/_catalog").send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["a", "b/x", "c"]));
    let r = reg
        .req(Method::GET, "/v2/_catalog?n=1&last=a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "link"),
        "</v2/_catalog?n=1&last=b/x>; rel=\"next\""
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["b/x"]));
}

#[tokio::test]
async fn manifest_and_tag_deletes() {
    let reg = open().await;
    let (m, d) = reg.push_image("r", "v1", b"l").await;
    reg.put_manifest("r", "v2", OCI_MANIFEST, &m).await;
    let r = reg
        .req(Method::DELETE, "/v2/r/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .req(Method::GET, "/v2/r/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = reg
        .req(Method::GET, "/v2/r/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    for reference in ["v1", d.as_str()] {
        let r = reg
            .req(Method::GET, &format!("/v2/r/manifests/{reference}"))
            .send()
            .await
            .unwrap();
        assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/manifests/{d}"))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn bad_names_and_digests_are_spec_errors() {
    let reg = open().await;
    let r = reg
        .req(Method::GET, "/v2/UPPER/tags/list")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
    let r = reg
        .req(Method::POST, "/v2/a__b___c/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "NAME_INVALID").await;
    let r = reg
        .req(Method::GET, "/v2/r/blobs/sha256:short")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let r = reg
        .req(
            Method::GET,
            "/v2/r/blobs/md5:d41d8cd98f00b204e9800998ecf8427e",
        )
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    // Dot segments sent raw never reach storage.
    assert_eq!(
        raw_status(reg.server.addr, "GET /v2/a/../../etc/tags/list").await,
        400
    );
    assert_eq!(
        raw_status(reg.server.addr, "GET /v2/../blobs/uploads/x").await,
        400
    );
    let r = reg
        .req(Method::PUT, "/v2/r/tags/list")
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED").await;
}

#[tokio::test]
async fn truncated_upload_body_leaves_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reg = open().await;
    let d = sha256(b"0123456789");
    let mut s = tokio::net::TcpStream::connect(reg.server.addr)
        .await
        .unwrap();
    let req = format!(
        "POST /v2/r/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let r = reg
        .req(Method::HEAD, &format!("/v2/r/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn large_blob_streams_in_chunks() {
    let reg = open().await;
    // 24 MiB in 1 MiB pieces through a streaming body, then back out.
    let piece: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut all = Vec::new();
    for _ in 0..24 {
        all.extend_from_slice(&piece);
    }
    let d = sha256(&all);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..24).map(|_| Ok(piece.clone())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = reg
        .req(Method::POST, "/v2/big/blobs/uploads/")
        .send()
        .await
        .unwrap();
    let loc = reg.url(&header(&r, "location"));
    let r = reg.client.patch(&loc).body(body).send().await.unwrap();
    assert_eq!(header(&r, "range"), format!("0-{}", all.len() - 1));
    let r = reg
        .client
        .put(format!("{loc}?digest={d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = reg
        .req(Method::GET, &format!("/v2/big/blobs/{d}"))
        .send()
        .await
        .unwrap();
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), all.len());
    assert_eq!(sha256(&got), d);
}
