//! The one place that names the containerd-shim crate family: everything the shim uses from
//! `containerd-shim` and `containerd-shim-protos` is re-exported from here, so moving to a
//! newer release (or another implementation of the shim protocol) touches this file only.
//!
//! We use the crate's synchronous mode (ttrpc's thread-per-connection server, no async
//! runtime): it keeps the shim small (RSS) and its reaper thread (SIGCHLD → `waitpid(-1)` →
//! the monitor's subscribers) is how every child exit, berth's and the container's, reaches us.

pub use containerd_shim::{
    monitor::{ExitEvent, Subject, Topic},
    parse as parse_flags,
    publisher::RemotePublisher,
    run as run_server, socket_address,
    util::{read_options, timestamp, write_address, write_options},
    Config, DeleteResponse, Error as ShimError, ExitSignal, Flags, Shim, StartOpts, Task,
    TtrpcContext, TtrpcResult,
};

/// Taking down the rootfs containerd handed us (mounting it is ours: rootfs_mount.rs, which
/// never forks; the crate's mount helper forks the threaded server).
pub mod mount {
    pub use containerd_shim::mount::umount_recursive;
}

/// Waiting on child exits reported by the crate's reaper thread.
pub mod monitor {
    pub use containerd_shim::monitor::{monitor_subscribe, wait_pid};
}

/// Request and response messages of containerd.task.v2.Task.
pub mod api {
    pub use containerd_shim::api::*;
    pub use containerd_shim_protos::shim::oci::Options as RuncOptions;
}

/// Event messages and their topics.
pub mod events {
    pub use containerd_shim_protos::events::task::{
        TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM,
        TaskPaused, TaskResumed, TaskStart,
    };
    pub use containerd_shim_protos::topics::*;
}

/// cgroup metrics as containerd's types (v1 and v2).
pub mod metrics {
    pub use containerd_shim_protos::cgroups::metrics as v1;
    pub use containerd_shim_protos::cgroups_v2::metrics as v2;
}

/// protobuf runtime, well-known types and ttrpc errors.
pub mod pb {
    pub use containerd_shim_protos::protobuf::{
        well_known_types::{any::Any, timestamp::Timestamp},
        CodedInputStream, CodedOutputStream, Message, MessageDyn, MessageField,
    };
    pub use containerd_shim_protos::ttrpc::{context::Context, error::get_rpc_status, Code, Error};
    pub use containerd_shim_protos::types::introspection::{RuntimeInfo, RuntimeVersion};
    pub use containerd_shim_protos::types::task::ProcessInfo;
    pub use containerd_shim_protos::types::task::Status as ProcessStatus;
}
