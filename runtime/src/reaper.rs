//! Exits flow one way: kernel → the reaper thread → the owner of the pid.
//!
//! Container processes are the daemon's children: cloned as siblings of the fork server's
//! workers, which are the daemon's children themselves (or, with a user namespace, re-parented to
//! the daemon, a child subreaper, when libcontainer's intermediate process exits). Workers' own
//! exits (one per 500 requests) arrive here too, as exits nobody claims. One dedicated OS thread calls `waitpid(-1)`; nothing
//! else in the daemon waits for children. Processes adopted after a daemon restart are not our
//! children: they are watched through pidfds (their exit status is unknown, reported as `None`).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};

use crate::error::Result;

/// Called with (pid, exit status) for every exit. The status is the exit code, 128+signal for a
/// process killed by a signal, or `None` when it cannot be known (adopted processes).
pub type ExitSink = Arc<dyn Fn(i32, Option<i32>) + Send + Sync>;

/// Makes this process a child subreaper and starts the reaper thread.
pub fn start_reaper(sink: ExitSink) -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true)?;
    std::thread::Builder::new().name("reaper".into()).spawn(move || loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) => sink(pid.as_raw(), Some(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => sink(pid.as_raw(), Some(128 + sig as i32)),
            Ok(_) | Err(Errno::EINTR) => {}
            // No child at all (the fork server is always one, so this is transient).
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    })?;
    Ok(())
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
        // SAFETY: plain syscall; the result is a new fd we own, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return false;
        }
        // SAFETY: pidfd_open returned a fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let _ = nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
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
