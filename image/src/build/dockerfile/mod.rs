//! Dockerfile parsing: text in, instructions out, each with the file and line it starts on.
//!
//! Parser choice: the `parse-dockerfile` crate (0.1.x on crates.io) handles heredocs and the
//! parser directives, but it is pre-1.0, reports byte spans rather than lines, and models
//! instructions its own way; the instruction set is small and well documented, so we keep a
//! small parser of our own (`lines` for directives, continuations and heredocs; `parse` for
//! each instruction's arguments) that yields exactly the model the builder needs, with the
//! file:line every error and instruction carries, and no new dependency in the lockfile.
//! Quotes and `$` references inside arguments are kept raw here: `build::expand` removes
//! quotes and substitutes variables, as docker's shell lexer does at build time.

mod instruction;
mod lines;
mod parse;

pub use instruction::{
    CopySource, Dockerfile, Healthcheck, Heredoc, Instruction, InstructionKind, KeyValue,
    ParseError, ShellOrExec,
};
pub use parse::parse;
