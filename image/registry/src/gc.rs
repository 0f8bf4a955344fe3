//! Garbage collection: lifecycle policies, then mark-and-sweep of blobs.
//!
//! Mark: every manifest revision of every repository (tagged or not, so referrers and index
//! children stay), plus the config and layers each one names. Sweep: every stored blob not
//! marked and older than the grace period.
//!
//! Safe while serving: the whole run holds the registry's GC lock exclusively, and every
//! operation that makes a blob reachable (upload commit, mount, manifest put) holds it shared,
//! so nothing becomes referenced between mark and sweep. Pulls and in-flight upload chunks do
//! not take the lock and carry on. Blobs committed but not yet named by a manifest are kept by
//! the grace period (commits, links and manifest puts refresh a blob's age).

use crate::api::media::parse_manifest;
use crate::api::Registry;
use crate::config::{pattern_matches, LifecyclePolicy};
use crate::digest::Digest;
use crate::storage::{Storage, StorageError};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// What a run did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Tags deleted by `keep_last` policies (`repo:tag`).
    pub tags_pruned: Vec<String>,
    /// Untagged manifests deleted by expiry policies (`repo@digest`).
    pub manifests_expired: Vec<String>,
    /// Blobs reachable from some manifest.
    pub blobs_marked: usize,
    /// Blobs deleted.
    pub blobs_swept: Vec<Digest>,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub blobs_in_grace: usize,
}

/// Why GC stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored manifest could not be parsed, so its references are unknown; nothing swept.
    #[error("manifest {0} in {1} cannot be parsed; refusing to sweep")]
    Unparseable(Digest, String),
}

/// Options for one run.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Unreferenced blobs younger than this survive.
    pub grace: Duration,
    /// Report only; change nothing.
    pub dry_run: bool,
}

/// Run lifecycle policies and mark-and-sweep.
pub async fn collect<S: Storage>(reg: &Registry<S>, opts: &GcOptions) -> Result<GcReport, GcError> {
    let _exclusive = reg.gc_lock.write().await;
    let storage = &reg.storage;
    let mut report = GcReport::default();
    let repos = storage.repositories().await?;
    for policy in &reg.access.config().lifecycle {
        for repo in repos
            .iter()
            .filter(|r| pattern_matches(&policy.repositories, r))
        {
            apply_policy(storage, repo, policy, opts.dry_run, &mut report).await?;
        }
    }
    let mut marked: HashSet<Digest> = HashSet::new();
    for repo in &repos {
        for d in storage.manifest_list(repo).await? {
            marked.insert(d.clone());
            for r in references(storage, repo, &d).await? {
                marked.insert(r);
            }
        }
    }
    report.blobs_marked = marked.len();
    for (d, age) in storage.blob_list().await? {
        if marked.contains(&d) {
            continue;
        }
        if age < opts.grace {
            report.blobs_in_grace += 1;
            continue;
        }
        if !opts.dry_run {
            storage.blob_delete(&d).await?;
        }
        report.blobs_swept.push(d);
    }
    Ok(report)
}

/// Blobs and manifests a stored manifest names (empty if its blob is already gone).
async fn references<S: Storage>(
    storage: &S,
    repo: &str,
    d: &Digest,
) -> Result<Vec<Digest>, GcError> {
    let Some(media_type) = storage.manifest_media_type(repo, d).await? else {
        return Ok(Vec::new());
    };
    let bytes = match storage.blob_bytes(d).await {
        Ok(b) => b,
        Err(StorageError::BlobUnknown) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let parsed = parse_manifest(Some(&media_type), &bytes)
        .map_err(|_| GcError::Unparseable(d.clone(), repo.to_string()))?;
    let mut out: Vec<Digest> = parsed.blobs.into_iter().map(|b| b.digest).collect();
    out.extend(parsed.manifests);
    Ok(out)
}

async fn apply_policy<S: Storage>(
    storage: &S,
    repo: &str,
    policy: &LifecyclePolicy,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), GcError> {
    if let Some(keep) = policy.keep_last {
        let mut tags = Vec::new();
        for t in storage.tag_list(repo).await? {
            if t.starts_with(&policy.tag_prefix) {
                let when = storage.tag_modified(repo, &t).await?;
                tags.push((when.unwrap_or(SystemTime::UNIX_EPOCH), t));
            }
        }
        // Newest first; ties broken by name for determinism.
        tags.sort_by(|a, b| b.cmp(a));
        for (_, t) in tags.into_iter().skip(keep) {
            if !dry_run {
                storage.tag_delete(repo, &t).await?;
            }
            report.tags_pruned.push(format!("{repo}:{t}"));
        }
    }
    if let Some(days) = policy.expire_untagged_days {
        expire_untagged(
            storage,
            repo,
            Duration::from_secs(days.saturating_mul(86400)),
            dry_run,
            report,
        )
        .await?;
    }
    Ok(())
}

async fn expire_untagged<S: Storage>(
    storage: &S,
    repo: &str,
    max_age: Duration,
    dry_run: bool,
    report: &mut GcReport,
) -> Result<(), GcError> {
    let mut tagged = HashSet::new();
    for t in storage.tag_list(repo).await? {
        if let Some(d) = storage.tag_get(repo, &t).await? {
            tagged.insert(d);
        }
    }
    let all = storage.manifest_list(repo).await?;
    let mut children = HashSet::new();
    let mut subjects = Vec::new();
    for d in &all {
        let Some(mt) = storage.manifest_media_type(repo, d).await? else {
            continue;
        };
        if let Ok(bytes) = storage.blob_bytes(d).await {
            if let Ok(p) = parse_manifest(Some(&mt), &bytes) {
                children.extend(p.manifests);
                if let Some(s) = p.subject {
                    subjects.push((d.clone(), s));
                }
            }
        }
    }
    let now = SystemTime::now();
    let mut expired = HashSet::new();
    for d in &all {
        if tagged.contains(d) || children.contains(d) {
            continue;
        }
        let age = match storage.manifest_modified(repo, d).await? {
            Some(t) => now.duration_since(t).unwrap_or(Duration::ZERO),
            None => continue,
        };
        if age > max_age {
            expired.insert(d.clone());
        }
    }
    // Keep referrers (signatures, SBOMs) whose subject survives.
    for (referrer, subject) in &subjects {
        let subject_lives = all.contains(subject) && !expired.contains(subject);
        if subject_lives {
            expired.remove(referrer);
        }
    }
    let mut expired: Vec<Digest> = expired.into_iter().collect();
    expired.sort();
    for d in expired {
        if !dry_run {
            if let Some((_, s)) = subjects.iter().find(|(r, _)| *r == d) {
                storage.referrer_remove(repo, s, &d).await?;
            }
            storage.manifest_unlink(repo, &d).await?;
        }
        report.manifests_expired.push(format!("{repo}@{d}"));
    }
    Ok(())
}
