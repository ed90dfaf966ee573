use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

/// ctrd patch: the file the v1 `tasks` interface lives in.
const CGROUP_TASKS: &str = "tasks";

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        write_task(cgroup_path, pid)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// ctrd patch: moves `pid` into the cgroup at `cgroup_path`. Pid 0 is the calling thread (see
/// [`super::manager::Manager`]'s `add_task`, which passes it when a single-threaded process moves
/// itself): it is written to `tasks`, which the kernel then migrates without taking the global
/// `cgroup_threadgroup_rwsem` for writing (a single thread moving itself needs no threadgroup
/// stability). Taking that rwsem can wait a whole RCU grace period (`rcu_sync_enter`) while
/// holding `cgroup_mutex`, stalling every other cgroup operation on the host for ~10-20 ms.
/// Any other pid goes to `cgroup.procs` as before.
pub(super) fn write_task(cgroup_path: &Path, pid: Pid) -> Result<(), WrappedIoError> {
    if pid.as_raw() == 0 {
        common::write_cgroup_file(cgroup_path.join(CGROUP_TASKS), 0)
    } else {
        common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
    }
}

/// ctrd patch: whether the calling process has exactly one thread (from `/proc/self/stat`).
pub(super) fn is_single_threaded() -> bool {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // Field 20 (num_threads); the fields after the command name's closing parenthesis start
    // with field 3 (state).
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(17))
        .is_some_and(|n| n == "1")
}
