//! On-disk cache of compiled programs.
//!
//! Key: the crate version, a compiler revision, a fingerprint of the syscall tables, the
//! native architecture and the profile's canonical JSON (serde's
//! serialisation of the typed `LinuxSeccomp`: fixed field order, rule order preserved). The
//! file is named by a 64-bit FNV-1a hash of the key, and stores the full key, so a hash
//! collision is a cache miss rather than a wrong filter. Layout (little-endian):
//!
//! ```text
//! magic "BSECCOMP" | format u32 | flags u32 | n_insns u32 | key_len u32 | checksum u64
//! key bytes | n_insns × {code u16, jt u8, jf u8, k u32}
//! ```
//!
//! `checksum` is FNV-1a over everything after the header. A file that is short, has a bad
//! magic, format, checksum or key, or whose program fails verification is ignored and
//! rewritten. Writes go to a unique temporary file in the same directory, then `rename(2)`,
//! so readers never see a partial file (no fsync: a torn file after a crash fails the checks).

use crate::arch::Arch;
use crate::error::{Result, SeccompError};
use crate::program::{compile, Program};
use crate::verify::verify;
use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8; 8] = b"BSECCOMP";
const FORMAT: u32 = 1;
const HEADER_LEN: usize = 8 + 4 * 4 + 8;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The exact cache key for `profile` on this build.
fn cache_key(profile: &LinuxSeccomp) -> Result<Vec<u8>> {
    let mut key = format!(
        "berth-seccomp {} format {FORMAT} compiler {} tables {:016x} arch {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::compile::REVISION,
        crate::tables::FINGERPRINT,
        Arch::native().map_or(0, Arch::id)
    )
    .into_bytes();
    serde_json::to_writer(&mut key, profile)
        .map_err(|e| SeccompError::field("linux.seccomp", e.to_string()))?;
    Ok(key)
}

/// Path of the cache file for `profile` in `dir`.
pub fn cache_path(profile: &LinuxSeccomp, dir: &Path) -> Result<PathBuf> {
    Ok(dir.join(format!("{:016x}.bpf", fnv1a(&cache_key(profile)?))))
}

/// Returns the cached program for `profile` from `cache_dir`, or compiles it and stores it.
/// Cache I/O failures other than a missing or invalid entry are reported; a failure to
/// write the entry is ignored (the compiled program is still returned).
pub fn load_or_compile(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Program> {
    let key = cache_key(profile)?;
    let path = cache_dir.join(format!("{:016x}.bpf", fnv1a(&key)));
    match std::fs::read(&path) {
        Ok(bytes) => {
            if let Some(p) = decode(&bytes, &key) {
                return Ok(p);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(SeccompError::Cache { path, source }),
    }
    let program = compile(profile)?;
    // Best effort: a read-only or full disk must not stop the container from starting.
    let _ = store(cache_dir, &path, &encode(&program, &key));
    Ok(program)
}

fn encode(p: &Program, key: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(key.len() + p.insns.len() * 8);
    body.extend_from_slice(key);
    for f in &p.insns {
        body.extend_from_slice(&f.code.to_le_bytes());
        body.push(f.jt);
        body.push(f.jf);
        body.extend_from_slice(&f.k.to_le_bytes());
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&p.flags.to_le_bytes());
    out.extend_from_slice(&(p.insns.len() as u32).to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&fnv1a(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn decode(bytes: &[u8], key: &[u8]) -> Option<Program> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC || u32_at(bytes, 8)? != FORMAT {
        return None;
    }
    let flags = u32_at(bytes, 12)?;
    let n = u32_at(bytes, 16)? as usize;
    let key_len = u32_at(bytes, 20)? as usize;
    let sum = u64::from_le_bytes(bytes.get(24..32)?.try_into().ok()?);
    let body = &bytes[HEADER_LEN..];
    if body.len() != key_len.checked_add(n.checked_mul(8)?)? || fnv1a(body) != sum {
        return None;
    }
    if &body[..key_len] != key {
        return None;
    }
    let insns: Vec<sock_filter> = body[key_len..]
        .chunks_exact(8)
        .map(|c| sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    verify(&insns).ok()?;
    Some(Program { insns, flags })
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tempdir(tag: &str) -> TempDir {
        TempDir(std::env::temp_dir().join(format!("berth-seccomp-{tag}-{}", std::process::id())))
    }

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
        .unwrap()
    }

    #[test]
    fn roundtrip_and_key_separation() {
        let d = tempdir("cache-rt");
        let a = load_or_compile(&profile(1), &d.0).unwrap();
        let path = cache_path(&profile(1), &d.0).unwrap();
        assert!(path.exists());
        let again = load_or_compile(&profile(1), &d.0).unwrap();
        assert_eq!(a, again);
        assert_eq!(a, compile(&profile(1)).unwrap());
        let b = load_or_compile(&profile(2), &d.0).unwrap();
        assert_ne!(a, b);
        assert_ne!(path, cache_path(&profile(2), &d.0).unwrap());
    }

    #[test]
    fn corrupt_entries_are_recompiled() {
        let d = tempdir("cache-corrupt");
        let p = profile(3);
        let good = load_or_compile(&p, &d.0).unwrap();
        let path = cache_path(&p, &d.0).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let key = cache_key(&p).unwrap();
        assert!(decode(&bytes, &key).is_some());
        // Flip a bit in the program, truncate, break the magic, use another key.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(decode(&flipped, &key).is_none());
        assert!(decode(&bytes[..bytes.len() - 4], &key).is_none());
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(decode(&magic, &key).is_none());
        assert!(decode(&bytes, b"other key").is_none());
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(load_or_compile(&p, &d.0).unwrap(), good);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
