//! `--chown` and `--chmod` of COPY/ADD: owners resolved in the DESTINATION root's /etc/passwd
//! and /etc/group (read in-root, so a symlinked /etc/passwd cannot point at the host's), and
//! octal modes.
//!
//! buildkit's rules: `user` alone takes the user's primary group from /etc/passwd when it is a
//! name, and the same number as the uid when it is numeric; `user:group` takes each part by
//! number or by name. A name the files do not have is an error naming it.

use super::CopyError;
use crate::unpack::entry_path::EntryPath;
use crate::unpack::inroot::Root;
use nix::fcntl::OFlag;
use std::io::Read;

/// A resolved owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Parse `--chmod`: an octal mode up to 07777 (`755`, `0644`, `4755`).
pub fn parse_chmod(chmod: &str) -> Result<u32, CopyError> {
    let bad = || CopyError::Invalid(format!("--chmod={chmod}: not an octal mode (like 0755)"));
    if chmod.is_empty() || !chmod.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    match u32::from_str_radix(chmod, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(bad()),
    }
}

/// Read a file of the destination root (`etc/passwd`), resolved inside it; `None` if absent.
fn read_in_root(root: &Root, rel: &str) -> Result<Option<String>, CopyError> {
    let path = EntryPath::parse(rel.as_bytes()).map_err(|r| CopyError::Invalid(r.to_string()))?;
    let fd = match root.open_in_root(&path, OFlag::O_RDONLY) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => return Ok(None),
        Err(e) => {
            return Err(CopyError::Io {
                path: format!("/{rel}"),
                what: "opening",
                source: e.into(),
            })
        }
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|source| CopyError::Io {
            path: format!("/{rel}"),
            what: "reading",
            source,
        })?;
    Ok(Some(text))
}

/// The numeric fields (3rd and 4th) of the `name` line of a passwd/group file.
fn lookup(text: &str, name: &str) -> Option<(u32, Option<u32>)> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next();
        let id = fields.next()?.trim().parse().ok()?;
        let second = fields.next().and_then(|g| g.trim().parse().ok());
        Some((id, second))
    })
}

/// Resolve `--chown=user[:group]` against the destination root.
pub fn resolve_chown(chown: &str, dest_root: &Root) -> Result<Owner, CopyError> {
    let (user, group) = match chown.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (chown, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(CopyError::Invalid(format!(
            "--chown={chown}: expected user[:group]"
        )));
    }
    let unknown = |kind, name: &str, file| CopyError::UnknownOwner {
        kind,
        name: name.to_string(),
        file,
    };
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => {
            let passwd = read_in_root(dest_root, "etc/passwd")?
                .ok_or_else(|| unknown("user", user, "/etc/passwd"))?;
            match lookup(&passwd, user) {
                Some((uid, Some(gid))) => (uid, gid),
                _ => return Err(unknown("user", user, "/etc/passwd")),
            }
        }
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_in_root(dest_root, "etc/group")?
                    .ok_or_else(|| unknown("group", g, "/etc/group"))?;
                lookup(&groups, g)
                    .map(|(gid, _)| gid)
                    .ok_or_else(|| unknown("group", g, "/etc/group"))?
            }
        },
    };
    Ok(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(passwd: Option<&str>, group: Option<&str>) -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            std::fs::write(t.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(g) = group {
            std::fs::write(t.path().join("etc/group"), g).unwrap();
        }
        let r = Root::open(t.path()).unwrap();
        (t, r)
    }

    #[test]
    fn chown_by_name_and_number() {
        let (_t, r) = root_with(
            Some("root:x:0:0::/root:/bin/sh\napp:x:1001:2002::/app:/bin/sh\n"),
            Some("root:x:0:\nstaff:x:50:app\n"),
        );
        let o = |s| resolve_chown(s, &r).map(|o| (o.uid, o.gid));
        assert_eq!(o("app").unwrap(), (1001, 2002));
        assert_eq!(o("app:staff").unwrap(), (1001, 50));
        assert_eq!(o("app:7").unwrap(), (1001, 7));
        assert_eq!(o("10").unwrap(), (10, 10));
        assert_eq!(o("10:staff").unwrap(), (10, 50));
        let e = o("nobody").unwrap_err().to_string();
        assert_eq!(
            e,
            "--chown: user nobody not found in the destination's /etc/passwd"
        );
        let e = o("app:wheel").unwrap_err().to_string();
        assert_eq!(
            e,
            "--chown: group wheel not found in the destination's /etc/group"
        );
        assert!(o("app:").is_err());
        assert!(o(":x").is_err());
    }

    #[test]
    fn chown_reads_the_destination_not_the_host() {
        // /etc/passwd a symlink climbing to the host's /etc/shadow: resolved inside the root,
        // where there is none.
        let (t, r) = root_with(None, None);
        std::os::unix::fs::symlink("../../../../../../etc/shadow", t.path().join("etc/passwd"))
            .unwrap();
        let e = resolve_chown("root", &r).unwrap_err().to_string();
        assert!(e.contains("user root not found"), "{e}");
        assert_eq!(resolve_chown("0:0", &r).unwrap(), Owner { uid: 0, gid: 0 });
    }

    #[test]
    fn chmod_octal_only() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("04755").unwrap(), 0o4755);
        for bad in ["", "u+x", "888", "17777", "-1"] {
            let e = parse_chmod(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--chmod={bad}:")), "{e}");
        }
    }
}
