//! OOM events.
pub enum OomEvent {}
pub struct OomWatcher {}
