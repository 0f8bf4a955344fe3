//! Garbage collection (mark, sweep, grace, lifecycle policies), pulls during GC, and parallel
//! pushes of overlapping images.

mod common;

use common::*;
use dock_registry::gc::{collect, GcOptions};
use reqwest::{Method, StatusCode};
use std::time::Duration;

fn now_gc() -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        dry_run: false,
    }
}

async fn blob_status(reg: &TestRegistry, repo: &str, d: &str) -> StatusCode {
    reg.req(Method::GET, &format!("/v2/{repo}/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn sweeps_only_unreferenced_blobs() {
    let reg = open().await;
    let (_, keep) = reg.push_image("r", "keep", b"kept layer").await;
    let (_, drop) = reg.push_image("r", "drop", b"dropped layer").await;
    let orphan = reg.push_blob("r", b"never referenced").await;
    let r = reg
        .req(Method::DELETE, &format!("/v2/r/manifests/{drop}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    // Within the grace period nothing goes.
    let held = GcOptions {
        grace: Duration::from_secs(3600),
        dry_run: false,
    };
    let report = collect(&reg.server.registry, &held).await.unwrap();
    assert!(report.blobs_swept.is_empty());
    assert_eq!(report.blobs_in_grace, 3);

    let dry = GcOptions {
        grace: Duration::ZERO,
        dry_run: true,
    };
    let report = collect(&reg.server.registry, &dry).await.unwrap();
    assert_eq!(report.blobs_swept.len(), 3);
    assert_eq!(blob_status(&reg, "r", &orphan).await, StatusCode::OK);

    let report = collect(&reg.server.registry, &now_gc()).await.unwrap();
    let swept: Vec<String> = report.blobs_swept.iter().map(|d| d.to_string()).collect();
    assert!(swept.contains(&orphan));
    assert!(swept.contains(&drop));
    assert!(swept.contains(&sha256(b"dropped layer")));
    assert_eq!(swept.len(), 3, "{swept:?}");
    assert_eq!(blob_status(&reg, "r", &orphan).await, StatusCode::NOT_FOUND);
    assert_eq!(
        blob_status(&reg, "r", &sha256(b"kept layer")).await,
        StatusCode::OK
    );
    let r = reg
        .req(Method::GET, "/v2/r/manifests/keep")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "docker-content-digest"), keep);
}

#[tokio::test]
async fn lifecycle_keeps_last_tags_and_expires_untagged() {
    let reg = start(
        r#"{"access_log": false, "lifecycle": [
            {"repositories": "app", "tag_prefix": "build-", "keep_last": 2},
            {"repositories": "*", "expire_untagged_days": 0}
        ]}"#,
        &[],
    )
    .await;
    let (m, subject) = reg.push_image("app", "release", b"base").await;
    for t in ["build-1", "build-2", "build-3", "build-4"] {
        reg.put_manifest("app", t, OCI_MANIFEST, &m).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An untagged image and a signature (untagged) referring to the tagged one.
    let config = reg.push_blob("app", b"{}").await;
    let lonely = reg.push_blob("app", b"untagged layer").await;
    let untagged = image_manifest(&config, 2, &lonely, 14, None);
    let r = reg
        .put_manifest("app", &sha256(&untagged), OCI_MANIFEST, &untagged)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sig = image_manifest(
        &config,
        2,
        &lonely,
        14,
        Some(
            serde_json::json!({"subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": m.len()}}),
        ),
    );
    let r = reg
        .put_manifest("app", &sha256(&sig), OCI_MANIFEST, &sig)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(20)).await;

    let report = collect(&reg.server.registry, &now_gc()).await.unwrap();
    assert_eq!(report.tags_pruned, vec!["app:build-2", "app:build-1"]);
    assert_eq!(
        report.manifests_expired,
        vec![format!("app@{}", sha256(&untagged))]
    );
    let r = reg
        .req(Method::GET, "/v2/app/tags/list")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["tags"],
        serde_json::json!(["build-3", "build-4", "release"])
    );
    let r = reg
        .req(Method::GET, &format!("/v2/app/manifests/{}", sha256(&sig)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "referrer of a live subject must survive"
    );
    // The layer is still used by the signature manifest.
    assert_eq!(blob_status(&reg, "app", &lonely).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_keep_working_during_gc() {
    let reg = open().await;
    let layer: Vec<u8> = (0..512 * 1024).map(|i| (i % 241) as u8).collect();
    let (_, d) = reg.push_image("r", "v1", &layer).await;
    for i in 0..20 {
        reg.push_blob("r", format!("garbage {i}").as_bytes()).await;
    }
    let base = reg.base.clone();
    let client = reg.client.clone();
    let layer_d = sha256(&layer);
    let puller = tokio::spawn(async move {
        for _ in 0..40 {
            let r = client
                .get(format!("{base}/v2/r/manifests/{d}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let r = client
                .get(format!("{base}/v2/r/blobs/{layer_d}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.bytes().await.unwrap().len(), 512 * 1024);
        }
    });
    for _ in 0..5 {
        collect(&reg.server.registry, &now_gc()).await.unwrap();
    }
    puller.await.unwrap();
    let report = collect(&reg.server.registry, &now_gc()).await.unwrap();
    assert!(report.blobs_swept.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_pushes_of_overlapping_images() {
    let reg = std::sync::Arc::new(open().await);
    let shared: Vec<u8> = (0..256 * 1024).map(|i| (i % 199) as u8).collect();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let reg = reg.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let repo = format!("team/app{}", i % 4);
            // Shared layer pushed chunked by everyone at once, plus a unique one.
            let r = reg
                .req(Method::POST, &format!("/v2/{repo}/blobs/uploads/"))
                .send()
                .await
                .unwrap();
            let loc = reg.url(&header(&r, "location"));
            let half = shared.len() / 2;
            let r = reg
                .client
                .patch(&loc)
                .header("content-range", format!("0-{}", half - 1))
                .body(shared[..half].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            let r = reg
                .client
                .put(format!("{loc}?digest={}", sha256(&shared)))
                .header("content-range", format!("{half}-{}", shared.len() - 1))
                .body(shared[half..].to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let unique = format!("unique layer {i}").into_bytes();
            let (_, d) = reg.push_image(&repo, &format!("v{i}"), &unique).await;
            (repo, format!("v{i}"), d)
        }));
    }
    for t in tasks {
        let (repo, tag, d) = t.await.unwrap();
        let r = reg
            .req(Method::GET, &format!("/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "docker-content-digest"), d);
        let r = reg
            .req(
                Method::GET,
                &format!("/v2/{repo}/blobs/{}", sha256(&shared)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(sha256(&r.bytes().await.unwrap()), sha256(&shared));
    }
    // No upload debris left behind.
    let uploads = reg.dir.path().join("root/uploads");
    assert_eq!(std::fs::read_dir(uploads).unwrap().count(), 0);
}

#[tokio::test]
async fn server_runs_gc_on_its_schedule() {
    let reg = start(
        r#"{"access_log": false, "gc_interval_secs": 1, "gc_grace_secs": 0}"#,
        &[],
    )
    .await;
    let (_, _) = reg.push_image("r", "v1", b"kept").await;
    let orphan = reg.push_blob("r", b"orphan").await;
    let mut swept = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if blob_status(&reg, "r", &orphan).await == StatusCode::NOT_FOUND {
            swept = true;
            break;
        }
    }
    assert!(swept, "scheduled GC did not sweep the orphan within 5 s");
    assert_eq!(
        blob_status(&reg, "r", &sha256(b"kept")).await,
        StatusCode::OK
    );
}
