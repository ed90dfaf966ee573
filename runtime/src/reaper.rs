//! Exits flow one way: kernel → the reaper thread → the owner of the pid.
//!
//! Container processes are the daemon's children: cloned as siblings of the fork server's
//! workers, which are the daemon's children themselves (or, with a user namespace, re-parented to
//! the daemon, a child subreaper, when libcontainer's intermediate process exits). Workers' own
//! exits (one per 500 requests) arrive here too, as exits nobody claims.
//!
//! One dedicated OS thread reaps; nothing else in the daemon waits for children. It does not call
//! `waitpid(-1)` for every exit: the kernel walks all of the caller's children for that, so with
//! thousands of containers running each exit (an exec'd `true`, a deleted container) would cost
//! time linear in them. Instead every child whose pid the daemon knows (inits, exec'd processes,
//! CRIU) is watched through a pidfd and reaped with `waitid(P_PIDFD)`: O(1). SIGCHLD (blocked in
//! every thread, read from a signalfd) names the child that exited: one nobody watches is reaped
//! by pid. SIGCHLDs coalesce while one is pending, so a child nobody watches (a recycled worker, an
//! orphan re-parented to the daemon) could be missed: a full `waitpid(-1, WNOHANG)` sweep runs
//! after a SIGCHLD, at most once per [`SWEEP_INTERVAL`]. An idle daemon gets no signal and does
//! nothing. Processes adopted after a daemon restart are not our children: they are watched
//! through pidfds by [`PidfdWatcher`] (their exit status is unknown, reported as `None`).

use std::collections::HashMap;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Called with (pid, exit status) for every exit. The status is the exit code, 128+signal for a
/// process killed by a signal, or `None` when it cannot be known (adopted processes).
pub type ExitSink = Arc<dyn Fn(i32, Option<i32>) + Send + Sync>;

/// The longest a child nobody watches can stay a zombie while children exit (see the module
/// documentation).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The signalfd's key in the reaper's epoll set (pidfds are keyed by their pid).
const SIGNALS: u64 = u64::MAX;

/// The daemon's reaper: a pidfd per known child, a signalfd for SIGCHLD, one thread.
pub struct Reaper {
    epoll: Arc<Epoll>,
    children: Arc<Mutex<HashMap<i32, OwnedFd>>>,
    signals: Mutex<Option<SignalFd>>,
}

impl Reaper {
    /// Blocks SIGCHLD, for this thread and every thread created after it, so that it is only
    /// ever read from the reaper's signalfd (a thread with SIGCHLD unblocked would take it and
    /// drop it). Must therefore be called while the process has exactly one thread.
    pub fn new() -> Result<Reaper> {
        let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
        if threads != 1 {
            return Err(Error::internal(format!(
                "the reaper must be set up before any thread exists (found {threads} threads)"
            )));
        }
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(signals.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, SIGNALS))?;
        Ok(Reaper {
            epoll: Arc::new(epoll),
            children: Arc::default(),
            signals: Mutex::new(Some(signals)),
        })
    }

    /// Makes this process a child subreaper and starts the reaper thread (once).
    pub fn start(&self, sink: ExitSink) -> Result<()> {
        nix::sys::prctl::set_child_subreaper(true)?;
        let signals = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| Error::internal("the reaper is already running"))?;
        let (epoll, children) = (self.epoll.clone(), self.children.clone());
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || reap(&epoll, &children, &signals, &sink))?;
        Ok(())
    }

    /// Reaps `pid`, a child of this process, through a pidfd from now on. Best effort: a child
    /// already reaped (or never ours) is left to the other paths, which handle every child.
    pub fn watch(&self, pid: i32) {
        let Some(fd) = pidfd_open(pid) else { return };
        // Locked before the pidfd joins the epoll set, so the reaper cannot handle its event
        // before the map holds it. The map keeps `fd` open; epoll forgets it when it is closed.
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .epoll
            .add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, pid as u64))
            .is_ok()
        {
            children.insert(pid, fd);
        }
    }
}

/// The reaper thread's loop.
fn reap(epoll: &Epoll, children: &Mutex<HashMap<i32, OwnedFd>>, signals: &SignalFd, sink: &ExitSink) -> ! {
    let mut events = [EpollEvent::empty(); 64];
    let mut last_sweep: Option<Instant> = None;
    let mut sweep_at: Option<Instant> = None;
    loop {
        let timeout = match sweep_at {
            None => EpollTimeout::NONE,
            Some(at) => {
                let ms = at.saturating_duration_since(Instant::now()).as_millis();
                EpollTimeout::from(ms.min(1000) as u16)
            }
        };
        let n = match epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!("reaper: epoll_wait: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        for ev in &events[..n] {
            if ev.data() == SIGNALS {
                while let Ok(Some(info)) = signals.read_signal() {
                    let pid = info.ssi_pid as i32;
                    let watched = children.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&pid);
                    if pid > 0 && !watched {
                        if let Some(status) = reaped(waitid(Id::Pid(Pid::from_raw(pid)), exited_now())) {
                            sink(pid, status);
                        }
                    }
                }
                if sweep_at.is_none() {
                    let now = Instant::now();
                    sweep_at = Some(last_sweep.map_or(now, |t| (t + SWEEP_INTERVAL).max(now)));
                }
            } else {
                let pid = ev.data() as i32;
                let fd = children.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid);
                let Some(fd) = fd else { continue };
                // ECHILD: already reaped by the other paths, which told the sink. Not exited yet
                // (a pidfd is readable only once its process has): no longer watched, the other
                // paths will reap it. Either way `fd` is closed here and leaves the epoll set.
                if let Some(status) = reaped(waitid(Id::PIDFd(fd.as_fd()), exited_now())) {
                    sink(pid, status);
                }
            }
        }
        if sweep_at.is_some_and(|at| at <= Instant::now()) {
            sweep(sink);
            last_sweep = Some(Instant::now());
            sweep_at = None;
        }
    }
}

/// Reaps every child that has exited (`waitpid(-1, WNOHANG)` until none is left).
fn sweep(sink: &ExitSink) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) => return,
            Ok(status) => {
                if let (Some(pid), Some(code)) = (status.pid(), reaped(Ok(status))) {
                    sink(pid.as_raw(), code);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return, // ECHILD: no child left to wait for
        }
    }
}

fn exited_now() -> WaitPidFlag {
    WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::__WALL
}

/// The exit status of a reaped child: `Some(status)` if the wait reaped one (exit code, or
/// 128 + signal), `None` if it reaped nothing.
fn reaped(result: nix::Result<WaitStatus>) -> Option<Option<i32>> {
    match result {
        Ok(WaitStatus::Exited(_, code)) => Some(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(Some(128 + sig as i32)),
        _ => None,
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the result is a new fd we own (close-on-exec), or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: pidfd_open returned a fresh fd.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Watches processes that are not our children (adopted after a restart) through pidfds.
pub struct PidfdWatcher {
    epoll: Arc<Epoll>,
    fds: Arc<Mutex<HashMap<i32, OwnedFd>>>,
}

impl PidfdWatcher {
    pub fn start(sink: ExitSink) -> Result<PidfdWatcher> {
        let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        let fds: Arc<Mutex<HashMap<i32, OwnedFd>>> = Arc::default();
        let (ep, map) = (epoll.clone(), fds.clone());
        std::thread::Builder::new().name("pidfd-watch".into()).spawn(move || {
            let mut events = [EpollEvent::empty(); 64];
            loop {
                let n = match ep.wait(&mut events, EpollTimeout::NONE) {
                    Ok(n) => n,
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::error!("pidfd watcher stopped: {e}");
                        return;
                    }
                };
                for ev in &events[..n] {
                    let pid = ev.data() as i32;
                    let fd = map.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid);
                    if let Some(fd) = fd {
                        let _ = ep.delete(fd.as_fd());
                        sink(pid, None);
                    }
                }
            }
        })?;
        Ok(PidfdWatcher { epoll, fds })
    }

    /// Starts watching `pid`. Returns false if the process is already gone.
    pub fn watch(&self, pid: i32) -> bool {
        let Some(fd) = pidfd_open(pid) else {
            return false;
        };
        let ev = EpollEvent::new(EpollFlags::EPOLLIN, pid as u64);
        let mut map = self.fds.lock().unwrap_or_else(|p| p.into_inner());
        if self.epoll.add(fd.as_fd(), ev).is_err() {
            return false;
        }
        map.insert(pid, fd);
        true
    }
}

/// The start time of a process (clock ticks since boot, field 22 of /proc/PID/stat): with the
/// pid it identifies a process across pid reuse.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let state = rest.split(' ').next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    rest.split(' ').nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let pid = std::process::id() as i32;
        let a = start_time(pid).expect("own start time");
        assert_eq!(Some(a), start_time(pid));
        assert!(start_time(i32::MAX).is_none());
    }
}
