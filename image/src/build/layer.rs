//! PLACEHOLDER until the buildfs branch lands (it owns this file; take its version on merge).
//! A gzip layer tar from an overlay upper dir: whiteouts (0:0 char devices) to `.wh.NAME`,
//! opaque directories to `DIR/.wh..wh..opq`, sorted entries, mtimes clamped to the epoch.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Options.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// Clamp time.
    pub epoch: u64,
}

/// The blob made.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// gzip file.
    pub path: PathBuf,
    /// sha256 of the gzip.
    pub digest: String,
    /// sha256 of the tar.
    pub diff_id: String,
    /// Bytes.
    pub size: u64,
    /// No entries.
    pub empty: bool,
}

/// Errors.
#[derive(Debug, thiserror::Error)]
#[error("layer {0}: {1}")]
pub struct LayerError(String, std::io::Error);

struct HashWriter<W: Write> {
    inner: W,
    hasher: dock_registry::digest::Hasher,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn opaque(p: &Path) -> bool {
    xattr_y(p, "trusted.overlay.opaque")
}

fn xattr_y(p: &Path, name: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let Ok(n) = std::ffi::CString::new(name) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: buffers owned and sized; strings NUL-terminated.
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 4) };
    r == 1 && buf[0] == b'y'
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for n in names {
        let name = n.to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let p = dir.join(&n);
        out.push((r.clone(), p.clone()));
        if p.symlink_metadata()?.is_dir() {
            walk(&p, &r, out)?;
        }
    }
    Ok(())
}

/// Make the layer.
pub fn tar_upper_dir(
    upper: &Path,
    opts: &LayerOptions,
    out_dir: &Path,
) -> Result<LayerBlob, LayerError> {
    let e = |what: &str| {
        let w = what.to_string();
        move |err: std::io::Error| LayerError(w, err)
    };
    let mut entries = Vec::new();
    walk(upper, "", &mut entries).map_err(e("walking"))?;
    let path = out_dir.join(format!("layer-{}.tar.gz", std::process::id()));
    let file = std::fs::File::create(&path).map_err(e("creating"))?;
    let gz_hash = HashWriter {
        inner: file,
        hasher: dock_registry::digest::Hasher::new(dock_registry::digest::Algorithm::Sha256),
        n: 0,
    };
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(gz_hash, flate2::Compression::new(6));
    let tar_hash = HashWriter {
        inner: gz,
        hasher: dock_registry::digest::Hasher::new(dock_registry::digest::Algorithm::Sha256),
        n: 0,
    };
    let mut b = tar::Builder::new(tar_hash);
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    for (rel, p) in &entries {
        let md = p.symlink_metadata().map_err(e("stat"))?;
        let mut h = tar::Header::new_gnu();
        h.set_uid(md.uid() as u64);
        h.set_gid(md.gid() as u64);
        h.set_mode(md.mode() & 0o7777);
        h.set_mtime((md.mtime().max(0) as u64).min(opts.epoch));
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            let (parent, name) = rel
                .rsplit_once('/')
                .map_or(("", rel.as_str()), |(a, b)| (a, b));
            let wh = if parent.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{parent}/.wh.{name}")
            };
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, &wh, std::io::empty())
                .map_err(e("writing"))?;
        } else if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, format!("{rel}/"), std::io::empty())
                .map_err(e("writing"))?;
            if opaque(p) {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0o644);
                o.set_mtime(0);
                b.append_data(&mut o, format!("{rel}/.wh..wh..opq"), std::io::empty())
                    .map_err(e("writing"))?;
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(p).map_err(e("readlink"))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, rel, &target).map_err(e("writing"))?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = std::fs::File::open(p).map_err(e("opening"))?;
            b.append_data(&mut h, rel, f).map_err(e("writing"))?;
        }
    }
    let tar_hash = b.into_inner().map_err(e("finishing"))?;
    let diff_id = tar_hash.hasher.finish().to_string();
    let gz_hash = tar_hash.inner.finish().map_err(e("finishing"))?;
    let size = gz_hash.n;
    let digest = gz_hash.hasher.finish().to_string();
    let final_path = out_dir.join(format!("{}.tar.gz", digest.trim_start_matches("sha256:")));
    std::fs::rename(&path, &final_path).map_err(e("renaming"))?;
    Ok(LayerBlob {
        path: final_path,
        digest,
        diff_id,
        size,
        empty: entries.is_empty(),
    })
}
