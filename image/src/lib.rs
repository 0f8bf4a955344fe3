//! The part of `dock` that image/tests/ drive directly: the layer unpacker. Everything else
//! lives in the `dock` binary (src/main.rs), which uses this library.

pub mod unpack;
