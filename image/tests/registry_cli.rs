//! The `dock registry` commands as a user runs them: serve, a crash (SIGKILL) in the middle of
//! an upload and its resumption after restart, `user add` and `gc`.

use dock_registry::digest::{Algorithm, Digest};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const DOCK: &str = env!("CARGO_BIN_EXE_dock");

/// A `dock registry serve` process, killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &Path) -> Served {
    let mut child = Command::new(DOCK)
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(root)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(a) = line.strip_prefix("dock registry listening on ") {
            break a.to_string();
        }
    };
    // Keep draining the access log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base: format!("http://{addr}"),
    }
}

fn sha256(data: &[u8]) -> String {
    Digest::of_bytes(Algorithm::Sha256, data).to_string()
}

#[tokio::test]
async fn upload_survives_a_crash_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let client = reqwest::Client::new();
    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let d = sha256(&data);
    let half = data.len() / 2;

    let first = serve(&root);
    let r = client
        .post(format!("{}/v2/c/r/blobs/uploads/", first.base))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = client
        .patch(format!("{}{loc}", first.base))
        .header("content-range", format!("0-{}", half - 1))
        .body(data[..half].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    drop(first); // SIGKILL

    let second = serve(&root);
    let url = format!("{}{loc}", second.base);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], format!("0-{}", half - 1).as_str());
    let r = client
        .head(format!("{}/v2/c/r/blobs/{d}", second.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an uncommitted blob must not be visible");
    let r = client
        .put(format!("{url}?digest={d}"))
        .header("content-range", format!("{half}-{}", data.len() - 1))
        .body(data[half..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = client
        .get(format!("{}/v2/c/r/blobs/{d}", second.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&got), d);
    // Offline GC refuses to run under a live server.
    let out = Command::new(DOCK)
        .args(["registry", "gc", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("a server is using this root"));
    drop(second);
    let out = Command::new(DOCK)
        .args(["registry", "gc", "--dry-run", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn user_add_reads_password_from_stdin_and_gc_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut child = Command::new(DOCK)
        .args(["registry", "user", "add", "alice", "--root"])
        .arg(&root)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    assert!(child.wait().unwrap().success());
    let users: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("users.json")).unwrap()).unwrap();
    assert!(users["alice"].as_str().unwrap().starts_with("$argon2id$"));
    let bad = Command::new(DOCK)
        .args(["registry", "user", "add", "Not Valid", "--root"])
        .arg(&root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success());

    let out = Command::new(DOCK)
        .args(["registry", "gc", "--dry-run", "--grace-secs", "0", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 blobs referenced"));
}
