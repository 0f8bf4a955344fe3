//! fd-based operations inside a root directory.
