//! The OCI bundle of a container: `config.json` made from the image config and `dock run`'s
//! flags exactly as docker merges them (entrypoint and command, environment, working
//! directory, user resolved in the image's /etc/passwd and /etc/group, labels as annotations),
//! plus the /etc/hostname, /etc/hosts and /etc/resolv.conf files docker bind-mounts.
//!
//! [`flags`] parses flag values, [`image_config`] reads the image's defaults, [`in_root`]
//! reads and makes paths inside the rootfs safely, [`spec`] writes the config itself.

pub mod flags;
pub mod image_config;
pub mod in_root;
pub mod spec;

use crate::containers::meta::Volume;
use image_config::ImageDefaults;
use serde_json::Value;
use spec::{Network, RunConfig, DEFAULT_CAPS, DEFAULT_PATH};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Neither the image nor the command line gives a command.
    #[error(
        "no command specified: the image has no Cmd or Entrypoint, give one after the image name"
    )]
    NoCommand,
    /// `-u` or the image's User does not resolve.
    #[error("user {spec:?}: {why}")]
    User {
        /// The user spec.
        spec: String,
        /// Why.
        why: String,
    },
    /// The image config is malformed.
    #[error("{0}")]
    ImageConfig(String),
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
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BundleError {
    let path = path.to_path_buf();
    move |source| BundleError::Io { what, path, source }
}

/// `dock run`'s choices, already parsed.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// `-e` entries (`K=V`).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--entrypoint` (`Some("")` clears the image's).
    pub entrypoint: Option<String>,
    /// The command after the image name.
    pub cmd: Vec<String>,
    /// `-v`.
    pub volumes: Vec<Volume>,
    /// `--network host`.
    pub host_network: bool,
    /// `-m` bytes.
    pub memory: Option<i64>,
    /// `--cpus` quota.
    pub cpu_quota: Option<i64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `-t`.
    pub tty: bool,
}

/// The entrypoint and command, merged as docker does: `--entrypoint` replaces the image's
/// entrypoint and drops the image's Cmd (`--entrypoint ""` clears both); a command on the
/// command line replaces the image's Cmd.
pub fn merge_command(
    image: &ImageDefaults,
    entrypoint: Option<&str>,
    cmd: &[String],
) -> (Vec<String>, Vec<String>) {
    let (ep, default_cmd): (Vec<String>, Vec<String>) = match entrypoint {
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone().unwrap_or_default(),
        ),
        Some("") => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.to_string()], Vec::new()),
    };
    let cmd = if cmd.is_empty() {
        default_cmd
    } else {
        cmd.to_vec()
    };
    (ep, cmd)
}

/// The process's argv: entrypoint then command ([`merge_command`]); empty is an error.
pub fn process_args(
    image: &ImageDefaults,
    entrypoint: Option<&str>,
    cmd: &[String],
) -> Result<Vec<String>, BundleError> {
    let (mut args, cmd) = merge_command(image, entrypoint, cmd);
    args.extend(cmd);
    if args.is_empty() || args[0].is_empty() {
        return Err(BundleError::NoCommand);
    }
    Ok(args)
}

fn key(entry: &str) -> &str {
    entry.split('=').next().unwrap_or(entry)
}

/// Put `entry` into `env`, replacing an entry with the same key.
fn set(env: &mut Vec<String>, entry: String) {
    match env.iter_mut().find(|e| key(e) == key(&entry)) {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// The environment, in docker's order: PATH (unless the image or `-e` sets one), HOSTNAME,
/// TERM=xterm with `-t`, the image's Env, then `-e` (each replacing the same key), then HOME
/// from the user's passwd entry unless set.
pub fn environment(
    image: &ImageDefaults,
    hostname: &str,
    tty: bool,
    user_env: &[String],
    home: &str,
) -> Vec<String> {
    let image_env = image.env.clone().unwrap_or_default();
    let mut env = Vec::new();
    if !image_env.iter().chain(user_env).any(|e| key(e) == "PATH") {
        env.push(DEFAULT_PATH.to_string());
    }
    env.push(format!("HOSTNAME={hostname}"));
    if tty {
        env.push("TERM=xterm".to_string());
    }
    for e in image_env.into_iter().chain(user_env.iter().cloned()) {
        set(&mut env, e);
    }
    if !env.iter().any(|e| key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
    /// Home directory ("/" without a passwd entry).
    pub home: String,
}

/// Resolve `spec` (`user[:group]`, names or numbers; empty = root) in the rootfs's
/// /etc/passwd and /etc/group, read inside the rootfs.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User, BundleError> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let read = |p: &str| {
        in_root::read_file(rootfs, p)
            .map_err(io_err("reading", &rootfs.join(p.trim_start_matches('/'))))
    };
    let passwd = read("/etc/passwd")?;
    let group = read("/etc/group")?;
    let r = berth::process::users::resolve_user(spec, passwd.as_deref(), group.as_deref())
        .map_err(|e| BundleError::User {
            spec: spec.to_string(),
            why: e.to_string(),
        })?;
    Ok(User {
        uid: r.uid,
        gid: r.gid,
        additional_gids: r.additional_gids,
        home: r.home,
    })
}

const HOSTS_NONE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Write hostname, hosts and resolv.conf into the container directory; returns the binds.
pub fn write_etc_files(
    dir: &Path,
    hostname: &str,
    network: Network,
) -> Result<Vec<(String, PathBuf)>, BundleError> {
    let hosts = match network {
        Network::None => HOSTS_NONE.to_string(),
        Network::Host => {
            std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| HOSTS_NONE.into())
        }
    };
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let files = [
        ("/etc/hostname", "hostname", format!("{hostname}\n")),
        ("/etc/hosts", "hosts", hosts),
        ("/etc/resolv.conf", "resolv.conf", resolv),
    ];
    let mut binds = Vec::new();
    for (dest, name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err("writing", &path))?;
        binds.push((dest.to_string(), path));
    }
    Ok(binds)
}

/// A bundle's config and the facts `run` records.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// config.json.
    pub config: Value,
    /// argv.
    pub args: Vec<String>,
    /// The entrypoint part of argv.
    pub entrypoint: Vec<String>,
    /// The command part.
    pub cmd: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Stop signal.
    pub stop_signal: String,
}

/// Make the config for container `id` in `dir` whose rootfs is prepared at `rootfs`. Creates
/// a missing working directory inside the rootfs (as docker does) and the /etc files.
pub fn build(
    req: &RunRequest,
    image_config: &Value,
    id: &str,
    dir: &Path,
    rootfs: &Path,
) -> Result<Bundle, BundleError> {
    let image = ImageDefaults::from_image_config(image_config).map_err(BundleError::ImageConfig)?;
    let args = process_args(&image, req.entrypoint.as_deref(), &req.cmd)?;
    let (entrypoint, cmd) = merge_command(&image, req.entrypoint.as_deref(), &req.cmd);
    let network = if req.host_network {
        Network::Host
    } else {
        Network::None
    };
    let hostname = match network {
        Network::None => crate::containers::ids::short_id(id).to_string(),
        Network::Host => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into()),
    };
    let user_spec = req.user.clone().or(image.user.clone()).unwrap_or_default();
    let user = resolve_user(rootfs, &user_spec)?;
    let env = environment(&image, &hostname, req.tty, &req.env, &user.home);
    let cwd = req
        .workdir
        .clone()
        .or(image.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(BundleError::ImageConfig(format!(
            "the working directory {cwd:?} is not an absolute path"
        )));
    }
    in_root::mkdir_all(rootfs, &cwd)
        .map_err(io_err("creating the working directory", Path::new(&cwd)))?;
    for v in &req.volumes {
        if !v.source.exists() {
            std::fs::create_dir_all(&v.source).map_err(io_err("creating", &v.source))?;
        }
    }
    let etc_files = write_etc_files(dir, &hostname, network)?;
    let caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    let seccomp = serde_json::to_value(berth_seccomp::default_profile(&caps))
        .map_err(|e| BundleError::ImageConfig(format!("seccomp profile: {e}")))?;
    let labels = image.labels.clone().unwrap_or_default();
    let rc = RunConfig {
        hostname,
        rootfs: rootfs.to_path_buf(),
        args: args.clone(),
        env,
        cwd,
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids,
        tty: req.tty,
        network,
        volumes: req.volumes.clone(),
        etc_files,
        annotations: labels.clone(),
        memory: req.memory,
        swap_accounting: Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
        cpu_quota: req.cpu_quota,
        pids_limit: req.pids_limit,
        cgroupns: Path::new("/sys/fs/cgroup/cgroup.controllers").exists(),
        seccomp,
    };
    let stop_signal = image
        .stop_signal
        .clone()
        .filter(|s| crate::signals::parse(s).is_some())
        .unwrap_or_else(|| "SIGTERM".into());
    Ok(Bundle {
        config: spec::config(&rc),
        args,
        entrypoint,
        cmd,
        labels,
        stop_signal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageDefaults {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        ImageDefaults {
            entrypoint: ep.map(v),
            cmd: cmd.map(v),
            ..Default::default()
        }
    }

    fn s(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_merge_like_docker() {
        let img = image(Some(&["/ep", "-x"]), Some(&["default"]));
        assert_eq!(
            process_args(&img, None, &[]).unwrap(),
            s(&["/ep", "-x", "default"])
        );
        assert_eq!(
            process_args(&img, None, &s(&["mine"])).unwrap(),
            s(&["/ep", "-x", "mine"])
        );
        assert_eq!(
            process_args(&img, Some("/other"), &[]).unwrap(),
            s(&["/other"])
        );
        assert_eq!(
            process_args(&img, Some("/other"), &s(&["a"])).unwrap(),
            s(&["/other", "a"])
        );
        assert_eq!(
            process_args(&img, Some(""), &s(&["ls"])).unwrap(),
            s(&["ls"])
        );
        assert!(matches!(
            process_args(&img, Some(""), &[]),
            Err(BundleError::NoCommand)
        ));
        let plain = image(None, Some(&["sh"]));
        assert_eq!(process_args(&plain, None, &[]).unwrap(), s(&["sh"]));
        assert!(matches!(
            process_args(&image(None, None), None, &[]),
            Err(BundleError::NoCommand)
        ));
    }

    #[test]
    fn environment_order_and_overrides() {
        let img = ImageDefaults {
            env: Some(s(&["A=image", "B=image"])),
            ..Default::default()
        };
        let env = environment(&img, "h", true, &s(&["B=flag", "C=flag"]), "/root");
        assert_eq!(
            env,
            s(&[
                DEFAULT_PATH,
                "HOSTNAME=h",
                "TERM=xterm",
                "A=image",
                "B=flag",
                "C=flag",
                "HOME=/root"
            ])
        );
        let img = ImageDefaults {
            env: Some(s(&["PATH=/x", "HOME=/h"])),
            ..Default::default()
        };
        assert_eq!(
            environment(&img, "h", false, &[], "/root"),
            s(&["HOSTNAME=h", "PATH=/x", "HOME=/h"])
        );
    }

    #[test]
    fn users_resolve_in_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
        )
        .unwrap();
        let u = resolve_user(root.path(), "app").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str()),
            (1000, 1000, vec![10], "/home/app")
        );
        let u = resolve_user(root.path(), "").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        let u = resolve_user(root.path(), "4242:wheel").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 10, "/"));
        let e = resolve_user(root.path(), "nobody").unwrap_err().to_string();
        assert!(e.contains("nobody") && e.contains("passwd"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(empty.path(), "7").unwrap().uid, 7);
    }
}
