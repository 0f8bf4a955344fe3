//! The Task service (containerd.task.v2.Task, all 17 RPCs) and the `Shim` glue: each RPC
//! maps to a berth call (create and exec through the CLI; start, kill, delete, pause,
//! resume, update and ps through berth's library when it takes them, else the CLI: `drive`)
//! or to the process table (state, wait, pids' pid list, close_io, resize_pty); Stats reads
//! the cgroup with berth's library; Checkpoint answers Unimplemented.

use crate::berth_cli::{Berth, BerthError, ChildStdio};
use crate::berth_lib::{Handled, Library};
use crate::events::EventQueue;
use crate::metrics;
use crate::options::RuntimeOptions;
use crate::shim_api::api;
use crate::shim_api::events::*;
use crate::shim_api::monitor::monitor_subscribe;
use crate::shim_api::pb::{self, get_rpc_status, Code, MessageField, ProcessStatus};
use crate::shim_api::{
    read_options, timestamp, write_options, DeleteResponse, ExitEvent, ExitSignal, Flags,
    RemotePublisher, Shim, ShimError, StartOpts, Subject, Task, Topic, TtrpcContext, TtrpcResult,
};
use crate::stdio::{ProcessIo, StdioPaths};
use crate::table::{Container, ExitOwner, Proc, Table};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The shim instance (`Shim`) and its task service (`Task`) share this.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    id: String,
    /// Our ttrpc socket (`-socket`), removed when the server stops.
    socket: String,
    shim_exe: Option<PathBuf>,
    table: Mutex<Table>,
    changed: Condvar,
    events: Mutex<Option<Arc<EventQueue>>>,
    exit: ExitSignal,
}

fn err(code: Code, msg: impl std::fmt::Display) -> pb::Error {
    get_rpc_status(code, msg.to_string())
}

fn not_found(what: &str) -> pb::Error {
    err(Code::NOT_FOUND, format!("{what}: not found"))
}

fn now() -> Option<pb::Timestamp> {
    timestamp().ok()
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, topic: &'static str, event: Box<dyn pb::MessageDyn + Send>) {
        let queue = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(queue) = queue {
            queue.send(topic, event);
        }
    }

    /// Records an exit reported by the reaper (see table.rs for the ordering rules).
    fn on_exit(&self, pid: i32, code: i32) {
        let mut table = self.lock();
        match table.owner_of(pid) {
            ExitOwner::Unknown => {
                if table.starting > 0 {
                    table.early_exits.insert(pid, code);
                }
            }
            ExitOwner::Process(cid, exec_id) => {
                let starting = table
                    .containers
                    .get(&cid)
                    .and_then(|c| c.process(&exec_id))
                    .is_some_and(|p| p.starting);
                if starting {
                    if let Some(p) = table
                        .containers
                        .get_mut(&cid)
                        .and_then(|c| c.process_mut(&exec_id))
                    {
                        p.pending_exit = Some(code);
                    }
                    return;
                }
                drop(table);
                self.finish_exit(&cid, &exec_id, code);
            }
        }
    }

    /// Marks the process stopped, drains its terminal output (to the client: see
    /// `stdio::hand_over`), queues TaskExit, wakes Wait.
    fn finish_exit(&self, cid: &str, exec_id: &str, code: i32) {
        // The terminal copy thread is joined outside the lock.
        let copier = {
            let mut table = self.lock();
            let Some(p) = table
                .containers
                .get_mut(cid)
                .and_then(|c| c.process_mut(exec_id))
            else {
                return;
            };
            p.io.take_output_copier()
        };
        if let Some(copier) = copier {
            if !copier.wait(Duration::from_secs(2)) {
                log::warn!("{cid}/{exec_id}: terminal output not all delivered after 2 s");
            }
        }
        let mut table = self.lock();
        let Some(p) = table
            .containers
            .get_mut(cid)
            .and_then(|c| c.process_mut(exec_id))
        else {
            return;
        };
        p.status = ProcessStatus::STOPPED;
        p.exit_code = u32::try_from(code).unwrap_or(255);
        p.exited_at = now();
        let event = TaskExit {
            container_id: cid.to_string(),
            id: if exec_id.is_empty() {
                cid.to_string()
            } else {
                exec_id.to_string()
            },
            pid: u32::try_from(p.pid).unwrap_or(0),
            exit_status: p.exit_code,
            exited_at: p.exited_at.clone().into(),
            ..Default::default()
        };
        self.publish(TASK_EXIT_EVENT_TOPIC, Box::new(event));
        let hold = if exec_id.is_empty() {
            table.containers.get_mut(cid).and_then(|c| c.ns_hold.take())
        } else {
            None
        };
        drop(table);
        self.changed.notify_all();
        if let Some(hold) = hold {
            hold.release_on_thread();
        }
    }

    /// After Start queued its event: handle an exit that came meanwhile.
    fn start_finished(&self, mut table: MutexGuard<'_, Table>, cid: &str, exec_id: &str) {
        let (pid, pending) = match table
            .containers
            .get_mut(cid)
            .and_then(|c| c.process_mut(exec_id))
        {
            Some(p) => {
                p.starting = false;
                (p.pid, p.pending_exit.take())
            }
            None => (0, None),
        };
        let exit = pending.or_else(|| table.early_exits.get(&pid).copied());
        table.start_done();
        drop(table);
        if let Some(code) = exit {
            self.finish_exit(cid, exec_id, code);
        }
    }

    fn berth_for(&self, options: &RuntimeOptions, bundle: &Path) -> Berth {
        Berth {
            binary: options.berth_binary(self.shim_exe.as_deref()),
            root: options.root_for(&self.namespace),
            log: bundle.join("log.json"),
            systemd_cgroup: options.systemd_cgroup,
            library: None,
        }
    }

    fn container_berth(&self, id: &str) -> TtrpcResult<Berth> {
        self.lock()
            .containers
            .get(id)
            .map(|c| c.berth.clone())
            .ok_or_else(|| not_found(&format!("container {id}")))
    }
}

/// Reads linux.cgroupsPath from the bundle's config.json.
fn cgroups_path(bundle: &Path) -> Option<String> {
    let text = std::fs::read_to_string(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_str(&text).ok()?;
    spec.pointer("/linux/cgroupsPath")?
        .as_str()
        .map(str::to_string)
}

/// Removes a shim socket given as `unix:///path` or a path, only if it is a socket.
fn remove_socket(address: &str) {
    use std::os::unix::fs::FileTypeExt;
    let path = address.trim_start_matches("unix://");
    if path.is_empty() {
        return;
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Runs a verb through berth's library when the container has it and the library takes the
/// call (berth_lib.rs says when it does not), else `berth ARGS` through the CLI.
fn drive(
    berth: &Berth,
    args: &[&str],
    in_library: impl FnOnce(&Library) -> Result<Handled, berth::Error>,
) -> TtrpcResult<()> {
    if let Some(library) = &berth.library {
        match in_library(library) {
            Ok(Handled::Done) => return Ok(()),
            Ok(Handled::UseCli) => {}
            Err(e) => {
                let failed = BerthError::Failed {
                    verb: args.first().copied().unwrap_or_default().to_string(),
                    msg: e.to_string(),
                };
                return Err(err(Code::UNKNOWN, failed));
            }
        }
    }
    berth.call(args).map_err(|e| err(Code::UNKNOWN, e))?;
    Ok(())
}

fn read_pid(path: &Path) -> TtrpcResult<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| err(Code::INTERNAL, format!("no pid in {}", path.display())))
}

fn mount_rootfs(req: &api::CreateTaskRequest, rootfs: &Path) -> TtrpcResult<bool> {
    if req.rootfs.is_empty() {
        return Ok(false);
    }
    std::fs::create_dir_all(rootfs).map_err(|e| err(Code::INTERNAL, e))?;
    for (i, m) in req.rootfs.iter().enumerate() {
        let mount = crate::rootfs_mount::RootfsMount {
            fs_type: &m.type_,
            source: &m.source,
            options: &m.options,
        };
        crate::rootfs_mount::mount_one(i, &mount, rootfs).map_err(|e| {
            unmount_rootfs(rootfs);
            err(Code::INTERNAL, e)
        })?;
    }
    Ok(true)
}

fn unmount_rootfs(rootfs: &Path) {
    if let Some(p) = rootfs.to_str() {
        let _ = crate::shim_api::mount::umount_recursive(Some(p), libc::MNT_DETACH);
    }
}

/// Starts a process through berth (`create` for the init, `exec` for an exec) and collects
/// its pid and, for a terminal, the pty master.
fn launch(
    berth: &Berth,
    mut args: Vec<OsString>,
    paths: &StdioPaths,
    pid_file: &Path,
    id: &str,
) -> TtrpcResult<(i32, ProcessIo)> {
    let (mut io, child) = ProcessIo::open(paths, &std::env::temp_dir())
        .map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
    args.push("--pid-file".into());
    args.push(pid_file.into());
    if let Some(socket) = &child.console_socket {
        args.push("--console-socket".into());
        args.push(socket.path.clone().into());
    }
    args.push(id.into());
    let console_socket = child.console_socket;
    berth
        .run(
            &args,
            ChildStdio {
                stdin: child.stdin,
                stdout: child.stdout,
                stderr: child.stderr,
            },
        )
        .map_err(|e| err(Code::UNKNOWN, e))?;
    let pid = read_pid(pid_file)?;
    if let Some(socket) = console_socket {
        let master = socket.receive().map_err(|e| err(Code::INTERNAL, e))?;
        io.attach_console(master)
            .map_err(|e| err(Code::INTERNAL, e))?;
    }
    Ok((pid, io))
}

impl Service {
    fn new_service(namespace: &str, id: &str, socket: &str) -> Service {
        Service {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                id: id.to_string(),
                socket: socket.to_string(),
                shim_exe: std::env::current_exe().ok(),
                table: Mutex::new(Table::default()),
                changed: Condvar::new(),
                events: Mutex::new(None),
                exit: ExitSignal::default(),
            }),
        }
    }

    /// Forwards every reaped exit to the table.
    fn start_exit_dispatcher(&self) {
        let Ok(subscription) = monitor_subscribe(Topic::Pid) else {
            log::error!("cannot subscribe to exits");
            return;
        };
        let inner = Arc::clone(&self.inner);
        std::thread::spawn(move || {
            let subscription = subscription;
            while let Ok(ExitEvent { subject, exit_code }) = subscription.rx.recv() {
                if let Subject::Pid(pid) = subject {
                    inner.on_exit(pid, exit_code);
                }
            }
        });
    }

    /// Publishes TaskOOM whenever the kernel's OOM killer acts in the container's cgroup.
    fn watch_oom(&self, id: &str, cgroups_path: Option<String>) {
        let Ok(mgr) = berth::cgroups::CgroupManager::new(cgroups_path.as_deref(), id) else {
            return;
        };
        let Ok(mut watcher) = berth::cgroups::OomWatcher::new(&mgr) else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        let id = id.to_string();
        std::thread::spawn(move || loop {
            match watcher.wait(Duration::from_secs(3600)) {
                Ok(berth::cgroups::OomEvent::Oom) => inner.publish(
                    TASK_OOM_EVENT_TOPIC,
                    Box::new(TaskOOM {
                        container_id: id.clone(),
                        ..Default::default()
                    }),
                ),
                Ok(berth::cgroups::OomEvent::Timeout) => {}
                Ok(berth::cgroups::OomEvent::Gone) | Err(_) => return,
            }
        });
    }
}

impl Shim for Service {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut crate::shim_api::Config) -> Self {
        Service::new_service(&args.namespace, &args.id, &args.socket)
    }

    fn start_shim(&mut self, _opts: StartOpts) -> Result<String, ShimError> {
        // main() handles `start` itself (both handshakes); the crate never calls this.
        Err(ShimError::Unimplemented("start is handled by main".into()))
    }

    /// `containerd-shim-berth-v2 … delete`, run in the bundle after a shim died: force-delete
    /// the container, take the rootfs down, report it killed.
    fn delete_shim(&mut self) -> Result<DeleteResponse, ShimError> {
        let bundle = std::env::current_dir().map_err(|e| ShimError::Other(e.to_string()))?;
        let options = read_options(&bundle)
            .map(|o| RuntimeOptions::from_runc(&o))
            .unwrap_or_default();
        let berth = self.inner.berth_for(&options, &bundle);
        // After a normal Delete berth has no state left: skip the extra exec then.
        if berth.root.join(&self.inner.id).exists() {
            let _ = berth.call(&["delete", "--force", &self.inner.id]);
        }
        unmount_rootfs(&bundle.join("rootfs"));
        // A shim that died could not remove its socket.
        if let Ok(address) = std::fs::read_to_string(bundle.join("address")) {
            remove_socket(address.trim());
        }
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: now().into(),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.inner.exit.wait();
        // containerd may remove the bundle (and its address file, which the crate reads to
        // find the socket) as soon as Shutdown returns: remove the socket from what we know.
        remove_socket(&self.inner.socket);
        let queue = self
            .inner
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(queue) = queue {
            queue.flush(Duration::from_secs(2));
        }
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Self::T {
        let queue = EventQueue::start(publisher, self.inner.namespace.clone());
        *self.inner.events.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(queue));
        self.start_exit_dispatcher();
        self.clone()
    }
}

impl Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let inner = &self.inner;
        if inner.lock().containers.contains_key(&req.id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("container {} exists", req.id),
            ));
        }
        let options = RuntimeOptions::from_any(req.options.as_ref())
            .map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
        let bundle = PathBuf::from(&req.bundle);
        let mut berth = inner.berth_for(&options, &bundle);
        if let Some(b) = bundle.to_str() {
            let _ = write_options(b, &options.to_runc());
        }
        let rootfs = bundle.join("rootfs");
        let mounted = mount_rootfs(&req, &rootfs)?;
        let paths = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        inner.lock().starting += 1;
        let launched = launch(
            &berth,
            vec!["create".into(), "--bundle".into(), bundle.clone().into()],
            &paths,
            &bundle.join("init.pid"),
            &req.id,
        );
        let (pid, io) = match launched {
            Ok(v) => v,
            Err(e) => {
                inner.lock().start_done();
                if mounted {
                    unmount_rootfs(&rootfs);
                }
                return Err(e);
            }
        };
        if !options.cli_only && !options.systemd_cgroup {
            berth.library = Library::detect(&berth.root, &req.id);
        }
        let cgroups = cgroups_path(&bundle);
        let mut init = Proc::new("", paths.clone());
        init.pid = pid;
        init.io = io;
        let container = Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            berth,
            cgroups_path: cgroups.clone(),
            ns_hold: Some(berth::container::NamespaceHold::take(pid)),
            rootfs_mounted: mounted,
            init,
            execs: Default::default(),
            paused: false,
        };
        {
            let mut table = inner.lock();
            let early = table.early_exits.get(&pid).copied();
            table.containers.insert(req.id.clone(), container);
            inner.publish(
                TASK_CREATE_EVENT_TOPIC,
                Box::new(TaskCreate {
                    container_id: req.id.clone(),
                    bundle: req.bundle.clone(),
                    rootfs: req.rootfs.clone(),
                    io: MessageField::some(TaskIO {
                        stdin: req.stdin.clone(),
                        stdout: req.stdout.clone(),
                        stderr: req.stderr.clone(),
                        terminal: req.terminal,
                        ..Default::default()
                    }),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
            if let Some(code) = early {
                if let Some(c) = table.containers.get_mut(&req.id) {
                    c.init.pending_exit = Some(code);
                }
            }
            table.start_done();
        }
        self.watch_oom(&req.id, cgroups);
        Ok(api::CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let inner = &self.inner;
        let (berth, bundle, paths, spec) = {
            let mut table = inner.lock();
            let c = table
                .containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            let (berth, bundle) = (c.berth.clone(), c.bundle.clone());
            let p = c
                .process_mut(&req.exec_id)
                .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
            if p.status != ProcessStatus::CREATED || p.starting {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("process {} is not in the created state", req.id),
                ));
            }
            p.starting = true;
            let out = (berth, bundle, p.paths.clone(), p.spec.clone());
            table.starting += 1;
            out
        };
        let fail = |e: pb::Error| {
            let mut table = inner.lock();
            if let Some(p) = table
                .containers
                .get_mut(&req.id)
                .and_then(|c| c.process_mut(&req.exec_id))
            {
                p.starting = false;
                if !req.exec_id.is_empty() {
                    p.status = ProcessStatus::STOPPED;
                    p.exited_at = now();
                    p.exit_code = 255;
                }
            }
            table.start_done();
            e
        };
        let pid = if req.exec_id.is_empty() {
            drive(&berth, &["start", &req.id], |lib| lib.start(&req.id)).map_err(fail)?;
            let pid = inner
                .lock()
                .containers
                .get(&req.id)
                .map(|c| c.init.pid)
                .unwrap_or(0);
            pid
        } else {
            let process_file = bundle.join(format!("{}.process.json", req.exec_id));
            std::fs::write(&process_file, &spec).map_err(|e| fail(err(Code::INTERNAL, e)))?;
            let launched = launch(
                &berth,
                vec![
                    "exec".into(),
                    "--process".into(),
                    process_file.clone().into(),
                    "--detach".into(),
                ],
                &paths,
                &bundle.join(format!("{}.pid", req.exec_id)),
                &req.id,
            );
            let _ = std::fs::remove_file(&process_file);
            let (pid, io) = launched.map_err(fail)?;
            let mut table = inner.lock();
            if let Some(p) = table
                .containers
                .get_mut(&req.id)
                .and_then(|c| c.process_mut(&req.exec_id))
            {
                p.pid = pid;
                p.io = io;
            }
            pid
        };
        let mut table = inner.lock();
        if let Some(p) = table
            .containers
            .get_mut(&req.id)
            .and_then(|c| c.process_mut(&req.exec_id))
        {
            p.status = ProcessStatus::RUNNING;
        }
        if req.exec_id.is_empty() {
            inner.publish(
                TASK_START_EVENT_TOPIC,
                Box::new(TaskStart {
                    container_id: req.id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
        } else {
            inner.publish(
                TASK_EXEC_STARTED_EVENT_TOPIC,
                Box::new(TaskExecStarted {
                    container_id: req.id.clone(),
                    exec_id: req.exec_id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
        }
        inner.start_finished(table, &req.id, &req.exec_id);
        Ok(api::StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        let inner = &self.inner;
        if !req.exec_id.is_empty() {
            let mut table = inner.lock();
            let c = table
                .containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
            if p.status == ProcessStatus::RUNNING {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("process {} is running", req.exec_id),
                ));
            }
            let p = c
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| not_found("exec"))?;
            return Ok(api::DeleteResponse {
                pid: p.pid as u32,
                exit_status: p.exit_code,
                exited_at: p.exited_at.into(),
                ..Default::default()
            });
        }
        let berth = inner.container_berth(&req.id)?;
        let status = inner.lock().containers.get(&req.id).map(|c| c.init.status);
        if status == Some(ProcessStatus::RUNNING) {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {} is running", req.id),
            ));
        }
        let reaped = status == Some(ProcessStatus::STOPPED);
        drive(&berth, &["delete", &req.id], |lib| {
            lib.delete(&req.id, reaped)
        })?;
        let c = inner
            .lock()
            .containers
            .remove(&req.id)
            .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
        if c.rootfs_mounted {
            unmount_rootfs(&c.bundle.join("rootfs"));
        }
        let init = c.init;
        inner.publish(
            TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: req.id.clone(),
                pid: init.pid as u32,
                exit_status: init.exit_code,
                exited_at: init.exited_at.clone().into(),
                id: req.id.clone(),
                ..Default::default()
            }),
        );
        inner.changed.notify_all();
        Ok(api::DeleteResponse {
            pid: init.pid as u32,
            exit_status: init.exit_code,
            exited_at: init.exited_at.into(),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let berth = self.inner.container_berth(&req.id)?;
        let pids: Vec<u32> = match &berth.library {
            Some(lib) => lib.pids(&req.id).map_err(|e| {
                let msg = e.to_string();
                err(
                    Code::UNKNOWN,
                    BerthError::Failed {
                        verb: "ps".into(),
                        msg,
                    },
                )
            })?,
            None => {
                let out = berth
                    .call(&["ps", "--format", "json", &req.id])
                    .map_err(|e| err(Code::UNKNOWN, e))?;
                serde_json::from_str(out.stdout.trim())
                    .map_err(|e| err(Code::INTERNAL, format!("berth ps output: {e}")))?
            }
        };
        Ok(api::PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| pb::ProcessInfo {
                    pid,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        let berth = self.inner.container_berth(&req.id)?;
        drive(&berth, &["pause", &req.id], |lib| lib.pause(&req.id))?;
        if let Some(c) = self.inner.lock().containers.get_mut(&req.id) {
            c.paused = true;
        }
        self.inner.publish(
            TASK_PAUSED_EVENT_TOPIC,
            Box::new(TaskPaused {
                container_id: req.id,
                ..Default::default()
            }),
        );
        Ok(api::Empty::default())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        let berth = self.inner.container_berth(&req.id)?;
        drive(&berth, &["resume", &req.id], |lib| lib.resume(&req.id))?;
        if let Some(c) = self.inner.lock().containers.get_mut(&req.id) {
            c.paused = false;
        }
        self.inner.publish(
            TASK_RESUMED_EVENT_TOPIC,
            Box::new(TaskResumed {
                container_id: req.id,
                ..Default::default()
            }),
        );
        Ok(api::Empty::default())
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        _req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        Err(err(
            Code::UNIMPLEMENTED,
            "checkpoint is not implemented by berth",
        ))
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let (berth, pid, stopped) = {
            let table = self.inner.lock();
            let c = table
                .containers
                .get(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            let p = c
                .process(&req.exec_id)
                .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
            (c.berth.clone(), p.pid, p.stopped())
        };
        if !req.exec_id.is_empty() {
            if stopped {
                return Err(err(Code::NOT_FOUND, "process already finished"));
            }
            // SAFETY: kill(2) on the exec's pid, which is our (subreaper) child and not yet
            // reaped (it is not stopped in the table), so the pid cannot have been reused.
            let rc = unsafe { libc::kill(pid, req.signal as i32) };
            if rc != 0 {
                return Err(err(Code::NOT_FOUND, std::io::Error::last_os_error()));
            }
            return Ok(api::Empty::default());
        }
        if stopped && !req.all {
            return Err(err(Code::NOT_FOUND, "process already finished"));
        }
        let signal = req.signal.to_string();
        let mut args = vec!["kill"];
        if req.all {
            args.push("--all");
        }
        args.push(&req.id);
        args.push(&signal);
        drive(&berth, &args, |lib| lib.kill(&req.id, req.signal, req.all))?;
        Ok(api::Empty::default())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let mut table = self.inner.lock();
        let c = table
            .containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
        if c.init.stopped() {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {} is stopped", req.id),
            ));
        }
        if c.execs.contains_key(&req.exec_id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("exec {} exists", req.exec_id),
            ));
        }
        let mut p = Proc::new(
            &req.exec_id,
            StdioPaths {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
            },
        );
        p.spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        c.execs.insert(req.exec_id.clone(), p);
        self.inner.publish(
            TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::default())
    }

    fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        let table = self.inner.lock();
        let p = table
            .containers
            .get(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .ok_or_else(|| not_found(&format!("process {}/{}", req.id, req.exec_id)))?;
        p.io.resize(req.width, req.height)
            .map_err(|e| err(Code::FAILED_PRECONDITION, e))?;
        Ok(api::Empty::default())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        let table = self.inner.lock();
        let p = table
            .containers
            .get(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .ok_or_else(|| not_found(&format!("process {}/{}", req.id, req.exec_id)))?;
        if req.stdin {
            p.io.close_stdin();
        }
        Ok(api::Empty::default())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let (berth, bundle) = {
            let table = self.inner.lock();
            let c = table
                .containers
                .get(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            (c.berth.clone(), c.bundle.clone())
        };
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let file = bundle.join("update-resources.json");
        std::fs::write(&file, &resources).map_err(|e| err(Code::INTERNAL, e))?;
        let result = match file.to_str() {
            Some(path) => drive(&berth, &["update", "--resources", path, &req.id], |lib| {
                lib.update(&req.id, &file)
            }),
            None => berth
                .run(
                    &[
                        OsString::from("update"),
                        OsString::from("--resources"),
                        file.clone().into(),
                        OsString::from(&req.id),
                    ],
                    ChildStdio::captured(),
                )
                .map(|_| ())
                .map_err(|e| err(Code::UNKNOWN, e)),
        };
        let _ = std::fs::remove_file(&file);
        result?;
        Ok(api::Empty::default())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let mut table = self.inner.lock();
        loop {
            let p = table
                .containers
                .get(&req.id)
                .and_then(|c| c.process(&req.exec_id))
                .ok_or_else(|| not_found(&format!("process {}/{}", req.id, req.exec_id)))?;
            if p.stopped() {
                return Ok(api::WaitResponse {
                    exit_status: p.exit_code,
                    exited_at: p.exited_at.clone().into(),
                    ..Default::default()
                });
            }
            table = self
                .inner
                .changed
                .wait(table)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let cgroups = self
            .inner
            .lock()
            .containers
            .get(&req.id)
            .map(|c| c.cgroups_path.clone())
            .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
        let any =
            metrics::collect(cgroups.as_deref(), &req.id).map_err(|e| err(Code::INTERNAL, e))?;
        Ok(api::StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self
            .inner
            .lock()
            .containers
            .get(&req.id)
            .map(|c| c.init.pid as u32)
            .unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        if self.inner.lock().containers.is_empty() {
            self.inner.exit.signal();
        }
        Ok(api::Empty::default())
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let table = self.inner.lock();
        let c = table
            .containers
            .get(&req.id)
            .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
        let p = c
            .process(&req.exec_id)
            .ok_or_else(|| not_found(&format!("process {}", req.exec_id)))?;
        let status = if c.paused && p.status == ProcessStatus::RUNNING {
            ProcessStatus::PAUSED
        } else {
            p.status
        };
        Ok(api::StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: c.bundle.display().to_string(),
            pid: p.pid as u32,
            status: status.into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            terminal: p.paths.terminal,
            exit_status: p.exit_code,
            exited_at: p.exited_at.clone().into(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }
}
