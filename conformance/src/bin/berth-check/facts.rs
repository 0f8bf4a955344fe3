//! Collects facts about the current process and its view of the system, as JSON.

use crate::json::{s, s_or_null, Json};
use std::fs;
use std::os::unix::fs::MetadataExt;

/// Every process-wide fact the checker reports unconditionally.
pub fn process_facts() -> Vec<(String, Json)> {
    let mut f: Vec<(String, Json)> = Vec::new();
    let mut put = |k: &str, v: Json| f.push((k.to_string(), v));
    put("argv", Json::Arr(std::env::args().map(s).collect()));
    put("pid", Json::Int(std::process::id().into()));
    put(
        "ppid",
        Json::Int(std::os::unix::process::parent_id().into()),
    );
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ids = |key: &str| -> Json {
        Json::Arr(
            status_field(&status, key)
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|n| n.parse::<i128>().ok())
                .map(Json::Int)
                .collect(),
        )
    };
    // Uid/Gid lines hold real, effective, saved and filesystem ids.
    put("uids", ids("Uid"));
    put("gids", ids("Gid"));
    put("groups", ids("Groups"));
    let mut status_obj = Vec::new();
    for key in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
        "Umask",
    ] {
        let v = status_field(&status, key).map(s).unwrap_or(Json::Null);
        status_obj.push((key.to_string(), v));
    }
    put("status", Json::Obj(status_obj));
    put("rlimits", rlimits());
    put(
        "cwd",
        s_or_null(std::env::current_dir().map(|p| p.display().to_string())),
    );
    put(
        "env",
        Json::Arr(
            std::env::vars_os()
                .map(|(k, v)| s(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
                .collect(),
        ),
    );
    put("hostname", read_trimmed("/proc/sys/kernel/hostname"));
    put("domainname", read_trimmed("/proc/sys/kernel/domainname"));
    put("oom_score_adj", read_trimmed("/proc/self/oom_score_adj"));
    put("uid_map", read_raw("/proc/self/uid_map"));
    put("gid_map", read_raw("/proc/self/gid_map"));
    put("fds", fds());
    put(
        "tty",
        Json::Arr((0..3).map(|fd| Json::Bool(is_tty(fd))).collect()),
    );
    put("mountinfo", lines("/proc/self/mountinfo"));
    put("cgroup", lines("/proc/self/cgroup"));
    put("ns", namespaces());
    f
}

/// The value of `Key:` in /proc/self/status, trimmed.
fn status_field(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim().to_string())
    })
}

fn read_trimmed(path: &str) -> Json {
    s_or_null(fs::read_to_string(path).map(|v| v.trim_end_matches('\n').to_string()))
}

fn read_raw(path: &str) -> Json {
    s_or_null(fs::read_to_string(path))
}

fn lines(path: &str) -> Json {
    match fs::read_to_string(path) {
        Ok(text) => Json::Arr(text.lines().map(s).collect()),
        Err(_) => Json::Null,
    }
}

fn rlimits() -> Json {
    let table: [(&str, libc::__rlimit_resource_t); 16] = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    let mut out = Vec::new();
    for (name, resource) in table {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes into the rlimit struct we own.
        let rc = unsafe { libc::getrlimit(resource, &mut lim) };
        let v = if rc == 0 {
            Json::Arr(vec![
                Json::Int(lim.rlim_cur.into()),
                Json::Int(lim.rlim_max.into()),
            ])
        } else {
            Json::Null
        };
        out.push((name.to_string(), v));
    }
    Json::Obj(out)
}

/// Open fds mapped to their link targets, without the fd used to list them.
fn fds() -> Json {
    let numbers: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return Json::Null,
    };
    // The directory handle is closed now, so its fd no longer resolves.
    let mut out = Vec::new();
    for fd in numbers {
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            out.push((fd.to_string(), s(target.display().to_string())));
        }
    }
    Json::Obj(out)
}

fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the fd number; an invalid fd yields 0.
    unsafe { libc::isatty(fd) == 1 }
}

fn namespaces() -> Json {
    let mut out = Vec::new();
    for name in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        let link = fs::read_link(format!("/proc/self/ns/{name}")).map(|p| p.display().to_string());
        out.push((name.to_string(), s_or_null(link)));
    }
    Json::Obj(out)
}

/// `lstat` of a path: type, permission bits, owner, device numbers, link target.
pub fn stat(path: &str) -> Json {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) => return Json::Obj(vec![("error".into(), s(e.to_string()))]),
    };
    let ft = md.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    };
    let rdev = md.rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    let mut out = vec![
        ("type".to_string(), s(kind)),
        ("mode".to_string(), Json::Int((md.mode() & 0o7777).into())),
        ("uid".to_string(), Json::Int(md.uid().into())),
        ("gid".to_string(), Json::Int(md.gid().into())),
        ("major".to_string(), Json::Int(major.into())),
        ("minor".to_string(), Json::Int(minor.into())),
        ("size".to_string(), Json::Int(md.size().into())),
    ];
    if ft.is_symlink() {
        let target = fs::read_link(path).map(|p| p.display().to_string());
        out.push(("target".to_string(), s_or_null(target)));
    }
    Json::Obj(out)
}

/// Whether a path exists and can be read and written by this process.
pub fn access(path: &str) -> Json {
    let exists = fs::symlink_metadata(path).is_ok();
    let is_dir = fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
    let (readable, writable) = if is_dir {
        let readable = fs::read_dir(path).is_ok();
        let probe = format!(
            "{}/.berth-check-{}",
            path.trim_end_matches('/'),
            std::process::id()
        );
        let writable = match fs::File::create(&probe) {
            Ok(_) => {
                let _ = fs::remove_file(&probe);
                Ok(())
            }
            Err(e) => Err(e),
        };
        (readable, writable)
    } else {
        let readable = fs::File::open(path).is_ok();
        let writable = fs::OpenOptions::new().write(true).open(path).map(|_| ());
        (readable, writable)
    };
    let mut out = vec![
        ("exists".to_string(), Json::Bool(exists)),
        ("readable".to_string(), Json::Bool(readable)),
        ("writable".to_string(), Json::Bool(writable.is_ok())),
    ];
    if let Err(e) = writable {
        out.push(("write_error".to_string(), s(e.to_string())));
    }
    Json::Obj(out)
}

/// The value of a sysctl, read from /proc/sys.
pub fn sysctl(name: &str) -> Json {
    read_trimmed(&format!("/proc/sys/{}", name.replace('.', "/")))
}

/// The contents of a file, or null when it cannot be read.
pub fn file(path: &str) -> Json {
    match fs::read(path) {
        Ok(bytes) => s(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => Json::Null,
    }
}

/// Sorted names in a directory, or null.
pub fn list_dir(path: &str) -> Json {
    match fs::read_dir(path) {
        Ok(dir) => {
            let mut names: Vec<String> = dir
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            Json::Arr(names.into_iter().map(s).collect())
        }
        Err(_) => Json::Null,
    }
}

/// Writes `data` to `path` (creating it), reporting success or the error.
pub fn write(path: &str, data: &str) -> Json {
    match fs::write(path, data) {
        Ok(()) => Json::Bool(true),
        Err(e) => s(e.to_string()),
    }
}
