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
    // The container's directory in every hierarchy (never a hierarchy's root).
    let own: Vec<std::path::PathBuf> = dirs_in_every_hierarchy(path)
        .into_iter()
        .filter(|(dir, mountpoint)| dir != mountpoint && dir.starts_with(mountpoint))
        .map(|(dir, _)| dir)
        .collect();
    // A container may have made sub-cgroups of its own: libcgroups only removes its own level.
    for dir in &own {
        remove_children(dir);
    }
    let m = manager(id, path)?;
    let mut last = None;
    for _ in 0..100 {
        match m.remove() {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e.to_string()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Hierarchies libcgroups does not manage (name=systemd, an unused cgroup2 mount) may hold a
    // directory too, e.g. one CRIU created when it restored the container.
    for dir in &own {
        remove_children(dir);
        let _ = std::fs::remove_dir(dir);
    }
    match last {
        None => Ok(()),
        Some(e) => Err(Error::internal(format!("removing cgroup {path:?}: {e}"))),
    }
}

/// rmdir of every cgroup below `dir`, deepest first (cgroupfs directories hold only control
/// files, which go with their directory).
fn remove_children(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_children(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}

/// The first existing directory for `path` in any cgroup hierarchy (the root `/` always exists).
pub fn existing_dir(path: &Path) -> Option<std::path::PathBuf> {
    dirs_in_every_hierarchy(path)
        .into_iter()
        .map(|(dir, _)| dir)
        .find(|d| d.exists())
}

/// `path`'s directory in every cgroup hierarchy mounted here, with that hierarchy's mount point.
fn dirs_in_every_hierarchy(path: &Path) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    cgroup_mountpoints().into_iter().map(|m| (m.join(rel), m)).collect()
}

/// On a cgroup v1 cpuset hierarchy, prepares the default parent (`/ctrd`) so that each new
/// container's cpuset starts with its parent's CPUs and memory nodes (`cgroup.clone_children`)
/// instead of libcgroups writing them into every new cpuset: each such write validates the new
/// set against every sibling and rebuilds the scheduler domains (`validate_change`,
/// `partition_sched_domains`), work that grows with the number of running containers (2 % of
/// all CPU at 1000 starts). The values are the same ones libcgroups would copy from the parent.
/// Best effort: a failure only leaves libcgroups to do it the slow way.
pub fn prepare_default_parent() {
    for m in cgroup_mounts() {
        if m.fstype != "cgroup" || !m.options.split(',').any(|o| o == "cpuset") {
            continue;
        }
        let parent = m
            .mountpoint
            .join(crate::bundle::DEFAULT_CGROUP_PARENT.trim_start_matches('/'));
        if let Err(e) = prepare_cpuset_parent(&m.mountpoint, &parent) {
            tracing::debug!("cpuset parent {parent:?} not prepared: {e}");
        }
    }
}

fn prepare_cpuset_parent(root: &Path, parent: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(parent) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if std::fs::read_to_string(parent.join(file))?.trim().is_empty() {
            std::fs::write(parent.join(file), std::fs::read_to_string(root.join(file))?.trim())?;
        }
    }
    std::fs::write(parent.join("cgroup.clone_children"), "1")
}

/// A cgroup (v1 or v2) filesystem mounted in this mount namespace.
struct CgroupMount {
    mountpoint: std::path::PathBuf,
    /// `cgroup` or `cgroup2`.
    fstype: String,
    /// The superblock options: the controllers of a v1 hierarchy (`rw,cpu,cpuacct`).
    options: String,
}

/// Every cgroup (v1 and v2) filesystem of this mount namespace, from /proc/self/mountinfo.
fn cgroup_mounts() -> Vec<CgroupMount> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mut post = post.split(' ');
            let (fstype, _source, options) = (post.next()?, post.next()?, post.next()?);
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some(CgroupMount {
                mountpoint: pre.split(' ').nth(4)?.into(),
                fstype: fstype.to_owned(),
                options: options.to_owned(),
            })
        })
        .collect()
}

/// Mount points of every cgroup (v1 and v2) filesystem of this mount namespace.
fn cgroup_mountpoints() -> Vec<std::path::PathBuf> {
    cgroup_mounts().into_iter().map(|m| m.mountpoint).collect()
}

/// The hierarchies (as CRIU names them: the comma-joined controllers, `name=X` for named ones,
/// `unified` for cgroup v2) in which `pid` sits at `path`: the ones the container owns. CRIU is
/// told to dump only those, never the host's tree above or beside the container.
pub fn owned_hierarchies(pid: i32, path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    let want = path.to_string_lossy();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, p) = (parts.next()?, parts.next()?, parts.next()?);
            if p != want {
                return None;
            }
            Some(if ctrls.is_empty() {
                "unified".to_owned()
            } else {
                ctrls.to_owned()
            })
        })
        .collect()
}

/// Raw cgroup readings of the container (libcgroups' view, v1 or v2).
pub fn stats(id: &str, path: &Path) -> Result<libcgroups::stats::Stats> {
    manager(id, path)?
        .stats()
        .map_err(|e| Error::internal(format!("reading cgroup {path:?}: {e}")))
}

/// Applies new limits to the live cgroup.
pub fn apply(id: &str, path: &Path, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
    let opt = libcgroups::common::ControllerOpt {
        resources,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    };
    manager(id, path)?
        .apply(&opt)
        .map_err(|e| Error::invalid(format!("applying resources to cgroup {path:?}: {e}")))
}

/// Whether the kernel's OOM killer killed a task of this cgroup (v1 `memory.oom_control`, v2
/// `memory.events`).
pub fn oom_killed(path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let read_count = |file: std::path::PathBuf, key: &str| -> u64 {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse::<u64>().ok()))
            })
            .unwrap_or(0)
    };
    let v1 = Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control");
    if v1.exists() {
        return read_count(v1, "oom_kill ") > 0;
    }
    read_count(Path::new("/sys/fs/cgroup").join(rel).join("memory.events"), "oom_kill ") > 0
}
