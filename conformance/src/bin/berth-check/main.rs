//! `berth-check`: the conformance suite's container process.
//!
//! It prints one line of JSON describing what it sees from inside the container (ids,
//! capabilities, rlimits, cwd, env, hostname, umask, no_new_privs, oom_score_adj, fds,
//! mountinfo, namespaces, …), plus whatever the options ask for, and then exits, sleeps or
//! waits for signals. It uses only std and libc and is built statically, because the busybox
//! root filesystems have no C library.
//!
//! Options (repeatable where it makes sense):
//!   --stat PATH  --access PATH  --sysctl NAME  --file PATH  --ls DIR  --write PATH=DATA
//!   --exit N      exit with status N after printing
//!   --sleep       block forever after printing
//!   --trap        after printing, print `{"signal":N}` for every signal received;
//!                 exit 0 on SIGTERM or SIGINT
//!   --race SECS   after printing, play the attacker of the CVE suite for SECS seconds
//!                 (see race.rs), print `{"race":{…}}` and exit 0
//!   --hold-exe SECS  after printing, hold /proc/<pid>/exe of runtime processes for SECS
//!                 seconds, print `{"held":N,…}`, wait for SIGUSR1, try to write what it
//!                 holds, print `{"exe_hold":{…}}` and exit 0 (see hold_exe.rs)

mod facts;
mod hold_exe;
mod json;
mod race;

use json::{s, Json};
use std::io::Write;

enum After {
    Exit(i32),
    Sleep,
    Trap,
    Race(u64),
    HoldExe(u64),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut report = facts::process_facts();
    let mut extra: Vec<(&str, Vec<(String, Json)>)> = vec![
        ("stat", vec![]),
        ("access", vec![]),
        ("sysctl", vec![]),
        ("file", vec![]),
        ("ls", vec![]),
        ("write", vec![]),
    ];
    let mut after = After::Exit(0);
    let mut errors = Vec::new();
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        let mut value = |name: &str| -> Option<String> {
            let v = it.next().cloned();
            if v.is_none() {
                errors.push(s(format!("{name} needs a value")));
            }
            v
        };
        match opt.as_str() {
            "--exit" => {
                after = After::Exit(value("--exit").and_then(|n| n.parse().ok()).unwrap_or(2));
            }
            "--sleep" => after = After::Sleep,
            "--trap" => after = After::Trap,
            "--race" => {
                after = After::Race(value("--race").and_then(|n| n.parse().ok()).unwrap_or(5));
            }
            "--hold-exe" => {
                after = After::HoldExe(
                    value("--hold-exe")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(3),
                );
            }
            "--stat" | "--access" | "--sysctl" | "--file" | "--ls" | "--write" => {
                let Some(arg) = value(opt) else { continue };
                let (slot, v) = match opt.as_str() {
                    "--stat" => (0, facts::stat(&arg)),
                    "--access" => (1, facts::access(&arg)),
                    "--sysctl" => (2, facts::sysctl(&arg)),
                    "--file" => (3, facts::file(&arg)),
                    "--ls" => (4, facts::list_dir(&arg)),
                    _ => {
                        let (path, data) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
                        (5, facts::write(path, data))
                    }
                };
                extra[slot].1.push((arg, v));
            }
            other => errors.push(s(format!("unknown option {other}"))),
        }
    }
    for (name, entries) in extra {
        report.push((name.to_string(), Json::Obj(entries)));
    }
    report.push(("errors".to_string(), Json::Arr(errors)));
    emit(&Json::Obj(report));
    match after {
        After::Exit(code) => std::process::exit(code),
        After::Sleep => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        After::Trap => trap(),
        After::Race(secs) => {
            emit(&race::race(secs));
            std::process::exit(0)
        }
        After::HoldExe(secs) => {
            emit(&hold_exe::hold_exe(secs, emit));
            std::process::exit(0)
        }
    }
}

fn emit(v: &Json) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", v.render());
    let _ = out.flush();
}

/// Blocks every signal and reports each one as it arrives.
fn trap() -> ! {
    // SAFETY: the sigset is a plain value we initialise with sigfillset before use, and
    // sigprocmask/sigwaitinfo only read it or write into the siginfo we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&set, &mut info);
            if sig < 0 {
                continue;
            }
            emit(&Json::Obj(vec![(
                "signal".to_string(),
                Json::Int(sig.into()),
            )]));
            if sig == libc::SIGTERM || sig == libc::SIGINT {
                std::process::exit(0);
            }
        }
    }
}
