//! User and group names: parses passwd(5)/group(5) text and resolves a `user[:group]`
//! spec (names or numbers, as `exec --user` takes) into ids, supplementary groups and home,
//! the way runc does. Callers open the container's /etc/passwd and /etc/group (safely,
//! inside the rootfs) and hand in readers; absent files are `None`.

use std::io::BufRead;

use super::ProcessError;

/// One passwd(5) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One group(5) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// A resolved `user[:group]`: what `set_identity` needs, plus the home for $HOME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// The ':'-separated fields of a line, or None for blanks and comments.
fn fields(line: &str) -> Option<Vec<&str>> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(line.split(':').collect())
}

/// Parses "name:password:uid:gid:gecos:home:shell"; comments, blanks and bad lines give None.
pub fn parse_passwd_line(line: &str) -> Option<PasswdEntry> {
    let fields = fields(line)?;
    if fields.len() < 4 || fields[0].is_empty() {
        return None;
    }
    Some(PasswdEntry {
        name: fields[0].to_string(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: fields.get(5).copied().unwrap_or_default().to_string(),
        shell: fields.get(6).copied().unwrap_or_default().to_string(),
    })
}

/// Parses "name:password:gid:member,member"; comments, blanks and bad lines give None.
pub fn parse_group_line(line: &str) -> Option<GroupEntry> {
    let fields = fields(line)?;
    if fields.len() < 3 || fields[0].is_empty() {
        return None;
    }
    let members = fields
        .get(3)
        .copied()
        .unwrap_or_default()
        .split(',')
        .filter(|member| !member.is_empty())
        .map(str::to_string)
        .collect();
    Some(GroupEntry {
        name: fields[0].to_string(),
        gid: fields[2].parse().ok()?,
        members,
    })
}

fn entries<T>(reader: impl BufRead, parse: fn(&str) -> Option<T>) -> impl Iterator<Item = T> {
    reader
        .lines()
        .map_while(Result::ok)
        .filter_map(move |line| parse(&line))
}

/// The first passwd entry whose name is `name_or_uid`, or whose uid is that number.
pub fn lookup_user(passwd: impl BufRead, name_or_uid: &str) -> Option<PasswdEntry> {
    let uid: Option<u32> = name_or_uid.parse().ok();
    entries(passwd, parse_passwd_line)
        .find(|entry| entry.name == name_or_uid || Some(entry.uid) == uid)
}

/// The first group entry whose name is `name_or_gid`, or whose gid is that number.
pub fn lookup_group(group: impl BufRead, name_or_gid: &str) -> Option<GroupEntry> {
    let gid: Option<u32> = name_or_gid.parse().ok();
    entries(group, parse_group_line)
        .find(|entry| entry.name == name_or_gid || Some(entry.gid) == gid)
}

/// The gids of every group listing `user` as a member, in file order, without repeats.
pub fn supplementary_groups(group: impl BufRead, user: &str) -> Vec<u32> {
    let mut gids = Vec::new();
    for entry in entries(group, parse_group_line) {
        if entry.members.iter().any(|member| member == user) && !gids.contains(&entry.gid) {
            gids.push(entry.gid);
        }
    }
    gids
}

/// Resolves `spec` ("user" or "user:group", each a name or a number) against the
/// container's passwd and group text. A number needs no entry; a name must have one.
/// Without a group the user's passwd gid is used (0 when the user has no entry), and the
/// user's group memberships become the supplementary groups. Home is the passwd home or "/".
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, ProcessError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(ProcessError::invalid(format!(
            "invalid user spec {spec:?}: empty user"
        )));
    }
    let entry = passwd.and_then(|passwd| lookup_user(passwd.as_bytes(), user_part));
    let (uid, mut gid, home, name) = match (entry, user_part.parse::<u32>()) {
        (Some(entry), _) => (entry.uid, entry.gid, entry.home, Some(entry.name)),
        (None, Ok(uid)) => (uid, 0, String::new(), None),
        (None, Err(_)) => {
            return Err(ProcessError::invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(group_part) = group_part.filter(|g| !g.is_empty()) {
        let found = group.and_then(|group| lookup_group(group.as_bytes(), group_part));
        gid = match (found, group_part.parse::<u32>()) {
            (Some(found), _) => found.gid,
            (None, Ok(number)) => number,
            (None, Err(_)) => {
                return Err(ProcessError::invalid(format!(
                    "unable to find group {group_part}: no matching entries in group file"
                )))
            }
        };
    }
    let additional_gids = match (name, group) {
        (Some(name), Some(group)) => supplementary_groups(group.as_bytes(), &name),
        _ => Vec::new(),
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() {
            "/".to_string()
        } else {
            home
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "# comment\n\
        root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        broken:x:notanumber:1::/:/bin/sh\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        nohome:x:1001:1001::\n";
    const GROUP: &str = "root:x:0:\n\
        wheel:x:10:root,app\n\
        staff:x:50:app\n\
        app:x:1000:\n\
        bad:x:nan:app\n\
        wheel2:x:10:app\n";

    fn resolve(spec: &str) -> Result<ResolvedUser, ProcessError> {
        resolve_user(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn parses_lines_and_skips_bad_ones() {
        assert_eq!(
            parse_passwd_line("app:x:1000:1000:App:/home/app:/bin/sh"),
            Some(PasswdEntry {
                name: "app".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/app".into(),
                shell: "/bin/sh".into()
            })
        );
        assert_eq!(parse_passwd_line("broken:x:nan:1::/:/bin/sh"), None);
        assert_eq!(parse_passwd_line("# root:x:0:0::/:"), None);
        assert_eq!(
            parse_group_line("wheel:x:10:root,app").map(|g| g.members),
            Some(vec!["root".to_string(), "app".to_string()])
        );
        assert_eq!(
            parse_group_line("empty:x:5:").map(|g| g.members),
            Some(vec![])
        );
    }

    #[test]
    fn looks_up_by_name_or_number() {
        assert_eq!(
            lookup_user(PASSWD.as_bytes(), "app").map(|e| e.uid),
            Some(1000)
        );
        assert_eq!(
            lookup_user(PASSWD.as_bytes(), "1").map(|e| e.name),
            Some("daemon".into())
        );
        assert_eq!(lookup_user(PASSWD.as_bytes(), "broken"), None);
        assert_eq!(
            lookup_group(GROUP.as_bytes(), "staff").map(|g| g.gid),
            Some(50)
        );
        assert_eq!(supplementary_groups(GROUP.as_bytes(), "app"), vec![10, 50]);
    }

    #[test]
    fn resolves_names_with_groups_and_home() {
        assert_eq!(
            resolve("app").expect("app"),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10, 50],
                home: "/home/app".into()
            }
        );
        assert_eq!(resolve("app:staff").expect("app:staff").gid, 50);
        assert_eq!(resolve("1000:77").expect("numbers").gid, 77);
        assert_eq!(resolve("nohome").expect("nohome").home, "/");
    }

    #[test]
    fn numbers_need_no_entry_but_names_do() {
        let unknown = resolve("4242").expect("numeric");
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        assert!(unknown.additional_gids.is_empty());
        assert_eq!(
            resolve("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("app:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        let no_files = resolve_user("0:0", None, None).expect("no files");
        assert_eq!((no_files.uid, no_files.gid), (0, 0));
        assert!(resolve(":5").is_err());
    }
}
