//! PLACEHOLDER until the buildfs branch lands (it owns this file; take its version on merge).
//! COPY into a root: files and directories from the context or another root, numeric chown,
//! octal chmod, heredocs. No globs, no ADD extraction, no URLs.

use super::dockerfile::Heredoc;
use super::dockerignore::Dockerignore;
use std::path::{Path, PathBuf};

/// Where sources come from.
pub enum CopyFrom<'a> {
    /// The build context.
    Context {
        /// Its directory.
        dir: &'a Path,
        /// Its .dockerignore.
        ignore: &'a Dockerignore,
    },
    /// Another root.
    Root(&'a Path),
}

/// One COPY/ADD.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    pub sources: Vec<String>,
    pub dest: String,
    pub workdir: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub heredocs: Vec<Heredoc>,
    pub add: bool,
    pub checksum: Option<String>,
    pub epoch: u64,
}

/// Errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CopyError(pub String);

fn io(what: &str) -> impl Fn(std::io::Error) -> CopyError + '_ {
    move |e| CopyError(format!("{what}: {e}"))
}

fn src_root<'a>(from: &'a CopyFrom) -> &'a Path {
    match from {
        CopyFrom::Context { dir, .. } => dir,
        CopyFrom::Root(r) => r,
    }
}

fn files(from: &CopyFrom, src: &str) -> Result<Vec<(String, PathBuf)>, CopyError> {
    let rel = src.trim_start_matches('/').trim_start_matches("./");
    if rel.split('/').any(|c| c == "..") {
        return Err(CopyError(format!("{src}: outside the build context")));
    }
    let base = src_root(from).join(rel);
    let mut out = Vec::new();
    fn walk(p: &Path, rel: String, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        out.push((rel.clone(), p.to_path_buf()));
        if p.symlink_metadata()?.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(p)?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for n in names {
                let r = if rel.is_empty() {
                    n.to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", n.to_string_lossy())
                };
                walk(&p.join(&n), r, out)?;
            }
        }
        Ok(())
    }
    walk(&base, String::new(), &mut out).map_err(io(src))?;
    if let CopyFrom::Context { ignore, .. } = from {
        out.retain(|(r, _)| {
            let full = if r.is_empty() {
                rel.to_string()
            } else {
                format!("{rel}/{r}")
            };
            full.is_empty() || !ignore.is_excluded(&full)
        });
    }
    Ok(out)
}

/// Copy.
pub fn copy_into(root: &Path, from: &CopyFrom, req: &CopyRequest) -> Result<(), CopyError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dest = if req.dest.starts_with('/') {
        req.dest.clone()
    } else {
        format!("{}/{}", req.workdir.trim_end_matches('/'), req.dest)
    };
    let dir_dest = dest.ends_with('/') || req.sources.len() > 1;
    let (uid, gid) = match &req.chown {
        None => (None, None),
        Some(c) => {
            let (u, g) = c.split_once(':').unwrap_or((c, c));
            (u.parse::<u32>().ok(), g.parse::<u32>().ok())
        }
    };
    let mode = req
        .chmod
        .as_deref()
        .and_then(|m| u32::from_str_radix(m, 8).ok());
    let place = |target: &Path, md: Option<std::fs::Metadata>| -> Result<(), CopyError> {
        let (u, g) = (
            uid.or(md.as_ref().map(|m| m.uid())),
            gid.or(md.as_ref().map(|m| m.gid())),
        );
        std::os::unix::fs::lchown(target, u, g).map_err(io("chown"))?;
        if let Some(m) = mode {
            if !target.symlink_metadata().map_err(io("stat"))?.is_symlink() {
                std::fs::set_permissions(target, std::fs::Permissions::from_mode(m))
                    .map_err(io("chmod"))?;
            }
        }
        Ok(())
    };
    for h in &req.heredocs {
        let t = if dir_dest || dest.ends_with('/') {
            format!("{}/{}", dest.trim_end_matches('/'), h.name)
        } else {
            dest.clone()
        };
        let target = root.join(t.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap_or(root)).map_err(io("mkdir"))?;
        std::fs::write(&target, &h.body).map_err(io("write"))?;
        place(&target, None)?;
    }
    if !req.heredocs.is_empty() {
        return Ok(());
    }
    for src in &req.sources {
        let list = files(from, src)?;
        let is_dir = list.first().is_some_and(|(_, p)| p.is_dir());
        for (rel, p) in list {
            let name = Path::new(src.trim_end_matches('/'))
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let t = if is_dir {
                if rel.is_empty() {
                    dest.clone()
                } else {
                    format!("{}/{rel}", dest.trim_end_matches('/'))
                }
            } else if dir_dest {
                format!("{}/{name}", dest.trim_end_matches('/'))
            } else {
                dest.clone()
            };
            let target = root.join(t.trim_start_matches('/'));
            let md = p.symlink_metadata().map_err(io("stat"))?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io("mkdir"))?;
            }
            if md.is_dir() {
                std::fs::create_dir_all(&target).map_err(io("mkdir"))?;
                std::fs::set_permissions(&target, md.permissions()).map_err(io("chmod"))?;
            } else if md.is_symlink() {
                let _ = std::fs::remove_file(&target);
                std::os::unix::fs::symlink(
                    std::fs::read_link(&p).map_err(io("readlink"))?,
                    &target,
                )
                .map_err(io("symlink"))?;
            } else {
                let _ = std::fs::remove_file(&target);
                std::fs::copy(&p, &target).map_err(io("copy"))?;
            }
            place(&target, if req.chown.is_some() { None } else { Some(md) })?;
        }
    }
    Ok(())
}

/// Digest of inputs.
pub fn inputs_digest(from: &CopyFrom, req: &CopyRequest) -> Result<String, CopyError> {
    use std::os::unix::fs::MetadataExt;
    let mut h = dock_registry::digest::Hasher::new(dock_registry::digest::Algorithm::Sha256);
    h.update(format!("{:?}", req).as_bytes());
    for src in &req.sources {
        for (rel, p) in files(from, src)? {
            let md = p.symlink_metadata().map_err(io("stat"))?;
            h.update(format!("{rel}\0{:o}\0", md.mode()).as_bytes());
            if md.is_file() {
                h.update(&std::fs::read(&p).map_err(io("read"))?);
            }
        }
    }
    Ok(h.finish().to_string())
}
