//! One test's world: a runtime `--root`, a bundle with a busybox rootfs, the containers it
//! made, and a guard that, when the test ends (pass or fail), force-deletes them, kills
//! leftovers, removes cgroups and temp dirs, and fails the test if the runtime left any
//! state dir, cgroup, mount or process behind.

use crate::exec::{self, Outcome, Running};
use crate::facts::Facts;
use crate::tempdir::TempDir;
use crate::{cgroups, host, locate, rootfs, spec};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a container may take to reach an expected state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(20);

/// Entries berth keeps in `--root` for all containers, never container state: compiled
/// seccomp programs, and the empty overlay layer of its sealed binary (CVE-2019-5736).
pub const ROOT_CACHES: &[&str] = &["seccomp-cache", "exe-seal.empty"];

pub struct Test {
    pub name: String,
    /// The main container's id: `<name>-<pid>`, unique across parallel test processes.
    pub id: String,
    /// The runtime's `--root`.
    pub root: PathBuf,
    pub bundle: PathBuf,
    /// config.json as it will be written at the next `create`/`run`.
    pub config: Value,
    /// Global flags put before the verb instead of `--root <root>` when set.
    pub globals: Option<Vec<String>>,
    ids: Mutex<Vec<String>>,
    calls: AtomicU32,
    dir: TempDir,
}

impl Test {
    /// A fresh world for the test `name`, whose container runs the checker with no options.
    pub fn new(name: &str) -> Test {
        let dir = TempDir::new(name);
        let root = dir.path().join("root");
        let bundle = dir.path().join("bundle");
        for sub in [
            &root,
            &bundle,
            &dir.path().join("io"),
            &dir.path().join("calls"),
        ] {
            std::fs::create_dir_all(sub).expect("mkdir test dirs");
        }
        rootfs::build(&bundle.join("rootfs"));
        let id = format!("{name}-{}", std::process::id());
        let config = spec::default_config(&[rootfs::CHECKER], &cgroups::path_for(&id));
        Test {
            name: name.to_string(),
            id,
            root,
            bundle,
            config,
            globals: None,
            ids: Mutex::new(Vec::new()),
            calls: AtomicU32::new(0),
            dir,
        }
    }

    /// The test's private directory on the host (holds root/, bundle/, io/, …).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates (if needed) and returns a host directory inside the test dir.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir().join(name);
        std::fs::create_dir_all(&p).expect("mkdir host dir");
        p
    }

    /// Sets the container process to `berth-check <args…>`.
    pub fn checker(&mut self, args: &[&str]) -> &mut Self {
        let mut argv = vec![rootfs::CHECKER];
        argv.extend_from_slice(args);
        self.config["process"]["args"] = json!(argv);
        self
    }

    /// Sets the container process arguments.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Another container id owned by this test (cleaned up with it).
    pub fn other_id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id)
    }

    /// Writes config.json for container `id` (with its own cgroupsPath).
    pub fn write_config(&self, id: &str) {
        let mut config = self.config.clone();
        if config["linux"].is_object() && config["linux"]["cgroupsPath"].is_string() {
            config["linux"]["cgroupsPath"] = json!(cgroups::path_for(id));
        }
        let text = serde_json::to_string_pretty(&config).expect("serialize config");
        std::fs::write(self.bundle.join("config.json"), text).expect("write config.json");
    }

    /// Writes config.json verbatim.
    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(self.bundle.join("config.json"), text).expect("write config.json");
    }

    /// A runtime command carrying the global flags (`--root <root>` by default).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(locate::runtime());
        match &self.globals {
            Some(globals) => cmd.args(globals),
            None => cmd.arg("--root").arg(&self.root),
        };
        cmd
    }

    fn call_files(&self) -> (PathBuf, PathBuf) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let calls = self.dir().join("calls");
        // A runtime that wrongly accepted an id like ".." may have removed it.
        let _ = std::fs::create_dir_all(&calls);
        (
            calls.join(format!("{n}.out")),
            calls.join(format!("{n}.err")),
        )
    }

    /// Runs the runtime with the global flags and `args`.
    #[track_caller]
    pub fn call(&self, args: &[&str]) -> Outcome {
        let mut cmd = self.command();
        cmd.args(args);
        self.call_cmd(cmd)
    }

    /// Runs a prepared command with stdio in fresh files.
    #[track_caller]
    pub fn call_cmd(&self, cmd: Command) -> Outcome {
        let (out, err) = self.call_files();
        exec::run(cmd, &out, &err)
    }

    /// Where container `id`'s stdout, stderr and pid file live.
    pub fn io_path(&self, id: &str, ext: &str) -> PathBuf {
        // Ids from bad-input tests may hold '/'; keep their files in io/ regardless.
        let safe = id.replace('/', "%");
        self.dir().join("io").join(format!("{safe}.{ext}"))
    }

    /// Records `id` as one of this test's containers, to be force-deleted and checked at the end.
    pub fn register(&self, id: &str) {
        let mut ids = self.ids.lock().expect("ids lock");
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    /// `create --bundle B --pid-file P <extra…> id` without rewriting config.json; the
    /// container's stdio is io/<id>.out and .err.
    #[track_caller]
    pub fn create_raw(&self, id: &str, extra: &[&str]) -> Outcome {
        let cmd = self.create_command(id, extra);
        self.register(id);
        exec::run(cmd, &self.io_path(id, "out"), &self.io_path(id, "err"))
    }

    /// The `create` command for `id`, for tests that need to add fds or environment.
    pub fn create_command(&self, id: &str, extra: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.arg("create")
            .arg("--bundle")
            .arg(&self.bundle)
            .arg("--pid-file")
            .arg(self.io_path(id, "pid"));
        cmd.args(extra).arg(id);
        cmd
    }

    /// Registers `id` for cleanup and runs `cmd` with the container's stdio files.
    #[track_caller]
    pub fn run_create_command(&self, id: &str, cmd: Command) -> Outcome {
        self.register(id);
        exec::run(cmd, &self.io_path(id, "out"), &self.io_path(id, "err"))
    }

    /// Writes the config and creates container `id`.
    #[track_caller]
    pub fn create_id(&self, id: &str, extra: &[&str]) -> Outcome {
        self.write_config(id);
        self.create_raw(id, extra)
    }

    /// Creates the main container and asserts success.
    #[track_caller]
    pub fn create(&self) -> Outcome {
        let out = self.create_id(&self.id, &[]);
        out.assert_ok();
        out
    }

    /// Starts a `run` of container `id` (writing config first) in the background.
    pub fn spawn_run(&self, id: &str, extra: &[&str]) -> Running {
        self.write_config(id);
        self.register(id);
        let mut cmd = self.command();
        cmd.arg("run")
            .arg("--bundle")
            .arg(&self.bundle)
            .arg("--pid-file")
            .arg(self.io_path(id, "pid"));
        cmd.args(extra).arg(id);
        exec::spawn(cmd, &self.io_path(id, "out"), &self.io_path(id, "err"))
    }

    #[track_caller]
    pub fn start(&self, id: &str) -> Outcome {
        self.call(&["start", id])
    }

    /// `state id` parsed; panics when it fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.call(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {}", out.stdout))
    }

    /// The `status` field of `state id`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .expect("state has a status")
            .to_string()
    }

    #[track_caller]
    pub fn kill(&self, id: &str, signal: &str) -> Outcome {
        self.call(&["kill", id, signal])
    }

    #[track_caller]
    pub fn delete(&self, id: &str) -> Outcome {
        self.call(&["delete", id])
    }

    /// `delete --force id`, asserting success.
    #[track_caller]
    pub fn delete_force(&self, id: &str) {
        self.call(&["delete", "--force", id]).assert_ok();
    }

    /// The pid written to container `id`'s pid file.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        let path = self.io_path(id, "pid");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("pid file {}: {e}", path.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("pid file holds {text:?}: {e}"))
    }

    /// Waits until container `id`'s init has exited and the runtime reports it stopped.
    #[track_caller]
    pub fn wait_stopped(&self, id: &str) {
        let pid = self.pid(id);
        assert!(
            host::wait_gone(pid, STATE_TIMEOUT),
            "container {id} (pid {pid}) did not exit; output: {}",
            self.output(id)
        );
        let deadline = Instant::now() + STATE_TIMEOUT;
        loop {
            let status = self.status(id);
            if status == "stopped" {
                return;
            }
            assert!(Instant::now() < deadline, "{id} still {status} after exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What container `id` wrote to stdout so far.
    pub fn output(&self, id: &str) -> String {
        exec::read_lossy(&self.io_path(id, "out"))
    }

    /// What container `id` (and the runtime's create/run) wrote to stderr so far.
    pub fn errors(&self, id: &str) -> String {
        exec::read_lossy(&self.io_path(id, "err"))
    }

    /// The checker report of container `id` (waits for it to appear).
    #[track_caller]
    pub fn facts(&self, id: &str) -> Facts {
        self.wait_output_lines(id, 1);
        Facts::parse(&self.output(id))
    }

    /// Waits until container `id` printed at least `n` JSON lines.
    #[track_caller]
    pub fn wait_output_lines(&self, id: &str, n: usize) {
        let deadline = Instant::now() + STATE_TIMEOUT;
        loop {
            let out = self.output(id);
            let count = out
                .lines()
                .filter(|l| l.trim_start().starts_with('{') && l.trim_end().ends_with('}'))
                .count();
            if count >= n {
                return;
            }
            // Fail fast when nothing more can come: no pid file long after the request,
            // or an init that has exited (its output is complete).
            let pid = std::fs::read_to_string(self.io_path(id, "pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            let hopeless = match pid {
                None => deadline - Instant::now() < STATE_TIMEOUT - Duration::from_secs(5),
                Some(pid) => !host::alive(pid) && self.output(id) == out,
            };
            assert!(
                Instant::now() < deadline && !hopeless,
                "container {id} printed {count} of {n} lines (pid {pid:?}): {out:?}; stderr: {}",
                self.errors(id)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// create + start + wait for exit + delete the main container; returns the checker's
    /// report. Panics (with the runtime's stderr) when any step fails.
    #[track_caller]
    pub fn run_checker(&self) -> Facts {
        let id = &self.id;
        self.create();
        self.start(id).assert_ok();
        self.wait_stopped(id);
        let facts = self.facts(id);
        self.delete(id).assert_ok();
        facts
    }

    /// Whether `id` is one this test made up (`<name>-<pid>[-suffix]`). Only such ids get
    /// cgroup and process cleanup: a bad-input id like ".." must never widen it.
    fn owns(&self, id: &str) -> bool {
        id_owned_by(&self.id, id)
    }

    /// Processes whose command line names this test's private dir (runtime processes
    /// started for it: their --root, --bundle or --pid-file lies there).
    /// Container inits (runtimes that fork without exec show their own command line in
    /// a waiting init) are not counted: see [`Test::live_init`].
    pub fn runtime_processes(&self) -> Vec<i32> {
        let inits: Vec<i32> = self
            .ids
            .lock()
            .map(|ids| ids.iter().filter_map(|id| self.live_init(id)).collect())
            .unwrap_or_default();
        host::processes_mentioning(&format!("{}/", self.dir().display()))
            .into_iter()
            .filter(|pid| !inits.contains(pid))
            .collect()
    }

    /// The pid from container `id`'s pid file, when that process is alive and belongs to
    /// this test (in the container's cgroup, or running a command line naming the test dir).
    pub fn live_init(&self, id: &str) -> Option<i32> {
        let pid = std::fs::read_to_string(self.io_path(id, "pid"))
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()?;
        let in_cgroup = self.owns(id)
            && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|c| c.contains(&cgroups::path_for(id)));
        let ours = in_cgroup
            || std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).contains(&self.dir().display().to_string())
            });
        (host::alive(pid) && ours).then_some(pid)
    }

    /// What is in the runtime's `--root` besides the runtime's own caches shared by all
    /// containers ([`ROOT_CACHES`]): container state.
    pub fn root_entries(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.root)
            .map(|d| {
                d.flatten()
                    .filter(|e| !ROOT_CACHES.iter().any(|c| e.file_name() == *c))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the runtime left for container `id`: state entries in --root, cgroup dirs,
    /// processes working for this test, and host mounts under the test dir.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(dir) = std::fs::read_dir(&self.root) {
            for entry in dir.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == id || (self.owns(id) && name.contains(id)) {
                    found.push(format!("state entry {}", entry.path().display()));
                }
            }
        }
        if self.owns(id) {
            for cg in cgroups::existing_dirs(&cgroups::path_for(id)) {
                found.push(format!("cgroup {}", cg.display()));
            }
        }
        if let Some(pid) = self.live_init(id) {
            // Allow a killed init a moment to be reaped.
            if !host::wait_gone(pid, Duration::from_secs(2)) {
                found.push(format!("init {pid} of {id} still alive"));
            }
        }
        for pid in self.runtime_processes() {
            // berth's foreground `run` leaves a detached process behind by design, for the
            // few ms it takes to drop the container's namespaces after `run` has returned
            // (src/container/ns_hold.rs): under load that outlives this check. Give it the
            // same moment a killed init gets; one that stays is reported.
            if !host::wait_gone(pid, Duration::from_secs(2)) {
                found.push(format!("runtime process {pid} still running"));
            }
        }
        for m in host::mounts_under(self.dir()) {
            found.push(format!("host mount {m}"));
        }
        found
    }

    /// Panics unless nothing of container `id` is left (see [`Test::leftovers`]).
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        let found = self.leftovers(id);
        assert!(found.is_empty(), "left behind for {id}: {found:#?}");
    }

    fn clean_up(&self) -> Vec<String> {
        let ids = self.ids.lock().map(|i| i.clone()).unwrap_or_default();
        let mut problems = Vec::new();
        for id in &ids {
            let (out, err) = self.call_files();
            let mut cmd = self.command();
            cmd.args(["delete", "--force", id]);
            let running = exec::spawn(cmd, &out, &err);
            // A hung runtime must not hang the suite; exec panics are caught here.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                running.wait(Duration::from_secs(30))
            }));
            for found in self.leftovers(id) {
                problems.push(found);
            }
            if let Some(pid) = self.live_init(id) {
                host::kill(pid, libc::SIGKILL);
            }
            if self.owns(id) {
                cgroups::remove(&cgroups::path_for(id));
            }
        }
        for pid in self.runtime_processes() {
            host::kill(pid, libc::SIGKILL);
        }
        for m in host::mounts_under(self.dir()) {
            if let Some(mp) = m.split_whitespace().nth(4) {
                if let Ok(c) = std::ffi::CString::new(mp) {
                    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
                    unsafe {
                        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                    }
                }
            }
        }
        problems.sort();
        problems.dedup();
        problems
    }
}

/// Whether `id` is `test_id` or `test_id-<suffix>` made only of [A-Za-z0-9_-].
fn id_owned_by(test_id: &str, id: &str) -> bool {
    let suffix_ok = match id.strip_prefix(test_id) {
        Some("") => true,
        Some(rest) => rest.starts_with('-'),
        None => false,
    };
    suffix_ok
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Drop for Test {
    fn drop(&mut self) {
        let problems = self.clean_up();
        let failed = std::thread::panicking() || !problems.is_empty();
        if failed && std::env::var_os("BERTH_CONFORMANCE_KEEP").is_some() {
            eprintln!("{}: keeping {}", self.name, self.dir().display());
            self.dir.keep();
        }
        if problems.is_empty() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("{}: the runtime also left behind: {problems:#?}", self.name);
        } else {
            panic!("{}: the runtime left behind: {problems:#?}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::id_owned_by;

    #[test]
    fn only_the_tests_own_ids_get_cleanup() {
        assert!(id_owned_by("t-1", "t-1"));
        assert!(id_owned_by("t-1", "t-1-a"));
        assert!(!id_owned_by("t-1", "t-10"), "another test's id");
        for bad in ["..", ".", "a/b", "../t-1", "t-1/..", "t-1-..", ""] {
            assert!(!id_owned_by("t-1", bad), "{bad:?} must not be owned");
        }
    }
}
