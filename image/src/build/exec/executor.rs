//! The build itself: the Dockerfile split into global ARGs and stages, the stages the target
//! needs (its FROM and `COPY --from` dependencies; the others are skipped), each instruction
//! dispatched in order with a `STEP n/N:` line, layer-producing steps looked up in the cache
//! first, and the target stage committed.
//!
//! Every layer-producing step (RUN, COPY, ADD, WORKDIR) mounts an overlay of the stage's layer
//! snapshots ([`super::mounts`]), changes the merged tree, unmounts, and its upper dir becomes
//! the layer ([`super::layers`]). Metadata-only instructions add a history entry with
//! `"empty_layer": true`, as docker writes, and no layer; so does a step that changed nothing.

use super::cache::Cache;
use super::commit::{commit, history_entry, Committed};
use super::layers::commit_upper;
use super::metadata::{self, argv, expand, json_argv};
use super::mounts::StepMount;
use super::run_step::{self, RunSpec};
use super::stage::Stage;
use crate::bundle::in_root;
use crate::bundle::spec::Network;
use crate::reference::Reference;
use crate::runtime::Runtime;
use crate::snapshot::Snapshots;
use crate::store::Store;
use anyhow::{anyhow, bail, Context, Result};
use dock::build::copy::{copy_into, inputs_digest, CopyFrom, CopyRequest};
use dock::build::dockerfile::{parse, Heredoc, Instruction, InstructionKind, ShellOrExec};
use dock::build::dockerignore::Dockerignore;
use dock::build::expand::{expand_text, expand_word, BuildArgs};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

/// What the command line asked for, parsed.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// The context directory.
    pub context: PathBuf,
    /// `-t` names.
    pub tags: Vec<Reference>,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--network`.
    pub network: Network,
    /// `--label`s.
    pub labels: Vec<(String, String)>,
    /// Timestamps of the image and its files (clamped).
    pub epoch: u64,
    /// `-q`.
    pub quiet: bool,
}

/// Where the build works.
#[derive(Debug)]
pub struct Env {
    /// dock's store.
    pub store: Store,
    /// Its snapshots.
    pub snaps: Snapshots,
    /// The build cache.
    pub cache: Cache,
    /// berth.
    pub rt: Runtime,
    /// dock's root (for `dock pull`).
    pub root: PathBuf,
    /// This build's scratch directory (under the store root, so renames into it work).
    pub work: PathBuf,
}

/// A RUN that exited non-zero (its message is complete; no file:line is added).
#[derive(Debug, thiserror::Error)]
#[error("RUN {command} ({file}:{line}) exited with status {status}")]
pub struct RunFailed {
    /// The command as written.
    pub command: String,
    /// Dockerfile name.
    pub file: String,
    /// Its line.
    pub line: usize,
    /// Exit status.
    pub status: i32,
}

/// A signal asked the build to stop.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Where a stage starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    Scratch,
    Stage(usize),
    Image(String),
}

#[derive(Debug, Clone)]
struct StagePlan {
    line: usize,
    alias: Option<String>,
    base: Base,
    display: String,
    instructions: Vec<Instruction>,
}

/// `--from` of COPY: an earlier stage (by name or number) or an image.
fn copy_source(value: &str, plans: &[StagePlan], before: usize) -> Base {
    let lower = value.to_ascii_lowercase();
    if let Some(i) = plans[..before]
        .iter()
        .position(|p| p.alias.as_deref() == Some(lower.as_str()))
    {
        return Base::Stage(i);
    }
    if let Ok(i) = value.parse::<usize>() {
        if i < before {
            return Base::Stage(i);
        }
    }
    Base::Image(value.to_string())
}

/// The instruction as shown in `STEP` lines.
fn display(kind: &InstructionKind) -> String {
    let se = |c: &ShellOrExec| match c {
        ShellOrExec::Shell(s) => s.clone(),
        ShellOrExec::Exec(v) => json_argv(v),
    };
    let kv = |pairs: &[dock::build::dockerfile::KeyValue]| {
        pairs
            .iter()
            .map(|p| format!("{}={}", p.key, p.value))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let k = kind.keyword();
    match kind {
        InstructionKind::From {
            platform,
            image,
            alias,
        } => {
            let mut s = "FROM ".to_string();
            if let Some(p) = platform {
                s.push_str(&format!("--platform={p} "));
            }
            s.push_str(image);
            if let Some(a) = alias {
                s.push_str(&format!(" AS {a}"));
            }
            s
        }
        InstructionKind::Arg(a) => format!(
            "ARG {}",
            a.iter()
                .map(|(n, d)| match d {
                    Some(d) => format!("{n}={d}"),
                    None => n.clone(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        InstructionKind::Env(p) | InstructionKind::Label(p) => format!("{k} {}", kv(p)),
        InstructionKind::Workdir(s)
        | InstructionKind::User(s)
        | InstructionKind::StopSignal(s)
        | InstructionKind::Maintainer(s) => format!("{k} {s}"),
        InstructionKind::Copy {
            from,
            chown,
            chmod,
            files,
            ..
        }
        | InstructionKind::Add {
            checksum: from,
            chown,
            chmod,
            files,
            ..
        } => {
            let mut s = format!("{k} ");
            let flag = if k == "COPY" { "from" } else { "checksum" };
            for (name, v) in [(flag, from), ("chown", chown), ("chmod", chmod)] {
                if let Some(v) = v {
                    s.push_str(&format!("--{name}={v} "));
                }
            }
            s.push_str(&files.paths.join(" "));
            s.push(' ');
            s.push_str(&files.dest);
            s
        }
        InstructionKind::Run { command, .. } => format!("RUN {}", se(command)),
        InstructionKind::Cmd(c) | InstructionKind::Entrypoint(c) => format!("{k} {}", se(c)),
        InstructionKind::Expose(v) | InstructionKind::Volume(v) => format!("{k} {}", v.join(" ")),
        InstructionKind::Shell(v) => format!("SHELL {}", json_argv(v)),
        InstructionKind::Healthcheck(_) => "HEALTHCHECK".to_string(),
        InstructionKind::Onbuild { text, .. } => format!("ONBUILD {text}"),
    }
}

/// Only linux/amd64 images are built.
fn check_platform(p: &str) -> Result<()> {
    if p != "linux/amd64" {
        bail!("platform {p:?} is not supported: dock build makes linux/amd64 images only");
    }
    Ok(())
}

/// The running build.
pub struct Builder<'a> {
    env: &'a Env,
    opts: &'a Options,
    file: String,
    escape: char,
    ignore: Dockerignore,
    empty: PathBuf,
    seq: Cell<u64>,
    step: Cell<usize>,
    steps: usize,
}

impl Builder<'_> {
    fn say(&self, line: &str) {
        if !self.opts.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn next_step(&self, text: &str) -> Result<()> {
        if interrupted() {
            return Err(Interrupted.into());
        }
        self.step.set(self.step.get() + 1);
        self.say(&format!("STEP {}/{}: {text}", self.step.get(), self.steps));
        Ok(())
    }

    fn step_dir(&self) -> PathBuf {
        let n = self.seq.get();
        self.seq.set(n + 1);
        self.env.work.join(format!("s{n}"))
    }

    fn pull(&self, image: &str) -> Result<()> {
        crate::run::pull(&self.env.root, image)
    }

    /// Mount the merged tree of `layers` for reading (COPY --from).
    fn mount_layers(&self, descs: &[crate::manifest::Descriptor]) -> Result<StepMount> {
        let lowers = self.env.snaps.ensure_image(&self.env.store, descs)?;
        StepMount::mount(&self.step_dir(), &lowers, &self.empty)
    }

    /// A layer-producing step: cached, or `work` on a fresh overlay whose upper becomes the layer.
    fn layer_step(
        &self,
        stage: &mut Stage,
        key_text: &str,
        created_by: String,
        work: impl FnOnce(&StepMount) -> Result<()>,
    ) -> Result<()> {
        let env = self.env;
        stage.advance_key(key_text);
        if !self.opts.no_cache {
            if let Some(hit) = env.cache.get(&env.store, &stage.key) {
                self.say(&format!("--> Using cache {}", &stage.key[..12]));
                let empty = hit.layer.is_none();
                stage.layers.extend(hit.layer);
                stage
                    .history
                    .push(history_entry(self.opts.epoch, &hit.created_by, empty));
                return Ok(());
            }
        }
        let below = stage.descriptors();
        let lowers = env.snaps.ensure_image(&env.store, &below)?;
        let mut m = StepMount::mount(&self.step_dir(), &lowers, &self.empty)?;
        work(&m)?;
        let upper = m.finish()?;
        let layer = commit_upper(
            &env.store,
            &env.snaps,
            &below,
            &upper,
            self.opts.epoch,
            &env.work,
        )?;
        drop(m);
        env.cache.put(&stage.key, layer.as_ref(), &created_by)?;
        match &layer {
            Some(l) => self.say(&format!("--> {}", &l.desc.digest.hex()[..12])),
            None => self.say("--> no changes"),
        }
        stage
            .history
            .push(history_entry(self.opts.epoch, &created_by, layer.is_none()));
        stage.layers.extend(layer);
        Ok(())
    }

    fn workdir(&self, stage: &mut Stage, value: &str) -> Result<()> {
        let wd = metadata::workdir(stage, value, self.escape)?;
        stage
            .config
            .insert("WorkingDir".into(), serde_json::Value::from(wd.clone()));
        let text = format!("WORKDIR {wd}");
        self.layer_step(stage, &text, text.clone(), |m| {
            in_root::mkdir_all(m.merged(), &wd)
                .with_context(|| format!("creating the working directory {wd}"))
        })
    }

    fn run(
        &self,
        stage: &mut Stage,
        line: usize,
        flags: &[(String, String)],
        command: &ShellOrExec,
        heredocs: &[Heredoc],
    ) -> Result<()> {
        let mut network = self.opts.network;
        for (name, value) in flags {
            match (name.as_str(), value.as_str()) {
                ("network", "none") => network = Network::None,
                ("network", "host") => network = Network::Host,
                ("network", "default") => {}
                _ => bail!("RUN --{name}={value} is not supported by dock build"),
            }
        }
        let mut binds = Vec::new();
        let mut key_extra = String::new();
        let args = match command {
            ShellOrExec::Shell(s) if !heredocs.is_empty() => {
                for h in heredocs {
                    key_extra.push_str(&format!("\n<<{}\n{}", h.name, h.body));
                }
                let only_heredoc = heredocs.len() == 1
                    && s.trim()
                        .trim_start_matches("<<")
                        .trim_start_matches('-')
                        .trim_matches(['"', '\''])
                        == heredocs[0].name;
                if only_heredoc && heredocs[0].body.starts_with("#!") {
                    // A script with its own interpreter: run it as a file.
                    let h = &heredocs[0];
                    let dir = self.step_dir();
                    let (bind, path) = run_step::script_bind(&dir, &h.name, &h.body)?;
                    binds.push(bind);
                    vec![path]
                } else if only_heredoc {
                    let mut v = stage.shell.clone();
                    v.push(heredocs[0].body.clone());
                    v
                } else {
                    // The shell reads the heredocs itself, as written.
                    let mut text = s.clone();
                    for h in heredocs {
                        text.push('\n');
                        text.push_str(&h.body);
                        text.push_str(&h.name);
                    }
                    let mut v = stage.shell.clone();
                    v.push(text);
                    v
                }
            }
            other => argv(stage, other),
        };
        let args_in_scope: Vec<(String, String)> = stage
            .vars
            .args()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut created_by = "RUN ".to_string();
        if !args_in_scope.is_empty() {
            created_by.push_str(&format!("|{} ", args_in_scope.len()));
            for (k, v) in &args_in_scope {
                created_by.push_str(&format!("{k}={v} "));
            }
        }
        created_by.push_str(&args.join(" "));
        let key_text = format!("{created_by}{key_extra}");
        let env_keys: BTreeSet<String> = stage
            .env()
            .iter()
            .map(|e| e.split('=').next().unwrap_or_default().to_string())
            .collect();
        let mut run_env = stage.env();
        for (k, v) in &args_in_scope {
            if !env_keys.contains(k) {
                run_env.push(format!("{k}={v}"));
            }
        }
        let spec = RunSpec {
            args,
            env: run_env,
            user: stage.user(),
            workdir: stage.workdir(),
            network,
            quiet: self.opts.quiet,
            binds,
        };
        let shown = match command {
            ShellOrExec::Shell(s) => s.clone(),
            ShellOrExec::Exec(v) => json_argv(v),
        };
        let file = self.file.clone();
        self.layer_step(stage, &key_text, created_by, |m| {
            let out = run_step::run(&self.env.rt, m.dir(), m.merged(), &spec)?;
            if out.status != 0 {
                if interrupted() {
                    // The terminal's SIGINT reached the container too: that is why it failed.
                    return Err(Interrupted.into());
                }
                if self.opts.quiet {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(&out.output);
                }
                return Err(RunFailed {
                    command: shown,
                    file,
                    line,
                    status: out.status,
                }
                .into());
            }
            Ok(())
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &self,
        stage: &mut Stage,
        done: &[Option<Stage>],
        plans: &[StagePlan],
        index: usize,
        kind: &InstructionKind,
    ) -> Result<()> {
        let (add, from, chown, chmod, checksum, files) = match kind {
            InstructionKind::Copy {
                from,
                chown,
                chmod,
                files,
                ..
            } => (false, from.clone(), chown, chmod, None, files),
            InstructionKind::Add {
                checksum,
                chown,
                chmod,
                files,
                ..
            } => (true, None, chown, chmod, checksum.clone(), files),
            _ => bail!("not COPY or ADD"),
        };
        let x = |w: &str| expand(stage, w, self.escape);
        let opt = |w: &Option<String>| w.as_deref().map(x).transpose();
        let sources = files
            .paths
            .iter()
            .map(|p| x(p))
            .collect::<Result<Vec<_>>>()?;
        let dest = x(&files.dest)?;
        let vars = &stage.vars;
        let heredocs = files
            .heredocs
            .iter()
            .map(|h| {
                let mut h = h.clone();
                if h.expand {
                    h.body = expand_text(&h.body, self.escape, &|n: &str| vars.get(n))
                        .map_err(|e| anyhow!("heredoc {}: {e}", h.name))?;
                }
                Ok(h)
            })
            .collect::<Result<Vec<_>>>()?;
        let req = CopyRequest {
            sources: sources.clone(),
            dest: dest.clone(),
            workdir: stage.workdir(),
            chown: opt(chown)?,
            chmod: opt(chmod)?,
            heredocs,
            add,
            checksum: opt(&checksum)?,
            epoch: self.opts.epoch,
        };
        let from = opt(&from)?;
        let keyword = if add { "ADD" } else { "COPY" };
        let mut created_by = format!("{keyword} ");
        for (name, v) in [
            ("from", &from),
            ("chown", &req.chown),
            ("chmod", &req.chmod),
            ("checksum", &req.checksum),
        ] {
            if let Some(v) = v {
                created_by.push_str(&format!("--{name}={v} "));
            }
        }
        created_by.push_str(&sources.join(" "));
        created_by.push(' ');
        created_by.push_str(&dest);
        // The source tree: the context, or another stage's / image's merged rootfs.
        let source_mount = match &from {
            None => None,
            Some(f) => {
                let descs = match copy_source(f, plans, index) {
                    Base::Stage(i) => done[i]
                        .as_ref()
                        .ok_or_else(|| anyhow!("--from={f}: that stage was not built"))?
                        .descriptors(),
                    Base::Scratch => Vec::new(),
                    Base::Image(image) => {
                        Stage::from_image(None, &self.env.store, &image, |i| self.pull(i))?
                            .descriptors()
                    }
                };
                Some(self.mount_layers(&descs)?)
            }
        };
        let copy_from = match &source_mount {
            Some(m) => CopyFrom::Root(m.merged()),
            None => CopyFrom::Context {
                dir: &self.opts.context,
                ignore: &self.ignore,
            },
        };
        let digest = inputs_digest(&copy_from, &req)?;
        let key_text = format!("{created_by} {digest}");
        self.layer_step(stage, &key_text, created_by, |m| {
            copy_into(m.merged(), &copy_from, &req)?;
            Ok(())
        })?;
        drop(source_mount);
        Ok(())
    }

    fn instruction(
        &self,
        stage: &mut Stage,
        done: &[Option<Stage>],
        plans: &[StagePlan],
        index: usize,
        build_args: &mut BuildArgs,
        ins: &Instruction,
    ) -> Result<()> {
        if let Some(created_by) = metadata::apply(stage, &ins.kind, self.escape, build_args)? {
            stage.advance_key(&created_by);
            stage
                .history
                .push(history_entry(self.opts.epoch, &created_by, true));
            return Ok(());
        }
        match &ins.kind {
            InstructionKind::Workdir(w) => self.workdir(stage, w),
            InstructionKind::Run {
                flags,
                command,
                heredocs,
            } => self.run(stage, ins.line, flags, command, heredocs),
            InstructionKind::Copy { .. } | InstructionKind::Add { .. } => {
                self.copy(stage, done, plans, index, &ins.kind)
            }
            other => bail!("{} cannot appear here", other.keyword()),
        }
    }

    fn start_stage(&self, plan: &StagePlan, done: &[Option<Stage>]) -> Result<Stage> {
        match &plan.base {
            Base::Scratch => Ok(Stage::scratch(plan.alias.clone())),
            Base::Stage(i) => {
                let earlier = done[*i]
                    .as_ref()
                    .ok_or_else(|| anyhow!("stage {i} was not built"))?;
                Ok(Stage::from_stage(plan.alias.clone(), earlier))
            }
            Base::Image(image) => {
                Stage::from_image(plan.alias.clone(), &self.env.store, image, |i| self.pull(i))
            }
        }
    }
}

/// True once SIGINT, SIGTERM or SIGHUP is pending (the CLI blocks them during a build).
pub fn interrupted() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set we pass; it is only read after a successful call.
    let ok = unsafe { libc::sigpending(set.as_mut_ptr()) } == 0;
    if !ok {
        return false;
    }
    // SAFETY: the set was initialised by sigpending above.
    let set = unsafe { set.assume_init() };
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .iter()
        // SAFETY: sigismember only reads the initialised set.
        .any(|s| unsafe { libc::sigismember(&set, *s) } == 1)
}

fn stage_plans(
    instructions: &[Instruction],
    build_args: &mut BuildArgs,
    escape: char,
    file: &str,
) -> Result<Vec<StagePlan>> {
    let mut plans: Vec<StagePlan> = Vec::new();
    // docker's automatic platform ARGs: global, so FROM lines see them and a stage that
    // declares `ARG TARGETARCH` gets the value.
    for (name, value) in [
        ("TARGETPLATFORM", "linux/amd64"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "amd64"),
        ("TARGETVARIANT", ""),
        ("BUILDPLATFORM", "linux/amd64"),
        ("BUILDOS", "linux"),
        ("BUILDARCH", "amd64"),
        ("BUILDVARIANT", ""),
    ] {
        build_args.declare_global(name, Some(value.to_string()));
    }
    for ins in instructions {
        match &ins.kind {
            InstructionKind::From {
                platform,
                image,
                alias,
            } => {
                let at = |e: anyhow::Error| e.context(format!("{file}:{}", ins.line));
                let global = |w: &str| {
                    expand_word(w, escape, &|n: &str| build_args.global(n))
                        .map_err(|e| anyhow!("FROM {w}: {e}"))
                };
                if let Some(p) = platform {
                    check_platform(&global(p).map_err(at)?).map_err(at)?;
                }
                let image = global(image).map_err(at)?;
                let lower = image.to_ascii_lowercase();
                let base = if lower == "scratch" {
                    Base::Scratch
                } else if let Some(i) = plans
                    .iter()
                    .position(|p| p.alias.as_deref() == Some(lower.as_str()))
                {
                    Base::Stage(i)
                } else {
                    Base::Image(image.clone())
                };
                let alias = alias.as_ref().map(|a| a.to_ascii_lowercase());
                if let Some(a) = &alias {
                    if plans.iter().any(|p| p.alias.as_ref() == Some(a)) {
                        return Err(at(anyhow!("duplicate stage name {a:?}")));
                    }
                }
                plans.push(StagePlan {
                    line: ins.line,
                    alias,
                    base,
                    display: display(&ins.kind),
                    instructions: Vec::new(),
                });
            }
            InstructionKind::Arg(args) if plans.is_empty() => {
                for (name, default) in args {
                    let default = default
                        .as_deref()
                        .map(|d| expand_word(d, escape, &|n: &str| build_args.global(n)))
                        .transpose()
                        .map_err(|e| anyhow!("{file}:{}: ARG {name}: {e}", ins.line))?;
                    build_args.declare_global(name, default);
                }
            }
            other => match plans.last_mut() {
                Some(p) => p.instructions.push(ins.clone()),
                None => bail!(
                    "{file}:{}: {} before the first FROM (only ARG may come first)",
                    ins.line,
                    other.keyword()
                ),
            },
        }
    }
    if plans.is_empty() {
        bail!("{file}: no FROM instruction");
    }
    Ok(plans)
}

/// The stages `target` needs, by index.
fn needed(plans: &[StagePlan], target: usize, build_args: &BuildArgs, escape: char) -> Vec<bool> {
    let mut need = vec![false; plans.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        if let Base::Stage(b) = plans[i].base {
            todo.push(b);
        }
        for ins in &plans[i].instructions {
            if let InstructionKind::Copy { from: Some(f), .. } = &ins.kind {
                let f = expand_word(f, escape, &|n: &str| build_args.global(n))
                    .unwrap_or_else(|_| f.clone());
                if let Base::Stage(b) = copy_source(&f, plans, i) {
                    todo.push(b);
                }
            }
        }
    }
    need
}

/// Run the whole build; returns what was committed.
pub fn execute(env: &Env, opts: &Options) -> Result<Committed> {
    let text = std::fs::read_to_string(&opts.dockerfile)
        .with_context(|| format!("reading {}", opts.dockerfile.display()))?;
    let file = opts
        .dockerfile
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let parsed = parse(&text, &file)?;
    let ignore_path = opts.context.join(".dockerignore");
    let ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(t) => Dockerignore::parse(&t, ".dockerignore")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Dockerignore::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", ignore_path.display())),
    };
    let mut build_args = BuildArgs::new(opts.build_args.clone());
    let plans = stage_plans(&parsed.instructions, &mut build_args, parsed.escape, &file)?;
    let target = match &opts.target {
        None => plans.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            plans
                .iter()
                .position(|p| p.alias.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| {
                    let names: Vec<&str> =
                        plans.iter().filter_map(|p| p.alias.as_deref()).collect();
                    anyhow!(
                        "--target {t}: no stage of that name in {file} (stages: {})",
                        if names.is_empty() {
                            "none named".to_string()
                        } else {
                            names.join(", ")
                        }
                    )
                })?
        }
    };
    let need = needed(&plans, target, &build_args, parsed.escape);
    let steps = plans
        .iter()
        .zip(&need)
        .filter(|(_, n)| **n)
        .map(|(p, _)| 1 + p.instructions.len())
        .sum();
    std::fs::create_dir_all(&env.work)
        .with_context(|| format!("creating {}", env.work.display()))?;
    let empty = env.work.join("empty");
    std::fs::create_dir_all(&empty).with_context(|| format!("creating {}", empty.display()))?;
    let b = Builder {
        env,
        opts,
        file: file.clone(),
        escape: parsed.escape,
        ignore,
        empty,
        seq: Cell::new(0),
        step: Cell::new(0),
        steps,
    };
    let mut done: Vec<Option<Stage>> = vec![None; plans.len()];
    for (i, plan) in plans.iter().enumerate() {
        if !need[i] {
            continue;
        }
        b.next_step(&plan.display)?;
        let mut stage = b
            .start_stage(plan, &done)
            .map_err(|e| e.context(format!("{file}:{}", plan.line)))?;
        for ins in &plan.instructions {
            b.next_step(&display(&ins.kind))?;
            b.instruction(&mut stage, &done, &plans, i, &mut build_args, ins)
                .map_err(|e| {
                    if e.is::<RunFailed>() || e.is::<Interrupted>() {
                        e
                    } else {
                        e.context(format!("{file}:{}", ins.line))
                    }
                })?;
        }
        done[i] = Some(stage);
    }
    let unused = build_args.unused();
    if !unused.is_empty() {
        eprintln!(
            "warning: build args not consumed by any ARG: {}",
            unused.join(", ")
        );
    }
    let stage = done[target]
        .take()
        .ok_or_else(|| anyhow!("the target stage was not built"))?;
    if interrupted() {
        return Err(Interrupted.into());
    }
    let committed = commit(&env.store, &stage, &opts.labels, opts.epoch, &opts.tags)?;
    if !opts.quiet {
        b.say(&format!(
            "COMMIT {}",
            opts.tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        for t in &opts.tags {
            b.say(&format!("Successfully tagged {t}"));
        }
    }
    Ok(committed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(text: &str) -> (Vec<StagePlan>, BuildArgs) {
        let f = parse(text, "Dockerfile").unwrap();
        let mut args = BuildArgs::default();
        let p = stage_plans(&f.instructions, &mut args, '\\', "Dockerfile").unwrap();
        (p, args)
    }

    #[test]
    fn stages_bases_and_what_the_target_needs() {
        let (p, args) = plans(
            "ARG BASE=bb\nFROM $BASE AS build\nRUN make\nFROM scratch AS unused\nRUN x\nFROM build AS test\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=other:img /c /c\n",
        );
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].base, Base::Image("bb".into()));
        assert_eq!(p[1].base, Base::Scratch);
        assert_eq!(p[2].base, Base::Stage(0));
        assert_eq!(needed(&p, 3, &args, '\\'), [true, false, false, true]);
        assert_eq!(needed(&p, 2, &args, '\\'), [true, false, true, false]);
        assert_eq!(copy_source("BUILD", &p, 3), Base::Stage(0));
        assert_eq!(
            copy_source("other:img", &p, 3),
            Base::Image("other:img".into())
        );
        assert_eq!(p[3].display, "FROM scratch");
    }

    #[test]
    fn instructions_before_from_and_platforms_are_refused() {
        let f = parse("ENV A=1\nFROM x\n", "Dockerfile").unwrap();
        let e = stage_plans(
            &f.instructions,
            &mut BuildArgs::default(),
            '\\',
            "Dockerfile",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("Dockerfile:1") && e.contains("ENV before the first FROM"),
            "{e}"
        );
        let f = parse("FROM --platform=linux/arm64 x\n", "Dockerfile").unwrap();
        let e = format!(
            "{:#}",
            stage_plans(
                &f.instructions,
                &mut BuildArgs::default(),
                '\\',
                "Dockerfile"
            )
            .unwrap_err()
        );
        assert!(
            e.contains("linux/arm64") && e.contains("Dockerfile:1"),
            "{e}"
        );
        let f = parse(
            "FROM --platform=$BUILDPLATFORM x\nARG TARGETARCH\nRUN echo $TARGETARCH\n",
            "Dockerfile",
        )
        .unwrap();
        let mut args = BuildArgs::default();
        stage_plans(&f.instructions, &mut args, '\\', "Dockerfile").unwrap();
        assert_eq!(args.global("TARGETARCH").as_deref(), Some("amd64"));
        let f = parse("FROM a AS x\nFROM b AS X\n", "Dockerfile").unwrap();
        assert!(stage_plans(
            &f.instructions,
            &mut BuildArgs::default(),
            '\\',
            "Dockerfile"
        )
        .is_err());
    }
}
