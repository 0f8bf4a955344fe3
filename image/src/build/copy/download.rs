//! ADD of an `http(s)://` URL: the body is streamed into a temporary file beside the
//! destination (in-root), hashed on the way, checked against `--checksum` when given, and
//! renamed into place; a mismatch leaves nothing. The file gets mode 0600 (docker's) unless
//! `--chmod`, and the step's epoch as mtime (docker uses Last-Modified; a fixed time keeps the
//! layer reproducible). URLs are never extracted.
//!
//! The download runs on a thread of its own with a current-thread tokio runtime, so
//! `copy_into` stays synchronous and can be called from inside or outside an async runtime.

use super::CopyError;
use dock_registry::digest::{Algorithm, Digest, Hasher};
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether a source is a URL ADD downloads.
pub fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The file name a URL gives when the destination is a directory: the last path segment.
pub fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split(['?', '#']).next()?;
    let (_host, path) = path.split_once('/')?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// Parse `--checksum=ALG:HEX`.
pub fn parse_checksum(checksum: &str) -> Result<Digest, CopyError> {
    checksum.parse().map_err(|_| {
        CopyError::Invalid(format!(
            "--checksum={checksum}: expected a digest like sha256:<64 hex digits>"
        ))
    })
}

async fn fetch(url: &str, out: &mut dyn Write, mut hasher: Hasher) -> Result<Digest, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(|e| format!("writing: {e}"))?;
    }
    Ok(hasher.finish())
}

/// Run [`fetch`] on a thread of its own with a current-thread runtime.
fn fetch_on_thread(
    url: &str,
    out: &mut (dyn Write + Send),
    algorithm: Algorithm,
) -> Result<Digest, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(fetch(url, out, Hasher::new(algorithm)))
        })
        .join()
        .unwrap_or_else(|_| Err("the download thread panicked".to_string()))
    })
}

/// The digest of what `url` serves now (for the cache key of an ADD without `--checksum`:
/// the URL is fetched on every build to see whether it changed, as buildkit does).
pub fn content_digest(url: &str) -> Result<Digest, CopyError> {
    fetch_on_thread(url, &mut std::io::sink(), Algorithm::Sha256).map_err(|message| {
        CopyError::Download {
            url: url.to_string(),
            message,
        }
    })
}

/// Download `url` to `name` in `parent` (an in-root directory fd); returns the file.
pub fn download(
    url: &str,
    checksum: Option<&Digest>,
    parent: BorrowedFd<'_>,
    name: &OsStr,
) -> Result<File, CopyError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let fail = |message: String| CopyError::Download {
        url: url.to_string(),
        message,
    };
    let tmp = format!(
        ".dock-add-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let fd = openat(
        parent,
        tmp.as_str(),
        OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| fail(format!("creating the file: {e}")))?;
    let mut file = File::from(fd);
    let algorithm = checksum.map_or(Algorithm::Sha256, Digest::algorithm);
    let result = fetch_on_thread(url, &mut file, algorithm);
    let cleanup = || {
        let _ = nix::unistd::unlinkat(
            parent,
            tmp.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    };
    let got = match result {
        Ok(d) => d,
        Err(m) => {
            cleanup();
            return Err(fail(m));
        }
    };
    if let Some(want) = checksum {
        if *want != got {
            cleanup();
            return Err(CopyError::ChecksumMismatch {
                url: url.to_string(),
                expected: want.to_string(),
                actual: got.to_string(),
            });
        }
    }
    if let Err(e) = crate::unpack::inroot::remove_all_at(parent, name)
        .map_err(|e| e.source.to_string())
        .and_then(|()| renameat(parent, tmp.as_str(), parent, name).map_err(|e| e.to_string()))
    {
        cleanup();
        return Err(fail(format!("moving into place: {e}")));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert!(is_url("http://x/y"));
        assert!(is_url("HTTPS://x/y"));
        assert!(!is_url("ftp://x/y"));
        assert!(!is_url("./http://x"));
        assert_eq!(
            file_name("http://h:8/a/b.tgz?x=1#f").as_deref(),
            Some("b.tgz")
        );
        assert_eq!(file_name("http://h/"), None);
        assert_eq!(file_name("http://h"), None);
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }
}
