//! The parsed form of a Dockerfile: directives, instructions with their source line, and the
//! parse error that names the file and line.

use std::collections::BTreeMap;

/// A whole parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file (`syntax`, `escape`, `check`), lower-cased keys.
    pub directives: BTreeMap<String, String>,
    /// The escape character in force (`\` unless `# escape=` set it to a backtick).
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

/// One instruction and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the instruction keyword.
    pub line: usize,
    pub kind: InstructionKind,
}

/// A heredoc body attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes.
    pub name: String,
    /// The body, each line ending in `\n`; leading tabs already removed for `<<-`.
    pub body: String,
    /// False when the delimiter was quoted: the body is then taken literally.
    pub expand: bool,
}

/// Shell form (a string run through the SHELL) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    Shell(String),
    Exec(Vec<String>),
}

/// A `key=value` (or legacy `ENV key value`) pair, both kept raw (quotes not yet removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Sources and destination of COPY/ADD: the last path is the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub paths: Vec<String>,
    pub dest: String,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK NONE or CMD with its options (durations kept as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        options: BTreeMap<String, String>,
        command: ShellOrExec,
    },
}

/// Every instruction dock build understands, with its flags and raw arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    From {
        platform: Option<String>,
        image: String,
        alias: Option<String>,
    },
    Arg(Vec<(String, Option<String>)>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Workdir(String),
    User(String),
    Copy {
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
        link: bool,
        files: CopySource,
    },
    Add {
        checksum: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
        link: bool,
        files: CopySource,
    },
    Run {
        /// `--mount`, `--network`, `--security` as written (the builder decides support).
        flags: Vec<(String, String)>,
        command: ShellOrExec,
        heredocs: Vec<Heredoc>,
    },
    Cmd(ShellOrExec),
    Entrypoint(ShellOrExec),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// Recorded into the image config's OnBuild list, as written after `ONBUILD `.
    Onbuild {
        text: String,
        inner: Box<InstructionKind>,
    },
    Maintainer(String),
}

impl InstructionKind {
    /// The keyword, upper-case, as docker names it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::From { .. } => "FROM",
            Self::Arg(_) => "ARG",
            Self::Env(_) => "ENV",
            Self::Label(_) => "LABEL",
            Self::Workdir(_) => "WORKDIR",
            Self::User(_) => "USER",
            Self::Copy { .. } => "COPY",
            Self::Add { .. } => "ADD",
            Self::Run { .. } => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Expose(_) => "EXPOSE",
            Self::Volume(_) => "VOLUME",
            Self::Shell(_) => "SHELL",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Onbuild { .. } => "ONBUILD",
            Self::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// A parse failure: `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}
