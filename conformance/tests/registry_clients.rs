//! Real clients against `dock registry serve`: buildah builds a busybox image from scratch and
//! pushes it, skopeo copies it out to an OCI layout and back in, podman pulls it into separate
//! storage and pushes it again (OCI and Docker schema2); every digest a client reports must
//! equal what skopeo sees. With
//! users configured the same runs go through `podman login` and the Bearer token flow (and
//! buildah's `--creds`), and anonymous pushes are refused.
//!
//! All client state is private (see `berth_conformance::registry::clients`). Needs podman,
//! buildah and skopeo (`apt-get install -y podman buildah skopeo`) and the dock binary.

use berth_conformance::registry::clients::{require_tools, Clients};
use berth_conformance::registry::{ServeConfig, Served, DOCKER_MANIFEST, OCI_MANIFEST};

/// The manifest skopeo reads for `docker://<reference>`.
#[track_caller]
fn raw_manifest(clients: &Clients, reference: &str, creds: Option<&str>) -> serde_json::Value {
    let mut args = vec![
        "inspect".to_string(),
        "--raw".into(),
        "--tls-verify=false".into(),
    ];
    if let Some(c) = creds {
        args.push(format!("--creds={c}"));
    }
    args.push(format!("docker://{reference}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = clients.skopeo(&args);
    out.assert_ok();
    serde_json::from_str(&out.stdout).expect("manifest JSON")
}

/// buildah push → podman pull → podman push (OCI and schema2), digests checked at each step.
/// `creds` is passed to tools that take it; podman relies on its login in the auth file.
fn round_trip(clients: &Clients, reg: &Served, creds: Option<&str>) {
    let addr = reg.addr.to_string();
    let policy = clients.policy_flag();
    clients.build_busybox("localhost/bb:v1");

    let pushed = format!("{addr}/test/bb:v1");
    let mut args = vec![
        "push".to_string(),
        policy.clone(),
        "--tls-verify=false".to_string(),
        "--digestfile=buildah.digest".to_string(),
    ];
    if let Some(c) = creds {
        args.push(format!("--creds={c}"));
    }
    args.push("localhost/bb:v1".to_string());
    args.push(format!("docker://{pushed}"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    clients.buildah(&args).assert_ok();
    let built = clients.read("buildah.digest");
    assert!(built.starts_with("sha256:"), "{built}");
    assert_eq!(clients.remote_digest(&pushed, creds), built);

    // skopeo copies it out to an OCI layout and back in under another name, unchanged.
    let layout_dir = clients.path().join("layout");
    let layout = format!("oci:{}:v1", layout_dir.display());
    let mut out = vec!["copy".to_string(), "--src-tls-verify=false".into()];
    let mut back = vec!["copy".to_string(), "--dest-tls-verify=false".into()];
    if let Some(c) = creds {
        out.push(format!("--src-creds={c}"));
        back.push(format!("--dest-creds={c}"));
    }
    let via_skopeo = format!("{addr}/skopeo/bb:v1");
    out.extend([format!("docker://{pushed}"), layout.clone()]);
    back.extend([layout, format!("docker://{via_skopeo}")]);
    for args in [out, back] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        clients.skopeo(&args).assert_ok();
    }
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout_dir.join("index.json")).expect("layout index.json"),
    )
    .expect("index JSON");
    assert_eq!(index["manifests"][0]["digest"], built.as_str());
    assert_eq!(clients.remote_digest(&via_skopeo, creds), built);

    // podman pulls it into storage "b"; the image keeps the registry's digest.
    clients
        .podman("b", &["pull", &policy, "--tls-verify=false", &pushed])
        .assert_ok();
    let inspect = clients.podman(
        "b",
        &["image", "inspect", "--format", "{{.Digest}}", &pushed],
    );
    inspect.assert_ok();
    assert_eq!(inspect.stdout.trim(), built);
    // And by digest.
    let by_digest = format!("{addr}/test/bb@{built}");
    clients
        .podman("b", &["pull", &policy, "--tls-verify=false", &by_digest])
        .assert_ok();

    // podman pushes it on under another name, unchanged (blobs may be mounted).
    let copy = format!("{addr}/copy/bb:v1");
    clients
        .podman(
            "b",
            &[
                "push",
                &policy,
                "--tls-verify=false",
                "--digestfile=podman.digest",
                &pushed,
                &format!("docker://{copy}"),
            ],
        )
        .assert_ok();
    assert_eq!(clients.read("podman.digest"), built);
    assert_eq!(clients.remote_digest(&copy, creds), built);

    // As Docker schema2: a new manifest, and skopeo sees the digest podman reported.
    let v2s2 = format!("{addr}/copy/bb:docker");
    clients
        .podman(
            "b",
            &[
                "push",
                &policy,
                "--tls-verify=false",
                "--format=v2s2",
                "--digestfile=v2s2.digest",
                &pushed,
                &format!("docker://{v2s2}"),
            ],
        )
        .assert_ok();
    let docker_digest = clients.read("v2s2.digest");
    assert_ne!(docker_digest, built);
    assert_eq!(clients.remote_digest(&v2s2, creds), docker_digest);
    assert_eq!(
        raw_manifest(clients, &v2s2, creds)["mediaType"],
        DOCKER_MANIFEST
    );
    assert_eq!(
        raw_manifest(clients, &pushed, creds)["mediaType"],
        OCI_MANIFEST
    );

    // And podman pulls the schema2 copy back by digest.
    clients
        .podman(
            "b",
            &[
                "pull",
                &policy,
                "--tls-verify=false",
                &format!("{addr}/copy/bb@{docker_digest}"),
            ],
        )
        .assert_ok();
}

#[test]
fn podman_and_buildah_push_and_pull_anonymously() {
    require_tools();
    let reg = Served::open("podman-anon");
    let clients = Clients::new("anon");
    round_trip(&clients, &reg, None);
    reg.finish();
}

#[test]
fn podman_login_token_flow_and_buildah_creds() {
    require_tools();
    let reg = Served::start(
        "podman-auth",
        ServeConfig {
            config: None,
            users: &[("alice", "a-pass")],
        },
    );
    let clients = Clients::new("auth");
    let addr = reg.addr.to_string();
    let policy = clients.policy_flag();
    clients.build_busybox("localhost/bb:v0");

    // Anonymous: refused.
    clients
        .buildah(&[
            "push",
            &policy,
            "--tls-verify=false",
            "localhost/bb:v0",
            &format!("docker://{addr}/test/anon:v1"),
        ])
        .assert_failed();
    // A wrong password: login refused, nothing saved.
    clients
        .podman(
            "a",
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "alice",
                "-p",
                "wrong",
                &addr,
            ],
        )
        .assert_failed();
    // podman login stores credentials; podman then uses them through the Bearer token flow.
    clients
        .podman(
            "a",
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "alice",
                "-p",
                "a-pass",
                &addr,
            ],
        )
        .assert_ok();
    let auth = std::fs::read_to_string(clients.auth_file()).expect("auth file");
    assert!(
        auth.contains(&addr),
        "podman login did not record {addr}: {auth}"
    );
    round_trip(&clients, &reg, Some("alice:a-pass"));

    // After logout podman's pull is refused again; buildah's explicit --creds still works.
    clients.podman("a", &["logout", &addr]).assert_ok();
    clients
        .podman(
            "b",
            &[
                "pull",
                &policy,
                "--tls-verify=false",
                &format!("{addr}/test/bb:v1"),
            ],
        )
        .assert_failed();
    clients
        .buildah(&[
            "push",
            &policy,
            "--tls-verify=false",
            "--creds=alice:a-pass",
            "localhost/bb:v0",
            &format!("docker://{addr}/test/creds:v1"),
        ])
        .assert_ok();
    // Tokens were issued (the token endpoint appears in the access log) and used.
    let statuses = reg.logged_statuses();
    assert!(
        statuses
            .iter()
            .any(|(s, what)| *s == 200 && what.contains("/token")),
        "no token was issued: {statuses:?}"
    );
    reg.finish();
}
