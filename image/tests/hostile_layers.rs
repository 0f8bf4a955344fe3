//! Hostile layers, in the spirit of containerd's breakout tests: each is applied (one or more
//! layers in order) into `<sandbox>/dest`, beside a sentinel directory `<sandbox>/outside` that
//! absolute and relative escapes aim at. Each case must be refused (an error naming the entry)
//! or contained (applied inside `dest`), and afterwards every byte of the sandbox outside
//! `dest` must be exactly as before.

use dock::unpack::{apply_layer, Limits, UnpackError};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A tar written header by header, names as raw bytes (the tar crate's own builder refuses
/// the hostile names we need).
#[derive(Default)]
struct Layer {
    out: Vec<u8>,
}

impl Layer {
    fn new() -> Layer {
        Layer::default()
    }

    fn raw(&mut self, kind: EntryType, name: &[u8], link: &[u8], mode: u32, data: &[u8]) {
        self.raw_dev(kind, name, link, mode, data, 0, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn raw_dev(
        &mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
        major: u32,
        minor: u32,
    ) {
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name);
        }
        if link.len() > 100 {
            self.long(EntryType::GNULongLink, link);
        }
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            let n = name.len().min(100);
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(100);
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        }
        h.set_cksum();
        self.push(&h, data);
    }

    fn long(&mut self, kind: EntryType, value: &[u8]) {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_mode(0o644);
        let mut data = value.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.push(&h, &data);
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3; // ' ' '=' '\n'
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut h = Header::new_ustar();
        h.as_ustar_mut().unwrap().name[..9].copy_from_slice(b"PaxHeader");
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.push(&h, &data);
    }

    fn push(&mut self, h: &Header, data: &[u8]) {
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn file(mut self, name: &str, data: &str) -> Layer {
        self.raw(
            EntryType::Regular,
            name.as_bytes(),
            b"",
            0o644,
            data.as_bytes(),
        );
        self
    }
    fn file_mode(mut self, name: &str, mode: u32) -> Layer {
        self.raw(EntryType::Regular, name.as_bytes(), b"", mode, b"x");
        self
    }
    fn dir(mut self, name: &str) -> Layer {
        self.raw(EntryType::Directory, name.as_bytes(), b"", 0o755, b"");
        self
    }
    fn dir_mode(mut self, name: &str, mode: u32) -> Layer {
        self.raw(EntryType::Directory, name.as_bytes(), b"", mode, b"");
        self
    }
    fn symlink(mut self, name: &str, target: &str) -> Layer {
        self.raw(
            EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            0o777,
            b"",
        );
        self
    }
    fn hardlink(mut self, name: &str, target: &str) -> Layer {
        self.raw(
            EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            0o644,
            b"",
        );
        self
    }
    fn device(mut self, kind: EntryType, name: &str, major: u32, minor: u32) -> Layer {
        self.raw_dev(kind, name.as_bytes(), b"", 0o666, b"", major, minor);
        self
    }
    fn fifo(mut self, name: &str) -> Layer {
        self.raw(EntryType::Fifo, name.as_bytes(), b"", 0o600, b"");
        self
    }
    fn with_pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.pax(records);
        self
    }
    fn tar(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

/// A sandbox: `dest` (the snapshot) and `outside` (the sentinel) side by side.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dest")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("etc")).unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        std::fs::write(outside.join("etc/passwd"), "root:x:0:0").unwrap();
        std::os::unix::fs::symlink("secret", outside.join("link")).unwrap();
        Sandbox { dir }
    }
    fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }
    /// The absolute path of the sentinel (what absolute escapes aim at).
    fn outside(&self) -> String {
        self.dir.path().join("outside").display().to_string()
    }
}

/// Everything under `root` except `dest`: path → (type, mode, uid, content or target, mtime).
fn tree(root: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p == skip {
                continue;
            }
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("file {:?}", std::fs::read(&p).unwrap())
            } else {
                format!("other {:?}", ft)
            };
            out.insert(
                p,
                format!(
                    "{what} mode={:o} uid={} nlink={} mtime={}",
                    md.mode(),
                    md.uid(),
                    md.nlink(),
                    md.mtime()
                ),
            );
        }
    }
    out
}

type Check = fn(&Path, &str);

enum Expect {
    /// An error whose text contains this.
    Refused(&'static str),
    /// Applied; then this check on `dest` (with the sentinel's absolute path).
    Contained(Check),
}

struct Case {
    name: &'static str,
    layers: Vec<(Vec<u8>, &'static str)>,
    limits: Limits,
    expect: Expect,
}

fn case(name: &'static str, layers: Vec<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name,
        layers: layers.into_iter().map(|l| (l, TAR)).collect(),
        limits: Limits::default(),
        expect,
    }
}

fn nothing(_: &Path, _: &str) {}

fn is_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// A tar of one file of `size` zero bytes, streamed without being held in memory.
fn zero_file_tar(size: u64) -> impl Read {
    let mut h = Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(EntryType::Regular);
    h.set_cksum();
    let head = h.as_bytes().to_vec();
    std::io::Cursor::new(head)
        .chain(std::io::repeat(0).take(size))
        .chain(std::io::Cursor::new(vec![0u8; 1024]))
}

/// The cases; `o` is the sentinel's absolute path.
fn cases(o: &str) -> Vec<Case> {
    let o_secret = format!("{o}/secret");
    let long_dir = "d".repeat(120);
    let long_path = format!("{long_dir}/{}/file", "e".repeat(150));
    let long_target = format!("{o}/{}", "x".repeat(120));
    let v = vec![
        // --- symlink escapes ---
        case(
            "absolute symlink, then a file through it (same layer)",
            vec![Layer::new()
                .symlink("escape", o)
                .file("escape/pwned", "x")
                .tar()],
            Expect::Contained(|d, o| {
                assert!(is_file(&d.join(o.trim_start_matches('/')).join("pwned")))
            }),
        ),
        case(
            "absolute symlink, then a file through it (next layer)",
            vec![
                Layer::new().symlink("escape", o).tar(),
                Layer::new().file("escape/pwned", "x").tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "relative symlink climbing out, then a file through it",
            vec![Layer::new()
                .symlink("escape", "../../../../../../outside")
                .file("escape/pwned", "x")
                .tar()],
            Expect::Contained(|d, _| assert!(is_file(&d.join("outside/pwned")))),
        ),
        case(
            "relative symlink climbing out, file through it in the next layer",
            vec![
                Layer::new().symlink("escape", "../outside").tar(),
                Layer::new().file("escape/secret", "overwritten").tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "symlink to .. repeated in the path",
            vec![Layer::new()
                .symlink("up", "..")
                .file("up/up/up/pwned", "x")
                .tar()],
            Expect::Contained(|d, _| assert!(is_file(&d.join("pwned")))),
        ),
        case(
            "chain of symlinks ending outside",
            vec![Layer::new()
                .symlink("a", "b")
                .symlink("b", "c")
                .symlink("c", "../../outside")
                .file("a/pwned", "x")
                .tar()],
            Expect::Contained(nothing),
        ),
        case(
            "symlink to a file outside, then a file written at the symlink's name",
            vec![
                Layer::new().symlink("victim", &o_secret).tar(),
                Layer::new().file("victim", "overwritten").tar(),
            ],
            Expect::Contained(|d, _| {
                assert_eq!(
                    std::fs::read_to_string(d.join("victim")).unwrap(),
                    "overwritten"
                )
            }),
        ),
        case(
            "symlink loop as a parent directory",
            vec![Layer::new()
                .symlink("loop", "loop")
                .file("loop/x", "x")
                .tar()],
            Expect::Refused("loop/x"),
        ),
        case(
            "symlink to /proc/self/root as a parent (magic link)",
            vec![Layer::new()
                .symlink("p", "/proc/self/root")
                .file("p/pwned", "x")
                .tar()],
            Expect::Contained(|d, _| assert!(is_file(&d.join("proc/self/root/pwned")))),
        ),
        case(
            "symlinked parent directory in a later layer's deep path",
            vec![
                Layer::new()
                    .dir("usr")
                    .symlink("usr/lib", "../../outside/etc")
                    .tar(),
                Layer::new().file("usr/lib/passwd", "pwned").tar(),
            ],
            Expect::Contained(nothing),
        ),
        // --- hardlink escapes ---
        case(
            "hardlink to ../ outside",
            vec![Layer::new().hardlink("h", "../outside/secret").tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "hardlink to an absolute path outside",
            vec![Layer::new().hardlink("h", &o_secret).tar()],
            Expect::Refused("no such entry"),
        ),
        case(
            "hardlink through a symlinked directory pointing outside",
            vec![Layer::new().symlink("s", o).hardlink("h", "s/secret").tar()],
            Expect::Refused("hardlink to s/secret: no such entry"),
        ),
        case(
            "hardlink to a symlink that points outside links the symlink itself",
            vec![Layer::new()
                .symlink("s", &o_secret)
                .hardlink("h", "s")
                .tar()],
            Expect::Contained(|d, _| {
                assert!(std::fs::symlink_metadata(d.join("h"))
                    .unwrap()
                    .file_type()
                    .is_symlink())
            }),
        ),
        case(
            "hardlink to a symlink, then a file written at the hardlink",
            vec![
                Layer::new()
                    .symlink("s", &o_secret)
                    .hardlink("h", "s")
                    .tar(),
                Layer::new().file("h", "overwritten").tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "hardlink to itself",
            vec![Layer::new().file("a", "x").hardlink("a", "a").tar()],
            Expect::Refused("itself"),
        ),
        case(
            "hardlink to a directory",
            vec![Layer::new().dir("d").hardlink("h", "d").tar()],
            Expect::Refused("directory"),
        ),
        case(
            "hardlink to nothing",
            vec![Layer::new().hardlink("h", "missing").tar()],
            Expect::Refused("no such entry"),
        ),
        case(
            "hardlink to /proc/self/root/etc/passwd",
            vec![Layer::new()
                .hardlink("h", "/proc/self/root/etc/passwd")
                .tar()],
            Expect::Refused("hardlink"),
        ),
        // --- names ---
        case(
            "../ in a file name",
            vec![Layer::new().file("../pwned", "x").tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "a/../../ in a file name",
            vec![Layer::new().file("a/../../outside/pwned", "x").tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "absolute file name stays inside",
            vec![Layer::new().file(&format!("{o}/pwned"), "x").tar()],
            Expect::Contained(|d, o| {
                assert!(is_file(&d.join(o.trim_start_matches('/')).join("pwned")))
            }),
        ),
        case(
            "PAX path record with ../",
            vec![Layer::new()
                .with_pax(&[("path", b"../outside/pwned")])
                .file("innocent", "x")
                .tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "GNU long name",
            vec![Layer::new().file(&long_path, "long").tar()],
            Expect::Contained(|d, _| {
                let p = format!("{}/{}/file", "d".repeat(120), "e".repeat(150));
                assert_eq!(std::fs::read_to_string(d.join(p)).unwrap(), "long");
            }),
        ),
        case(
            "GNU long link target pointing outside, written through",
            vec![Layer::new()
                .symlink("s", &long_target)
                .file("s/pwned", "x")
                .tar()],
            Expect::Contained(nothing),
        ),
        case(
            "GNU long name climbing out",
            vec![Layer::new()
                .file(&format!("{}/../../{}", "a".repeat(110), "pwned"), "x")
                .tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "a file standing for the root",
            vec![Layer::new().file("./", "x").tar()],
            Expect::Refused("root"),
        ),
        case(
            "a file under a file",
            vec![Layer::new().file("f", "x").file("f/g", "y").tar()],
            Expect::Refused("f/g"),
        ),
        // --- directories vs symlinks ---
        case(
            "a directory replacing a symlink to outside",
            vec![
                Layer::new().symlink("d", o).tar(),
                Layer::new().dir("d").file("d/secret", "mine").tar(),
            ],
            Expect::Contained(|d, _| {
                assert!(std::fs::symlink_metadata(d.join("d")).unwrap().is_dir());
                assert_eq!(std::fs::read_to_string(d.join("d/secret")).unwrap(), "mine");
            }),
        ),
        case(
            "a symlink to outside replacing a directory, then written through",
            vec![
                Layer::new().dir("d").file("d/a", "a").tar(),
                Layer::new().symlink("d", o).file("d/secret", "pwned").tar(),
            ],
            Expect::Contained(|d, _| {
                assert!(std::fs::symlink_metadata(d.join("d"))
                    .unwrap()
                    .file_type()
                    .is_symlink())
            }),
        ),
        case(
            "a file replacing a directory with content",
            vec![Layer::new()
                .dir("d")
                .file("d/a", "a")
                .file("d", "file")
                .tar()],
            Expect::Contained(|d, _| assert!(is_file(&d.join("d")))),
        ),
        case(
            "a directory replacing a file",
            vec![Layer::new()
                .file("d", "file")
                .dir("d")
                .file("d/a", "a")
                .tar()],
            Expect::Contained(|d, _| assert!(is_file(&d.join("d/a")))),
        ),
        // --- whiteouts ---
        case(
            "whiteout of ..",
            vec![Layer::new().file("a/.wh...", "").tar()],
            Expect::Refused("invalid"),
        ),
        case(
            "whiteout of the empty name",
            vec![Layer::new().file(".wh.", "").tar()],
            Expect::Refused("invalid"),
        ),
        case(
            "whiteout of . at the root",
            vec![Layer::new().file(".wh..", "").tar()],
            Expect::Refused("invalid"),
        ),
        case(
            "whiteout climbing out by name",
            vec![Layer::new().file("../.wh.outside", "").tar()],
            Expect::Refused("climbs out"),
        ),
        case(
            "whiteout through an absolute symlink",
            vec![
                Layer::new().symlink("s", o).tar(),
                Layer::new()
                    .file("s/.wh.secret", "")
                    .file("s/.wh.etc", "")
                    .tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "whiteout through a relative symlink",
            vec![
                Layer::new().symlink("s", "../outside").tar(),
                Layer::new().file("s/.wh.secret", "").tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "opaque whiteout through a symlink",
            vec![
                Layer::new().symlink("s", o).tar(),
                Layer::new().file("s/.wh..wh..opq", "").tar(),
            ],
            Expect::Contained(nothing),
        ),
        case(
            "opaque whiteout of the root",
            vec![
                Layer::new().file("old", "x").tar(),
                Layer::new().file(".wh..wh..opq", "").file("new", "y").tar(),
            ],
            Expect::Contained(|d, _| assert!(!d.join("old").exists() && is_file(&d.join("new")))),
        ),
        case(
            "whiteout of the sentinel's absolute path",
            vec![Layer::new().file(&format!("{o}/.wh.secret"), "").tar()],
            Expect::Contained(nothing),
        ),
        case(
            "AUFS metadata names are skipped",
            vec![Layer::new()
                .file(".wh..wh.plnk/1234.5678", "")
                .file(".wh..wh.aufs", "")
                .tar()],
            Expect::Contained(|d, _| assert!(!d.join(".wh..wh.aufs").exists())),
        ),
        // --- special files and modes ---
        case(
            "character device /dev/mem",
            vec![Layer::new().device(EntryType::Char, "dev/mem", 1, 1).tar()],
            Expect::Contained(|d, _| {
                let md = std::fs::symlink_metadata(d.join("dev/mem")).unwrap();
                if nix::unistd::geteuid().is_root() {
                    assert!(md.file_type().is_char_device());
                    assert_eq!(md.rdev(), nix::sys::stat::makedev(1, 1));
                }
            }),
        ),
        case(
            "block device through a symlinked /dev",
            vec![Layer::new()
                .symlink("dev", o)
                .device(EntryType::Block, "dev/sda", 8, 0)
                .tar()],
            Expect::Contained(nothing),
        ),
        case(
            "fifo",
            vec![Layer::new().fifo("run/fifo").tar()],
            Expect::Contained(|d, _| {
                assert!(std::fs::symlink_metadata(d.join("run/fifo"))
                    .unwrap()
                    .file_type()
                    .is_fifo())
            }),
        ),
        case(
            "setuid and setgid bits are kept (docker's policy)",
            vec![Layer::new()
                .file_mode("bin/su", 0o4755)
                .dir_mode("shared", 0o2775)
                .tar()],
            Expect::Contained(|d, _| {
                let m = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode();
                assert_eq!(m("bin/su") & 0o7777, 0o4755);
                assert_eq!(m("shared") & 0o7777, 0o2775);
            }),
        ),
        case(
            "a mode-0 directory still receives its children",
            vec![Layer::new()
                .dir_mode("locked", 0)
                .file("locked/x", "x")
                .tar()],
            Expect::Contained(|d, _| {
                assert_eq!(
                    std::fs::metadata(d.join("locked"))
                        .unwrap()
                        .permissions()
                        .mode()
                        & 0o777,
                    0
                )
            }),
        ),
        case(
            "trusted.overlay xattrs are never set, security.capability is",
            vec![Layer::new()
                .with_pax(&[
                    ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
                    ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
                ])
                .dir("d")
                .with_pax(&[("SCHILY.xattr.security.capability", &CAP_NET_RAW)])
                .file_mode("ping", 0o755)
                .tar()],
            Expect::Contained(|d, _| {
                assert_eq!(xattr(&d.join("d"), "trusted.overlay.opaque"), None);
                assert_eq!(xattr(&d.join("d"), "trusted.overlay.redirect"), None);
                if nix::unistd::geteuid().is_root() {
                    assert_eq!(
                        xattr(&d.join("ping"), "security.capability").as_deref(),
                        Some(&CAP_NET_RAW[..])
                    );
                }
            }),
        ),
        case(
            "a symlink with an empty target",
            vec![Layer::new().symlink("s", "").tar()],
            Expect::Refused("empty"),
        ),
        // --- duplicates ---
        case(
            "duplicate file entries: the last wins",
            vec![Layer::new().file("a", "one").file("a", "two").tar()],
            Expect::Contained(|d, _| {
                assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "two")
            }),
        ),
        case(
            "duplicate: a symlink to outside after a file of the same name",
            vec![Layer::new().file("a", "one").symlink("a", &o_secret).tar()],
            Expect::Contained(|d, _| {
                assert!(std::fs::symlink_metadata(d.join("a"))
                    .unwrap()
                    .file_type()
                    .is_symlink())
            }),
        ),
        case(
            "duplicate: hardlink then a file of the same name leaves the target alone",
            vec![Layer::new()
                .file("target", "keep")
                .hardlink("h", "target")
                .file("h", "new")
                .tar()],
            Expect::Contained(|d, _| {
                assert_eq!(std::fs::read_to_string(d.join("target")).unwrap(), "keep");
                assert_eq!(std::fs::read_to_string(d.join("h")).unwrap(), "new");
            }),
        ),
        // --- broken streams ---
        case(
            "garbage instead of a tar",
            vec![vec![0x42; 2048]],
            Expect::Refused("tar"),
        ),
    ];
    v
}

/// Decompression bombs and floods: built once (they take a while), independent of the sandbox.
fn bomb_cases() -> Vec<Case> {
    vec![
        Case {
            name: "entry count bomb",
            layers: vec![(
                {
                    let mut l = Layer::new();
                    for i in 0..3000 {
                        l = l.file(&format!("f{i}"), "");
                    }
                    l.tar()
                },
                TAR,
            )],
            limits: Limits {
                max_bytes: u64::MAX,
                max_entries: 1000,
            },
            expect: Expect::Refused("limit of 1000 entries"),
        },
        Case {
            name: "gzip size bomb (8 MiB of zeros, 1 MiB allowed)",
            layers: vec![(
                {
                    let mut raw = Vec::new();
                    zero_file_tar(8 << 20).read_to_end(&mut raw).unwrap();
                    gzip(&raw)
                },
                GZIP,
            )],
            limits: Limits {
                max_bytes: 1 << 20,
                max_entries: 100,
            },
            expect: Expect::Refused("limit of 1048576 bytes"),
        },
        Case {
            name: "zstd size bomb (256 MiB of zeros in a few KiB, 1 MiB allowed)",
            layers: vec![(
                zstd::stream::encode_all(zero_file_tar(256 << 20), 1).unwrap(),
                ZSTD,
            )],
            limits: Limits {
                max_bytes: 1 << 20,
                max_entries: 100,
            },
            expect: Expect::Refused("bytes"),
        },
        Case {
            name: "many small files adding up past the byte cap",
            layers: vec![(
                {
                    let mut l = Layer::new();
                    for i in 0..64 {
                        l = l.file(&format!("f{i}"), &"z".repeat(1024));
                    }
                    l.tar()
                },
                TAR,
            )],
            limits: Limits {
                max_bytes: 16 * 1024,
                max_entries: 1000,
            },
            expect: Expect::Refused("bytes"),
        },
        Case {
            name: "header claims a huge size",
            layers: vec![(
                {
                    let mut raw = Vec::new();
                    zero_file_tar(1 << 40)
                        .take(4096)
                        .read_to_end(&mut raw)
                        .unwrap();
                    raw
                },
                TAR,
            )],
            limits: Limits::default(),
            expect: Expect::Refused("zeros"),
        },
    ]
}

/// A version 2 file capability: cap_net_raw permitted + effective.
const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf; path and name are
    // NUL-terminated and outlive the call.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

#[test]
fn hostile_layers_are_refused_or_contained() {
    let probe = Sandbox::new();
    let plain = cases(&probe.outside()).len();
    let mut bombs = bomb_cases();
    let count = plain + bombs.len();
    assert!(count >= 40, "only {count} hostile layers");
    let mut failures = Vec::new();
    for i in 0..count {
        let sb = Sandbox::new();
        let o = sb.outside();
        let c = if i < plain {
            cases(&o).swap_remove(i)
        } else {
            bombs.remove(0)
        };
        eprintln!("case {i}: {}", c.name);
        let before = tree(sb.dir.path(), &sb.dest());
        let mut result: Result<(), UnpackError> = Ok(());
        for (layer, media_type) in &c.layers {
            result = apply_layer(&layer[..], media_type, &sb.dest(), &c.limits).map(drop);
            if result.is_err() {
                break;
            }
        }
        let after = tree(sb.dir.path(), &sb.dest());
        if before != after {
            failures.push(format!(
                "{}: WROTE OUTSIDE dest: {:#?}",
                c.name,
                diff(&before, &after)
            ));
            continue;
        }
        match (&c.expect, result) {
            (Expect::Refused(what), Err(e)) => {
                let msg = e.to_string();
                if !msg.contains(what) {
                    failures.push(format!(
                        "{}: refused, but the error lacks {what:?}: {msg}",
                        c.name
                    ));
                }
            }
            (Expect::Refused(what), Ok(())) => {
                failures.push(format!("{}: applied, expected a refusal ({what})", c.name))
            }
            (Expect::Contained(check), Ok(())) => {
                let dest = sb.dest();
                if let Err(p) = std::panic::catch_unwind(|| check(&dest, &o)) {
                    let why = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!(
                        "{}: contained, but its check failed: {why}",
                        c.name
                    ));
                }
            }
            (Expect::Contained(_), Err(e)) => failures.push(format!(
                "{}: expected to apply inside dest, got: {e}",
                c.name
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn diff(a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("removed {}", k.display())),
            Some(w) if w != v => out.push(format!("changed {}: {v} -> {w}", k.display())),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("added {}", k.display()));
        }
    }
    out
}

#[test]
fn the_sentinel_check_can_fail() {
    // The tree comparison above must notice a write outside dest.
    let sb = Sandbox::new();
    let before = tree(sb.dir.path(), &sb.dest());
    std::fs::write(sb.dir.path().join("outside/secret"), "changed").unwrap();
    assert_ne!(before, tree(sb.dir.path(), &sb.dest()));
}

#[test]
fn unknown_media_type_is_refused_by_name() {
    let sb = Sandbox::new();
    let err = apply_layer(
        &Layer::new().file("a", "x").tar()[..],
        "application/vnd.oci.image.layer.v1.tar+lz4",
        &sb.dest(),
        &Limits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tar+lz4"), "{err}");
}
