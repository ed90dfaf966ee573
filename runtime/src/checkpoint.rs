//! Checkpoint and restore through CRIU's RPC socket (our `criu` crate).
//!
//! Checkpoints live under `<root>/checkpoints/<container-id>/<name>/`: CRIU's images, the
//! container's normalized spec (`spec.json`) and ctrd's metadata (`ctrd-checkpoint.json`). They
//! outlive the container record and daemon restarts.
//!
//! What a container needs that CRIU does not do by itself:
//! - Files opened outside the container's mount namespace (its stdio: log files opened by the
//!   fork server's worker) are declared external (`file[mnt_id:inode]`) at dump time and handed
//!   back with `inherit_fd` at restore time: the restored container writes to its own logs (a
//!   clone to the clone's logs).
//! - Bind mounts of the bundle are external mounts, re-supplied from the bundle on restore.
//! - The restored tree goes into the container's cgroup (`cgroup_root`), as a sibling of CRIU so
//!   the daemon (a child subreaper) reaps it, in new namespaces (pids are restored as they were).
//! - On this kernel CRIU restores the network namespace with its loopback down: ctrd brings `lo`
//!   up at the `setup-namespaces` notification, before sockets are restored.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::store::Status;
use crate::supervisor::Runtime;

pub const META_FILE: &str = "ctrd-checkpoint.json";
pub const SPEC_FILE: &str = "spec.json";

#[derive(Debug, Clone, Default)]
pub struct CheckpointOptions {
    pub exit: bool,
    pub tcp: bool,
    pub unix_sockets: bool,
    pub shell: bool,
    pub pre_dump: bool,
    pub parent: Option<String>,
}

/// A file the container had open outside its mount namespace (its stdio).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalFile {
    /// CRIU's key, `file[mnt_id:inode]` (hex).
    pub key: String,
    /// The file's path on the host at dump time.
    pub path: PathBuf,
    /// "stdout", "stderr", "stdin" for the container's init, else "other".
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    pub name: String,
    /// RFC 3339.
    pub timestamp: String,
    pub exit: bool,
    pub tcp: bool,
    pub unix_sockets: bool,
    pub shell: bool,
    #[serde(default)]
    pub pre_dump: bool,
    #[serde(default)]
    pub parent: Option<String>,
    /// Bytes on disk (computed when listed).
    #[serde(default)]
    pub size_bytes: u64,
    /// How long the container was frozen (CRIU's stats-dump).
    #[serde(default)]
    pub frozen_ms: Option<f64>,
    /// Pages written to this image (CRIU's stats-dump).
    #[serde(default)]
    pub pages_written: Option<u64>,
    /// Wall time of the whole dump.
    #[serde(default)]
    pub dump_ms: f64,
    /// The container this checkpoint was taken from.
    pub container_id: String,
    pub bundle_path: PathBuf,
    #[serde(default)]
    pub externals: Vec<ExternalFile>,
}

/// CRIU as found at start-up.
pub struct CriuState {
    pub criu: Option<criu::Criu>,
    pub version: Option<String>,
    /// Why checkpoint/restore is unavailable, when it is.
    pub unavailable: Option<String>,
    pub mem_track: bool,
}

impl CriuState {
    /// Looks for CRIU (>= 4.2) and asks its version and features.
    pub fn probe(explicit: Option<&Path>, waiter: &dyn criu::ChildWaiter) -> CriuState {
        let hint = "install CRIU 4.2 or newer (on Debian 12: from Debian unstable, see scripts/install-criu.sh)";
        let criu = match criu::Criu::locate(explicit) {
            Ok(c) => c,
            Err(e) => return CriuState::missing(format!("checkpoint/restore is unavailable: {e}; {hint}")),
        };
        match criu.ensure_version(waiter) {
            Ok(v) => {
                let mem_track = criu.features(waiter).map(|f| f.mem_track).unwrap_or(false);
                tracing::info!(version = %v, mem_track, "found CRIU");
                CriuState {
                    criu: Some(criu),
                    version: Some(v.to_string()),
                    unavailable: None,
                    mem_track,
                }
            }
            Err(e) => CriuState::missing(format!("checkpoint/restore is unavailable: {e}; {hint}")),
        }
    }

    fn missing(why: String) -> CriuState {
        tracing::warn!("{why}");
        CriuState {
            criu: None,
            version: None,
            unavailable: Some(why),
            mem_track: false,
        }
    }
}

/// Total size of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The mount ids of a process's mount namespace.
fn mount_ids(pid: i32) -> HashSet<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map(|s| s.lines().filter_map(|l| l.split(' ').next()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Files that `pid` has open on mounts outside its mount namespace, as CRIU external keys.
fn external_files(pid: i32, stdio_roles: bool) -> Vec<ExternalFile> {
    let mounts = mount_ids(pid);
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for fd in fds.flatten() {
        let name = fd.file_name().to_string_lossy().into_owned();
        let Ok(n) = name.parse::<i32>() else { continue };
        let Ok(meta) = std::fs::metadata(fd.path()) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mnt_id = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("mnt_id:").and_then(|v| v.trim().parse::<u64>().ok()))
            });
        let Some(mnt_id) = mnt_id else { continue };
        if mounts.contains(&mnt_id) {
            continue;
        }
        let path = std::fs::read_link(fd.path()).unwrap_or_default();
        let role = match (stdio_roles, n) {
            (true, 0) => "stdin",
            (true, 1) => "stdout",
            (true, 2) => "stderr",
            _ => "other",
        };
        use std::os::unix::fs::MetadataExt;
        out.push(ExternalFile {
            key: format!("file[{mnt_id:x}:{:x}]", meta.ino()),
            path,
            role: role.to_owned(),
        });
    }
    out
}

impl Runtime {
    pub(crate) fn checkpoint_dir(&self, id: &str, name: &str) -> PathBuf {
        self.cfg.root_dir.join("checkpoints").join(id).join(name)
    }

    fn criu(&self) -> Result<&criu::Criu> {
        let state = self.criu_state();
        match &state.criu {
            Some(c) => Ok(c),
            None => Err(Error::new(
                ErrorKind::Unavailable,
                state
                    .unavailable
                    .clone()
                    .unwrap_or_else(|| "CRIU is not available".into()),
            )),
        }
    }

    /// The CRIU version found at start-up.
    pub fn criu_version(&self) -> Option<String> {
        self.criu_state().version.clone()
    }

    /// Checkpoints a running container (`POST /containers/{id}/checkpoint/{name}`).
    pub fn checkpoint(&self, id: &str, name: &str, opts: &CheckpointOptions) -> Result<CheckpointInfo> {
        crate::id::validate_id("checkpoint name", name)?;
        let criu = self.criu()?;
        if let Some(parent) = &opts.parent {
            crate::id::validate_id("parent checkpoint", parent)?;
            if !self.checkpoint_dir(id, parent).join(META_FILE).exists() {
                return Err(Error::not_found(format!("container {id} has no checkpoint {parent}")));
            }
        }
        if (opts.pre_dump || opts.parent.is_some()) && !self.criu_state().mem_track {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "pre-dumps and incremental dumps need memory change tracking (soft-dirty), which this kernel \
                 does not offer (criu check --feature mem_dirty_track)",
            ));
        }
        if opts.pre_dump && opts.exit {
            return Err(Error::invalid(
                "a pre-dump keeps the container running: exit and preDump exclude each other",
            ));
        }
        let rec = self.begin_change(id, |rec| {
            if rec.status != Status::Running {
                return Err(Error::conflict(format!(
                    "container {id} is {}, not running",
                    rec.status.as_str()
                )));
            }
            Ok(())
        })?;
        let pid = rec.pid;
        let result = {
            // Whatever happens in the dump (even a panic), the container is not left busy.
            let _done = ChangeGuard { rt: self, id };
            self.dump(criu, id, name, pid, &rec, opts)
        };
        let info = result?;
        if opts.exit {
            // CRIU killed the tree after the dump; the reaper records the exit.
            self.wait_stopped(id, std::time::Duration::from_secs(10));
        }
        self.emit(Event::new("createCheckpoint", id, Some(pid), None));
        Ok(info)
    }

    fn dump(
        &self,
        criu: &criu::Criu,
        id: &str,
        name: &str,
        pid: i32,
        rec: &crate::ContainerRecord,
        opts: &CheckpointOptions,
    ) -> Result<CheckpointInfo> {
        let dir = self.checkpoint_dir(id, name);
        if dir.exists() {
            return Err(Error::conflict(format!(
                "container {id} already has a checkpoint {name}"
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(format!("creating {dir:?}: {e}")))?;
        let spec_path = self.container_dir(id).join("config.json");
        let spec = oci_spec::runtime::Spec::load(&spec_path)
            .map_err(|e| Error::internal(format!("loading {spec_path:?}: {e}")))?;
        let rootfs = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default();

        // Every task of the container may hold files outside its mount namespace.
        let mut externals = external_files(pid, true);
        for p in crate::cgroups::pids(id, &rec.cgroups_path) {
            if p != pid {
                for f in external_files(p, false) {
                    if !externals.iter().any(|x| x.key == f.key) {
                        externals.push(f);
                    }
                }
            }
        }
        let mut d = criu::DumpOptions::new(&dir, pid);
        d.pre_dump = opts.pre_dump;
        d.leave_running = !opts.exit || opts.pre_dump;
        d.tcp_established = opts.tcp;
        d.ext_unix_sk = opts.unix_sockets;
        d.shell_job = opts.shell;
        d.track_mem = opts.pre_dump || opts.parent.is_some();
        d.parent_img = opts.parent.as_ref().map(|p| format!("../{p}"));
        d.manage_cgroups = true;
        // Only the container's own cgroups: on a hybrid host its init also sits at the root of
        // name=systemd and of the unused cgroup2 mount, and CRIU would copy the host's whole
        // tree there (and every restore would nest it again).
        d.cgroup_dump_controllers = crate::cgroups::owned_hierarchies(pid, &rec.cgroups_path);
        d.root = Some(rootfs);
        d.ext_mounts = bind_mount_keys(&spec);
        d.external = externals.iter().map(|f| f.key.clone()).collect();
        d.notify_scripts = true;

        let started = Instant::now();
        let result = criu.dump(&d, &mut |_n| Ok(()), self);
        let dump_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = result {
            // The image dir goes; CRIU's log stays with the container for whoever investigates.
            let kept = self.container_dir(id).join(format!("checkpoint-{name}-dump.log"));
            let log_note = match std::fs::copy(dir.join(d.log_file_name()), &kept) {
                Ok(_) => format!(" (CRIU's log: {})", kept.display()),
                Err(_) => String::new(),
            };
            let _ = std::fs::remove_dir_all(&dir);
            return Err(Error::internal(format!(
                "checkpoint of {id} failed{log_note}: {}",
                criu_error_text(&e)
            )));
        }
        let stats = criu::stats::read_dump_stats(&dir);
        let info = CheckpointInfo {
            name: name.to_owned(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            exit: opts.exit,
            tcp: opts.tcp,
            unix_sockets: opts.unix_sockets,
            shell: opts.shell,
            pre_dump: opts.pre_dump,
            parent: opts.parent.clone(),
            size_bytes: 0,
            frozen_ms: stats.as_ref().map(|s| f64::from(s.frozen_time) / 1000.0),
            pages_written: stats.as_ref().map(|s| s.pages_written),
            dump_ms,
            container_id: id.to_owned(),
            bundle_path: rec.bundle_path.clone(),
            externals,
        };
        let save = || -> std::io::Result<()> {
            std::fs::write(
                dir.join(SPEC_FILE),
                serde_json::to_vec(&spec).map_err(std::io::Error::other)?,
            )?;
            std::fs::write(
                dir.join(META_FILE),
                serde_json::to_vec_pretty(&info).map_err(std::io::Error::other)?,
            )
        };
        save().map_err(|e| Error::internal(format!("saving checkpoint metadata: {e}")))?;
        let mut info = info;
        info.size_bytes = dir_size(&dir);
        tracing::info!(id, name, dump_ms, frozen_ms = ?info.frozen_ms, "checkpoint written");
        Ok(info)
    }

    /// The checkpoints of a container (kept after the container is deleted).
    pub fn list_checkpoints(&self, id: &str) -> Result<Vec<CheckpointInfo>> {
        crate::id::validate_id("container id", id)?;
        let base = self.cfg.root_dir.join("checkpoints").join(id);
        let known = self.get(id).is_ok();
        let Ok(rd) = std::fs::read_dir(&base) else {
            return if known {
                Ok(Vec::new())
            } else {
                Err(Error::not_found(format!("no such container: {id}")))
            };
        };
        let mut out: Vec<CheckpointInfo> = rd
            .flatten()
            .filter_map(|e| {
                let mut info: CheckpointInfo =
                    serde_json::from_slice(&std::fs::read(e.path().join(META_FILE)).ok()?).ok()?;
                info.size_bytes = dir_size(&e.path());
                Some(info)
            })
            .collect();
        out.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    pub fn checkpoint_info(&self, id: &str, name: &str) -> Result<CheckpointInfo> {
        crate::id::validate_id("container id", id)?;
        crate::id::validate_id("checkpoint name", name)?;
        let dir = self.checkpoint_dir(id, name);
        let body = std::fs::read(dir.join(META_FILE))
            .map_err(|_| Error::not_found(format!("container {id} has no checkpoint {name}")))?;
        let mut info: CheckpointInfo =
            serde_json::from_slice(&body).map_err(|e| Error::internal(format!("checkpoint {name}: {e}")))?;
        info.size_bytes = dir_size(&dir);
        Ok(info)
    }

    pub fn delete_checkpoint(&self, id: &str, name: &str) -> Result<()> {
        self.checkpoint_info(id, name)?;
        let dir = self.checkpoint_dir(id, name);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::internal(format!("removing {dir:?}: {e}")))?;
        let parent = self.cfg.root_dir.join("checkpoints").join(id);
        let _ = std::fs::remove_dir(parent); // only if empty
        self.emit(Event::new("deleteCheckpoint", id, None, None));
        Ok(())
    }

    /// Restores checkpoint `r.name` of container `r.source` as container `r.id`, into its
    /// reserved entry. Returns the restored init's pid.
    pub(crate) fn restore_reserved(&self, r: &RestoreTarget<'_>) -> Result<i32> {
        let RestoreTarget {
            id,
            name,
            source,
            bundle,
            dir,
            stdout,
            stderr,
        } = *r;
        let criu = self.criu()?;
        let images = self.checkpoint_dir(source, name);
        let info = self.checkpoint_info(source, name)?;
        if info.pre_dump {
            return Err(Error::invalid(format!(
                "checkpoint {name} is a pre-dump: restore the final dump made with \"parent\": \"{name}\""
            )));
        }
        // Stdio: CRIU requires the same file mode as at dump time (0640, as the worker opens them).
        let open_log = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(p)
                .map(OwnedFd::from)
        };
        let mut held: Vec<OwnedFd> = Vec::new();
        let mut inherit = Vec::new();
        for f in &info.externals {
            let fd: OwnedFd = match f.role.as_str() {
                "stdin" => File::open("/dev/null").map(OwnedFd::from),
                "stdout" => open_log(stdout),
                "stderr" => open_log(stderr),
                _ => {
                    let target = match f.path.file_name() {
                        Some(base) if source != id || !f.path.exists() => dir.join(base),
                        _ => f.path.clone(),
                    };
                    open_log(&target)
                }
            }
            .map_err(|e| Error::internal(format!("opening stdio for the restore: {e}")))?;
            inherit.push((f.key.clone(), fd.as_raw_fd()));
            held.push(fd);
        }

        // The cgroup: CRIU creates it (soft mode) at the container's cgroups path and restores
        // the dumped limits into it.
        // CRIU wants the root to be a mount point.
        let rootfs = bundle
            .spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        // Outside the container's state dir, which a later delete removes recursively: a bind
        // mount left there by a crash must never lead remove_dir_all into the client's rootfs.
        let criu_root = criu_roots_dir(&self.cfg.state_dir).join(format!("{id}-{}", std::process::id()));
        std::fs::create_dir_all(&criu_root)?;
        nix::mount::mount(
            Some(&rootfs),
            &criu_root,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| Error::internal(format!("bind-mounting the rootfs for CRIU: {e}")))?;
        let _ = nix::mount::mount(
            None::<&str>,
            &criu_root,
            None::<&str>,
            nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        );

        let mut r = criu::RestoreOptions::new(&images);
        r.work_dir = Some(dir.to_path_buf());
        r.root = Some(criu_root.clone());
        r.rst_sibling = true;
        r.tcp_established = info.tcp;
        r.ext_unix_sk = info.unix_sockets;
        r.shell_job = info.shell;
        r.manage_cgroups = true;
        r.cgroup_roots = vec![criu::CgroupRoot {
            controller: None,
            path: bundle.cgroups_path.to_string_lossy().into_owned(),
        }];
        r.ext_mounts = bind_mount_sources(&bundle.spec);
        r.inherit_fds = inherit;
        r.notify_scripts = true;
        let new_netns = bundle.new_netns();
        let mut notify = |n: &criu::Notify| -> std::result::Result<(), String> {
            if n.script == "setup-namespaces" && new_netns {
                crate::netns::loopback_up(n.pid).map_err(|e| format!("bringing lo up in the restored netns: {e}"))?;
            }
            Ok(())
        };
        let result = criu.restore(&r, &mut notify, self);
        let _ = nix::mount::umount2(&criu_root, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&criu_root);
        drop(held);
        match result {
            Ok(out) => Ok(out.pid),
            Err(e) => Err(Error::internal(format!(
                "restore of checkpoint {name} failed: {}",
                criu_error_text(&e)
            ))),
        }
    }
}

/// Where restores bind-mount rootfs for CRIU (one directory each, unmounted after the restore).
pub(crate) fn criu_roots_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(".criu-roots")
}

/// Unmounts and removes rootfs binds a crashed restore left behind (at start-up).
pub(crate) fn clean_criu_roots(state_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(criu_roots_dir(state_dir)) else {
        return;
    };
    for e in rd.flatten() {
        let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
        // remove_dir, not remove_dir_all: if the unmount failed, the rootfs stays untouched.
        if let Err(err) = std::fs::remove_dir(e.path()) {
            tracing::warn!(dir = ?e.path(), "left a CRIU root behind: {err}");
        }
    }
}

/// Ends a container's change when dropped.
pub(crate) struct ChangeGuard<'a> {
    pub rt: &'a Runtime,
    pub id: &'a str,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        self.rt.end_change(self.id);
    }
}

/// Where and what a restore brings back.
#[derive(Clone, Copy)]
pub(crate) struct RestoreTarget<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub source: &'a str,
    pub bundle: &'a crate::bundle::Bundle,
    /// The new container's state dir.
    pub dir: &'a Path,
    pub stdout: &'a Path,
    pub stderr: &'a Path,
}

/// CRIU's failure, most telling line first: CRIU reports its first error, which here is always a
/// harmless "rlimit: Can't setup RLIMIT_NOFILE" (the sandbox drops CAP_SYS_RESOURCE); the real
/// cause is the last other error of its log.
fn criu_error_text(e: &criu::CriuError) -> String {
    match e {
        criu::CriuError::Failed { message, log_tail } => {
            let cause = log_tail
                .lines()
                .rev()
                .find(|l| l.contains("Error (") && !l.contains("RLIMIT_NOFILE") && !l.contains("FAILED"))
                .map(|l| l.split_once("): ").map(|(_, m)| m).unwrap_or(l).trim().to_owned());
            match cause {
                Some(c) => format!("{c}\n{message}\n--- CRIU log (tail) ---\n{log_tail}"),
                None => format!("{message}\n--- CRIU log (tail) ---\n{log_tail}"),
            }
        }
        other => other.to_string(),
    }
}

fn is_bind(m: &oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
}

/// Dump: every bind mount is external, keyed by its destination.
fn bind_mount_keys(spec: &oci_spec::runtime::Spec) -> Vec<(String, String)> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .map(|m| {
            let d = m.destination().to_string_lossy().into_owned();
            (d.clone(), d)
        })
        .collect()
}

/// Restore: each external bind mount key maps to its source in the (new) bundle.
fn bind_mount_sources(spec: &oci_spec::runtime::Spec) -> Vec<(String, String)> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .filter_map(|m| {
            let src = m.source().as_ref()?.to_string_lossy().into_owned();
            Some((m.destination().to_string_lossy().into_owned(), src))
        })
        .collect()
}

impl criu::ChildWaiter for Runtime {
    fn wait_exit(&self, pid: i32) -> Option<i32> {
        self.wait_helper(pid)
    }
}

/// Shared so the daemon can report the state.
pub type SharedCriu = Arc<CriuState>;
