//! Who reaps the criu child.

/// Reaps a child process started by this crate.
///
/// The crate never calls `waitpid` (nor `Child::wait`) on the `criu swrk` process itself: in the
/// daemon a single reaper thread owns `waitpid`, and this trait lets the crate ask it. After the
/// final response (or EOF / an error on the RPC socket) the crate closes its socket end — which
/// makes `criu swrk` exit — and calls [`ChildWaiter::wait_exit`] with criu's pid, so that no
/// zombie remains.
pub trait ChildWaiter: Send + Sync {
    /// Blocks until the child `pid` has exited and returns its status if known: the exit code,
    /// or `128 + signal` when it was killed by a signal. `None` when unknown.
    fn wait_exit(&self, pid: i32) -> Option<i32>;
}

/// A [`ChildWaiter`] that calls `waitpid(pid)` itself.
///
/// Use it ONLY in tests and single-owner tools where nothing else reaps children. In the daemon,
/// where one reaper thread is the only caller of `waitpid` (possibly `waitpid(-1)`), using this
/// would race with that reaper; implement [`ChildWaiter`] on top of the reaper instead.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectWaiter;

impl ChildWaiter for DirectWaiter {
    fn wait_exit(&self, pid: i32) -> Option<i32> {
        wait_pid(pid)
    }
}

/// `waitpid(pid, 0)`, retried on EINTR. Exit code, `128 + signal`, or `None` on error.
pub(crate) fn wait_pid(pid: i32) -> Option<i32> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return Some(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Some(128 + libc::WTERMSIG(status));
            }
            // stopped/continued: keep waiting for the exit
            continue;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}
