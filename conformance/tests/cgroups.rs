//! cgroups placement (config-linux.md "Control groups"): the container lands in
//! linux.cgroupsPath (a default when empty) on this host's layout, and delete removes it.

use berth_conformance::{cgroups, Test};

/// The cgroup paths of a process, per hierarchy line of /proc/<pid>/cgroup.
fn cgroup_lines(pid: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn cgroups_container_placed_in_cgroups_path() {
    let t = Test::new("cgroups_container_placed_in_cgroups_path");
    let id = t.id.clone();
    t.create();
    let want = cgroups::path_for(&id);
    let lines = cgroup_lines(t.pid(&id));
    for controller in ["memory", "pids", "cpu", "freezer", "devices"] {
        let line = lines
            .iter()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == controller))
            })
            .unwrap_or_else(|| panic!("no {controller} line: {lines:?}"));
        assert!(
            line.ends_with(&want),
            "{controller} cgroup is not {want}: {line}"
        );
    }
    assert!(!cgroups::existing_dirs(&want).is_empty());
    t.delete_force(&id);
    assert!(
        cgroups::existing_dirs(&want).is_empty(),
        "delete left {want}"
    );
    t.assert_nothing_left(&id);
}

#[test]
fn cgroups_default_path_when_empty_removed_on_delete() {
    let mut t = Test::new("cgroups_default_path_when_empty_removed_on_delete");
    t.config["linux"]
        .as_object_mut()
        .expect("linux object")
        .remove("cgroupsPath");
    let id = t.id.clone();
    t.create_id(&id, &[]).assert_ok();
    let mine = cgroup_lines(std::process::id() as i32);
    let theirs = cgroup_lines(t.pid(&id));
    let memory = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.contains(":memory:"))
            .cloned()
            .unwrap_or_default()
    };
    assert_ne!(
        memory(&theirs),
        memory(&mine),
        "container not in a cgroup of its own"
    );
    let path = memory(&theirs)
        .splitn(3, ':')
        .nth(2)
        .unwrap_or_default()
        .to_string();
    assert!(
        !cgroups::existing_dirs(&path).is_empty(),
        "default cgroup {path} missing"
    );
    t.delete_force(&id);
    assert!(
        cgroups::existing_dirs(&path).is_empty(),
        "delete left the default cgroup {path}"
    );
    t.assert_nothing_left(&id);
}
