//! ctrd's own CRIU RPC client.
//!
//! Every operation spawns `criu swrk <fd>` with one end of a `socketpair(AF_UNIX,
//! SOCK_SEQPACKET)` and exchanges protobuf `criu_req` / `criu_resp` messages (one message per
//! packet, no length prefix) as defined in CRIU's `images/rpc.proto` (see [`proto`]).
//!
//! The crate never reaps the criu process itself: it hands criu's pid to a [`ChildWaiter`]
//! (in the daemon: its single reaper thread) once the conversation is over.
//!
//! CRIU >= 4.2 is required on recent kernels (Debian 12's 3.17 fails with a vDSO error, 4.1 cannot
//! dump inet sockets); `scripts/install-criu.sh` installs it from Debian unstable.

#![warn(missing_docs)]

mod error;
mod options;
pub mod proto;
mod session;
pub mod stats;
mod waiter;

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use error::CriuError;
pub use options::{CgroupMode, CgroupRoot, DumpOptions, JoinNs, NetworkLock, PreDumpMode, RestoreOptions};
pub use waiter::{ChildWaiter, DirectWaiter};

use proto::{CriuReq, CriuReqType, CriuResp};
use session::Session;

/// Minimum CRIU version this crate is meant for (major, minor).
pub const MIN_VERSION: (u32, u32) = (4, 2);
pub(crate) const MIN_VERSION_STR: &str = "4.2";

/// Number of log lines included in [`CriuError::Failed`].
pub const LOG_TAIL_LINES: usize = 40;

/// A CRIU version as reported by the VERSION request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major number (4 in 4.2.1).
    pub major: u32,
    /// Minor number (2 in 4.2.1).
    pub minor: u32,
    /// Sublevel (1 in 4.2.1); 0 when not reported.
    pub sublevel: u32,
    /// Git id, for builds from git.
    pub gitid: Option<String>,
}

impl Version {
    /// True if this version is >= major.minor.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.sublevel != 0 {
            write!(f, ".{}", self.sublevel)?;
        }
        if let Some(g) = &self.gitid {
            write!(f, " ({g})")?;
        }
        Ok(())
    }
}

/// A notification CRIU sends during dump/restore (what `--action-script` would get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The action: "pre-dump", "post-dump", "network-lock", "network-unlock",
    /// "pre-restore", "setup-namespaces", "post-setup-namespaces", "pre-resume",
    /// "post-resume", "post-restore", "orphan-pts-master", ...
    pub script: String,
    /// The pid CRIU attaches (e.g. the restored init's pid for "setup-namespaces"); 0 if none.
    pub pid: i32,
}

/// Result of a successful dump / pre-dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOutcome {
    /// CRIU's `criu_dump_resp.restored` (true only when the dumped tree was restored in place).
    pub restored: bool,
}

/// Result of a successful restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Pid of the restored root task (a child of the caller with `rst_sibling`).
    pub pid: i32,
}

/// What FEATURE_CHECK reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// Memory tracking (soft-dirty) for incremental dumps / pre-dump.
    pub mem_track: bool,
    /// Lazy pages (userfaultfd).
    pub lazy_pages: bool,
    /// pidfd store (for pid reuse detection across pre-dumps).
    pub pidfd_store: bool,
}

/// A handle on a criu binary. Cheap; every operation starts its own `criu swrk`.
#[derive(Debug, Clone)]
pub struct Criu {
    binary: PathBuf,
}

impl Criu {
    /// Uses `binary` as is (not checked until used).
    pub fn new(binary: PathBuf) -> Criu {
        Criu { binary }
    }

    /// The binary used.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Uses `explicit` if given (it must exist and be executable), else finds `criu` on PATH
    /// (plus /usr/local/sbin, /usr/sbin and /sbin, which a daemon's PATH may lack).
    pub fn locate(explicit: Option<&Path>) -> Result<Criu, CriuError> {
        if let Some(p) = explicit {
            return if is_executable(p) {
                Ok(Criu::new(p.to_path_buf()))
            } else {
                Err(CriuError::NotFound {
                    searched: p.display().to_string(),
                })
            };
        }
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        for d in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"] {
            let d = PathBuf::from(d);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        for d in &dirs {
            let cand = d.join("criu");
            if is_executable(&cand) {
                return Ok(Criu::new(cand));
            }
        }
        let searched = dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        Err(CriuError::NotFound {
            searched: format!("criu in {searched}"),
        })
    }

    /// Asks criu for its version (VERSION request).
    pub fn version(&self, waiter: &dyn ChildWaiter) -> Result<Version, CriuError> {
        let resp = self.simple(CriuReqType::Version, None, waiter)?;
        if !resp.success {
            return Err(failed_from(&resp, "version request failed", None));
        }
        let v = resp
            .version
            .ok_or_else(|| CriuError::Protocol("VERSION response without version".into()))?;
        Ok(Version {
            major: v.major_number.max(0) as u32,
            minor: v.minor_number.max(0) as u32,
            sublevel: v.sublevel.unwrap_or(0).max(0) as u32,
            gitid: v.gitid.filter(|g| !g.is_empty()),
        })
    }

    /// Like [`Criu::version`], but fails with [`CriuError::TooOld`] below [`MIN_VERSION`].
    pub fn ensure_version(&self, waiter: &dyn ChildWaiter) -> Result<Version, CriuError> {
        let v = self.version(waiter)?;
        if v.at_least(MIN_VERSION.0, MIN_VERSION.1) {
            Ok(v)
        } else {
            Err(CriuError::TooOld {
                found: v,
                required: MIN_VERSION_STR.to_string(),
            })
        }
    }

    /// `criu check` over RPC: Ok if the kernel supports what CRIU needs.
    pub fn check(&self, waiter: &dyn ChildWaiter) -> Result<(), CriuError> {
        let resp = self.simple(CriuReqType::Check, None, waiter)?;
        if resp.success {
            Ok(())
        } else {
            Err(failed_from(
                &resp,
                "criu check failed (run `criu check` for details)",
                None,
            ))
        }
    }

    /// Asks which optional features (memory tracking, lazy pages, pidfd store) work here.
    pub fn features(&self, waiter: &dyn ChildWaiter) -> Result<Features, CriuError> {
        let mut session = Session::spawn(&self.binary, &[], waiter)?;
        session.send(&CriuReq {
            r#type: CriuReqType::FeatureCheck as i32,
            features: Some(proto::CriuFeatures {
                mem_track: Some(true),
                lazy_pages: Some(true),
                pidfd_store: Some(true),
            }),
            ..Default::default()
        })?;
        let resp = session.recv()?;
        let status = session.finish();
        let resp = resp.ok_or_else(|| eof_error("feature check", status, None))?;
        if !resp.success {
            return Err(failed_from(&resp, "feature check failed", None));
        }
        let f = resp.features.unwrap_or_default();
        Ok(Features {
            mem_track: f.mem_track.unwrap_or(false),
            lazy_pages: f.lazy_pages.unwrap_or(false),
            pidfd_store: f.pidfd_store.unwrap_or(false),
        })
    }

    /// Dumps (or with `opts.pre_dump`, pre-dumps) the tree rooted at `opts.pid`.
    ///
    /// `notify` is called for each notification CRIU sends (only when `opts.notify_scripts`);
    /// returning `Err` makes CRIU abort the operation, and the error text ends up in
    /// [`CriuError::Failed`].
    pub fn dump(
        &self,
        opts: &DumpOptions,
        notify: &mut dyn FnMut(&Notify) -> Result<(), String>,
        waiter: &dyn ChildWaiter,
    ) -> Result<DumpOutcome, CriuError> {
        let images = open_dir(&opts.images_dir)?;
        let work = opts.work_dir.as_deref().map(open_dir).transpose()?;
        let log_path = opts
            .work_dir
            .as_ref()
            .unwrap_or(&opts.images_dir)
            .join(opts.log_file_name());
        let kind = if opts.pre_dump {
            CriuReqType::PreDump
        } else {
            CriuReqType::Dump
        };
        let req = CriuReq {
            r#type: kind as i32,
            opts: Some(opts.to_proto(images.as_raw_fd(), work.as_ref().map(|w| w.as_raw_fd()))),
            ..Default::default()
        };
        let resp = self.converse(req, kind, &[], notify, waiter, &log_path)?;
        Ok(DumpOutcome {
            restored: resp.dump.and_then(|d| d.restored).unwrap_or(false),
        })
    }

    /// Restores the tree saved in `opts.images_dir`.
    ///
    /// With `rst_sibling` (the default) the restored root becomes a child of the calling process;
    /// the caller must reap it. Restoring into the same pid namespace needs the original pids to
    /// be free.
    pub fn restore(
        &self,
        opts: &RestoreOptions,
        notify: &mut dyn FnMut(&Notify) -> Result<(), String>,
        waiter: &dyn ChildWaiter,
    ) -> Result<RestoreOutcome, CriuError> {
        let images = open_dir(&opts.images_dir)?;
        let work = opts.work_dir.as_deref().map(open_dir).transpose()?;
        let log_path = opts
            .work_dir
            .as_ref()
            .unwrap_or(&opts.images_dir)
            .join(opts.log_file_name());
        // Duplicate the inherited descriptors to fresh numbers >= 3 (the child's stdio is set up
        // before they are un-CLOEXEC'd); criu sees them under these numbers.
        let mut dups: Vec<OwnedFd> = Vec::with_capacity(opts.inherit_fds.len());
        let mut inherit: Vec<(String, RawFd)> = Vec::with_capacity(opts.inherit_fds.len());
        for (key, fd) in &opts.inherit_fds {
            let d = session::dup_high(*fd)?;
            inherit.push((key.clone(), d.as_raw_fd()));
            dups.push(d);
        }
        let pass: Vec<RawFd> = dups.iter().map(|d| d.as_raw_fd()).collect();
        let req = CriuReq {
            r#type: CriuReqType::Restore as i32,
            opts: Some(opts.to_proto(images.as_raw_fd(), work.as_ref().map(|w| w.as_raw_fd()), inherit)),
            ..Default::default()
        };
        let resp = self.converse(req, CriuReqType::Restore, &pass, notify, waiter, &log_path)?;
        drop(dups);
        let restored = resp
            .restore
            .ok_or_else(|| CriuError::Protocol("RESTORE response without restore.pid".into()))?;
        Ok(RestoreOutcome { pid: restored.pid })
    }

    /// One request, one response (VERSION, CHECK).
    fn simple(
        &self,
        kind: CriuReqType,
        opts: Option<proto::CriuOpts>,
        waiter: &dyn ChildWaiter,
    ) -> Result<CriuResp, CriuError> {
        let mut session = Session::spawn(&self.binary, &[], waiter)?;
        session.send(&CriuReq {
            r#type: kind as i32,
            opts,
            ..Default::default()
        })?;
        let resp = session.recv()?;
        let status = session.finish();
        let resp = resp.ok_or_else(|| eof_error(kind.name(), status, None))?;
        check_type(&resp, kind)?;
        Ok(resp)
    }

    /// Sends `req`, answers notifications until the final response of type `kind`.
    fn converse(
        &self,
        req: CriuReq,
        kind: CriuReqType,
        pass_fds: &[RawFd],
        notify: &mut dyn FnMut(&Notify) -> Result<(), String>,
        waiter: &dyn ChildWaiter,
        log_path: &Path,
    ) -> Result<CriuResp, CriuError> {
        let mut session = Session::spawn(&self.binary, pass_fds, waiter)?;
        let what = kind.name().to_ascii_lowercase().replace('_', "-");
        let mut callback_error: Option<String> = None;
        session.send(&req)?;
        loop {
            let resp = match session.recv() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    let status = session.finish();
                    let mut err = eof_error(&what, status, Some(log_path));
                    if let (CriuError::Failed { message, .. }, Some(cb)) = (&mut err, &callback_error) {
                        message.push_str(&format!("; notify callback failed: {cb}"));
                    }
                    return Err(err);
                }
                Err(e) => {
                    session.finish();
                    return Err(e);
                }
            };
            if resp.r#type == CriuReqType::Notify as i32 {
                let n = resp.notify.clone().unwrap_or_default();
                let note = Notify {
                    script: n.script.unwrap_or_default(),
                    pid: n.pid.unwrap_or(0),
                };
                let ok = match notify(&note) {
                    Ok(()) => true,
                    Err(e) => {
                        callback_error = Some(format!("{}: {e}", note.script));
                        false
                    }
                };
                session.send(&CriuReq {
                    r#type: CriuReqType::Notify as i32,
                    notify_success: Some(ok),
                    ..Default::default()
                })?;
                continue;
            }
            session.finish();
            if !resp.success {
                let mut msg = format!("{what} of {} failed", images_hint(&req));
                if let Some(cb) = &callback_error {
                    msg.push_str(&format!(" (notify callback failed: {cb})"));
                }
                return Err(failed_from(&resp, &msg, Some(log_path)));
            }
            check_type(&resp, kind)?;
            return Ok(resp);
        }
    }
}

fn images_hint(req: &CriuReq) -> String {
    match req.opts.as_ref().and_then(|o| o.pid) {
        Some(pid) => format!("pid {pid}"),
        None => "images".to_string(),
    }
}

fn check_type(resp: &CriuResp, kind: CriuReqType) -> Result<(), CriuError> {
    if resp.r#type == kind as i32 {
        return Ok(());
    }
    if !resp.success {
        return Err(failed_from(
            resp,
            &format!("criu rejected the {} request", kind.name()),
            None,
        ));
    }
    Err(CriuError::Protocol(format!(
        "expected a {} response, got type {}",
        kind.name(),
        CriuReqType::try_from(resp.r#type)
            .map(|t| t.name().to_string())
            .unwrap_or_else(|_| resp.r#type.to_string())
    )))
}

/// Builds [`CriuError::Failed`] from an unsuccessful response.
fn failed_from(resp: &CriuResp, what: &str, log_path: Option<&Path>) -> CriuError {
    let mut message = what.to_string();
    if let Some(m) = resp.cr_errmsg.as_deref().filter(|m| !m.is_empty()) {
        message.push_str(&format!(": {}", m.trim_end()));
    }
    if let Some(e) = resp.cr_errno.filter(|e| *e != 0) {
        message.push_str(&format!(" (cr_errno {e}: {})", std::io::Error::from_raw_os_error(e)));
    }
    let log_tail = match log_path {
        Some(p) => {
            let tail = log_tail(p, LOG_TAIL_LINES);
            // cr_errmsg is CRIU's *first* error, often a harmless one (e.g. "Can't setup
            // RLIMIT_NOFILE"); the last error line of the log is usually the real cause.
            if let Some(last) = last_log_error(&tail) {
                if !resp.cr_errmsg.as_deref().is_some_and(|m| m.trim().ends_with(last)) {
                    message.push_str(&format!("; last log error: {last}"));
                }
            }
            message.push_str(&format!(" [log: {}]", p.display()));
            tail
        }
        None => String::new(),
    };
    CriuError::Failed { message, log_tail }
}

/// The last meaningful "Error (...)" line of a CRIU log (skipping the generic
/// "Dumping FAILED." / "Restoring FAILED." lines), without its timestamp.
fn last_log_error(log: &str) -> Option<&str> {
    log.lines()
        .rev()
        .filter_map(|l| l.find("Error (").map(|i| l[i..].trim()))
        .find(|l| !l.ends_with("FAILED."))
}

fn eof_error(what: &str, status: Option<i32>, log_path: Option<&Path>) -> CriuError {
    let status = match status {
        Some(s) => format!("exit status {s}"),
        None => "unknown exit status".to_string(),
    };
    let mut message = format!("criu closed the RPC socket without answering the {what} request ({status})");
    let log_tail = match log_path {
        Some(p) => {
            message.push_str(&format!(" [log: {}]", p.display()));
            log_tail(p, LOG_TAIL_LINES)
        }
        None => String::new(),
    };
    CriuError::Failed { message, log_tail }
}

/// The last `lines` lines of a (log) file; empty if it cannot be read.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let mut data = Vec::new();
    if File::open(path).and_then(|mut f| f.read_to_end(&mut data)).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&data);
    let mut tail: VecDeque<&str> = VecDeque::with_capacity(lines + 1);
    for l in text.lines() {
        if tail.len() == lines {
            tail.pop_front();
        }
        tail.push_back(l);
    }
    let mut out = tail.into_iter().collect::<Vec<_>>().join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn open_dir(p: &Path) -> Result<File, CriuError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(p)
        .map_err(|e| CriuError::io(format!("opening directory {}", p.display()), e))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
