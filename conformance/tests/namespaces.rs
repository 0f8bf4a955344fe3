//! Namespaces (config-linux.md "Namespaces"): each new namespace is private, joined ones
//! are shared, mappings apply, and a type listed twice is an error.

use berth_conformance::{host, json, spec, Test};

#[test]
fn namespace_pid_init_is_pid_1() {
    let t = Test::new("namespace_pid_init_is_pid_1");
    let f = t.run_checker();
    assert_eq!(f.pid(), 1);
    assert_ne!(f.ns("pid"), host::ns_link("pid"));
}

#[test]
fn namespace_uts_hostname() {
    let mut t = Test::new("namespace_uts_hostname");
    t.config["hostname"] = json!("box-1");
    let f = t.run_checker();
    assert_eq!(f.str("hostname"), "box-1");
    assert_ne!(f.ns("uts"), host::ns_link("uts"));
}

#[test]
fn namespace_uts_domainname() {
    berth_conformance::known_runc_gap!("runc 1.1.5 ignores `domainname` (added in runc 1.2)");
    let mut t = Test::new("namespace_uts_domainname");
    t.config["domainname"] = json!("example.test");
    let f = t.run_checker();
    assert_eq!(f.str("domainname"), "example.test");
}

#[test]
fn namespace_uts_hostname_without_uts_namespace_fails() {
    let mut t = Test::new("namespace_uts_hostname_without_uts_namespace_fails");
    spec::remove_namespace(&mut t.config, "uts");
    t.config["hostname"] = json!("box-1");
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(
        out.stderr
            .contains("unable to set hostname without a private UTS namespace"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn namespace_ipc_private() {
    let t = Test::new("namespace_ipc_private");
    let f = t.run_checker();
    assert_ne!(f.ns("ipc"), host::ns_link("ipc"));
}

#[test]
fn namespace_net_only_loopback() {
    let mut t = Test::new("namespace_net_only_loopback");
    t.checker(&[
        "--ls",
        "/sys/class/net",
        "--file",
        "/proc/net/dev",
        "--file",
        "/sys/class/net/lo/flags",
    ]);
    let f = t.run_checker();
    assert_ne!(f.ns("net"), host::ns_link("net"));
    assert_eq!(f.ls("/sys/class/net"), Some(vec!["lo".to_string()]));
    // runc brings lo up (IFF_UP, 0x1), whoever made the namespace.
    let flags = f
        .file("/sys/class/net/lo/flags")
        .expect("lo flags readable");
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("hex flags");
    assert_eq!(flags & 1, 1, "lo is up: flags {flags:#x}");
    let dev = f.file("/proc/net/dev").expect("/proc/net/dev readable");
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, vec!["lo"]);
}

#[test]
fn namespace_net_new_per_container() {
    // Two live containers get a network namespace each, never one made for another. (Both
    // live at once: a destroyed namespace's inode number is free for the next one.)
    let t = Test::new("namespace_net_new_per_container");
    let a = t.other_id("a");
    let b = t.other_id("b");
    t.create_id(&a, &[]).assert_ok();
    t.create_id(&b, &[]).assert_ok();
    let link = |id: &str| {
        std::fs::read_link(format!("/proc/{}/ns/net", t.pid(id)))
            .expect("the init's netns link")
            .display()
            .to_string()
    };
    let (net_a, net_b) = (link(&a), link(&b));
    t.delete_force(&a);
    t.delete_force(&b);
    assert_ne!(net_a, net_b);
    assert_ne!(net_a, host::ns_link("net"));
}

#[test]
fn namespace_mount_private() {
    let t = Test::new("namespace_mount_private");
    let f = t.run_checker();
    assert_ne!(f.ns("mnt"), host::ns_link("mnt"));
    assert!(f.mount_at("/proc").is_some_and(|m| m.fstype == "proc"));
}

#[test]
fn namespace_cgroup_private_root() {
    let mut t = Test::new("namespace_cgroup_private_root");
    spec::set_namespace(&mut t.config, "cgroup", None);
    let f = t.run_checker();
    assert_ne!(f.ns("cgroup"), host::ns_link("cgroup"));
    for line in f.strings("cgroup") {
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        assert_eq!(
            path, "/",
            "cgroup namespace root is the container's cgroup: {line}"
        );
    }
}

#[test]
fn namespace_shared_when_not_listed() {
    let mut t = Test::new("namespace_shared_when_not_listed");
    spec::remove_namespace(&mut t.config, "network");
    spec::remove_namespace(&mut t.config, "ipc");
    let f = t.run_checker();
    assert_eq!(f.ns("net"), host::ns_link("net"));
    assert_eq!(f.ns("ipc"), host::ns_link("ipc"));
}

#[test]
fn namespace_user_with_mappings() {
    let mut t = Test::new("namespace_user_with_mappings");
    spec::set_namespace(&mut t.config, "user", None);
    t.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    t.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec::remove_mount(&mut t.config, "/sys/fs/cgroup");
    spec::remove_mount(&mut t.config, "/sys");
    let f = t.run_checker();
    assert_ne!(f.ns("user"), host::ns_link("user"));
    assert_eq!(f.uid(), 0);
    assert_eq!(f.gid(), 0);
    let uid_map: Vec<String> = f
        .str("uid_map")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(uid_map, vec!["0", "100000", "65536"]);
    let gid_map: Vec<String> = f
        .str("gid_map")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(gid_map, vec!["0", "100000", "65536"]);
}

#[test]
fn namespace_join_by_path() {
    let mut t = Test::new("namespace_join_by_path");
    t.checker(&["--sleep"]);
    t.config["hostname"] = json!("owner-of-uts");
    let owner = t.other_id("owner");
    t.create_id(&owner, &[]).assert_ok();
    t.start(&owner).assert_ok();
    let owner_facts = t.facts(&owner);
    let owner_pid = t.pid(&owner);

    t.checker(&[]);
    t.config
        .as_object_mut()
        .expect("config object")
        .remove("hostname");
    for kind in ["uts", "ipc", "network"] {
        let file = if kind == "network" { "net" } else { kind };
        spec::set_namespace(
            &mut t.config,
            kind,
            Some(&format!("/proc/{owner_pid}/ns/{file}")),
        );
    }
    let f = t.run_checker();
    assert_eq!(f.str("hostname"), "owner-of-uts");
    for kind in ["uts", "ipc", "net"] {
        assert_eq!(f.ns(kind), owner_facts.ns(kind), "{kind} namespace joined");
    }
    assert_ne!(
        f.ns("pid"),
        owner_facts.ns("pid"),
        "pid namespace still new"
    );
    t.delete_force(&owner);
    t.assert_nothing_left(&owner);
}

#[test]
fn namespace_join_another_containers_pid_namespace() {
    // CRI's shared-process pods (and its default container setup with pid POD): the
    // container joins the pause container's pid namespace by path. Its parent is then
    // outside the joined namespace (getppid() reads 0 inside), which must not be taken
    // for a dead parent.
    let mut t = Test::new("namespace_join_another_containers_pid_namespace");
    t.checker(&["--sleep"]);
    let owner = t.other_id("owner");
    t.create_id(&owner, &[]).assert_ok();
    t.start(&owner).assert_ok();
    let owner_facts = t.facts(&owner);
    let owner_pid = t.pid(&owner);

    t.checker(&[]);
    spec::set_namespace(
        &mut t.config,
        "pid",
        Some(&format!("/proc/{owner_pid}/ns/pid")),
    );
    let f = t.run_checker();
    assert_eq!(f.ns("pid"), owner_facts.ns("pid"), "pid namespace joined");
    assert_ne!(f.pid(), 1, "the owner's init is pid 1 there");
    t.delete_force(&owner);
    t.assert_nothing_left(&owner);
}

#[test]
fn namespace_duplicate_type_is_error() {
    let mut t = Test::new("namespace_duplicate_type_is_error");
    spec::namespaces(&mut t.config).push(json!({"type": "uts"}));
    let id = t.id.clone();
    let out = t.create_id(&id, &[]);
    out.assert_failed();
    assert!(!out.stderr.trim().is_empty(), "no error message");
    t.assert_nothing_left(&id);
}

#[test]
fn namespace_time_new() {
    berth_conformance::known_runc_gap!("runc 1.1.5 does not know the time namespace");
    let mut t = Test::new("namespace_time_new");
    spec::set_namespace(&mut t.config, "time", None);
    let f = t.run_checker();
    assert_ne!(f.ns("time"), host::ns_link("time"));
}

#[test]
fn namespace_join_user_namespace_by_path() {
    let mut t = Test::new("namespace_join_user_namespace_by_path");
    spec::set_namespace(&mut t.config, "user", None);
    t.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    t.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    spec::remove_mount(&mut t.config, "/sys/fs/cgroup");
    spec::remove_mount(&mut t.config, "/sys");
    t.checker(&["--sleep"]);
    t.config["hostname"] = json!("userns-owner");
    let owner = t.other_id("owner");
    t.create_id(&owner, &[]).assert_ok();
    t.start(&owner).assert_ok();
    let owner_facts = t.facts(&owner);
    let owner_pid = t.pid(&owner);

    // Join the owner's user, uts, ipc and net namespaces by path (user must be joined
    // first so the others are owned by it). The mappings stay, equal to the joined ones
    // (runc 1.1.5 insists on them).
    t.checker(&[]);
    t.config.as_object_mut().unwrap().remove("hostname");
    for (kind, file) in [
        ("user", "user"),
        ("uts", "uts"),
        ("ipc", "ipc"),
        ("network", "net"),
    ] {
        spec::set_namespace(
            &mut t.config,
            kind,
            Some(&format!("/proc/{owner_pid}/ns/{file}")),
        );
    }
    let f = t.run_checker();
    for kind in ["user", "uts", "ipc", "net"] {
        assert_eq!(f.ns(kind), owner_facts.ns(kind), "{kind} joined");
    }
    assert_eq!(f.str("hostname"), "userns-owner");
    assert_eq!(f.uid(), 0);
    assert_eq!(f.str("uid_map"), owner_facts.str("uid_map"));
    t.delete_force(&owner);
    t.assert_nothing_left(&owner);
}
