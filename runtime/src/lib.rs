//! ctrd's engine: containers created in-process through youki's libcontainer (from a
//! single-threaded fork server), one reaper thread, state on disk. No HTTP here.

pub mod archive;
pub mod bundle;
pub mod cgroups;
pub mod checkpoint;
mod container_create;
mod container_delete;
mod container_exec;
mod container_pause;
mod container_signal;
mod container_stats;
pub mod error;
pub mod events;
pub mod id;
pub mod netns;
pub mod reaper;
pub mod seccomp;
pub mod spawner;
pub mod store;
mod supervisor;

pub use checkpoint::{CheckpointInfo, CheckpointOptions};
pub use container_create::CreateOptions;
pub use container_exec::ExecOptions;
pub use container_stats::{ContainerStats, ResourceUpdate};
pub use error::{Error, ErrorKind, Result};
pub use events::Event;
pub use spawner::Spawner;
pub use store::{ContainerRecord, ProcessRecord, Status, User};
pub use supervisor::{Config, Machine, Runtime};
