//! Which namespaces the container gets, and how: created by the clone, unshared by the
//! init, or joined by `path` with setns.
//!
//! Rules (runtime-spec config-linux.md "Namespaces"):
//! * a pid namespace to join is entered by the *parent* before the clone (setns on a pid
//!   namespace only affects children), a new one is made by the clone itself;
//! * a new user namespace is made by the clone together with the other new namespaces, so
//!   they are owned by it; when the user namespace is joined by path, the init joins it first
//!   and then unshares the new ones, so they are owned by the joined one;
//! * a new cgroup namespace is unshared by the init after it joined its cgroup, so the
//!   container's cgroup is the root of its view;
//! * a new time namespace is unshared by the parent (it applies to children only) and its
//!   offsets written before the clone;
//! * joins happen in the init in this order: user, then ipc, uts, net, cgroup, time, and
//!   mount last (after it, host paths no longer resolve).

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, Default)]
pub struct Plan {
    /// CLONE_NEW* flags for the clone itself.
    pub clone_flags: libc::c_int,
    /// CLONE_NEW* flags the init unshares after joining a user namespace by path.
    pub unshare_flags: libc::c_int,
    /// The init unshares a cgroup namespace after joining its cgroup.
    pub new_cgroup: bool,
    /// The parent unshares a time namespace before the clone.
    pub new_time: bool,
    /// The init gets a new user namespace (the parent writes its id maps).
    pub new_user: bool,
    /// The init is pid 1 of its own, new pid namespace.
    pub new_pid: bool,
    /// The pid namespace is unshared after joining a user namespace by path (so the joined
    /// one owns it), which takes one more fork: the init's child becomes pid 1.
    pub fork_for_pid: bool,
    /// A new network namespace (loopback is brought up by the init).
    pub new_net: bool,
    pub new_uts: bool,
    /// A pid namespace the parent enters before the clone.
    pub join_pid: Option<OwnedFd>,
    /// Namespaces the init joins, already in join order.
    pub joins: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl Plan {
    /// The new namespaces the init makes itself (unshare) right after a clone that carries
    /// only the rest, while `create` makes the v1 cgroup directories in parallel; None when
    /// the clone must carry them all: a new user namespace must own them and its id maps
    /// come first, joined namespaces are entered before new ones are made (runc's order),
    /// and a rootless create may go on without cgroups.
    pub fn early_unshare(&self, rootless: bool) -> Option<libc::c_int> {
        if self.new_user
            || rootless
            || self.fork_for_pid
            || self.join_pid.is_some()
            || !self.joins.is_empty()
            || self.unshare_flags != 0
        {
            return None;
        }
        let movable =
            libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS;
        Some(self.clone_flags & movable)
    }
}

pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Ipc => 1,
        LinuxNamespaceType::Uts => 2,
        LinuxNamespaceType::Network => 3,
        LinuxNamespaceType::Cgroup => 4,
        LinuxNamespaceType::Time => 5,
        LinuxNamespaceType::Pid => 6,
        LinuxNamespaceType::Mount => 7,
    }
}

/// Builds the plan and opens every namespace path (an unopenable path is reported here,
/// before anything is made).
pub fn plan(spec: &Spec) -> Result<Plan> {
    let mut p = Plan::default();
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let user_joined = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    for ns in &namespaces {
        let t = ns.typ();
        if let Some(path) = ns.path() {
            let file = std::fs::File::open(path).map_err(|e| {
                Error::invalid(format!(
                    "linux.namespaces: cannot open {:?} namespace {}: {e}",
                    t,
                    path.display()
                ))
            })?;
            let fd = OwnedFd::from(file);
            if t == LinuxNamespaceType::Pid {
                p.join_pid = Some(fd);
            } else {
                p.joins.push((t, fd));
            }
            continue;
        }
        match t {
            LinuxNamespaceType::Pid => {
                p.new_pid = true;
                if user_joined {
                    p.unshare_flags |= libc::CLONE_NEWPID;
                    p.fork_for_pid = true;
                } else {
                    p.clone_flags |= libc::CLONE_NEWPID;
                }
            }
            LinuxNamespaceType::User => {
                p.new_user = true;
                p.clone_flags |= libc::CLONE_NEWUSER;
            }
            LinuxNamespaceType::Cgroup => p.new_cgroup = true,
            LinuxNamespaceType::Time => p.new_time = true,
            other => {
                if other == LinuxNamespaceType::Network {
                    p.new_net = true;
                }
                if other == LinuxNamespaceType::Uts {
                    p.new_uts = true;
                }
                if user_joined {
                    p.unshare_flags |= flag(other);
                } else {
                    p.clone_flags |= flag(other);
                }
            }
        }
    }
    p.joins.sort_by_key(|(t, _)| join_rank(*t));
    Ok(p)
}

/// In the init: enter every namespace to join, in order, then unshare what must come after.
pub fn join_and_unshare(plan: &Plan) -> Result<()> {
    for (t, fd) in &plan.joins {
        // SAFETY: setns on an fd we own; no memory is involved.
        if unsafe { libc::setns(fd.as_raw_fd(), flag(*t)) } != 0 {
            return Err(Error::sys(
                format!("join {t:?} namespace"),
                nix::Error::last(),
            ));
        }
    }
    if plan.unshare_flags != 0 {
        // SAFETY: unshare only changes this (single-threaded) process's namespaces.
        if unsafe { libc::unshare(plan.unshare_flags) } != 0 {
            return Err(Error::sys("unshare namespaces", nix::Error::last()));
        }
    }
    Ok(())
}

/// Path of this process's namespace of type `t` as a `/proc/<pid>/ns/..` link name.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: &str) -> Spec {
        let text = format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},"linux":{{"namespaces":{ns}}}}}"#
        );
        crate::config::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn new_namespaces_go_on_the_clone_except_cgroup_and_time() {
        let p = plan(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"cgroup"},{"type":"time"},{"type":"user"}]"#,
        ))
        .unwrap();
        assert_eq!(
            p.clone_flags,
            libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWUSER
        );
        assert!(p.new_cgroup && p.new_time && p.new_user && p.new_pid);
        assert_eq!(p.unshare_flags, 0);
    }

    #[test]
    fn the_init_unshares_all_but_pid_early_in_the_common_case() {
        let p = plan(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"ipc"},{"type":"uts"}]"#,
        ))
        .unwrap();
        assert_eq!(
            p.early_unshare(false),
            Some(libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS)
        );
        assert_eq!(
            p.early_unshare(true),
            None,
            "rootless may run without cgroups"
        );
        let no_net = plan(&spec(r#"[{"type":"pid"},{"type":"mount"}]"#)).unwrap();
        assert_eq!(no_net.early_unshare(false), Some(libc::CLONE_NEWNS));
    }

    #[test]
    fn a_new_user_namespace_or_a_joined_one_keeps_everything_on_the_clone() {
        let user = plan(&spec(
            r#"[{"type":"pid"},{"type":"network"},{"type":"user"}]"#,
        ))
        .unwrap();
        assert_eq!(user.early_unshare(false), None);
        let joined = plan(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/self/ns/net"}]"#,
        ))
        .unwrap();
        assert_eq!(joined.early_unshare(false), None);
    }

    #[test]
    fn joined_user_namespace_moves_new_ones_to_unshare() {
        let p = plan(&spec(
            r#"[{"type":"user","path":"/proc/self/ns/user"},{"type":"mount"},{"type":"ipc"},{"type":"pid"}]"#,
        ))
        .unwrap();
        assert_eq!(p.clone_flags, 0);
        assert_eq!(
            p.unshare_flags,
            libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWPID
        );
        assert!(p.fork_for_pid);
        assert_eq!(p.joins.len(), 1);
    }

    #[test]
    fn joins_are_ordered_user_first_mount_last() {
        let p = plan(&spec(
            r#"[{"type":"mount","path":"/proc/self/ns/mnt"},{"type":"network","path":"/proc/self/ns/net"},{"type":"user","path":"/proc/self/ns/user"}]"#,
        ))
        .unwrap();
        let order: Vec<_> = p.joins.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            order,
            vec![
                LinuxNamespaceType::User,
                LinuxNamespaceType::Network,
                LinuxNamespaceType::Mount
            ]
        );
    }

    #[test]
    fn missing_path_is_reported() {
        let err = plan(&spec(r#"[{"type":"network","path":"/nonexistent/ns"}]"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/ns"), "{err}");
    }
}
