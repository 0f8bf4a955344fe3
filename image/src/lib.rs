//! The part of `dock` that image/tests/ and unit tests drive directly: the layer unpacker and
//! the `dock build` front end. Everything else lives in the `dock` binary (src/main.rs).

pub mod build;
pub mod unpack;
