//! The fork server: the only place where libcontainer forks.
//!
//! libcontainer clones with a raw `clone3` and runs Rust code in the child, and it `chdir`s the
//! whole process around its notify socket. From a multi-threaded process that deadlocks (a lock
//! held by another thread at clone time stays locked in the child) and races on the cwd. So the
//! daemon forks this server at start-up, while it still has a single thread. The server stays
//! single-threaded and keeps a fixed number of single-threaded workers (copies of itself) alive;
//! each worker takes requests from the shared socket, runs libcontainer (`build` + `start`, or
//! the tenant builder for an exec), sends the new pid back on a per-request socket and puts itself
//! back in order for the next request. The workers are the daemon's children (cloned with
//! `CLONE_PARENT`), and libcontainer clones a container's init (or exec'd process) from the
//! worker as its sibling: a child of the daemon from the start, whose exit the daemon's reaper
//! thread sees. (With a user or time namespace, libcontainer's intermediate process is still
//! used; the init is cloned as its child and re-parented to the daemon, a child subreaper, when
//! it exits.)
//!
//! Requests travel as JSON on a `SOCK_SEQPACKET` socket pair, each with the reply socket attached
//! (`SCM_RIGHTS`), so any number of daemon threads can wait for their own reply.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::socket::{
    recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType,
};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::seccomp::CompiledSeccomp;

/// Largest request the server accepts (a compiled seccomp profile is the bulk of it).
const MAX_MSG: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Create(CreateRequest),
    Exec(ExecRequest),
}

/// Create and start a container from a normalized bundle.
#[derive(Debug, Serialize, Deserialize)]
pub struct CreateRequest {
    pub id: String,
    /// libcontainer's state root.
    pub lc_root: PathBuf,
    /// The normalized bundle (config.json with absolute rootfs).
    pub bundle: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub seccomp: Option<CompiledSeccomp>,
    /// The container gets a new network namespace: bring its loopback up before it starts
    /// (as runc does; libcontainer leaves it down).
    pub loopback: bool,
}

/// Start a new process inside a running container.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecRequest {
    pub id: String,
    pub lc_root: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub seccomp: Option<CompiledSeccomp>,
    /// Allocate a pty inside the container: its master comes back with the reply.
    pub terminal: bool,
    /// The container's normalized bundle (its process settings are the base of a terminal exec).
    pub bundle: PathBuf,
    /// Where the worker listens for the pty master (libcontainer's console socket).
    pub console_socket: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Ok { pid: i32 },
    Err { message: String },
}

/// The daemon's handle on the fork server.
#[derive(Debug)]
pub struct Spawner {
    ctl: OwnedFd,
    pid: Pid,
}

impl Spawner {
    /// Forks the server. Must be called while the calling process has exactly one thread.
    /// `log_filter` is the tracing filter for the workers' own logs (libcontainer's), which go
    /// to the daemon's stderr, never to a container's.
    pub fn start(log_filter: &str, workers: usize) -> Result<Spawner> {
        let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
        if threads != 1 {
            return Err(Error::internal(format!(
                "the fork server must be started before any thread exists (found {threads} threads)"
            )));
        }
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        // SAFETY: the process is single-threaded (checked above), so the child may run any code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(ours);
                serve(theirs, log_filter.to_owned(), workers.max(1))
            }
            ForkResult::Parent { child } => {
                drop(theirs);
                Ok(Spawner { ctl: ours, pid: child })
            }
        }
    }

    /// The server's pid (a child of the daemon).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends one request and waits for its worker's answer: the pid of the new process, and the
    /// master of its pty when it asked for a terminal.
    pub fn call(&self, req: &Request) -> Result<(i32, Option<OwnedFd>)> {
        let body = serde_json::to_vec(req).map_err(|e| Error::internal(format!("encoding spawn request: {e}")))?;
        if body.len() > MAX_MSG {
            return Err(Error::invalid("request too large for the fork server"));
        }
        let (reply_ours, reply_theirs) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        let fds = [reply_theirs.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            self.ctl.as_raw_fd(),
            &[IoSlice::new(&body)],
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::internal(format!("fork server unreachable: {e}")))?;
        drop(reply_theirs);
        let mut buf = vec![0u8; 64 * 1024];
        let (n, mut fds) = recv_with_fds(reply_ours.as_raw_fd(), &mut buf)?;
        let fd = fds.pop();
        if n == 0 {
            return Err(Error::internal("the fork server's worker died without an answer"));
        }
        match serde_json::from_slice::<Reply>(&buf[..n]) {
            Ok(Reply::Ok { pid }) => Ok((pid, fd)),
            Ok(Reply::Err { message }) => Err(classify(message)),
            Err(e) => Err(Error::internal(format!("bad answer from the fork server: {e}"))),
        }
    }
}

/// libcontainer reports a program the client named that cannot be run, or a resource value of
/// the spec that the kernel refuses, like any other failure: those are the client's mistakes
/// (400), the rest are faults (500).
fn classify(message: String) -> Error {
    let client = [
        "not found in $PATH",
        "does not have correct permissions",
        "PATH environment variable is not set",
    ];
    if client.iter().any(|m| message.contains(m)) || kernel_refused_a_resource_value(&message) {
        Error::invalid(message)
    } else {
        Error::internal(message)
    }
}

/// libcgroups writes the spec's resource values verbatim into the container's new cgroup
/// (`failed to write VALUE to PATH: ...`); the kernel answers EINVAL or ERANGE for a value it
/// does not accept (a CPU this machine does not have in `cpuset.cpus`, a malformed weight).
fn kernel_refused_a_resource_value(message: &str) -> bool {
    message.contains("cgroup error")
        && message.contains("failed to write")
        && ["(os error 22)", "(os error 34)"].iter().any(|e| message.contains(e))
}

/// Receives one message and the fds attached to it (retrying on EINTR).
fn recv_with_fds(sock: RawFd, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
    loop {
        let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut *buf)];
        match recvmsg::<()>(sock, &mut iov, Some(&mut cmsg_space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(msg) => {
                let mut fds = Vec::new();
                for c in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(v) = c {
                        // SAFETY: received with this message; owned by nobody else.
                        fds.extend(v.into_iter().map(|raw| unsafe { OwnedFd::from_raw_fd(raw) }));
                    }
                }
                return Ok((msg.bytes, fds));
            }
        }
    }
}

/// The server loop (in the forked child). Never returns.
fn serve(ctl: OwnedFd, log_filter: String, workers: usize) -> ! {
    // The server must not outlive the daemon.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // `pkill ctrd` also reaches this process and its workers (their names contain "ctrd"): it
    // ends with the daemon (pdeathsig) and must not die first, or the daemon would see its fork
    // server gone.
    ignore_stop_signals();
    let _ = nix::unistd::setsid();
    // Named apart from the daemon (ps, perf, tests); `pkill ctrd` still matches.
    let _ = nix::sys::prctl::set_name(c"ctrd-forkserver");
    // pathrs (libcontainer's safe path library) caches one private procfs mount per process and
    // creates it on first use. Creating it here, once, lets every worker and the container
    // processes they fork inherit it, instead of each new intermediate process mounting its own
    // procfs (a superblock created and torn down per container). It is close-on-exec.
    if let Err(e) = pathrs::procfs::ProcfsHandle::new() {
        tracing::warn!("no cached procfs handle for the fork server: {e}");
    }
    // std detects the CPU's features on first use (`cpuid`, which traps to the hypervisor in a
    // VM) and caches them per process; memchr's search routines ask on their first call, which
    // used to happen in every container's init (0.3 % of a start). Detected here once, the
    // cache is inherited by every worker and every process they fork.
    #[cfg(target_arch = "x86_64")]
    let _ = std::arch::is_x86_feature_detected!("avx2");
    // Workers live for many requests, so a container's init must not be their child: the
    // workers are the daemon's children (cloned with `CLONE_PARENT`, below), and libcontainer
    // clones each init from the worker as its sibling — a child of the daemon from the start,
    // whose exit the daemon's reaper sees. No intermediate process when the spec has no user or
    // time namespace (vendor/libcontainer/PATCHES.md). With one, the init is cloned as the child
    // of libcontainer's short-lived intermediate process and re-parented to the daemon (a child
    // subreaper) as soon as that exits.
    libcontainer::process::clone_init_directly(true);
    libcontainer::process::clone_init_as_intermediate_child(true);
    // Keep `workers` workers alive; each serves requests from the shared socket until it has
    // served its share (then it is replaced: bounded memory growth) or the daemon is gone. They
    // are not this server's children, so it watches them through pidfds.
    let mut live: Vec<(OwnedFd, std::time::Instant)> = Vec::with_capacity(workers);
    let mut crashes = 0u32;
    loop {
        while live.len() < workers {
            match clone_worker() {
                Ok(None) => {
                    // The other workers' pidfds are the server's business, not this worker's.
                    live.clear();
                    resident_worker(&ctl, &log_filter)
                }
                Ok(Some(pidfd)) => live.push((pidfd, std::time::Instant::now())),
                Err(_) => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    break;
                }
            }
        }
        // The daemon's end of the request socket closing (POLLHUP, always reported) ends the
        // server; a worker's pidfd becoming readable means it has ended.
        let mut polled: Vec<PollFd> = live
            .iter()
            .map(|(pidfd, _)| PollFd::new(pidfd.as_fd(), PollFlags::POLLIN))
            .collect();
        polled.push(PollFd::new(ctl.as_fd(), PollFlags::empty()));
        match poll(&mut polled, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        }
        let ended = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
        if polled.last().is_some_and(ended) {
            exit_now(0);
        }
        let gone: Vec<bool> = polled[..live.len()].iter().map(ended).collect();
        drop(polled);
        let mut index = 0;
        live.retain(|(_, born)| {
            let keep = !gone[index];
            index += 1;
            if !keep {
                if born.elapsed() < WORKER_MIN_LIFE {
                    // A worker that keeps dying must not turn this loop into a fork bomb.
                    crashes = crashes.saturating_add(1);
                    std::thread::sleep(std::time::Duration::from_millis(10 * u64::from(crashes.min(50))));
                } else {
                    crashes = 0;
                }
            }
            keep
        });
    }
}

/// A worker that ends sooner than this after its start counts as a crash (the server slows its
/// replacement down). Workers are not this server's children, so it cannot see their exit
/// status; a recycled worker has served [`REQUESTS_PER_WORKER`] requests and lived longer.
const WORKER_MIN_LIFE: std::time::Duration = std::time::Duration::from_secs(1);

/// Clones a worker as a sibling of this server (`CLONE_PARENT`: a child of the daemon), with a
/// pidfd to watch it by. Returns `None` in the worker, `Some(pidfd)` in the server. The worker's
/// exit signal is this server's own (`SIGCHLD`, it was forked), so the daemon's reaper reaps it.
/// A raw `clone3` (glibc has no wrapper; libcontainer clones the same way): this server is
/// single-threaded, so no lock can be held in the copy.
fn clone_worker() -> nix::Result<Option<OwnedFd>> {
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: (libc::CLONE_PARENT | libc::CLONE_PIDFD) as u64,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: 0,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    // SAFETY: clone3 without a new stack behaves like fork (the child continues on a copy of
    // this stack); the process is single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(nix::errno::Errno::last()),
        0 => Ok(None),
        // SAFETY: CLONE_PIDFD stored a new fd, owned by nobody else. It is close-on-exec.
        _ => Ok(Some(unsafe { OwnedFd::from_raw_fd(pidfd) })),
    }
}

/// A worker's exit status when the daemon closed the request socket. (The exit statuses only
/// reach the daemon's reaper, as exits nobody claims; the server watches pidfds, not statuses.)
const WORKER_DAEMON_GONE: i32 = 0;
/// A worker's exit status after serving [`REQUESTS_PER_WORKER`] requests: it is replaced.
const WORKER_RECYCLED: i32 = 3;
/// How many requests a worker serves before it is replaced by a fresh fork of the server.
const REQUESTS_PER_WORKER: usize = 500;

/// One worker: a single-threaded process that takes requests from the socket it shares with the
/// other workers (a `SOCK_SEQPACKET` message goes to exactly one reader) and runs libcontainer
/// for each. Forking a fresh process per request cost a fork, an exit and a re-fault of every
/// code page it ran, for every start and exec (docs/performance.md); a worker lives for
/// [`REQUESTS_PER_WORKER`] requests instead. Between requests it puts back what a request may
/// have changed in this process: working directory (libcontainer `chdir`s around its notify
/// socket), network namespace (`create` returns to it), file descriptors (any not open before the
/// first request is closed), children (any not reaped is reaped), and libcgroups' snapshot of
/// the cgroup mounts (taken again for each request).
fn resident_worker(ctl: &OwnedFd, log_filter: &str) -> ! {
    let _ = nix::sys::prctl::set_name(c"ctrd-worker");
    let _log = worker_logging(log_filter);
    let home = File::open(".").ok();
    let baseline = open_fds();
    let namespaces = own_namespaces();
    let mut buf = vec![0u8; MAX_MSG];
    for _ in 0..REQUESTS_PER_WORKER {
        let (n, mut fds) = match recv_with_fds(ctl.as_raw_fd(), &mut buf) {
            Ok(r) => r,
            Err(_) => exit_now(WORKER_DAEMON_GONE),
        };
        if n == 0 && fds.is_empty() {
            exit_now(WORKER_DAEMON_GONE); // the daemon closed its end
        }
        let Some(reply) = fds.pop() else { continue };
        drop(fds);
        let (out, fd) = match serde_json::from_slice::<Request>(&buf[..n]) {
            Ok(req) => worker(req),
            Err(e) => (
                Reply::Err {
                    message: format!("bad spawn request: {e}"),
                },
                None,
            ),
        };
        // Put the worker back as it was before answering, so that whoever got the answer finds
        // it clean: the answer socket and the descriptor it carries are the only extra fds, and
        // both are closed right after it is sent.
        ignore_stop_signals();
        if let Some(dir) = &home {
            let _ = nix::unistd::fchdir(dir.as_raw_fd());
        }
        let mut keep = baseline.clone();
        keep.push(reply.as_raw_fd());
        keep.extend(fd.as_ref().map(|f| f.as_raw_fd()));
        close_fds_except(&keep);
        while let Ok(status) = nix::sys::wait::waitpid(None::<Pid>, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        answer_with_fd(&reply, &out, fd.as_ref());
        drop(fd);
        drop(reply);
        if own_namespaces() != namespaces {
            // A request joined a container's pid or network namespace (for its init's clone, for
            // its loopback) and could not return: this worker would start the next container in
            // the wrong one. A fresh worker replaces it.
            tracing::error!("a fork-server worker could not return to its own namespaces; replacing it");
            break;
        }
    }
    exit_now(WORKER_RECYCLED)
}

/// The namespaces a request may make a worker join and leave again: the one its children are
/// created in (`setns(CLONE_NEWPID)` for an exec's init) and its network namespace.
fn own_namespaces() -> [Option<PathBuf>; 2] {
    ["/proc/self/ns/pid_for_children", "/proc/self/ns/net"].map(|p| std::fs::read_link(p).ok())
}

/// The server, and a worker between requests, ignore the signals `pkill ctrd` sends (and
/// SIGPIPE); `worker` restores their defaults before libcontainer forks, so that no container
/// inherits an ignored signal.
fn ignore_stop_signals() {
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGPIPE] {
        // SAFETY: setting a signal disposition to SIG_IGN installs no handler code.
        let _ = unsafe { signal::signal(sig, SigHandler::SigIgn) };
    }
}

/// This process's open file descriptors.
fn open_fds() -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    // The directory's own fd was closed when `dir` was dropped; `fcntl` tells which are real.
    fds.retain(|fd| nix::fcntl::fcntl(*fd, nix::fcntl::FcntlArg::F_GETFD).is_ok());
    fds
}

/// Closes every open file descriptor not in `keep`, one `close_range` per gap between kept ones
/// (the baseline's highest fd can be in the hundreds: probing each fd below it cost ~250
/// syscalls per request).
fn close_fds_except(keep: &[RawFd]) {
    if keep.is_empty() {
        return; // the baseline could not be read: close nothing rather than everything
    }
    let mut kept: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= 0).collect();
    kept.sort_unstable();
    kept.dedup();
    let mut next: libc::c_uint = 0;
    for fd in kept {
        let fd = fd as libc::c_uint;
        if fd > next {
            close_range(next, fd - 1);
        }
        next = fd + 1;
    }
    close_range(next, libc::c_uint::MAX);
}

fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: closes descriptors this process owns and no longer uses between requests.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
}

/// libcontainer logs through `tracing`, also from the container's init after it has put the
/// container's stdio on fds 0-2. So workers log to their own duplicate of the daemon's stderr
/// (close-on-exec, so it never reaches the container's program).
fn worker_logging(filter: &str) -> Option<tracing::subscriber::DefaultGuard> {
    let fd = nix::fcntl::fcntl(2, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).ok()?;
    // SAFETY: fd was just created by F_DUPFD_CLOEXEC and is owned here.
    let file = std::sync::Arc::new(unsafe { File::from_raw_fd(fd) });
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || FileWriter(file.clone()))
        .finish();
    Some(tracing::subscriber::set_default(subscriber))
}

struct FileWriter(std::sync::Arc<File>);

impl std::io::Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn answer_with_fd(fd: &OwnedFd, reply: &Reply, attached: Option<&OwnedFd>) {
    let Ok(body) = serde_json::to_vec(reply) else { return };
    match attached {
        None => {
            let _ = send(fd.as_raw_fd(), &body, MsgFlags::MSG_NOSIGNAL);
        }
        Some(a) => {
            let fds = [a.as_raw_fd()];
            let cmsg = [ControlMessage::ScmRights(&fds)];
            let _ = sendmsg::<()>(
                fd.as_raw_fd(),
                &[IoSlice::new(&body)],
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            );
        }
    }
}

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and destructors, which is what a forked child wants.
    unsafe { libc::_exit(code) }
}

/// Runs one request in this (single-threaded) worker.
fn worker(req: Request) -> (Reply, Option<OwnedFd>) {
    // Workers (and the containers they start) must not inherit the server's signal setup.
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGPIPE,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        // SAFETY: restoring a default disposition installs no handler code.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = nix::sys::prctl::set_pdeathsig(None);
    // For this request, this worker (and libcontainer's processes it forks) read the cgroup v1
    // mount points once instead of once per subsystem.
    libcgroups::v1::util::cache_mount_points_in_this_process();
    let result = match req {
        Request::Create(r) => create(r).map(|pid| (pid, None)),
        Request::Exec(r) if r.terminal => exec_terminal(r).map(|(pid, fd)| (pid, Some(fd))),
        Request::Exec(r) => exec(r).map(|pid| (pid, None)),
    };
    match result {
        Ok((pid, fd)) => (Reply::Ok { pid }, fd),
        Err(message) => (Reply::Err { message }, None),
    }
}

fn open_stdio(req_out: &PathBuf, req_err: &PathBuf) -> std::result::Result<(File, File, File), String> {
    let devnull = File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
    let open = |p: &PathBuf| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(p)
            .map_err(|e| format!("opening {p:?}: {e}"))
    };
    Ok((devnull, open(req_out)?, open(req_err)?))
}

fn create(req: CreateRequest) -> std::result::Result<i32, String> {
    let (stdin, stdout, stderr) = open_stdio(&req.stdout, &req.stderr)?;
    let mut container = ContainerBuilder::new(req.id.clone(), SyscallType::default())
        .with_root_path(&req.lc_root)
        .map_err(|e| e.to_string())?
        .with_executor(SeccompExecutor { seccomp: req.seccomp })
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .as_init(&req.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| format!("creating container {}: {e}", req.id))?;
    if req.loopback {
        if let Some(pid) = container.pid() {
            // Workers serve many requests: it comes back to its own netns afterwards.
            crate::netns::loopback_up_and_return(pid.as_raw())
                .map_err(|e| format!("bringing lo up in container {}: {e}", req.id))?;
        }
    }
    container
        .start()
        .map_err(|e| format!("starting container {}: {e}", req.id))?;
    container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| format!("container {} started without a pid", req.id))
}

fn exec(req: ExecRequest) -> std::result::Result<i32, String> {
    let (stdin, stdout, stderr) = open_stdio(&req.stdout, &req.stderr)?;
    let env: HashMap<String, String> = req
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let pid = ContainerBuilder::new(req.id.clone(), SyscallType::default())
        .with_root_path(&req.lc_root)
        .map_err(|e| e.to_string())?
        .with_executor(SeccompExecutor { seccomp: req.seccomp })
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .as_tenant()
        .with_container_args(req.args)
        .with_env(env)
        .with_cwd(req.cwd)
        .with_user(Some(req.uid))
        .with_group(Some(req.gid))
        .with_additional_gids(req.additional_gids)
        .with_detach(true)
        .build()
        .map_err(|e| format!("exec in container {}: {e}", req.id))?;
    Ok(pid.as_raw())
}

/// An exec with a pty: libcontainer's init opens the pty inside the container and sends its
/// master over the console socket, where this worker picks it up for the daemon.
fn exec_terminal(req: ExecRequest) -> std::result::Result<(i32, OwnedFd), String> {
    let spec = Spec::load(req.bundle.join("config.json")).map_err(|e| format!("loading the container's spec: {e}"))?;
    let base = spec.process().clone().ok_or("the container's spec has no process")?;
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    if !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    let mut user = base.user().clone();
    user.set_uid(req.uid);
    user.set_gid(req.gid);
    user.set_additional_gids(if req.additional_gids.is_empty() {
        None
    } else {
        Some(req.additional_gids.clone())
    });
    let mut process = base;
    process
        .set_args(Some(req.args.clone()))
        .set_env(Some(env))
        .set_cwd(req.cwd.clone().unwrap_or_else(|| PathBuf::from("/")))
        .set_user(user)
        .set_terminal(Some(true))
        .set_console_size(None);
    let process_json = req.console_socket.with_extension("process.json");
    let body = serde_json::to_vec(&process).map_err(|e| e.to_string())?;
    std::fs::write(&process_json, body).map_err(|e| format!("writing {process_json:?}: {e}"))?;
    let _ = std::fs::remove_file(&req.console_socket);
    let listener = std::os::unix::net::UnixListener::bind(&req.console_socket)
        .map_err(|e| format!("binding the console socket {:?}: {e}", req.console_socket))?;
    let cleanup = || {
        let _ = std::fs::remove_file(&req.console_socket);
        let _ = std::fs::remove_file(&process_json);
    };
    let built = ContainerBuilder::new(req.id.clone(), SyscallType::default())
        .with_root_path(&req.lc_root)
        .map_err(|e| e.to_string())
        .map(|b| {
            b.with_executor(SeccompExecutor {
                seccomp: req.seccomp.clone(),
            })
            .with_console_socket(Some(&req.console_socket))
            .as_tenant()
            .with_process(Some(&process_json))
            .with_detach(true)
            .build()
        });
    let pid = match built {
        Ok(Ok(pid)) => pid,
        Ok(Err(e)) => {
            cleanup();
            return Err(format!("exec in container {}: {e}", req.id));
        }
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    let master = receive_master(&listener);
    cleanup();
    master.map(|m| (pid.as_raw(), m))
}

fn receive_master(listener: &std::os::unix::net::UnixListener) -> std::result::Result<OwnedFd, String> {
    let (conn, _) = listener
        .accept()
        .map_err(|e| format!("accepting the console socket: {e}"))?;
    let mut buf = [0u8; 4096];
    let (_, mut fds) =
        recv_with_fds(conn.as_raw_fd(), &mut buf).map_err(|e| format!("receiving the pty master: {e}"))?;
    if let Some(fd) = fds.pop() {
        return Ok(fd);
    }
    Err("the container sent no pty master".to_owned())
}

/// libcontainer's default executor, with ctrd's seccomp filter installed right before `execve`.
#[derive(Clone)]
struct SeccompExecutor {
    seccomp: Option<CompiledSeccomp>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if let Some(filter) = &self.seccomp {
            filter
                .install()
                .map_err(|e| ExecutorError::Other(format!("installing the seccomp filter: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A spec's resource value the kernel refuses is the client's mistake; other failures of the
    /// same writes are not.
    #[test]
    fn resource_values_the_kernel_refuses_are_client_errors() {
        let refused = "creating container c: failed to create container: exec process failed with error error in \
                       executing process : cgroup error: io error: failed to write 7 to \
                       /sys/fs/cgroup/cpuset/ctrd/c/cpuset.cpus: Numerical result out of range (os error 34)";
        assert_eq!(classify(refused.to_owned()).kind(), ErrorKind::InvalidArgument);
        let einval = "cgroup error: io error: failed to write x to /sys/fs/cgroup/cpu/ctrd/c/cpu.shares: \
                      Invalid argument (os error 22)";
        assert_eq!(classify(einval.to_owned()).kind(), ErrorKind::InvalidArgument);
        // The same write failing for another reason (the cgroup vanished, no memory) is ours.
        let enoent = "cgroup error: io error: failed to write 7 to /sys/fs/cgroup/cpuset/ctrd/c/cpuset.cpus: \
                      No such file or directory (os error 2)";
        assert_eq!(classify(enoent.to_owned()).kind(), ErrorKind::Internal);
        assert_eq!(
            classify("clone3: Invalid argument (os error 22)".to_owned()).kind(),
            ErrorKind::Internal
        );
        assert_eq!(
            classify("sh: not found in $PATH".to_owned()).kind(),
            ErrorKind::InvalidArgument
        );
    }

    /// `close_fds_except` closes the gaps below and between kept descriptors as well as
    /// everything above them. Runs in a forked child: it closes descriptors the test harness
    /// owns.
    #[test]
    fn close_fds_except_keeps_exactly_the_kept_ones() {
        // SAFETY: the child only makes syscalls and small allocations, then `_exit`s.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let is_open = |fd: &RawFd| nix::fcntl::fcntl(*fd, nix::fcntl::FcntlArg::F_GETFD).is_ok();
                let null = File::open("/dev/null").expect("open /dev/null");
                let mut expected: Vec<RawFd> = [0, 1, 2].into_iter().filter(is_open).collect();
                expected.extend([705, 800]);
                let raw = null.as_raw_fd();
                for fd in [700, 705, 710, 800, 1023] {
                    nix::unistd::dup2(raw, fd).expect("dup2");
                }
                close_fds_except(&[0, 1, 2, 705, 800]);
                let open: Vec<RawFd> = (0..1100).filter(is_open).collect();
                let ok = open == expected;
                // SAFETY: ends the forked child without running the harness's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
