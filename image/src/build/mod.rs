//! `dock build`: the Dockerfile parser, variable substitution with docker's ARG scoping,
//! `.dockerignore` matching (pure functions), and the filesystem half of the executor: COPY/ADD
//! into a root safely (`copy`) and reproducible layers from overlay upper dirs (`layer`).

pub mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod expand;
pub mod layer;
pub mod mount_ns;
