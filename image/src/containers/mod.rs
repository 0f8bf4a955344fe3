//! dock's containers under `<root>/containers/<id>/`: each holds the OCI bundle
//! (`config.json`), the rootfs the snapshotter prepared, `json.log` (the output, written by the
//! container's monitor), and `meta.json` ([`meta::Meta`]). This module reserves ids and unique
//! names, finds a container by id, name or id prefix (as docker accepts them), lists and removes
//! them. The layout and the monitor are described in ARCHITECTURE.md.

pub mod ids;
pub mod meta;

use meta::Meta;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Errors from the container store.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Nothing matches.
    #[error("no such container: {0}")]
    NotFound(String),
    /// A prefix matches several ids.
    #[error("multiple containers match the id prefix {0}: give more digits")]
    Ambiguous(String),
    /// `--name` is taken.
    #[error("the container name \"{0}\" is already in use by container {1}: remove (or rename) that container to reuse the name")]
    NameInUse(String, String),
    /// `--name` has characters docker refuses.
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// Locking failed.
    #[error("locking {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: nix::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ContainerError {
    let path = path.to_path_buf();
    move |source| ContainerError::Io { what, path, source }
}

/// The container store.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

/// The file names inside a container's directory.
pub const META: &str = "meta.json";
/// The log the monitor writes (docker's json-file format).
pub const LOG: &str = "json.log";
/// The OCI bundle config.
pub const CONFIG: &str = "config.json";

impl Containers {
    /// Open (creating) `<root>/containers`.
    pub fn open(root: &Path) -> Result<Containers, ContainerError> {
        let dir = root.join("containers");
        std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        Ok(Containers { dir })
    }

    /// A container's directory (the bundle).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Its `meta.json`.
    pub fn meta_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(META)
    }

    /// Read a container's metadata.
    pub fn read(&self, id: &str) -> Result<Meta, ContainerError> {
        let path = self.meta_path(id);
        meta::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ContainerError::NotFound(id.to_string()),
            _ => ContainerError::Io {
                what: "reading",
                path,
                source: e,
            },
        })
    }

    /// Replace a container's metadata.
    pub fn write(&self, m: &Meta) -> Result<(), ContainerError> {
        let path = self.meta_path(&m.id);
        meta::write(&path, m).map_err(io_err("writing", &path))
    }

    /// The store-wide lock, held while names are reserved or released.
    pub fn lock(&self) -> Result<Flock<File>, ContainerError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, source)| ContainerError::Lock { path, source })
    }

    /// Every container with readable metadata, newest first.
    pub fn list(&self) -> Result<Vec<Meta>, ContainerError> {
        let mut all = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io_err("listing", &self.dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.len() != 64 {
                continue;
            }
            if let Ok(m) = self.read(id) {
                all.push(m);
            }
        }
        all.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Record a new container: its name (given or random) must be free. `m.id` and `m.name`
    /// are filled in; the directory is made and `meta.json` written under the store lock.
    pub fn reserve(&self, m: &mut Meta, name: Option<&str>) -> Result<(), ContainerError> {
        if let Some(n) = name {
            if !ids::valid_name(n) {
                return Err(ContainerError::InvalidName(n.to_string()));
            }
        }
        let _lock = self.lock()?;
        let existing = self.list()?;
        let taken = |n: &str| existing.iter().find(|c| c.name == n).map(|c| c.id.clone());
        m.name = match name {
            Some(n) => {
                if let Some(id) = taken(n) {
                    return Err(ContainerError::NameInUse(n.to_string(), id));
                }
                n.to_string()
            }
            None => {
                let mut attempt = 0;
                loop {
                    let n = ids::random_name(attempt)
                        .map_err(io_err("reading", Path::new("/dev/urandom")))?;
                    if taken(&n).is_none() {
                        break n;
                    }
                    attempt += 1;
                }
            }
        };
        m.id = ids::new_id().map_err(io_err("reading", Path::new("/dev/urandom")))?;
        let dir = self.dir(&m.id);
        std::fs::create_dir(&dir).map_err(io_err("creating", &dir))?;
        self.write(m)
    }

    /// Find a container by full id, name, or unique id prefix (docker's order).
    pub fn resolve(&self, arg: &str) -> Result<Meta, ContainerError> {
        if arg.len() == 64 {
            if let Ok(m) = self.read(arg) {
                return Ok(m);
            }
        }
        let all = self.list()?;
        if let Some(m) = all.iter().find(|m| m.name == arg.trim_start_matches('/')) {
            return Ok(m.clone());
        }
        if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ContainerError::NotFound(arg.to_string()));
        }
        let mut matching = all.into_iter().filter(|m| m.id.starts_with(arg));
        match (matching.next(), matching.next()) {
            (Some(m), None) => Ok(m),
            (Some(_), Some(_)) => Err(ContainerError::Ambiguous(arg.to_string())),
            _ => Err(ContainerError::NotFound(arg.to_string())),
        }
    }

    /// Delete a container's directory (after its rootfs was released).
    pub fn remove_dir(&self, id: &str) -> Result<(), ContainerError> {
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ContainerError::Io {
                what: "removing",
                path: dir,
                source: e,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Meta {
        Meta {
            id: String::new(),
            name: String::new(),
            image: "busybox".into(),
            image_id: String::new(),
            created: String::new(),
            command: vec![],
            entrypoint: vec![],
            cmd: vec![],
            labels: Default::default(),
            stop_signal: "SIGTERM".into(),
            network: "none".into(),
            volumes: vec![],
            runtime: "/bin/berth".into(),
            auto_remove: false,
            tty: false,
            interactive: false,
            state: meta::State::Created,
            pid: None,
            pid_start: None,
            monitor: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
            error: None,
        }
    }

    #[test]
    fn names_are_unique_and_lookups_follow_docker() {
        let dir = tempfile::tempdir().unwrap();
        let c = Containers::open(dir.path()).unwrap();
        let mut a = blank();
        c.reserve(&mut a, Some("web")).unwrap();
        let mut b = blank();
        let err = c.reserve(&mut b, Some("web")).unwrap_err();
        assert!(matches!(err, ContainerError::NameInUse(..)), "{err}");
        assert!(matches!(
            c.reserve(&mut b, Some("bad/name")),
            Err(ContainerError::InvalidName(_))
        ));
        c.reserve(&mut b, None).unwrap();
        assert!(ids::valid_name(&b.name) && b.name != "web");
        assert_eq!(c.resolve("web").unwrap().id, a.id);
        assert_eq!(c.resolve("/web").unwrap().id, a.id);
        assert_eq!(c.resolve(&a.id).unwrap().id, a.id);
        assert_eq!(c.resolve(&a.id[..12]).unwrap().id, a.id);
        assert_eq!(c.resolve(&b.name).unwrap().id, b.id);
        // The empty prefix and a non-hex word match nothing.
        assert!(matches!(c.resolve(""), Err(ContainerError::NotFound(_))));
        assert!(matches!(c.resolve("zzz"), Err(ContainerError::NotFound(_))));
        assert_eq!(c.list().unwrap().len(), 2);
        c.remove_dir(&a.id).unwrap();
        c.remove_dir(&a.id).unwrap();
        assert!(matches!(c.resolve("web"), Err(ContainerError::NotFound(_))));
        // The name is free again.
        let mut d = blank();
        c.reserve(&mut d, Some("web")).unwrap();
    }

    #[test]
    fn ambiguous_prefixes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = Containers::open(dir.path()).unwrap();
        for (id, name) in [("a".repeat(63) + "1", "one"), ("a".repeat(63) + "2", "two")] {
            let mut m = blank();
            m.id = id.clone();
            m.name = name.into();
            std::fs::create_dir(c.dir(&id)).unwrap();
            c.write(&m).unwrap();
        }
        assert!(matches!(
            c.resolve("aaaa"),
            Err(ContainerError::Ambiguous(_))
        ));
        assert_eq!(c.resolve(&("a".repeat(63) + "2")).unwrap().name, "two");
    }
}
