//! Dockerfile parsing: text in, instructions out, each with the file and line it starts on.
//!
//! Parser choice: `parse-dockerfile` 0.1.9 (crates.io) was tried on heredocs (`<<-'EOF'`, two
//! in one COPY), `# syntax`/`# escape=` and ONBUILD/HEALTHCHECK, and handles them well. We
//! still keep a small parser of our own because (a) its instructions carry byte spans (its
//! errors do say line:column), where every instruction here carries its line; (b) shell-form arguments come back as raw
//! source, with the escape+newline of continuations still inside, so the builder would have
//! to re-lex them; (c) its 0.x API models instructions its own way, while the builder wants
//! `InstructionKind` as below; (d) no new dependency in the shared lockfile. The grammar is
//! small and well documented; `lines` handles directives, comments, continuations and
//! heredocs, `parse` each instruction's flags and arguments.
//!
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
