//! `dock build` front end (issue #9, first step): the Dockerfile parser, variable
//! substitution with docker's ARG scoping, and `.dockerignore` matching. Pure functions, no
//! I/O beyond what callers hand in; the executor (RUN on berth, layers, cache) comes later.

pub mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod expand;
pub mod layer;
