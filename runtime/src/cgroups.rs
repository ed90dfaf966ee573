//! Cgroup operations on a live container (freezer, pids, removal) through libcgroups, which picks
//! v1, v2 or hybrid (v1 controllers) from the host's layout.

use std::path::Path;
use std::time::Duration;

use libcgroups::common::{create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, FreezerState};

use crate::error::{Error, Result};

fn manager(id: &str, path: &Path) -> Result<AnyCgroupManager> {
    create_cgroup_manager(CgroupConfig {
        cgroup_path: path.to_path_buf(),
        systemd_cgroup: false,
        container_name: id.to_owned(),
    })
    .map_err(|e| Error::internal(format!("cgroup {path:?}: {e}")))
}

/// Freezes (`true`) or thaws the container's cgroup, waiting until the kernel says it is done.
pub fn freeze(id: &str, path: &Path, frozen: bool) -> Result<()> {
    let state = if frozen {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    };
    manager(id, path)?
        .freeze(state)
        .map_err(|e| Error::internal(format!("freezer of cgroup {path:?}: {e}")))
}

/// Every pid in the container's cgroup.
pub fn pids(id: &str, path: &Path) -> Vec<i32> {
    manager(id, path)
        .and_then(|m| m.get_all_pids().map_err(|e| Error::internal(e.to_string())))
        .map(|v| v.into_iter().map(|p| p.as_raw()).collect())
        .unwrap_or_default()
}

/// Removes the container's cgroup in every hierarchy. Tasks that just got killed may linger for a
/// moment, so removal is retried for a while.
pub fn remove(id: &str, path: &Path) -> Result<()> {
    let m = manager(id, path)?;
    let mut last = None;
    for _ in 0..100 {
        match m.remove() {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(Error::internal(format!(
        "removing cgroup {path:?}: {}",
        last.unwrap_or_default()
    )))
}
