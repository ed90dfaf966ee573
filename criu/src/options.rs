//! Typed options for dump / pre-dump / restore, converted to [`crate::proto::CriuOpts`].

use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::proto;

/// `--manage-cgroups` mode (`criu_cg_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Do not touch cgroups at all.
    Ignore,
    /// `none`
    None,
    /// Restore cgroup properties only.
    Props,
    /// Restore properties of cgroups created by criu only (CRIU's default).
    Soft,
    /// Restore all properties.
    Full,
    /// Like full, but fail if a cgroup already exists.
    Strict,
    /// CRIU's compiled-in default.
    Default,
}

impl CgroupMode {
    fn to_proto(self) -> proto::CriuCgMode {
        match self {
            CgroupMode::Ignore => proto::CriuCgMode::Ignore,
            CgroupMode::None => proto::CriuCgMode::CgNone,
            CgroupMode::Props => proto::CriuCgMode::Props,
            CgroupMode::Soft => proto::CriuCgMode::Soft,
            CgroupMode::Full => proto::CriuCgMode::Full,
            CgroupMode::Strict => proto::CriuCgMode::Strict,
            CgroupMode::Default => proto::CriuCgMode::Default,
        }
    }
}

/// How CRIU locks the network of a dumped/restored net namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkLock {
    /// iptables (CRIU's default; needs the `iptables` binary).
    Iptables,
    /// nftables (needs CRIU built with libnftables).
    Nftables,
    /// Do not lock (the caller must make sure no traffic flows).
    Skip,
}

impl NetworkLock {
    fn to_proto(self) -> proto::CriuNetworkLockMethod {
        match self {
            NetworkLock::Iptables => proto::CriuNetworkLockMethod::Iptables,
            NetworkLock::Nftables => proto::CriuNetworkLockMethod::Nftables,
            NetworkLock::Skip => proto::CriuNetworkLockMethod::Skip,
        }
    }
}

/// How pre-dump reads memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreDumpMode {
    /// vmsplice (CRIU's default; keeps the pages pinned until written).
    Splice,
    /// process_vm_readv (less memory pressure).
    VmRead,
}

impl PreDumpMode {
    fn to_proto(self) -> proto::CriuPreDumpMode {
        match self {
            PreDumpMode::Splice => proto::CriuPreDumpMode::Splice,
            PreDumpMode::VmRead => proto::CriuPreDumpMode::VmRead,
        }
    }
}

/// A `--cgroup-root [controller:]path` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoot {
    /// The controller (`None`: all / the unified hierarchy).
    pub controller: Option<String>,
    /// The cgroup path.
    pub path: String,
}

/// A `--join-ns NS:FILE[,extra]` entry (restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinNs {
    /// Namespace name: "net", "ipc", "uts", "user", "pid", "mnt", "time", "cgroup".
    pub ns: String,
    /// Path of the namespace file (e.g. /proc/PID/ns/net) or a pid.
    pub ns_file: String,
    /// Extra option (user ns: "uid,gid").
    pub extra_opt: Option<String>,
}

/// Options of a dump (or, with `pre_dump`, a pre-dump).
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Where the images are written. Opened here and passed as `images_dir_fd`.
    pub images_dir: PathBuf,
    /// Where the log (and stats) go; defaults to `images_dir`. Passed as `work_dir_fd`.
    pub work_dir: Option<PathBuf>,
    /// The previous (pre-)dump's images dir, *relative to* `images_dir` (e.g. "../pre"):
    /// makes this dump incremental. Needs `track_mem` on both.
    pub parent_img: Option<String>,
    /// Root pid of the tree to dump.
    pub pid: i32,
    /// Send PRE_DUMP instead of DUMP (memory only, the tree keeps running).
    pub pre_dump: bool,
    /// Keep the tree running after the dump (otherwise CRIU kills it).
    pub leave_running: bool,
    /// Leave the tree stopped (SIGSTOP) after the dump.
    pub leave_stopped: bool,
    /// Dump established TCP connections.
    pub tcp_established: bool,
    /// Skip in-flight TCP connections.
    pub tcp_skip_in_flight: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// The tree is a shell job (session/pgrp/tty are outside).
    pub shell_job: bool,
    /// Dump file locks.
    pub file_locks: bool,
    /// Track memory changes (soft-dirty) for subsequent incremental dumps.
    pub track_mem: bool,
    /// Deduplicate pages against the parent images.
    pub auto_dedup: bool,
    /// Allow link-remap of deleted-but-open files.
    pub link_remap: bool,
    /// Dump the cgroups of the tree (`--manage-cgroups`).
    pub manage_cgroups: bool,
    /// Cgroup management mode.
    pub manage_cgroups_mode: Option<CgroupMode>,
    /// Freeze the tree with this cgroup's freezer (path of the cgroup) instead of ptrace-stop.
    pub freeze_cgroup: Option<String>,
    /// `--cgroup-root` entries.
    pub cgroup_roots: Vec<CgroupRoot>,
    /// Only dump these cgroup controllers.
    pub cgroup_dump_controllers: Vec<String>,
    /// Root of the tree's mount namespace (container rootfs).
    pub root: Option<PathBuf>,
    /// External (bind) mounts: (mountpoint inside, key).
    pub ext_mounts: Vec<(String, String)>,
    /// `--external` resources (e.g. "mnt[/etc/hosts]:k", "net[4026531993]:extRootNetNS").
    pub external: Vec<String>,
    /// Mount points to skip.
    pub skip_mounts: Vec<String>,
    /// Extra filesystems to treat as dumpable (e.g. "fuse").
    pub enable_fs: Vec<String>,
    /// Allow the master end of an external pty (container console).
    pub orphan_pts_master: bool,
    /// Namespaces (CLONE_NEW* bitmask) dumped as empty (e.g. CLONE_NEWNET for a container whose
    /// network is set up by the runtime).
    pub empty_ns: u32,
    /// How to lock the network.
    pub network_lock: Option<NetworkLock>,
    /// Pre-dump memory reading mode.
    pub pre_dump_mode: Option<PreDumpMode>,
    /// Max size of ghost files to keep in images.
    pub ghost_limit: Option<u32>,
    /// LSM mount context (SELinux).
    pub lsm_mount_context: Option<String>,
    /// CRIU's own timeout for collecting/freezing (seconds).
    pub timeout: Option<u32>,
    /// Log file name inside work_dir/images_dir (no subdirs). Default "dump.log" / "pre-dump.log".
    pub log_file: Option<String>,
    /// CRIU log level (0-4). Default 4.
    pub log_level: i32,
    /// Ask CRIU to send notifications ("post-dump", "network-lock", ...) to the callback.
    pub notify_scripts: bool,
}

impl DumpOptions {
    /// Dump `pid` into `images_dir` with defaults (log level 4, tree killed after dump).
    pub fn new(images_dir: impl Into<PathBuf>, pid: i32) -> DumpOptions {
        DumpOptions {
            images_dir: images_dir.into(),
            work_dir: None,
            parent_img: None,
            pid,
            pre_dump: false,
            leave_running: false,
            leave_stopped: false,
            tcp_established: false,
            tcp_skip_in_flight: false,
            ext_unix_sk: false,
            shell_job: false,
            file_locks: false,
            track_mem: false,
            auto_dedup: false,
            link_remap: false,
            manage_cgroups: false,
            manage_cgroups_mode: None,
            freeze_cgroup: None,
            cgroup_roots: Vec::new(),
            cgroup_dump_controllers: Vec::new(),
            root: None,
            ext_mounts: Vec::new(),
            external: Vec::new(),
            skip_mounts: Vec::new(),
            enable_fs: Vec::new(),
            orphan_pts_master: false,
            empty_ns: 0,
            network_lock: None,
            pre_dump_mode: None,
            ghost_limit: None,
            lsm_mount_context: None,
            timeout: None,
            log_file: None,
            log_level: 4,
            notify_scripts: false,
        }
    }

    /// The log file name used (default "dump.log", or "pre-dump.log" for a pre-dump).
    pub fn log_file_name(&self) -> &str {
        match &self.log_file {
            Some(f) => f,
            None if self.pre_dump => "pre-dump.log",
            None => "dump.log",
        }
    }

    /// Builds the RPC options; `images_dir_fd` / `work_dir_fd` are descriptors of this process.
    pub(crate) fn to_proto(&self, images_dir_fd: RawFd, work_dir_fd: Option<RawFd>) -> proto::CriuOpts {
        proto::CriuOpts {
            images_dir_fd,
            work_dir_fd,
            pid: Some(self.pid),
            parent_img: self.parent_img.clone(),
            leave_running: Some(self.leave_running),
            leave_stopped: flag(self.leave_stopped),
            tcp_established: flag(self.tcp_established),
            tcp_skip_in_flight: flag(self.tcp_skip_in_flight),
            ext_unix_sk: flag(self.ext_unix_sk),
            shell_job: flag(self.shell_job),
            file_locks: flag(self.file_locks),
            track_mem: flag(self.track_mem),
            auto_dedup: flag(self.auto_dedup),
            link_remap: flag(self.link_remap),
            manage_cgroups: flag(self.manage_cgroups),
            manage_cgroups_mode: self.manage_cgroups_mode.map(|m| m.to_proto() as i32),
            freeze_cgroup: self.freeze_cgroup.clone(),
            cg_root: cg_roots(&self.cgroup_roots),
            cgroup_dump_controller: self.cgroup_dump_controllers.clone(),
            root: self.root.as_ref().map(|p| p.to_string_lossy().into_owned()),
            ext_mnt: ext_mnts(&self.ext_mounts),
            external: self.external.clone(),
            skip_mnt: self.skip_mounts.clone(),
            enable_fs: self.enable_fs.clone(),
            orphan_pts_master: flag(self.orphan_pts_master),
            empty_ns: (self.empty_ns != 0).then_some(self.empty_ns),
            network_lock: self.network_lock.map(|n| n.to_proto() as i32),
            pre_dump_mode: self.pre_dump_mode.map(|m| m.to_proto() as i32),
            ghost_limit: self.ghost_limit,
            lsm_mount_context: self.lsm_mount_context.clone(),
            timeout: self.timeout,
            log_file: Some(self.log_file_name().to_string()),
            log_level: Some(self.log_level),
            notify_scripts: flag(self.notify_scripts),
            ..Default::default()
        }
    }
}

/// Options of a restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Where the images are read from. Opened here and passed as `images_dir_fd`.
    pub images_dir: PathBuf,
    /// Where the log goes; defaults to `images_dir`. Passed as `work_dir_fd`.
    pub work_dir: Option<PathBuf>,
    /// Root of the restored mount namespace (container rootfs).
    pub root: Option<PathBuf>,
    /// Restore the tree as a child of the caller (not of criu). Default true: the daemon's
    /// reaper then reaps the restored init. Note: with swrk the tree is forked by criu, and
    /// rst_sibling re-parents it onto the process that started criu.
    pub rst_sibling: bool,
    /// Restore established TCP connections.
    pub tcp_established: bool,
    /// Restore TCP connections as closed.
    pub tcp_close: bool,
    /// Allow external unix sockets.
    pub ext_unix_sk: bool,
    /// The tree is a shell job.
    pub shell_job: bool,
    /// Restore file locks.
    pub file_locks: bool,
    /// Restore cgroups.
    pub manage_cgroups: bool,
    /// Cgroup management mode.
    pub manage_cgroups_mode: Option<CgroupMode>,
    /// `--cgroup-root` entries (restore into a different cgroup).
    pub cgroup_roots: Vec<CgroupRoot>,
    /// Cgroup properties (YAML) / properties file.
    pub cgroup_props: Option<String>,
    /// External (bind) mounts: (key, host path).
    pub ext_mounts: Vec<(String, String)>,
    /// `--external` resources.
    pub external: Vec<String>,
    /// `--inherit-fd fd[N]:KEY`: (key, descriptor of *this* process). The descriptors are
    /// duplicated into the criu child; e.g. ("pipe:[1234]", fd) to give the restored process new
    /// stdio, or ("/dev/null", fd).
    pub inherit_fds: Vec<(String, RawFd)>,
    /// `--join-ns` entries.
    pub join_ns: Vec<JoinNs>,
    /// Allow the master end of an external pty.
    pub orphan_pts_master: bool,
    /// Namespaces (CLONE_NEW* bitmask) restored as empty.
    pub empty_ns: u32,
    /// LSM profile to apply to the restored tasks.
    pub lsm_profile: Option<String>,
    /// LSM mount context.
    pub lsm_mount_context: Option<String>,
    /// How to lock the network.
    pub network_lock: Option<NetworkLock>,
    /// Deduplicate (punch holes into) images while restoring.
    pub auto_dedup: bool,
    /// Allow restoring devices that moved (evasive devices).
    pub evasive_devices: bool,
    /// Don't fail on sysctls that cannot be set.
    pub weak_sysctls: bool,
    /// Leave the restored tree stopped.
    pub leave_stopped: bool,
    /// Log file name inside work_dir/images_dir (no subdirs). Default "restore.log".
    pub log_file: Option<String>,
    /// CRIU log level (0-4). Default 4.
    pub log_level: i32,
    /// Ask CRIU to send notifications ("setup-namespaces", "post-restore", ...) to the callback.
    pub notify_scripts: bool,
}

impl RestoreOptions {
    /// Restore from `images_dir` with defaults (rst_sibling, log level 4).
    pub fn new(images_dir: impl Into<PathBuf>) -> RestoreOptions {
        RestoreOptions {
            images_dir: images_dir.into(),
            work_dir: None,
            root: None,
            rst_sibling: true,
            tcp_established: false,
            tcp_close: false,
            ext_unix_sk: false,
            shell_job: false,
            file_locks: false,
            manage_cgroups: false,
            manage_cgroups_mode: None,
            cgroup_roots: Vec::new(),
            cgroup_props: None,
            ext_mounts: Vec::new(),
            external: Vec::new(),
            inherit_fds: Vec::new(),
            join_ns: Vec::new(),
            orphan_pts_master: false,
            empty_ns: 0,
            lsm_profile: None,
            lsm_mount_context: None,
            network_lock: None,
            auto_dedup: false,
            evasive_devices: false,
            weak_sysctls: false,
            leave_stopped: false,
            log_file: None,
            log_level: 4,
            notify_scripts: false,
        }
    }

    /// The log file name used (default "restore.log").
    pub fn log_file_name(&self) -> &str {
        self.log_file.as_deref().unwrap_or("restore.log")
    }

    /// Builds the RPC options. `inherit_fds` are (key, descriptor number *in the criu child*).
    pub(crate) fn to_proto(
        &self,
        images_dir_fd: RawFd,
        work_dir_fd: Option<RawFd>,
        inherit_fds: Vec<(String, RawFd)>,
    ) -> proto::CriuOpts {
        proto::CriuOpts {
            images_dir_fd,
            work_dir_fd,
            root: self.root.as_ref().map(|p| p.to_string_lossy().into_owned()),
            rst_sibling: flag(self.rst_sibling),
            tcp_established: flag(self.tcp_established),
            tcp_close: flag(self.tcp_close),
            ext_unix_sk: flag(self.ext_unix_sk),
            shell_job: flag(self.shell_job),
            file_locks: flag(self.file_locks),
            manage_cgroups: flag(self.manage_cgroups),
            manage_cgroups_mode: self.manage_cgroups_mode.map(|m| m.to_proto() as i32),
            cg_root: cg_roots(&self.cgroup_roots),
            cgroup_props: self.cgroup_props.clone(),
            ext_mnt: ext_mnts(&self.ext_mounts),
            external: self.external.clone(),
            inherit_fd: inherit_fds
                .into_iter()
                .map(|(key, fd)| proto::InheritFd { key, fd })
                .collect(),
            join_ns: self
                .join_ns
                .iter()
                .map(|j| proto::JoinNamespace {
                    ns: j.ns.clone(),
                    ns_file: j.ns_file.clone(),
                    extra_opt: j.extra_opt.clone(),
                })
                .collect(),
            orphan_pts_master: flag(self.orphan_pts_master),
            empty_ns: (self.empty_ns != 0).then_some(self.empty_ns),
            lsm_profile: self.lsm_profile.clone(),
            lsm_mount_context: self.lsm_mount_context.clone(),
            network_lock: self.network_lock.map(|n| n.to_proto() as i32),
            auto_dedup: flag(self.auto_dedup),
            evasive_devices: flag(self.evasive_devices),
            weak_sysctls: flag(self.weak_sysctls),
            leave_stopped: flag(self.leave_stopped),
            log_file: Some(self.log_file_name().to_string()),
            log_level: Some(self.log_level),
            notify_scripts: flag(self.notify_scripts),
            ..Default::default()
        }
    }
}

fn flag(b: bool) -> Option<bool> {
    b.then_some(true)
}

fn cg_roots(roots: &[CgroupRoot]) -> Vec<proto::CgroupRoot> {
    roots
        .iter()
        .map(|r| proto::CgroupRoot {
            ctrl: r.controller.clone(),
            path: r.path.clone(),
        })
        .collect()
}

fn ext_mnts(m: &[(String, String)]) -> Vec<proto::ExtMountMap> {
    m.iter()
        .map(|(key, val)| proto::ExtMountMap {
            key: key.clone(),
            val: val.clone(),
        })
        .collect()
}
