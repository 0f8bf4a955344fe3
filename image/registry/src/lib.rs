//! dock-registry: an OCI distribution-spec registry (plus the Docker Registry HTTP API v2
//! behaviour clients rely on) on axum/hyper/tokio, streaming every blob.
//!
//! [`storage`] holds the backend contract and the filesystem backend; [`api`] the HTTP layer.

pub mod access;
pub mod api;
pub mod config;
pub mod digest;
pub mod error;
pub mod gc;
pub mod name;
pub mod root_lock;
pub mod server;
pub mod storage;
pub mod token;
pub mod users;

pub use server::{start, ServeError, ServeOptions};
