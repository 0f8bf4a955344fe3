//! `dock build`'s executor: Dockerfile instructions to an image in dock's store, RUN steps in
//! berth containers, a layer cache under `<root>/cache`.
//!
//! These modules belong to the `dock` binary (they use its store, snapshotter, bundle code and
//! runtime lookup), so `main.rs` declares them with `#[path]`; the pure front end next to them
//! (parser, expansion, `.dockerignore`, layer tars, COPY) is in the library (`dock::build`).
//!
//! * [`cli`]: the command line and the build's setup (private mount namespace, work dir);
//! * [`executor`]: stages in order, each instruction dispatched, progress lines;
//! * [`stage`]: one stage's state (config, layers, history, variables) and its FROM;
//! * [`metadata`]: instructions that only change the config, and history's `created_by`;
//! * [`mounts`]: the overlay a layer-producing step works in;
//! * [`run_step`]: RUN in a berth container over that overlay;
//! * [`layers`]: a step's upper dir to a stored layer and a snapshot;
//! * [`cache`]: cache keys and entries;
//! * [`commit`]: config, manifest and names.

pub mod cache;
pub mod cli;
pub mod commit;
pub mod executor;
pub mod layers;
pub mod metadata;
pub mod mounts;
pub mod run_step;
pub mod stage;

pub use cli::{build, BuildArgs};
