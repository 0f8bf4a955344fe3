//! The OCI distribution spec v1.1 against `dock registry serve`, over HTTP on loopback.
//!
//! Written from the spec's endpoint table (end-1 … end-14, named in each test) and its error
//! codes, plus the Docker Registry HTTP API v2 behaviour clients rely on (the API version
//! header, schema2 manifests, `_catalog`). Every test starts its own server on an ephemeral
//! port with its own root, and ends with [`Served::finish`]: no request was answered 5xx and
//! every stored blob still hashes to its name.
//!
//! Error codes covered: BLOB_UNKNOWN, BLOB_UPLOAD_INVALID, BLOB_UPLOAD_UNKNOWN,
//! DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, MANIFEST_UNKNOWN, NAME_INVALID,
//! NAME_UNKNOWN, SIZE_INVALID, UNAUTHORIZED, DENIED, UNSUPPORTED (and the Docker-era
//! TAG_INVALID and PAGINATION_NUMBER_INVALID). TOOMANYREQUESTS is not tested: the registry has
//! no rate limit that could emit it.
//!
//! Needs the dock binary: `cargo build -p dock` (or `DOCK=/path/to/dock`).

use berth_conformance::registry::http::Request;
use berth_conformance::registry::*;
use serde_json::json;

// ---- end-1 ----------------------------------------------------------------------------------

#[test]
fn end_1_base_answers_200_with_the_api_version() {
    let reg = Served::open("end1");
    for path in ["/v2/", "/v2"] {
        let r = reg.call("GET", path);
        r.assert_status(200);
        assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    }
    // Something that is no endpoint at all.
    let r = reg.call("GET", "/v3/");
    assert_eq!(r.status, 404);
    reg.finish();
}

// ---- end-4a, end-6, end-2 -------------------------------------------------------------------

#[test]
fn end_4a_end_6_monolithic_upload_then_end_2_get_head_and_ranges() {
    let reg = Served::open("end2");
    let data = b"hello registry blob".to_vec();
    let d = sha256(&data);
    let r = reg.call("POST", "/v2/a/b/blobs/uploads/");
    r.assert_status(202);
    let loc = r.header("location").to_string();
    assert!(loc.starts_with("/v2/a/b/blobs/uploads/"), "{loc}");
    assert_eq!(r.header("range"), "0-0");
    let r = reg.send(
        Request::new("PUT", &format!("{loc}?digest={d}"))
            .header("content-type", "application/octet-stream")
            .body(data.clone()),
    );
    r.assert_status(201);
    assert_eq!(r.header("location"), format!("/v2/a/b/blobs/{d}"));
    assert_eq!(r.header("docker-content-digest"), d);

    let r = reg.call("HEAD", &format!("/v2/a/b/blobs/{d}"));
    r.assert_status(200);
    assert_eq!(r.header("content-length"), data.len().to_string());
    assert_eq!(r.header("docker-content-digest"), d);
    assert!(r.body.is_empty(), "HEAD carried a body");
    let r = reg.call("GET", &format!("/v2/a/b/blobs/{d}"));
    r.assert_status(200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("docker-content-digest"), d);

    let r =
        reg.send(Request::new("GET", &format!("/v2/a/b/blobs/{d}")).header("range", "bytes=6-13"));
    r.assert_status(206);
    assert_eq!(
        r.header("content-range"),
        format!("bytes 6-13/{}", data.len())
    );
    assert_eq!(r.body, b"registry");
    let r =
        reg.send(Request::new("GET", &format!("/v2/a/b/blobs/{d}")).header("range", "bytes=6-"));
    r.assert_status(206);
    assert_eq!(r.body, &data[6..]);
    let r =
        reg.send(Request::new("GET", &format!("/v2/a/b/blobs/{d}")).header("range", "bytes=100-"));
    r.assert_status(416);
    assert_eq!(r.header("content-range"), format!("bytes */{}", data.len()));

    // A blob is visible only in the repositories that link it.
    reg.call("GET", &format!("/v2/other/blobs/{d}"))
        .assert_error(404, "BLOB_UNKNOWN");
    let r = reg.call("HEAD", &format!("/v2/other/blobs/{d}"));
    assert_eq!(r.status, 404);
    reg.call("GET", &format!("/v2/a/b/blobs/{}", sha256(b"never pushed")))
        .assert_error(404, "BLOB_UNKNOWN");
    reg.finish();
}

// ---- end-4b ---------------------------------------------------------------------------------

#[test]
fn end_4b_single_post_verifies_the_digest() {
    let reg = Served::open("end4b");
    let d = reg.push_blob("r", b"exact");
    assert_eq!(reg.call("GET", &format!("/v2/r/blobs/{d}")).body, b"exact");
    let wrong = sha256(b"something else");
    reg.send(Request::new("POST", &format!("/v2/r/blobs/uploads/?digest={wrong}")).body("exact"))
        .assert_error(400, "DIGEST_INVALID");
    assert_eq!(
        reg.call("HEAD", &format!("/v2/r/blobs/{wrong}")).status,
        404
    );
    reg.send(Request::new("POST", "/v2/r/blobs/uploads/?digest=sha256:abc").body("x"))
        .assert_error(400, "DIGEST_INVALID");
    // sha512 digests are accepted too.
    let data = b"sha512 content";
    let d512 = {
        use sha2::Digest as _;
        let h = sha2::Sha512::digest(data);
        format!(
            "sha512:{}",
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    reg.send(Request::new("POST", &format!("/v2/r/blobs/uploads/?digest={d512}")).body(&data[..]))
        .assert_status(201);
    assert_eq!(reg.call("GET", &format!("/v2/r/blobs/{d512}")).body, data);
    reg.finish();
}

// ---- end-5, end-13, end-6: chunked uploads ---------------------------------------------------

#[test]
fn end_5_chunks_in_order_only_with_the_current_range_on_416() {
    let reg = Served::open("end5");
    let loc = reg.start_upload("r");
    let patch = |range: &str, body: &[u8]| {
        reg.send(
            Request::new("PATCH", &loc)
                .header("content-range", range)
                .header("content-type", "application/octet-stream")
                .body(body),
        )
    };
    let r = patch("0-4", b"01234");
    r.assert_status(202);
    assert_eq!(r.header("range"), "0-4");
    assert!(r.header("location").starts_with("/v2/r/blobs/uploads/"));
    // Overlapping chunk: 416 with the current range.
    let r = patch("3-7", b"34567");
    r.assert_error(416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range"), "0-4");
    // A gap: 416 with the current range.
    let r = patch("6-7", b"67");
    r.assert_error(416, "BLOB_UPLOAD_INVALID");
    assert_eq!(r.header("range"), "0-4");
    // Restarting from zero is overlapping too.
    let r = patch("0-4", b"01234");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("range"), "0-4");
    // Content-Range promising more than Content-Length.
    patch("5-14", b"56789").assert_error(400, "SIZE_INVALID");
    // Malformed Content-Range.
    patch("x-y", b"56789").assert_error(416, "BLOB_UPLOAD_INVALID");
    patch("9-5", b"56789").assert_error(416, "BLOB_UPLOAD_INVALID");
    // end-13: status still shows the first chunk only.
    let r = reg.call("GET", &loc);
    r.assert_status(204);
    assert_eq!(r.header("range"), "0-4");
    assert!(r.header("location").starts_with("/v2/r/blobs/uploads/"));
    let r = patch("5-9", b"56789");
    r.assert_status(202);
    assert_eq!(r.header("range"), "0-9");
    // A chunk without Content-Range appends, here streamed with chunked transfer encoding
    // (no Content-Length), as skopeo and podman send layers.
    let req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n"
    );
    let r = reg.raw(req.as_bytes(), false);
    r.assert_status(202);
    assert_eq!(r.header("range"), "0-11");
    // end-6 with the last chunk in the PUT body.
    let d = sha256(b"0123456789abc");
    let r = reg.send(Request::new("PUT", &format!("{loc}?digest={d}")).body("c"));
    r.assert_status(201);
    assert_eq!(r.header("docker-content-digest"), d);
    assert_eq!(
        reg.call("GET", &format!("/v2/r/blobs/{d}")).body,
        b"0123456789abc"
    );
    // The session is closed.
    reg.call("GET", &loc)
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.send(Request::new("PATCH", &loc).body("x"))
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.finish();
}

#[test]
fn end_6_wrong_digest_closes_the_session_and_stores_nothing() {
    let reg = Served::open("end6");
    let loc = reg.start_upload("r");
    reg.send(
        Request::new("PATCH", &loc)
            .header("content-range", "0-3")
            .body("data"),
    )
    .assert_status(202);
    let wrong = sha256(b"other");
    reg.send(Request::new("PUT", &format!("{loc}?digest={wrong}")))
        .assert_error(400, "DIGEST_INVALID");
    assert_eq!(
        reg.call("HEAD", &format!("/v2/r/blobs/{wrong}")).status,
        404
    );
    assert_eq!(
        reg.call("HEAD", &format!("/v2/r/blobs/{}", sha256(b"data")))
            .status,
        404
    );
    // PUT without a digest, and with a malformed one.
    let loc = reg.start_upload("r");
    reg.call("PUT", &loc).assert_error(400, "DIGEST_INVALID");
    reg.call("PUT", &format!("{loc}?digest=sha256:../../x"))
        .assert_error(400, "DIGEST_INVALID");
    reg.finish();
}

// ---- end-14 (cancel) and unknown sessions ---------------------------------------------------

#[test]
fn end_14_cancel_and_unknown_or_foreign_sessions() {
    let reg = Served::open("end14");
    let loc = reg.start_upload("r");
    let id = loc.rsplit('/').next().expect("upload id").to_string();
    // A session belongs to its repository.
    reg.call("GET", &format!("/v2/other/blobs/uploads/{id}"))
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.send(Request::new("PATCH", &format!("/v2/other/blobs/uploads/{id}")).body("x"))
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.call("DELETE", &loc).assert_status(204);
    reg.call("GET", &loc)
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    reg.call("DELETE", &loc)
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    for bogus in ["..%2f..%2fetc", "0000", "not-an-id"] {
        reg.send(Request::new("PATCH", &format!("/v2/r/blobs/uploads/{bogus}")).body("x"))
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    }
    reg.finish();
}

// ---- end-11 ---------------------------------------------------------------------------------

#[test]
fn end_11_cross_repository_mount() {
    let reg = Served::open("end11");
    let d = reg.push_blob("src/repo", b"shared layer");
    let r = reg.call(
        "POST",
        &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
    );
    r.assert_status(201);
    assert_eq!(r.header("location"), format!("/v2/dst/blobs/{d}"));
    assert_eq!(r.header("docker-content-digest"), d);
    reg.call("HEAD", &format!("/v2/dst/blobs/{d}"))
        .assert_status(200);
    // Not in the source repository, or the source does not exist, or is no valid name:
    // an ordinary upload session instead (202), as the spec allows.
    let missing = sha256(b"nope");
    for from in ["src/repo", "nothere", "UPPER"] {
        let r = reg.call(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={missing}&from={from}"),
        );
        r.assert_status(202);
        assert!(r.header("location").starts_with("/v2/dst/blobs/uploads/"));
    }
    // The missing blob was not mounted.
    assert_eq!(
        reg.call("HEAD", &format!("/v2/dst/blobs/{missing}")).status,
        404
    );
    reg.call(
        "POST",
        "/v2/dst/blobs/uploads/?mount=sha256:zz&from=src/repo",
    )
    .assert_error(400, "DIGEST_INVALID");
    reg.finish();
}

// ---- end-10 ---------------------------------------------------------------------------------

#[test]
fn end_10_blob_delete() {
    let reg = Served::open("end10");
    let d = reg.push_blob("r", b"to delete");
    let keep = reg.push_blob("other", b"to delete");
    let r = reg.call("DELETE", &format!("/v2/r/blobs/{d}"));
    r.assert_status(202);
    reg.call("GET", &format!("/v2/r/blobs/{d}"))
        .assert_error(404, "BLOB_UNKNOWN");
    reg.call("DELETE", &format!("/v2/r/blobs/{d}"))
        .assert_error(404, "BLOB_UNKNOWN");
    // Another repository's link is untouched.
    assert_eq!(
        reg.call("GET", &format!("/v2/other/blobs/{keep}")).body,
        b"to delete"
    );
    reg.call("DELETE", "/v2/r/blobs/sha256:1234")
        .assert_error(400, "DIGEST_INVALID");
    reg.finish();
}

// ---- end-3, end-7 ---------------------------------------------------------------------------

#[test]
fn end_3_end_7_manifests_by_tag_and_digest() {
    let reg = Served::open("end3");
    let (m, d) = reg.push_image("app", "v1", b"layer one");
    for reference in ["v1", d.as_str()] {
        let r = reg.call("GET", &format!("/v2/app/manifests/{reference}"));
        r.assert_status(200);
        assert_eq!(r.header("content-type"), OCI_MANIFEST);
        assert_eq!(r.header("docker-content-digest"), d);
        assert_eq!(r.body, m);
        let r = reg.call("HEAD", &format!("/v2/app/manifests/{reference}"));
        r.assert_status(200);
        assert_eq!(r.header("content-length"), m.len().to_string());
        assert_eq!(r.header("docker-content-digest"), d);
    }
    reg.call("GET", "/v2/app/manifests/v2")
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.call("GET", &format!("/v2/app/manifests/{}", sha256(b"x")))
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.call("GET", "/v2/nothere/manifests/v1")
        .assert_error(404, "NAME_UNKNOWN");
    // PUT by digest must match the content.
    reg.put_manifest("app", &sha256(b"x"), OCI_MANIFEST, &m)
        .assert_error(400, "DIGEST_INVALID");
    reg.put_manifest("app", &d, OCI_MANIFEST, &m)
        .assert_status(201);
    // Tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
    reg.put_manifest("app", ".bad", OCI_MANIFEST, &m)
        .assert_error(400, "TAG_INVALID");
    reg.put_manifest("app", &"t".repeat(129), OCI_MANIFEST, &m)
        .assert_error(400, "TAG_INVALID");
    reg.put_manifest("app", &"t".repeat(128), OCI_MANIFEST, &m)
        .assert_status(201);
    let r = reg.put_manifest("app", "bad..tag/", OCI_MANIFEST, &m);
    assert_eq!(r.status, 404, "a trailing slash is no manifest endpoint");
    // Re-tagging moves the tag (no immutability configured).
    let (_, d2) = reg.push_image("app", "v1", b"layer two");
    assert_ne!(d, d2);
    assert_eq!(
        reg.call("HEAD", "/v2/app/manifests/v1")
            .header("docker-content-digest"),
        d2
    );
    reg.finish();
}

#[test]
fn end_7_invalid_and_oversized_manifests_are_refused() {
    let reg = Served::open("end7");
    let c = reg.push_blob("r", b"{}");
    let missing = sha256(b"missing layer");
    let m = image_manifest(&c, 2, &missing, 13, None);
    reg.put_manifest("r", "t", OCI_MANIFEST, &m)
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    reg.put_manifest("r", "t", OCI_MANIFEST, b"{not json")
        .assert_error(400, "MANIFEST_INVALID");
    reg.put_manifest("r", "t", OCI_MANIFEST, b"")
        .assert_error(400, "MANIFEST_INVALID");
    // Media type in the body differs from Content-Type.
    reg.put_manifest("r", "t", DOCKER_MANIFEST, &m)
        .assert_error(400, "MANIFEST_INVALID");
    // Schema 1 is not supported.
    reg.put_manifest(
        "r",
        "t",
        "application/vnd.docker.distribution.manifest.v1+json",
        b"{\"schemaVersion\":1}",
    )
    .assert_error(400, "MANIFEST_INVALID");
    // A descriptor with a malformed digest.
    let bad = image_manifest(&c, 2, "sha256:nothex", 13, None);
    let r = reg.put_manifest("r", "t", OCI_MANIFEST, &bad);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // Over the 4 MiB limit: 413, and the server says so without storing anything.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    reg.put_manifest("r", "t", OCI_MANIFEST, &huge)
        .assert_error(413, "MANIFEST_INVALID");
    // Nothing got tagged.
    reg.call("GET", "/v2/r/manifests/t")
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.finish();
}

#[test]
fn end_3_schema2_and_indexes_with_accept_negotiation() {
    let reg = Served::open("accept");
    let c = reg.push_blob("r", b"{\"os\":\"linux\"}");
    let l = reg.push_blob("r", b"layer");
    let docker = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c, "size": 14},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": l, "size": 5}],
    }))
    .expect("json");
    let r = reg.put_manifest("r", "docker", DOCKER_MANIFEST, &docker);
    r.assert_status(201);
    let dd = r.header("docker-content-digest").to_string();
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": dd, "size": docker.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .expect("json");
    reg.put_manifest("r", "list", DOCKER_LIST, &list)
        .assert_status(201);
    let (_, od) = reg.push_image("r", "oci", b"oci layer");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": od, "size": 1}],
    }))
    .expect("json");
    reg.put_manifest("r", "index", OCI_INDEX, &index)
        .assert_status(201);
    // An index naming an unknown manifest is refused.
    let bad = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256(b"x"), "size": 1}],
    }))
    .expect("json");
    reg.put_manifest("r", "bad", OCI_INDEX, &bad)
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");

    let get = |tag: &str, accept: &str| {
        reg.send(Request::new("GET", &format!("/v2/r/manifests/{tag}")).header("accept", accept))
    };
    get("list", DOCKER_MANIFEST).assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(get("list", DOCKER_LIST).header("content-type"), DOCKER_LIST);
    let r = get("index", &format!("{OCI_INDEX}, {OCI_MANIFEST}"));
    assert_eq!(r.header("content-type"), OCI_INDEX);
    assert_eq!(r.body, index);
    assert_eq!(
        get("docker", DOCKER_MANIFEST).header("content-type"),
        DOCKER_MANIFEST
    );
    get("index", "*/*").assert_status(200);
    reg.finish();
}

// ---- end-12a, end-12b -----------------------------------------------------------------------

#[test]
fn end_12_referrers_with_artifact_type_filtering() {
    let reg = Served::open("end12");
    let (_, subject) = reg.push_image("r", "v1", b"base");
    // Nothing refers to it yet: 200 with an empty index, never 404.
    let r = reg.call("GET", &format!("/v2/r/referrers/{subject}"));
    r.assert_status(200);
    assert!(r.json()["manifests"]
        .as_array()
        .expect("manifests")
        .is_empty());
    let empty = reg.push_blob("r", b"{}");
    let layer = reg.push_blob("r", b"signature bytes");
    let artifact = |kind: &str, note: &str| {
        image_manifest(
            &empty,
            2,
            &layer,
            15,
            Some(json!({
                "artifactType": kind,
                "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
                "annotations": {"note": note},
            })),
        )
    };
    let sig = artifact("application/vnd.example.sig", "sig");
    let sbom = artifact("application/vnd.example.sbom", "sbom");
    for m in [&sig, &sbom] {
        let r = reg.put_manifest("r", &sha256(m), OCI_MANIFEST, m);
        r.assert_status(201);
        assert_eq!(r.header("oci-subject"), subject);
    }
    // The subject need not exist (pushed before its subject).
    let orphan_subject = sha256(b"not pushed yet");
    let orphan = image_manifest(
        &empty,
        2,
        &layer,
        15,
        Some(
            json!({"subject": {"mediaType": OCI_MANIFEST, "digest": orphan_subject, "size": 9},
                    "config": {"mediaType": "application/vnd.example.cfg", "digest": empty, "size": 2}}),
        ),
    );
    reg.put_manifest("r", &sha256(&orphan), OCI_MANIFEST, &orphan)
        .assert_status(201);
    let r = reg.call("GET", &format!("/v2/r/referrers/{orphan_subject}"));
    let list = r.json()["manifests"].clone();
    assert_eq!(list.as_array().expect("manifests").len(), 1);
    // Without artifactType, the config's media type stands in.
    assert_eq!(list[0]["artifactType"], "application/vnd.example.cfg");

    let r = reg.call("GET", &format!("/v2/r/referrers/{subject}"));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), OCI_INDEX);
    assert!(r.get("oci-filters-applied").is_none());
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["mediaType"], OCI_INDEX);
    let list = v["manifests"].as_array().expect("manifests");
    assert_eq!(list.len(), 2);
    let sig_desc = list
        .iter()
        .find(|m| m["digest"] == sha256(&sig))
        .expect("signature listed");
    assert_eq!(sig_desc["artifactType"], "application/vnd.example.sig");
    assert_eq!(sig_desc["annotations"]["note"], "sig");
    assert_eq!(sig_desc["size"], sig.len());
    assert_eq!(sig_desc["mediaType"], OCI_MANIFEST);

    // end-12b
    let r = reg.call(
        "GET",
        &format!("/v2/r/referrers/{subject}?artifactType=application/vnd.example.sbom"),
    );
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    let v = r.json();
    let list = v["manifests"].as_array().expect("manifests");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sha256(&sbom));
    let r = reg.call(
        "GET",
        &format!("/v2/r/referrers/{subject}?artifactType=application/other"),
    );
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    assert!(r.json()["manifests"]
        .as_array()
        .expect("manifests")
        .is_empty());

    // Deleting a referrer removes it from the list.
    reg.call("DELETE", &format!("/v2/r/manifests/{}", sha256(&sig)))
        .assert_status(202);
    let v = reg
        .call("GET", &format!("/v2/r/referrers/{subject}"))
        .json();
    let list = v["manifests"].as_array().expect("manifests");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], sha256(&sbom));
    reg.call("GET", "/v2/r/referrers/sha256:nothex")
        .assert_error(400, "DIGEST_INVALID");
    reg.finish();
}

// ---- end-8a, end-8b, _catalog ---------------------------------------------------------------

#[test]
fn end_8_tags_list_paginates_lexically_with_link() {
    let reg = Served::open("end8");
    let (m, _) = reg.push_image("r", "e", b"l");
    for t in ["c", "a", "d", "b", "B", "a-1"] {
        reg.put_manifest("r", t, OCI_MANIFEST, &m)
            .assert_status(201);
    }
    let r = reg.call("GET", "/v2/r/tags/list");
    r.assert_status(200);
    assert!(r.get("link").is_none());
    let v = r.json();
    assert_eq!(v["name"], "r");
    assert_eq!(v["tags"], json!(["B", "a", "a-1", "b", "c", "d", "e"]));
    let r = reg.call("GET", "/v2/r/tags/list?n=2");
    assert_eq!(
        r.header("link"),
        "</v2/r/tags/list?n=2&last=a>; rel=\"next\""
    );
    assert_eq!(r.json()["tags"], json!(["B", "a"]));
    // Follow the Link header to the end.
    let mut seen = Vec::new();
    let mut next = Some("/v2/r/tags/list?n=3".to_string());
    while let Some(target) = next {
        let r = reg.call("GET", &target);
        r.assert_status(200);
        for t in r.json()["tags"].as_array().expect("tags") {
            seen.push(t.as_str().expect("tag").to_string());
        }
        next = r.get("link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .expect("link target")
                .to_string()
        });
    }
    assert_eq!(seen, ["B", "a", "a-1", "b", "c", "d", "e"]);
    let r = reg.call("GET", "/v2/r/tags/list?n=2&last=d");
    assert!(r.get("link").is_none());
    assert_eq!(r.json()["tags"], json!(["e"]));
    let r = reg.call("GET", "/v2/r/tags/list?last=e");
    assert_eq!(r.json()["tags"], json!([]));
    let r = reg.call("GET", "/v2/r/tags/list?n=0");
    r.assert_status(200);
    assert_eq!(r.json()["tags"], json!([]));
    reg.call("GET", "/v2/r/tags/list?n=abc")
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    reg.call("GET", "/v2/none/tags/list")
        .assert_error(404, "NAME_UNKNOWN");
    reg.finish();
}

#[test]
fn catalog_paginates() {
    let reg = Served::open("catalog");
    for repo in ["b/x", "a", "c", "b/y/z"] {
        reg.push_blob(repo, b"x");
    }
    let r = reg.call("GET", "/v2/_catalog");
    r.assert_status(200);
    assert_eq!(r.json()["repositories"], json!(["a", "b/x", "b/y/z", "c"]));
    let r = reg.call("GET", "/v2/_catalog?n=1&last=a");
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?n=1&last=b/x>; rel=\"next\""
    );
    assert_eq!(r.json()["repositories"], json!(["b/x"]));
    let r = reg.call("GET", "/v2/_catalog?n=10&last=b/y/z");
    assert!(r.get("link").is_none());
    assert_eq!(r.json()["repositories"], json!(["c"]));
    reg.finish();
}

// ---- end-9 ----------------------------------------------------------------------------------

#[test]
fn end_9_manifest_and_tag_deletes() {
    let reg = Served::open("end9");
    let (m, d) = reg.push_image("r", "v1", b"l");
    reg.put_manifest("r", "v2", OCI_MANIFEST, &m)
        .assert_status(201);
    // Deleting a tag leaves the manifest and other tags.
    reg.call("DELETE", "/v2/r/manifests/v2").assert_status(202);
    reg.call("GET", "/v2/r/manifests/v2")
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.call("GET", "/v2/r/manifests/v1").assert_status(200);
    assert_eq!(
        reg.call("GET", "/v2/r/tags/list").json()["tags"],
        json!(["v1"])
    );
    // Deleting by digest removes the manifest and every tag pointing at it.
    reg.call("DELETE", &format!("/v2/r/manifests/{d}"))
        .assert_status(202);
    for reference in ["v1", d.as_str()] {
        reg.call("GET", &format!("/v2/r/manifests/{reference}"))
            .assert_error(404, "MANIFEST_UNKNOWN");
    }
    reg.call("DELETE", &format!("/v2/r/manifests/{d}"))
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.call("DELETE", "/v2/r/manifests/nosuchtag")
        .assert_error(404, "MANIFEST_UNKNOWN");
    reg.call("DELETE", "/v2/r/manifests/sha256:bad")
        .assert_error(400, "DIGEST_INVALID");
    reg.finish();
}

// ---- names, digests, methods ----------------------------------------------------------------

#[test]
fn bad_names_digests_and_methods_are_spec_errors() {
    let reg = Served::open("names");
    for name in ["UPPER", "a__b___c", "-a", "a/", "a//b", "a.-b", "_x"] {
        reg.call("GET", &format!("/v2/{name}/tags/list"))
            .assert_error(400, "NAME_INVALID");
    }
    reg.call("POST", "/v2/a__b___c/blobs/uploads/")
        .assert_error(400, "NAME_INVALID");
    reg.call("GET", "/v2/UPPER/manifests/latest")
        .assert_error(400, "NAME_INVALID");
    // The spec's path components: separators `.`, `_`, `__`, `-` inside components are fine.
    reg.push_blob("a.b_c__d-e/f--g", b"ok");
    for d in [
        "sha256:short",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "sha256",
        "sha256:",
        ":abc",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
    ] {
        reg.call("GET", &format!("/v2/r/blobs/{d}"))
            .assert_error(400, "DIGEST_INVALID");
    }
    // Dot segments sent raw never reach storage.
    for line in [
        "GET /v2/a/../../etc/tags/list",
        "GET /v2/../blobs/uploads/x",
        "GET /v2/a/%2e%2e/%2e%2e/etc/tags/list",
        "GET /v2/a/blobs/../../../../etc/passwd",
    ] {
        let r = reg.raw(
            format!("{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            false,
        );
        assert!(
            (400..500).contains(&r.status),
            "{line}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    reg.call("PUT", "/v2/r/tags/list")
        .assert_error(405, "UNSUPPORTED");
    reg.call("POST", "/v2/r/manifests/latest")
        .assert_error(405, "UNSUPPORTED");
    reg.call("PATCH", "/v2/r/blobs/uploads/")
        .assert_error(405, "UNSUPPORTED");
    reg.finish();
}

// ---- UNAUTHORIZED, DENIED -------------------------------------------------------------------

#[test]
fn unauthorized_and_denied() {
    let reg = Served::start(
        "auth",
        ServeConfig {
            config: Some(json!({
                "public_repositories": ["pub/*"],
                "permissions": {"bob": {"team/*": "pull"}},
            })),
            users: &[("alice", "a-pass"), ("bob", "b-pass")],
        },
    );
    let r = reg.call("GET", "/v2/");
    r.assert_error(401, "UNAUTHORIZED");
    let challenge = r.header("www-authenticate");
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(challenge.contains("service="), "{challenge}");
    reg.send(Request::new("GET", "/v2/").basic("alice", "wrong"))
        .assert_error(401, "UNAUTHORIZED");
    reg.send(Request::new("GET", "/v2/").basic("alice", "a-pass"))
        .assert_status(200);
    // Alice pushes into team/app; bob may only pull there.
    let d = sha256(b"blob");
    reg.send(
        Request::new("POST", &format!("/v2/team/app/blobs/uploads/?digest={d}"))
            .basic("alice", "a-pass")
            .body("blob"),
    )
    .assert_status(201);
    reg.send(Request::new("GET", &format!("/v2/team/app/blobs/{d}")).basic("bob", "b-pass"))
        .assert_status(200);
    reg.send(
        Request::new("POST", &format!("/v2/team/app/blobs/uploads/?digest={d}"))
            .basic("bob", "b-pass")
            .body("blob"),
    )
    .assert_error(403, "DENIED");
    // Anonymous pulls only from public repositories; a challenge names the scope.
    let r = reg.call("GET", &format!("/v2/team/app/blobs/{d}"));
    r.assert_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .contains("scope=\"repository:team/app:pull\""),
        "{}",
        r.header("www-authenticate")
    );
    // The token flow: a token for pull on team/app works as a Bearer.
    let r = reg.send(
        Request::new(
            "GET",
            "/token?service=dock-registry&scope=repository:team/app:pull",
        )
        .basic("bob", "b-pass"),
    );
    r.assert_status(200);
    let token = r.json()["token"].as_str().expect("token").to_string();
    reg.send(Request::new("GET", &format!("/v2/team/app/blobs/{d}")).bearer(&token))
        .assert_status(200);
    let r = reg.send(
        Request::new("POST", &format!("/v2/team/app/blobs/uploads/?digest={d}"))
            .bearer(&token)
            .body("blob"),
    );
    assert!(
        r.status == 401 || r.status == 403,
        "push with a pull token: {}",
        r.status
    );
    reg.send(Request::new("GET", "/v2/").bearer("not.a.token"))
        .assert_error(401, "UNAUTHORIZED");
    reg.finish();
}

// ---- bad input on the wire ------------------------------------------------------------------

#[test]
fn truncated_and_mislabelled_bodies_leave_nothing_behind() {
    let reg = Served::open("wire");
    let data = b"0123456789";
    let d = sha256(data);
    // Content-Length promises 10 bytes, the client sends 5 and stops.
    let req = format!(
        "POST /v2/r/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"
    );
    let r = reg.raw(req.as_bytes(), true);
    assert!(r.status == 0 || (400..500).contains(&r.status), "{r:?}");
    assert_eq!(reg.call("HEAD", &format!("/v2/r/blobs/{d}")).status, 404);

    // A chunk cut short mid-body is rolled back: the session stays at its last good size and
    // resumes.
    let loc = reg.start_upload("r");
    reg.send(
        Request::new("PATCH", &loc)
            .header("content-range", "0-2")
            .body("012"),
    )
    .assert_status(202);
    let req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Range: 3-9\r\nContent-Length: 7\r\n\r\n345"
    );
    reg.raw(req.as_bytes(), true);
    let r = reg.call("GET", &loc);
    r.assert_status(204);
    assert_eq!(r.header("range"), "0-2");
    reg.send(
        Request::new("PATCH", &loc)
            .header("content-range", "3-9")
            .body("3456789"),
    )
    .assert_status(202);
    reg.send(Request::new("PUT", &format!("{loc}?digest={d}")))
        .assert_status(201);
    assert_eq!(reg.call("GET", &format!("/v2/r/blobs/{d}")).body, data);

    // A final PUT cut short: nothing committed.
    let other = b"abcdefghij";
    let od = sha256(other);
    let loc = reg.start_upload("r");
    let req =
        format!("PUT {loc}?digest={od} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde");
    reg.raw(req.as_bytes(), true);
    assert_eq!(reg.call("HEAD", &format!("/v2/r/blobs/{od}")).status, 404);

    // Content-Length smaller than the body: only the declared bytes count, so the digest of
    // the whole body does not match.
    let req = format!(
        "POST /v2/r/blobs/uploads/?digest={od} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcdefghij"
    );
    let r = reg.raw(req.as_bytes(), false);
    r.assert_error(400, "DIGEST_INVALID");
    assert_eq!(reg.call("HEAD", &format!("/v2/r/blobs/{od}")).status, 404);

    // Content-Length disagreeing with Content-Range.
    let loc = reg.start_upload("r");
    let req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Range: 0-9\r\nContent-Length: 4\r\n\r\nabcd"
    );
    reg.raw(req.as_bytes(), false)
        .assert_error(400, "SIZE_INVALID");
    assert_eq!(reg.call("GET", &loc).header("range"), "0-0");

    // A manifest cut short.
    let (m, _) = reg.push_image("r", "v1", b"layer");
    let req = format!(
        "PUT /v2/r/manifests/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n\r\n{}",
        m.len(),
        String::from_utf8_lossy(&m[..m.len() / 2])
    );
    reg.raw(req.as_bytes(), true);
    reg.call("GET", "/v2/r/manifests/v2")
        .assert_error(404, "MANIFEST_UNKNOWN");
    // A Content-Length that is no number.
    let req = "POST /v2/r/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ten\r\n\r\n";
    let r = reg.raw(req.as_bytes(), false);
    assert_eq!(r.status, 400);
    reg.finish();
}

#[test]
fn large_blob_streams_through_chunks() {
    let reg = Served::open("large");
    // 24 MiB in three chunks, then back out whole and by range.
    let all: Vec<u8> = (0..24 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let d = sha256(&all);
    let loc = reg.start_upload("big");
    let third = all.len() / 3;
    for (i, chunk) in all.chunks(third).enumerate() {
        let start = i * third;
        let r = reg.send(
            Request::new("PATCH", &loc)
                .header(
                    "content-range",
                    format!("{start}-{}", start + chunk.len() - 1),
                )
                .body(chunk),
        );
        r.assert_status(202);
        assert_eq!(r.header("range"), format!("0-{}", start + chunk.len() - 1));
    }
    reg.send(Request::new("PUT", &format!("{loc}?digest={d}")))
        .assert_status(201);
    let r = reg.call("GET", &format!("/v2/big/blobs/{d}"));
    assert_eq!(r.body.len(), all.len());
    assert_eq!(sha256(&r.body), d);
    let r = reg.send(
        Request::new("GET", &format!("/v2/big/blobs/{d}"))
            .header("range", format!("bytes={}-{}", third, 2 * third - 1)),
    );
    r.assert_status(206);
    assert_eq!(r.body, &all[third..2 * third]);
    reg.finish();
}
