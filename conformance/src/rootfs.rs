//! Builds a container root filesystem from Debian's busybox-static and our checker.

use crate::locate;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

/// busybox applets linked into /bin.
pub const APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "sleep",
    "true",
    "false",
    "id",
    "hostname",
    "mount",
    "ps",
    "readlink",
    "touch",
    "mkdir",
    "rm",
    "grep",
    "stat",
    "test",
    "env",
    "kill",
    "wc",
    "head",
    "tail",
    "printf",
    "date",
    "cut",
    "tr",
    "ln",
    "chmod",
    "umount",
    "domainname",
    "pwd",
];

/// Where the checker sits inside every rootfs.
pub const CHECKER: &str = "/bin/berth-check";

/// Creates `dir` as a root filesystem: /bin/busybox with applet links, /bin/berth-check,
/// the usual empty directories, and /etc/passwd and /etc/group.
pub fn build(dir: &Path) {
    for sub in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt", "run", "var", "home",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir rootfs/{sub}: {e}"));
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod rootfs");
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    copy_exec(locate::busybox(), &dir.join("bin/busybox"));
    copy_exec(locate::checker(), &dir.join("bin/berth-check"));
    for applet in APPLETS {
        symlink("busybox", dir.join("bin").join(applet))
            .unwrap_or_else(|e| panic!("link applet {applet}: {e}"));
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\n\
         nobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("write group");
}

fn copy_exec(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).expect("chmod binary");
}
