//! `exec --cgroup [CONTROLLER[,CONTROLLER…]:]PATH` (runc's flag, repeatable): the exec'd
//! process goes into an existing sub-cgroup of the container's cgroup.
//!
//! * `PATH` alone (given once): the same sub-cgroup in every hierarchy: each v1
//!   controller's, the cgroup2 one on hybrid, the only one on v2.
//! * `cpu,memory:PATH` (cgroup v1 and hybrid; repeatable, each controller once): the
//!   hierarchies of the named controllers use `PATH`, the others the container's cgroup.
//!   Pure v2 has no per-controller hierarchies, so a prefix there is an error.
//! * `PATH` is relative to the container's cgroup, or absolute (from the hierarchy's root)
//!   inside it; `..` may not climb out of it and an absolute path elsewhere is refused.
//!   runc joins an absolute `PATH` below the container's cgroup instead; berth refuses it,
//!   since reading it as anything but the path it names is a surprise.
//! * The sub-cgroup must exist (berth never makes it): a missing one is an error naming
//!   the directory.

use super::{CgroupError, CgroupManager, Layout};
use std::path::{Component, Path, PathBuf};

/// The parsed `--cgroup` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups {
    /// A path for every hierarchy (the unprefixed form).
    all: Option<String>,
    /// (controller, path) from the prefixed form.
    by_controller: Vec<(String, String)>,
}

fn invalid(msg: String) -> CgroupError {
    CgroupError::Invalid(msg)
}

impl SubCgroups {
    /// Parses the `--cgroup` values as given on the command line.
    pub fn parse(args: &[String]) -> Result<SubCgroups, CgroupError> {
        let mut out = SubCgroups::default();
        for arg in args {
            match arg.split_once(':') {
                None => {
                    if args.len() != 1 {
                        return Err(invalid(format!(
                            "exec --cgroup {arg:?}: with several --cgroup flags each needs a \
                             CONTROLLER: prefix"
                        )));
                    }
                    out.all = Some(arg.clone());
                }
                Some((controllers, path)) => {
                    for c in controllers.split(',') {
                        if c.is_empty() {
                            return Err(invalid(format!(
                                "exec --cgroup {arg:?}: empty controller name before ':'"
                            )));
                        }
                        if out.by_controller.iter().any(|(have, _)| have == c) {
                            return Err(invalid(format!(
                                "exec --cgroup {arg:?}: controller {c} given more than once"
                            )));
                        }
                        out.by_controller.push((c.to_string(), path.to_string()));
                    }
                }
            }
        }
        let mut paths = out
            .by_controller
            .iter()
            .map(|(_, p)| p)
            .chain(out.all.iter());
        if paths.any(String::is_empty) {
            return Err(invalid("exec --cgroup: empty sub-cgroup path".to_string()));
        }
        Ok(out)
    }

    /// The manager `cg` with every directory moved to the requested sub-cgroup: what the
    /// exec'd process joins (v1, hybrid) or is cloned into (v2). Checks that each
    /// sub-cgroup stays inside the container's and exists.
    pub fn apply(&self, cg: &CgroupManager) -> Result<CgroupManager, CgroupError> {
        if cg.hierarchies.is_empty() {
            return Err(invalid(
                "exec --cgroup: the container has no cgroup (rootless without a delegated \
                 cgroup)"
                    .to_string(),
            ));
        }
        if cg.layout == Layout::V2 {
            if let Some((c, _)) = self.by_controller.first() {
                return Err(invalid(format!(
                    "exec --cgroup {c}:…: cgroup v2 has a single hierarchy; give the \
                     sub-cgroup without a controller prefix"
                )));
            }
        }
        let mut used = vec![false; self.by_controller.len()];
        let mut out = cg.clone();
        for h in out.hierarchies.iter_mut() {
            let mut wanted: Option<&str> = self.all.as_deref();
            if !h.unified {
                for (i, (c, path)) in self.by_controller.iter().enumerate() {
                    if !h.controllers.iter().any(|have| have == c) {
                        continue;
                    }
                    used[i] = true;
                    match wanted {
                        Some(other) if other != path => {
                            return Err(invalid(format!(
                                "exec --cgroup: {} share a hierarchy but were given different \
                                 sub-cgroups",
                                h.controllers.join(",")
                            )))
                        }
                        _ => wanted = Some(path),
                    }
                }
            }
            let Some(path) = wanted else { continue };
            let rel = inside(&cg.path, path)?;
            let dir = h.dir.join(&rel);
            if !dir.is_dir() {
                return Err(invalid(format!(
                    "exec --cgroup {path}: sub-cgroup {} does not exist",
                    dir.display()
                )));
            }
            h.dir = dir;
        }
        if let Some(i) = used.iter().position(|u| !u) {
            let c = &self.by_controller[i].0;
            return Err(invalid(format!(
                "exec --cgroup {c}:…: the container has no cgroup for controller {c}"
            )));
        }
        out.dirs = out.hierarchies.iter().map(|h| h.dir.clone()).collect();
        Ok(out)
    }
}

/// `sub` as a path relative to the container's cgroup `container` ("/berth/ID"): relative
/// as given, or absolute below `container`. `..` may not leave it.
fn inside(container: &str, sub: &str) -> Result<PathBuf, CgroupError> {
    let escape = || {
        invalid(format!(
            "exec --cgroup {sub}: not inside the container's cgroup {container}"
        ))
    };
    let sub_path = Path::new(sub);
    let rel = if sub_path.is_absolute() {
        let normal = normalize(sub_path).ok_or_else(escape)?;
        let container = normalize(Path::new(container)).ok_or_else(escape)?;
        normal
            .strip_prefix(&container)
            .map_err(|_| escape())?
            .to_path_buf()
    } else {
        sub_path.to_path_buf()
    };
    normalize(&rel).ok_or_else(escape)
}

/// Lexical normalisation without the root: `.` dropped, `..` pops; None when `..` would
/// climb above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p),
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::super::Hierarchy;
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn forms_runc_accepts() {
        let one = SubCgroups::parse(&args(&["sub"])).unwrap();
        assert_eq!(one.all.as_deref(), Some("sub"));
        let many = SubCgroups::parse(&args(&["cpu,cpuacct:a", "memory:b/c"])).unwrap();
        assert_eq!(
            many.by_controller,
            vec![
                ("cpu".into(), "a".into()),
                ("cpuacct".into(), "a".into()),
                ("memory".into(), "b/c".into())
            ]
        );
    }

    #[test]
    fn bad_forms_are_refused() {
        for bad in [
            &["a", "b"][..],
            &[":a"],
            &["cpu,:a"],
            &["cpu:a", "cpu:b"],
            &["cpu:"],
            &[""],
        ] {
            let err = SubCgroups::parse(&args(bad)).expect_err(&format!("{bad:?} accepted"));
            assert!(err.to_string().contains("--cgroup"), "{err}");
        }
    }

    #[test]
    fn paths_stay_inside_the_container() {
        let c = "/berth/c1";
        assert_eq!(inside(c, "sub").unwrap(), PathBuf::from("sub"));
        assert_eq!(inside(c, "a/../b/./c").unwrap(), PathBuf::from("b/c"));
        assert_eq!(inside(c, "/berth/c1/sub").unwrap(), PathBuf::from("sub"));
        assert_eq!(inside(c, "/berth/c1").unwrap(), PathBuf::new());
        for bad in [
            "..",
            "../c2",
            "a/../..",
            "/berth/c2",
            "/berth/c10",
            "/",
            "/berth/c1/../c2",
        ] {
            let err = inside(c, bad).expect_err(bad);
            assert!(err.to_string().contains("not inside"), "{err}");
        }
    }

    fn manager(dir: &Path, layout: Layout) -> CgroupManager {
        let h = |name: &str, controllers: &[&str], unified: bool| Hierarchy {
            mount_point: dir.join(name),
            dir: dir.join(name).join("berth/c1"),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            unified,
        };
        let hierarchies = match layout {
            Layout::V2 => vec![h("unified", &[], true)],
            _ => vec![
                h("cpu,cpuacct", &["cpu", "cpuacct"], false),
                h("memory", &["memory"], false),
                h("unified", &[], true),
            ],
        };
        for h in &hierarchies {
            std::fs::create_dir_all(h.dir.join("sub")).unwrap();
        }
        CgroupManager {
            path: "/berth/c1".into(),
            layout,
            dirs: hierarchies.iter().map(|h| h.dir.clone()).collect(),
            hierarchies,
            created: Default::default(),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-sub-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn one_path_moves_every_hierarchy() {
        let d = temp("all");
        let cg = manager(&d, Layout::Hybrid);
        let sub = SubCgroups::parse(&args(&["sub"]))
            .unwrap()
            .apply(&cg)
            .unwrap();
        for (h, dir) in sub.hierarchies.iter().zip(&sub.dirs) {
            assert!(h.dir.ends_with("berth/c1/sub"), "{}", h.dir.display());
            assert_eq!(&h.dir, dir);
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_prefix_moves_only_its_hierarchy() {
        let d = temp("prefix");
        let cg = manager(&d, Layout::Hybrid);
        let sub = SubCgroups::parse(&args(&["memory:sub"]))
            .unwrap()
            .apply(&cg)
            .unwrap();
        assert!(sub.dirs[0].ends_with("berth/c1"));
        assert!(sub.dirs[1].ends_with("memory/berth/c1/sub"));
        assert!(sub.dirs[2].ends_with("unified/berth/c1"));
        let err = SubCgroups::parse(&args(&["cpu:sub", "cpuacct:other"]))
            .unwrap()
            .apply(&cg)
            .unwrap_err();
        assert!(err.to_string().contains("share a hierarchy"), "{err}");
        let err = SubCgroups::parse(&args(&["rdma:sub"]))
            .unwrap()
            .apply(&cg)
            .unwrap_err();
        assert!(
            err.to_string().contains("no cgroup for controller rdma"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_sub_cgroup_is_named() {
        let d = temp("missing");
        let cg = manager(&d, Layout::V2);
        let err = SubCgroups::parse(&args(&["nope"]))
            .unwrap()
            .apply(&cg)
            .unwrap_err();
        let want = d.join("unified/berth/c1/nope");
        assert!(
            err.to_string().contains(&want.display().to_string()),
            "{err}"
        );
        let err = SubCgroups::parse(&args(&["memory:sub"]))
            .unwrap()
            .apply(&cg)
            .unwrap_err();
        assert!(err.to_string().contains("single hierarchy"), "{err}");
        let v2 = SubCgroups::parse(&args(&["sub"]))
            .unwrap()
            .apply(&cg)
            .unwrap();
        assert_eq!(v2.v2_dir(), Some(d.join("unified/berth/c1/sub")));
        let _ = std::fs::remove_dir_all(&d);
    }
}
