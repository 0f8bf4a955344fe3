//! linux.seccomp (runtime-spec config-linux.md "Seccomp"): the filter is in force for the
//! container's process and for exec'd processes, actions and argument rules behave as
//! libseccomp's, and a bad profile is refused naming the field, leaving nothing behind.

use berth_conformance::{json, Facts, Test};

fn errno_for_mkdir() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]
    })
}

#[test]
fn seccomp_errno_rule_applies_to_the_process() {
    let mut t = Test::new("seccomp_errno_rule_applies_to_the_process");
    t.config["linux"]["seccomp"] = errno_for_mkdir();
    t.config["root"]["readonly"] = json!(false);
    t.args(&[
        "sh",
        "-c",
        "mkdir /tmp/blocked; echo mkdir=$?; grep ^Seccomp: /proc/self/status",
    ]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("mkdir=1"),
        "mkdir was not refused: {out:?} {}",
        t.errors(&id)
    );
    assert!(
        t.errors(&id).contains("Permission denied"),
        "errnoRet 13 is EACCES: {}",
        t.errors(&id)
    );
    assert!(out.contains("Seccomp:\t2"), "{out:?}");
    assert!(!t.bundle.join("rootfs/tmp/blocked").exists());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_argument_rule_matches_only_its_value() {
    // kill(pid, 0) is refused; kill with any other signal is allowed.
    let mut t = Test::new("seccomp_argument_rule_matches_only_its_value");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    t.args(&[
        "sh",
        "-c",
        "kill -0 $$; echo zero=$?; kill -CONT $$; echo cont=$?",
    ]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("zero=1") && out.contains("cont=0"),
        "{out:?} {}",
        t.errors(&id)
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_errno_eperm_for_mkdir() {
    let mut t = Test::new("seccomp_errno_eperm_for_mkdir");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    t.config["root"]["readonly"] = json!(false);
    t.args(&["sh", "-c", "mkdir /tmp/nope"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    // ERRNO without errnoRet is EPERM.
    assert!(
        t.errors(&id).contains("Operation not permitted"),
        "{}",
        t.errors(&id)
    );
    assert!(!t.bundle.join("rootfs/tmp/nope").exists());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_kill_action_kills_with_sigsys() {
    let mut t = Test::new("seccomp_kill_action_kills_with_sigsys");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
    });
    t.config["root"]["readonly"] = json!(false);
    // The mkdir applet is the container's process itself: it dies of SIGSYS (31).
    t.args(&["mkdir", "/tmp/killed"]);
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.call(&["run", "--bundle", t.bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(128 + 31), "{}", out.describe());
    assert!(!t.bundle.join("rootfs/tmp/killed").exists());
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_flags_are_accepted_and_unknown_ones_refused() {
    berth_conformance::known_runc_gap!(
        "runc 1.1.5: \"seccomp flags are not yet supported by runc\""
    );
    let mut t = Test::new("seccomp_flags_are_accepted_and_unknown_ones_refused");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    t.args(&["sh", "-c", "grep ^Seccomp: /proc/self/status"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    assert!(t.output(&id).contains("Seccomp:\t2"), "{}", t.output(&id));
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);

    let other = t.other_id("badflag");
    t.config["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_NOPE"]);
    t.write_config(&other);
    let out = t.create_raw(&other, &[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("SECCOMP_FILTER_FLAG_NOPE"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&other);
}

#[test]
fn seccomp_filter_applies_to_exec() {
    let mut t = Test::new("seccomp_filter_applies_to_exec");
    t.checker(&["--sleep"]);
    t.config["linux"]["seccomp"] = errno_for_mkdir();
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    let out = t.call(&["exec", &id, "/bin/berth-check"]);
    out.assert_ok();
    assert_eq!(Facts::parse(&out.stdout).status("Seccomp"), "2");
    t.call(&["delete", "--force", &id]).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_unknown_action_is_refused_naming_the_field() {
    let mut t = Test::new("seccomp_unknown_action_is_refused_naming_the_field");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]
    });
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert!(
        out.stderr.contains("seccomp") && out.stderr.contains("SCMP_ACT_FOO"),
        "{}",
        out.describe()
    );
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_notify_for_write_is_refused() {
    berth_conformance::known_runc_gap!("runc 1.1.5 accepts a NOTIFY rule for write(2)");
    let mut t = Test::new("seccomp_notify_for_write_is_refused");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/nonexistent/agent.sock",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let id = t.id.clone();
    t.write_config(&id);
    let out = t.create_raw(&id, &[]);
    out.assert_failed();
    assert!(out.stderr.contains("write"), "{}", out.describe());
    t.assert_nothing_left(&id);
}

/// The default profile as `berth spec --default-seccomp` writes it.
fn berth_default_profile(t: &Test) -> serde_json::Value {
    let dir = t.dir().join("specdir");
    std::fs::create_dir_all(&dir).unwrap();
    t.call(&[
        "spec",
        "--default-seccomp",
        "--bundle",
        dir.to_str().unwrap(),
    ])
    .assert_ok();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    spec["linux"]["seccomp"].clone()
}

#[test]
fn seccomp_default_profile_from_berth_spec_blocks_namespace_creation() {
    berth_conformance::berth_only!("spec --default-seccomp");
    let mut t = Test::new("seccomp_default_profile_from_berth_spec_blocks_namespace_creation");
    t.config["linux"]["seccomp"] = berth_default_profile(&t);
    // Even with CAP_SYS_ADMIN in the bounding set only, unshare(CLONE_NEWUSER) is refused by
    // Docker's profile without CAP_SYS_ADMIN; a plain command still works.
    t.args(&["sh", "-c", "unshare -U true; echo unshare=$?; echo alive"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let out = t.output(&id);
    assert!(
        out.contains("alive") && !out.contains("unshare=0"),
        "{out:?}"
    );
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

/// Receives one message and the fd attached to it (SCM_RIGHTS) from a connected socket.
fn recv_with_fd(sock: i32) -> (Vec<u8>, i32) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut cmsg = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; we point it at buffers that outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: recvmsg on a socket we own with the buffers above.
    let n = unsafe { libc::recvmsg(sock, &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    buf.truncate(n as usize);
    // SAFETY: the kernel filled the control buffer; CMSG_FIRSTHDR/DATA walk it.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no fd attached");
        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)
    };
    (buf, fd)
}

#[test]
fn seccomp_notify_listener_answers_the_syscall() {
    use std::os::unix::io::AsRawFd;
    let mut t = Test::new("seccomp_notify_listener_answers_the_syscall");
    let sock = t.dir().join("agent.sock");
    let agent = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "conformance-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    t.config["root"]["readonly"] = json!(false);
    t.args(&["sh", "-c", "mkdir /tmp/notified; echo mkdir=$?"]);
    let id = t.id.clone();
    // The agent answers every notification with EADDRNOTAVAIL (99), for a bounded time.
    let handle = std::thread::spawn(move || {
        let (conn, _) = agent.accept().unwrap();
        let (state, listener) = recv_with_fd(conn.as_raw_fd());
        let mut answered = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: listener,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd we own.
            if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
                if answered > 0 {
                    break;
                }
                continue;
            }
            if pfd.revents & libc::POLLHUP != 0 {
                break;
            }
            // SAFETY: seccomp_notif is plain data; zeroed is the required input state.
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: NOTIF_RECV fills `req` from the listener fd.
            if unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
                break;
            }
            let mut resp = libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: -99,
                flags: 0,
            };
            // SAFETY: NOTIF_SEND reads `resp`.
            unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
            answered += 1;
        }
        // SAFETY: closing the listener fd we received.
        unsafe { libc::close(listener) };
        (String::from_utf8_lossy(&state).into_owned(), answered)
    });
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    let (state, answered) = handle.join().unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "conformance-agent");
    assert_eq!(state["state"]["id"], json!(id));
    assert!(answered >= 1);
    assert!(t.output(&id).contains("mkdir=1"), "{}", t.output(&id));
    assert!(
        // EADDRNOTAVAIL, in glibc's or busybox's words.
        t.errors(&id).contains("Address not available")
            || t.errors(&id).contains("Cannot assign requested address"),
        "{}",
        t.errors(&id)
    );
    assert!(!t.bundle.join("rootfs/tmp/notified").exists());
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}

#[test]
fn seccomp_default_errno_ret_is_the_default_actions_errno() {
    berth_conformance::berth_only!("profile from spec --default-seccomp");
    let mut t = Test::new("seccomp_default_errno_ret_is_the_default_actions_errno");
    // Docker's allow-list minus mkdir/mkdirat; everything else gets the default action.
    let mut profile = berth_default_profile(&t);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    profile["defaultErrnoRet"] = json!(95);
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "mkdir" && n != "mkdirat");
        }
    }
    profile["syscalls"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["names"].as_array().is_none_or(|n| !n.is_empty()));
    t.config["linux"]["seccomp"] = profile;
    t.config["root"]["readonly"] = json!(false);
    t.args(&["sh", "-c", "mkdir /tmp/x; echo mkdir=$?"]);
    let id = t.id.clone();
    t.create();
    t.start(&id).assert_ok();
    t.wait_stopped(&id);
    assert!(t.output(&id).contains("mkdir=1"), "{}", t.output(&id));
    // 95 is EOPNOTSUPP.
    assert!(t.errors(&id).contains("not supported"), "{}", t.errors(&id));
    t.delete(&id).assert_ok();
    t.assert_nothing_left(&id);
}
