//! Helpers to drive the `ctr` command-line client against a test [`Daemon`]:
//!
//! * [`ctr`] / [`Ctr`]: run `ctr ARGS...` with `CTRD_ADDRESS` pointing at the daemon's socket,
//!   with a timeout, and get back its exit code, stdout and stderr ([`CtrOut`]);
//! * [`ctr_spawn`]: start a long-running `ctr` (`events`, `logs --follow`, `stats --stream`) and
//!   read its stdout line by line as it comes ([`Lines`]);
//! * [`PtyCtr`]: run `ctr` on a fresh pseudo-terminal (the pty slave is its stdin, stdout,
//!   stderr and controlling terminal), as `ctr containers exec -t` is used interactively;
//! * [`ApiStream`]: a streaming HTTP request on the daemon's unix socket (`/events`,
//!   `/logs?follow`, `/stats?stream`) whose chunked body is read line by line as it arrives;
//! * [`metric`]: one sample of `GET /metrics`.
//!
//! `CTR_BIN=/path/to/ctr` overrides the binary (default `<workspace>/target/debug/ctr`; build it
//! with `cargo build -p ctr-cli`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::Daemon;

/// Default timeout of one `ctr` run.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(120);

/// Path of the ctr binary: `$CTR_BIN`, else `$CARGO_TARGET_DIR/debug/ctr`, else
/// `<workspace>/target/debug/ctr`. Panics if it does not exist.
pub fn ctr_bin() -> PathBuf {
    let path = if let Some(p) = std::env::var_os("CTR_BIN") {
        PathBuf::from(p)
    } else if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        let t = if t.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(t)
        } else {
            t
        };
        t.join("debug").join("ctr")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("debug")
            .join("ctr")
    };
    if !path.is_file() {
        panic!(
            "ctr binary not found at {}: build it first with `cargo build -p ctr-cli` \
             (or point CTR_BIN at it)",
            path.display()
        );
    }
    path
}

/// The daemon's address as ctr takes it: `unix://<socket>`.
pub fn address(d: &Daemon) -> String {
    format!("unix://{}", d.socket.display())
}

/// How a `ctr` run ended.
#[derive(Clone)]
pub struct CtrOut {
    /// The exit code (128 + signal number if it was killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CtrOut {
    /// `(code, stdout, stderr)`.
    pub fn parts(&self) -> (i32, &str, &str) {
        (self.code, &self.stdout, &self.stderr)
    }

    /// stdout parsed as one JSON value; panics with the output if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("ctr output is not JSON ({e}): {self:?}"))
    }

    /// Asserts exit code 0; returns self.
    pub fn ok(self) -> CtrOut {
        assert_eq!(self.code, 0, "ctr failed: {self:?}");
        self
    }
}

impl std::fmt::Debug for CtrOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| -> String { s.chars().take(4000).collect() };
        write!(
            f,
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
            self.code,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

fn exit_code(st: ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// One `ctr` invocation, built up like a `Command`.
pub struct Ctr {
    args: Vec<String>,
    address: Option<String>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    env: Vec<(String, String)>,
}

impl Ctr {
    /// `ctr ARGS` against the daemon `d` (through `CTRD_ADDRESS`).
    pub fn new(d: &Daemon, args: &[&str]) -> Ctr {
        Ctr::bare(args).address(&address(d))
    }

    /// `ctr ARGS` with no `CTRD_ADDRESS` set (give `--address` in `args`, or call `.address`).
    pub fn bare(args: &[&str]) -> Ctr {
        Ctr {
            args: args.iter().map(|s| s.to_string()).collect(),
            address: None,
            stdin: None,
            timeout: CTR_TIMEOUT,
            env: Vec::new(),
        }
    }

    /// Sets `CTRD_ADDRESS`.
    pub fn address(mut self, addr: &str) -> Ctr {
        self.address = Some(addr.to_string());
        self
    }

    /// Feeds these bytes on stdin (else stdin is /dev/null).
    pub fn stdin(mut self, data: &[u8]) -> Ctr {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Ctr {
        self.timeout = t;
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Ctr {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(ctr_bin());
        cmd.args(&self.args);
        cmd.env_remove("CTRD_ADDRESS");
        if let Some(a) = &self.address {
            cmd.env("CTRD_ADDRESS", a);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs it to the end; panics if it runs longer than the timeout (it is killed then).
    pub fn run(self) -> CtrOut {
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn ctr {:?}: {e}", self.args));
        if let Some(data) = self.stdin.clone() {
            let mut w = child.stdin.take().unwrap();
            thread::spawn(move || {
                let _ = w.write_all(&data);
            });
        }
        let out_t = read_all_in_thread(child.stdout.take().unwrap());
        let err_t = read_all_in_thread(child.stderr.take().unwrap());
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) => {}
                Err(e) => panic!("wait for ctr {:?}: {e}", self.args),
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        let stdout = out_t.join().unwrap_or_default();
        let stderr = err_t.join().unwrap_or_default();
        let out = CtrOut {
            code: status.map(exit_code).unwrap_or(-1),
            stdout,
            stderr,
        };
        if status.is_none() {
            panic!(
                "ctr {:?} did not finish within {:?} (killed); output so far: {out:?}",
                self.args, self.timeout
            );
        }
        out
    }

    /// Starts it with stdout and stderr read line by line in the background.
    pub fn spawn(self) -> CtrChild {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn ctr {:?}: {e}", self.args));
        let stdout = Lines::from_reader(child.stdout.take().unwrap());
        let stderr = read_all_in_thread(child.stderr.take().unwrap());
        CtrChild {
            args: self.args,
            child,
            stdout,
            stderr: Some(stderr),
        }
    }
}

fn read_all_in_thread<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// `ctr ARGS` against `d`, with the default timeout.
pub fn ctr(d: &Daemon, args: &[&str]) -> CtrOut {
    Ctr::new(d, args).run()
}

/// `ctr ARGS` against `d`, in the background.
pub fn ctr_spawn(d: &Daemon, args: &[&str]) -> CtrChild {
    Ctr::new(d, args).spawn()
}

/// A `ctr` running in the background.
pub struct CtrChild {
    pub args: Vec<String>,
    pub child: Child,
    /// Its stdout, line by line.
    pub stdout: Lines,
    stderr: Option<thread::JoinHandle<String>>,
}

impl CtrChild {
    /// Waits (≤ timeout) for it to exit by itself: `Some(exit code)`, or `None` if it is still
    /// running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(exit_code(st));
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (if still running) and returns its stderr.
    pub fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for CtrChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines read by a background thread from a pipe or a stream, kept in order.
pub struct Lines {
    rx: Receiver<String>,
    /// Every line received so far (without the newline).
    pub seen: Vec<String>,
    /// Set once the source ended (EOF or error).
    pub ended: bool,
}

impl Lines {
    /// Reads `r` line by line in a thread.
    pub fn from_reader<R: Read + Send + 'static>(r: R) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(r);
            loop {
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let s = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        if tx.send(s).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
            ended: false,
        }
    }

    /// Takes what has arrived without waiting.
    pub fn poll(&mut self) {
        while let Ok(l) = self.rx.try_recv() {
            self.seen.push(l);
        }
    }

    /// Receives lines until one matches `pred` (which also sees lines received earlier but
    /// not yet matched: it is applied from index `from`). Returns the index of the matching
    /// line, or None on timeout / end of stream.
    pub fn wait_for_from<F: FnMut(&str) -> bool>(
        &mut self,
        from: usize,
        timeout: Duration,
        mut pred: F,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let mut i = from;
        loop {
            while i < self.seen.len() {
                if pred(&self.seen[i]) {
                    return Some(i);
                }
                i += 1;
            }
            if self.ended {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => self.ended = true,
            }
        }
    }

    /// [`Lines::wait_for_from`] over every line seen.
    pub fn wait_for<F: FnMut(&str) -> bool>(&mut self, timeout: Duration, pred: F) -> Option<usize> {
        self.wait_for_from(0, timeout, pred)
    }

    /// Waits (≤ timeout) for the end of the stream; returns whether it ended.
    pub fn wait_end(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Timeout) => return false,
                Err(RecvTimeoutError::Disconnected) => self.ended = true,
            }
        }
        true
    }

    /// Every line seen so far, newline-joined (for messages).
    pub fn text(&self) -> String {
        self.seen.join("\n")
    }
}

// ---------------------------------------------------------------------------
// streaming HTTP
// ---------------------------------------------------------------------------

/// Decodes a `Transfer-Encoding: chunked` body as it arrives.
struct Dechunk<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Ok(0);
            }
            let size = line.trim().split(';').next().unwrap_or("").trim().to_string();
            let n = usize::from_str_radix(&size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = n;
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(0);
        }
        self.left -= n;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

/// What [`http_stream_open`] returns: status, headers (names lower-cased), decoded body.
pub type StreamHead = (u16, Vec<(String, String)>, Box<dyn Read + Send>);

/// Sends `method path` (no body) on a new connection to `socket` and reads the answer's head.
/// Returns the status, the headers (names lower-cased) and a reader of the decoded body.
pub fn http_stream_open(socket: &Path, method: &str, path: &str) -> io::Result<StreamHead> {
    let s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    let mut w = s.try_clone()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<u64>().ok());
    let body: Box<dyn Read + Send> = if chunked {
        Box::new(Dechunk {
            inner: r,
            left: 0,
            done: false,
        })
    } else if let Some(n) = length {
        Box::new(r.take(n))
    } else {
        Box::new(r)
    };
    Ok((status, headers, body))
}

/// A streaming API answer read line by line in the background.
pub struct ApiStream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub lines: Lines,
}

impl ApiStream {
    /// `GET path` on the daemon's socket; returns once the answer's head is in (for `/events`
    /// that means the subscription exists). Panics on I/O errors.
    pub fn get(d: &Daemon, path: &str) -> ApiStream {
        let (status, headers, body) =
            http_stream_open(&d.socket, "GET", path).unwrap_or_else(|e| panic!("GET {path} (stream): {e}"));
        ApiStream {
            status,
            headers,
            lines: Lines::from_reader(body),
        }
    }

    /// The lines parsed as JSON (non-JSON lines are skipped).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines
            .seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The value of the first sample in `GET /metrics` whose line starts with `series` (a metric
/// name with its labels exactly as exposed, e.g. `ctrd_containers{status="running"}`).
pub fn metric(d: &Daemon, series: &str) -> Option<f64> {
    let r = d.get("/metrics");
    metric_in(&r.body, series)
}

/// [`metric`] over an exposition text.
pub fn metric_in(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(series)?;
        if !rest.starts_with(' ') {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Total `ctrd_http_request_seconds_count` over every sample for `route` and `method` (any
/// code). /events requests are counted once their answer's head is sent, i.e. once the
/// subscription exists.
pub fn request_count(d: &Daemon, route: &str, method: &str) -> f64 {
    let r = d.get("/metrics");
    let a = format!("route=\"{route}\"");
    let m = format!("method=\"{method}\"");
    r.body
        .lines()
        .filter(|l| l.starts_with("ctrd_http_request_seconds_count{") && l.contains(&a) && l.contains(&m))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------
// pty
// ---------------------------------------------------------------------------

/// `ctr` running on a pseudo-terminal: the slave is its stdin, stdout, stderr and controlling
/// terminal (it runs in a new session); the test holds the master.
pub struct PtyCtr {
    child: Child,
    master: File,
    rx: Receiver<Vec<u8>>,
    out: Vec<u8>,
    ended: bool,
}

impl PtyCtr {
    /// Starts `ctr ARGS` against `d` on a new 24x80 pty.
    pub fn spawn(d: &Daemon, args: &[&str]) -> PtyCtr {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        let ws = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the ints we own; no name buffer, default termios.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", io::Error::last_os_error());
        // SAFETY: both fds were just opened by openpty and are owned by nobody else.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: FD_CLOEXEC on our own fd.
        unsafe {
            libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let mut cmd = Command::new(ctr_bin());
        cmd.args(args).env("CTRD_ADDRESS", address(d)).env("TERM", "xterm");
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup pty slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup pty slave")))
            .stderr(Stdio::from(slave.try_clone().expect("dup pty slave")));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn ctr {args:?} on a pty: {e}"));
        // The Command still holds the slave's dups: close them all here.
        drop(cmd);
        drop(slave);
        let master = File::from(master);
        let mut reader = master.try_clone().expect("dup pty master");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    // EIO: every holder of the slave has closed it.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        PtyCtr {
            child,
            master,
            rx,
            out: Vec::new(),
            ended: false,
        }
    }

    /// Types `data` on the terminal.
    pub fn write(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("write to pty master");
        let _ = self.master.flush();
    }

    fn recv(&mut self, timeout: Duration) -> bool {
        if self.ended {
            return false;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(b) => {
                self.out.extend_from_slice(&b);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
        }
    }

    /// Waits until the terminal output contains `needle`; returns whether it did.
    pub fn wait_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output().contains(needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.ended {
                return self.output().contains(needle);
            }
            self.recv(left.min(Duration::from_millis(200)));
        }
    }

    /// Everything the terminal showed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// Waits (≤ timeout) for ctr to exit; returns its exit code (None on timeout, after killing
    /// it) and the whole terminal output.
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        let code = loop {
            while self.recv(Duration::from_millis(20)) {}
            if let Ok(Some(st)) = self.child.try_wait() {
                break Some(exit_code(st));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
        };
        // Drain what is left (the reader ends with EIO once the slave is closed).
        let drain = Instant::now() + Duration::from_secs(2);
        while !self.ended && Instant::now() < drain {
            self.recv(Duration::from_millis(50));
        }
        (code, self.output())
    }
}

impl Drop for PtyCtr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
