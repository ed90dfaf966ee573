//! Test harness for the ctrd integration tests.
//!
//! Running: the tests start the real daemon binary, which cargo does not
//! build for this package, so build it first:
//!
//! ```text
//! cargo build -p ctrd && cargo test -p ctrd-tests -- --test-threads=4
//! ```
//!
//! `CTRD_BIN=/path/to/ctrd` overrides the binary; `CTRD_TEST_KEEP=1` keeps the
//! temp dirs (/tmp/ctrd-test-*) for inspection. On failure the tail of the
//! daemon log is printed.
//!
//! Every test needs root (namespaces, cgroups, mounts). Tests call
//! [`skip_unless_root`] first and return early when it says so.
//!
//! The harness provides:
//! * [`Daemon`]: a ctrd process on its own temporary state dir / root dir /
//!   unix socket, with a tiny HTTP/1.1 client ([`Daemon::get`] & co.).
//! * [`Bundle`]: an OCI bundle whose rootfs is a static busybox, with a
//!   `runc spec`-shaped config.json that tests can edit.
//! * /proc and cgroup helpers (namespaces, uids, freezer state, zombies,
//!   fd counts, mounts, ...).

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use serde_json::{json, Value};
pub mod ctr;

/// How long to wait for the daemon to answer `GET /state` after start.
pub const DAEMON_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for "eventually" conditions.
pub const WAIT: Duration = Duration::from_secs(30);
/// Socket read/write timeout of the HTTP client.
pub const IO_TIMEOUT: Duration = Duration::from_secs(90);

pub const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------
// root / binary discovery
// ---------------------------------------------------------------------------

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Returns true (after printing a loud message) when the tests cannot run
/// because we are not root. Use as `if skip_unless_root() { return; }`.
pub fn skip_unless_root() -> bool {
    if is_root() {
        return false;
    }
    eprintln!();
    eprintln!("**************************************************************");
    eprintln!("*** SKIPPED: ctrd integration tests need root              ***");
    eprintln!("*** (run `sudo -E cargo test -p ctrd-tests`)               ***");
    eprintln!("**************************************************************");
    eprintln!();
    true
}

/// Path of the ctrd binary: `$CTRD_BIN`, else `$CARGO_TARGET_DIR/debug/ctrd`,
/// else `<workspace>/target/debug/ctrd`. Panics if it does not exist.
pub fn ctrd_bin() -> PathBuf {
    let path = if let Some(p) = std::env::var_os("CTRD_BIN") {
        PathBuf::from(p)
    } else if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        let t = if t.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(t)
        } else {
            t
        };
        t.join("debug").join("ctrd")
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("debug")
            .join("ctrd")
    };
    if !path.is_file() {
        panic!(
            "ctrd binary not found at {}: build it first with `cargo build -p ctrd` \
             (or point CTRD_BIN at it)",
            path.display()
        );
    }
    path
}

// ---------------------------------------------------------------------------
// small utilities
// ---------------------------------------------------------------------------

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A container id that is unique across concurrently running tests and test
/// binaries (cgroups are host-wide: /ctrd/<id>). Always a valid id.
pub fn unique_id(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name: String = name.chars().take(24).collect();
    let id = format!(
        "{}-{}-{}-{:x}",
        name,
        std::process::id(),
        n,
        (nanos() & 0xffff_ffff) as u32
    );
    assert!(id.len() <= 64, "unique_id too long: {id}");
    id
}

/// Polls `cond` every 50 ms (growing to 250 ms) until it returns true or
/// `timeout` elapses. Returns whether it became true.
pub fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut cond: F) -> bool {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return cond();
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// Reads a file to a string, `None` on any error.
pub fn read_opt(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Reads a file to a string, empty on any error.
pub fn read_or_empty(path: impl AsRef<Path>) -> String {
    read_opt(path).unwrap_or_default()
}

/// Waits until the file exists and contains `needle`; returns its content.
/// Panics (showing the content) on timeout.
pub fn wait_file_contains(path: impl AsRef<Path>, needle: &str, timeout: Duration) -> String {
    let path = path.as_ref();
    let mut last = String::new();
    let ok = wait_until(timeout, || {
        last = read_or_empty(path);
        last.contains(needle)
    });
    assert!(
        ok,
        "file {} never contained {:?}; content: {:?}",
        path.display(),
        needle,
        last
    );
    last
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

fn mkdir_p(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", path.display()));
    chmod(path, mode);
}

/// Sends a signal to a pid; returns whether kill(2) succeeded.
pub fn send_signal(pid: i32, sig: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid, sig) == 0 }
}

// ---------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------

/// Parsed subset of /proc/PID/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
    pub starttime: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N-3].
    Some(ProcStat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        starttime: f.get(19)?.parse().ok()?,
    })
}

/// True when the process exists and is not a zombie / dead.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Some(st) => st.state != 'Z' && st.state != 'X' && st.state != 'x',
        None => false,
    }
}

/// Target of /proc/PID/ns/NS, e.g. "pid:[4026531836]".
pub fn ns_link(pid: impl fmt::Display, ns: &str) -> String {
    let p = format!("/proc/{pid}/ns/{ns}");
    fs::read_link(&p)
        .unwrap_or_else(|e| panic!("readlink {p}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Uid line of /proc/PID/status: [real, effective, saved, fs].
pub fn proc_uids(pid: i32) -> Vec<u32> {
    proc_status_ids(pid, "Uid:")
}

/// Gid line of /proc/PID/status: [real, effective, saved, fs].
pub fn proc_gids(pid: i32) -> Vec<u32> {
    proc_status_ids(pid, "Gid:")
}

fn proc_status_ids(pid: i32, key: &str) -> Vec<u32> {
    let s =
        fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    s.lines()
        .find(|l| l.starts_with(key))
        .map(|l| {
            l[key.len()..]
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Number of open fds of a process.
pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Pids of zombie processes whose parent is `ppid`.
pub fn zombie_children(ppid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(st) = proc_stat(pid) {
                if st.state == 'Z' && st.ppid == ppid {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Lines of /proc/self/mountinfo containing `needle`.
pub fn mounts_containing(needle: &str) -> Vec<String> {
    read_or_empty("/proc/self/mountinfo")
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// cgroup helpers
// ---------------------------------------------------------------------------

/// Cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Pure cgroup v2 at /sys/fs/cgroup.
    Unified,
    /// v1 controllers, plus (maybe) v2 at /sys/fs/cgroup/unified.
    Hybrid,
}

pub fn cgroup_mode() -> CgroupMode {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        CgroupMode::Unified
    } else {
        CgroupMode::Hybrid
    }
}

fn unified_has(controller: &str) -> bool {
    read_or_empty("/sys/fs/cgroup/unified/cgroup.controllers")
        .split_whitespace()
        .any(|c| c == controller)
}

/// The file holding a cgroup setting for container `id` (cgroup /ctrd/<id>):
/// v2 file when the controller is on a v2 hierarchy, else the v1 file.
pub fn cgroup_file(id: &str, controller: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    match cgroup_mode() {
        CgroupMode::Unified => PathBuf::from(format!("/sys/fs/cgroup/ctrd/{id}/{v2_file}")),
        CgroupMode::Hybrid if unified_has(controller) => {
            PathBuf::from(format!("/sys/fs/cgroup/unified/ctrd/{id}/{v2_file}"))
        }
        CgroupMode::Hybrid => PathBuf::from(format!("/sys/fs/cgroup/{controller}/ctrd/{id}/{v1_file}")),
    }
}

/// All existing cgroup directories for container `id` on any hierarchy.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let p = PathBuf::from(format!("/sys/fs/cgroup/ctrd/{id}"));
    if p.exists() {
        out.push(p);
    }
    if let Ok(dir) = fs::read_dir("/sys/fs/cgroup") {
        for e in dir.flatten() {
            let p = e.path().join("ctrd").join(id);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

/// Freezer state of container `id`: "FROZEN", "FREEZING" or "THAWED"
/// (v2's cgroup.freeze 1/0 is mapped to FROZEN/THAWED). None if absent.
pub fn freezer_state(id: &str) -> Option<String> {
    let v1 = format!("/sys/fs/cgroup/freezer/ctrd/{id}/freezer.state");
    if let Some(s) = read_opt(&v1) {
        return Some(s.trim().to_string());
    }
    let v2 = match cgroup_mode() {
        CgroupMode::Unified => format!("/sys/fs/cgroup/ctrd/{id}/cgroup.freeze"),
        CgroupMode::Hybrid => format!("/sys/fs/cgroup/unified/ctrd/{id}/cgroup.freeze"),
    };
    read_opt(v2).map(|s| match s.trim() {
        "1" => "FROZEN".to_string(),
        _ => "THAWED".to_string(),
    })
}

// ---------------------------------------------------------------------------
// temp dirs
// ---------------------------------------------------------------------------

/// A temp directory under /tmp (mode 0755 so container uids can traverse),
/// removed on drop unless something is still mounted below it or
/// `CTRD_TEST_KEEP` is set.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = PathBuf::from(format!("/tmp/ctrd-test-{}", unique_id(prefix)));
        mkdir_p(&path, 0o755);
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        safe_remove_dir(&self.path);
    }
}

fn safe_remove_dir(path: &Path) {
    if std::env::var_os("CTRD_TEST_KEEP").is_some() {
        eprintln!("CTRD_TEST_KEEP set: keeping {}", path.display());
        return;
    }
    let needle = format!(" {}/", path.display());
    let exact = format!(" {} ", path.display());
    let mounted: Vec<String> = read_or_empty("/proc/self/mountinfo")
        .lines()
        .filter(|l| l.contains(&needle) || l.contains(&exact))
        .map(str::to_owned)
        .collect();
    if !mounted.is_empty() {
        eprintln!(
            "WARNING: not removing {}: still has mounts below it:\n{}",
            path.display(),
            mounted.join("\n")
        );
        return;
    }
    let _ = fs::remove_dir_all(path);
}

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

/// An HTTP response. `json` is `Value::Null` when the body is not JSON.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub json: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The "error" string of an error body ("" if none).
    pub fn error(&self) -> String {
        self.json["error"].as_str().unwrap_or("").to_string()
    }

    pub fn pid(&self) -> i32 {
        self.json["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("response has no integer pid: {self:?}")) as i32
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: String = self.body.chars().take(2000).collect();
        write!(f, "HTTP {} {}", self.status, body)
    }
}

/// Sends one request on `stream` (with `Connection: close`) and reads the
/// response (Content-Length, chunked, or until EOF).
pub fn http_exchange<S: Read + Write>(
    mut stream: S,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: ctrd-tests\r\n"
    );
    match body {
        Some(b) => {
            if let Some(ct) = content_type {
                head.push_str(&format!("Content-Type: {ct}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        None if matches!(method, "POST" | "PUT" | "PATCH") => {
            head.push_str("Content-Length: 0\r\n");
        }
        None => {}
    }
    head.push_str("\r\n");
    let mut data = head.into_bytes();
    if let Some(b) = body {
        data.extend_from_slice(b);
    }
    // The server may answer early (e.g. 413) and close without reading the
    // whole body; still try to read its response.
    let write_res = stream.write_all(&data).and_then(|_| stream.flush());
    let mut reader = BufReader::new(stream);
    match read_response(&mut reader, method == "HEAD") {
        Ok(r) => Ok(r),
        Err(e) => Err(match write_res {
            Err(we) => io::Error::new(we.kind(), format!("write: {we}; read: {e}")),
            Ok(()) => e,
        }),
    }
}

fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut line = String::new();
    let n = r.read_line(&mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before end of response head",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> io::Result<Response> {
    loop {
        let status_line = read_line(r)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad(format!("bad status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if (100..200).contains(&status) {
            continue; // 100 Continue and friends
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if head_only || status == 204 || status == 304 {
            // no body
        } else if get("Transfer-Encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false)
        {
            loop {
                let line = read_line(r)?;
                let size_str = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_str, 16).map_err(|_| bad(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    // trailers
                    loop {
                        match read_line(r) {
                            Ok(l) if !l.is_empty() => continue,
                            _ => break,
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                r.read_exact(&mut body[start..])?;
                let _ = read_line(r)?; // CRLF after chunk
            }
        } else if let Some(cl) = get("Content-Length") {
            let n: usize = cl.parse().map_err(|_| bad(format!("bad Content-Length {cl:?}")))?;
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        } else {
            r.read_to_end(&mut body)?;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        return Ok(Response {
            status,
            headers,
            body,
            json,
        });
    }
}

/// One request over a unix socket.
pub fn unix_request(
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    http_exchange(s, method, path, content_type, body)
}

/// One request over TCP (e.g. "127.0.0.1:1234").
pub fn tcp_request(addr: &str, method: &str, path: &str, body: Option<&Value>) -> io::Result<Response> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let b = body.map(|v| serde_json::to_vec(v).unwrap());
    http_exchange(s, method, path, b.as_ref().map(|_| "application/json"), b.as_deref())
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// Daemon
// ---------------------------------------------------------------------------

/// A running ctrd with its own temp dirs:
/// `D/state` (--state-dir), `D/root` (--root), `D/ctrd.sock`, `D/ctrd.log`.
pub struct Daemon {
    pub dir: PathBuf,
    pub state_dir: PathBuf,
    pub root_dir: PathBuf,
    pub socket: PathBuf,
    pub log_path: PathBuf,
    extra_args: Vec<String>,
    env: Option<Vec<(String, String)>>,
    child: Mutex<Option<Child>>,
    pid: Mutex<i32>,
    /// (pid, starttime) of every container init / exec process we were told
    /// about, so Drop can kill leftovers even if the daemon is dead.
    tracked: Mutex<Vec<(i32, u64)>>,
    /// Ids of containers created through this harness (for cgroup cleanup).
    created: Mutex<HashSet<String>>,
}

impl Daemon {
    /// Starts ctrd with the default arguments.
    pub fn start() -> Daemon {
        Daemon::start_with(&[], None)
    }

    /// Starts ctrd with extra arguments. `env`: `None` inherits our
    /// environment; `Some(vars)` starts from an empty environment plus vars.
    pub fn start_with(extra_args: &[&str], env: Option<&[(&str, &str)]>) -> Daemon {
        let bin = ctrd_bin();
        let dir = PathBuf::from(format!("/tmp/ctrd-test-{}", unique_id("d")));
        mkdir_p(&dir, 0o755);
        let d = Daemon {
            state_dir: dir.join("state"),
            root_dir: dir.join("root"),
            socket: dir.join("ctrd.sock"),
            log_path: dir.join("ctrd.log"),
            dir,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            env: env.map(|e| e.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            child: Mutex::new(None),
            pid: Mutex::new(0),
            tracked: Mutex::new(Vec::new()),
            created: Mutex::new(HashSet::new()),
        };
        d.spawn(&bin);
        d
    }

    /// The command line ctrd is started with (without the binary).
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--state-dir".to_string(),
            self.state_dir.display().to_string(),
            "--root".to_string(),
            self.root_dir.display().to_string(),
            "--listen".to_string(),
            format!("unix://{}", self.socket.display()),
            "--debug".to_string(),
        ];
        a.extend(self.extra_args.iter().cloned());
        a
    }

    fn spawn(&self, bin: &Path) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open daemon log");
        let _ = writeln!(
            &log,
            "===== test harness: starting {} {} =====",
            bin.display(),
            self.args().join(" ")
        );
        let mut cmd = Command::new(bin);
        cmd.args(self.args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        if let Some(env) = &self.env {
            cmd.env_clear();
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let pid = child.id() as i32;
        // Wait until GET /state answers 200.
        let deadline = Instant::now() + DAEMON_READY_TIMEOUT;
        let mut last;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "ctrd exited during startup with {st}; log:\n{}",
                    tail_of(&self.log_path, 60)
                );
            }
            match unix_request(&self.socket, "GET", "/state", None, None) {
                Ok(r) if r.status == 200 => break,
                Ok(r) => last = format!("{r:?}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ctrd did not answer GET /state with 200 within {:?} (last: {last}); log:\n{}",
                    DAEMON_READY_TIMEOUT,
                    tail_of(&self.log_path, 60)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        *self.pid.lock().unwrap() = pid;
        *self.child.lock().unwrap() = Some(child);
    }

    /// Pid of the current daemon process (0 if not running).
    pub fn pid(&self) -> i32 {
        *self.pid.lock().unwrap()
    }

    pub fn is_running(&self) -> bool {
        let mut g = self.child.lock().unwrap();
        match g.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// "still running", or how the daemon process ended.
    pub fn daemon_exit_info(&self) -> String {
        let mut g = self.child.lock().unwrap();
        match g.as_mut() {
            None => "not started / already stopped by the test".to_string(),
            Some(c) => match c.try_wait() {
                Ok(None) => "still running".to_string(),
                Ok(Some(st)) => format!("EXITED: {st}"),
                Err(e) => format!("wait error {e}"),
            },
        }
    }

    /// SIGKILLs the daemon and reaps it.
    pub fn kill9(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        *self.pid.lock().unwrap() = 0;
    }

    /// SIGTERMs the daemon and waits (≤ 30 s) for it to exit. Returns its
    /// exit status, or None if it did not exit (it is SIGKILLed then).
    pub fn sigterm(&self) -> Option<ExitStatus> {
        let child = self.child.lock().unwrap().take();
        *self.pid.lock().unwrap() = 0;
        let mut c = child?;
        send_signal(c.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts ctrd again on the same dirs / arguments (after kill9/sigterm).
    pub fn restart(&self) {
        assert!(!self.is_running(), "restart() called while the daemon is still running");
        self.child.lock().unwrap().take();
        self.spawn(&ctrd_bin());
    }

    /// Last `n` lines of the daemon log.
    pub fn log_tail(&self, n: usize) -> String {
        tail_of(&self.log_path, n)
    }

    /// Full daemon log.
    pub fn log(&self) -> String {
        read_or_empty(&self.log_path)
    }

    // ----- HTTP -----

    /// Raw request with an arbitrary body and content type.
    pub fn try_raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let r = unix_request(&self.socket, method, path, content_type, body)?;
        self.track(method, path, &r);
        Ok(r)
    }

    /// Raw request; panics (with the daemon log) on I/O errors.
    pub fn raw(&self, method: &str, path: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Response {
        self.try_raw(method, path, content_type, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: I/O error talking to ctrd: {e} (daemon: {})\ndaemon log tail:\n{}",
                self.daemon_exit_info(),
                self.log_tail(40)
            )
        })
    }

    /// JSON request; panics on I/O errors.
    pub fn request(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let b = body.map(|v| serde_json::to_vec(&v).unwrap());
        self.raw(method, path, b.as_ref().map(|_| "application/json"), b.as_deref())
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }
    pub fn post(&self, path: &str, body: Option<Value>) -> Response {
        self.request("POST", path, body)
    }
    pub fn put(&self, path: &str, body: Option<Value>) -> Response {
        self.request("PUT", path, body)
    }
    pub fn patch(&self, path: &str, body: Option<Value>) -> Response {
        self.request("PATCH", path, body)
    }
    pub fn delete(&self, path: &str, body: Option<Value>) -> Response {
        self.request("DELETE", path, body)
    }

    fn track(&self, method: &str, path: &str, r: &Response) {
        let is_create = method == "POST" && r.status == 201;
        let is_exec = method == "PUT" && r.status == 200 && path.contains("/process");
        if !(is_create || is_exec) {
            return;
        }
        if is_create {
            if let Some(id) = r.json["id"].as_str() {
                self.created.lock().unwrap().insert(id.to_string());
            }
        }
        if let Some(pid) = r.json["pid"].as_i64() {
            let pid = pid as i32;
            if let Some(st) = proc_stat(pid) {
                self.tracked.lock().unwrap().push((pid, st.starttime));
            }
        }
    }

    // ----- container helpers -----

    /// `POST /containers/{id}` with `{"bundlePath": bundle}`.
    pub fn create(&self, id: &str, bundle: &Bundle) -> Response {
        self.post(&format!("/containers/{id}"), Some(json!({ "bundlePath": bundle.dir })))
    }

    /// Creates a container and asserts 201 running; returns its pid.
    pub fn create_ok(&self, id: &str, bundle: &Bundle) -> i32 {
        let r = self.create(id, bundle);
        self.expect_created(id, &r)
    }

    /// Creates a short-lived container (e.g. `true`, `exit 3`) whose process
    /// may already have exited when the 201 is built: accepts status
    /// "running" or "stopped". Returns its pid.
    pub fn create_short_ok(&self, id: &str, bundle: &Bundle) -> i32 {
        let r = self.create(id, bundle);
        self.check_created(id, &r, &["running", "stopped"])
    }

    /// Asserts a create response is 201 {"id","pid","status":"running"}.
    pub fn expect_created(&self, id: &str, r: &Response) -> i32 {
        self.check_created(id, r, &["running"])
    }

    fn check_created(&self, id: &str, r: &Response, statuses: &[&str]) -> i32 {
        assert_eq!(r.status, 201, "create {id}: {r:?}\nlog:\n{}", self.log_tail(30));
        assert_eq!(r.json["id"], json!(id), "create {id}: {r:?}");
        let st = r.json["status"].as_str().unwrap_or("");
        assert!(
            statuses.contains(&st),
            "create {id}: status not one of {statuses:?}: {r:?}"
        );
        let pid = r.pid();
        assert!(pid > 0, "create {id}: bad pid in {r:?}");
        pid
    }

    /// `GET /containers/{id}`, asserting 200.
    pub fn container(&self, id: &str) -> Value {
        let r = self.get(&format!("/containers/{id}"));
        assert_eq!(r.status, 200, "GET /containers/{id}: {r:?}");
        r.json
    }

    /// Waits until `GET /containers/{id}` reports `status`; returns the object.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let mut last: Option<Response> = None;
        let ok = wait_until(timeout, || {
            let r = self.get(&format!("/containers/{id}"));
            let done = r.status == 200 && r.json["status"] == json!(status);
            last = Some(r);
            done
        });
        let last = last.unwrap();
        assert!(
            ok,
            "container {id} never reached status {status:?} within {timeout:?}; last: {last:?}\nlog:\n{}",
            self.log_tail(30)
        );
        last.json
    }

    /// `PUT /containers/{id}/process` with `body`.
    pub fn exec(&self, id: &str, body: Value) -> Response {
        self.put(&format!("/containers/{id}/process"), Some(body))
    }

    /// Exec `args`, asserting 200 {"pid"}; returns the pid.
    pub fn exec_ok(&self, id: &str, args: &[&str]) -> i32 {
        let r = self.exec(id, json!({ "args": args }));
        assert_eq!(r.status, 200, "exec {args:?} in {id}: {r:?}");
        let pid = r.pid();
        assert!(pid > 0, "exec: bad pid in {r:?}");
        pid
    }

    /// The process entry with `pid` in the container object (if listed).
    pub fn process_entry(&self, id: &str, pid: i32) -> Option<Value> {
        let c = self.container(id);
        c["processes"]
            .as_array()?
            .iter()
            .find(|p| p["pid"].as_i64() == Some(pid as i64))
            .cloned()
    }

    /// `DELETE /containers/{id}?force=true`, asserting success.
    pub fn force_delete(&self, id: &str) {
        let r = self.delete(&format!("/containers/{id}?force=true"), None);
        assert!(r.status == 204 || r.status == 200, "force delete {id}: {r:?}");
    }

    /// Per-container state directory `<state-dir>/<id>`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join(id)
    }

    pub fn stdout_log(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("stdout.log")
    }

    pub fn stderr_log(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("stderr.log")
    }

    pub fn exec_stdout(&self, id: &str, pid: i32) -> PathBuf {
        self.container_dir(id).join(format!("exec-{pid}.stdout.log"))
    }

    pub fn exec_stderr(&self, id: &str, pid: i32) -> PathBuf {
        self.container_dir(id).join(format!("exec-{pid}.stderr.log"))
    }

    /// Ids of all containers in `GET /state`.
    pub fn container_ids(&self) -> Vec<String> {
        let r = self.get("/state");
        assert_eq!(r.status, 200, "GET /state: {r:?}");
        ids_of(&r.json)
    }

    /// A fresh busybox bundle in `D/bundles/<name>-<n>`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> Bundle {
        let dir = self.dir.join("bundles").join(unique_id(name));
        Bundle::busybox(&dir, args)
    }

    /// Asserts nothing is left of a container whose creation failed (or that
    /// was deleted): GET → 404, no state dir, no cgroup dirs.
    pub fn assert_no_trace(&self, id: &str) {
        let enc = id.replace('/', "%2F");
        let r = self.get(&format!("/containers/{enc}"));
        assert_eq!(r.status, 404, "GET /containers/{id} after failure/delete: {r:?}");
        if !id.is_empty() && !id.contains('/') && id != "." && id != ".." {
            let sd = self.container_dir(id);
            assert!(!sd.exists(), "state dir {} still exists", sd.display());
            let dirs = cgroup_dirs(id);
            assert!(dirs.is_empty(), "cgroup dirs left for {id}: {dirs:?}");
        }
        assert!(
            !self.container_ids().iter().any(|c| c == id),
            "{id} still listed in GET /state"
        );
    }

    fn try_cleanup_containers(&self) {
        let Ok(r) = unix_request(&self.socket, "GET", "/state", None, None) else {
            return;
        };
        if r.status != 200 {
            return;
        }
        for id in ids_of(&r.json) {
            let _ = unix_request(
                &self.socket,
                "DELETE",
                &format!("/containers/{id}?force=true"),
                None,
                None,
            );
        }
    }
}

/// Ids of the containers in a `GET /state` body.
pub fn ids_of(state: &Value) -> Vec<String> {
    state["containers"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn tail_of(path: &Path, n: usize) -> String {
    let s = read_or_empty(path);
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "----- ctrd log tail ({}) -----\n{}\n----- end of ctrd log -----",
                self.log_path.display(),
                self.log_tail(80)
            );
        }
        if self.is_running() {
            self.try_cleanup_containers();
        }
        let _ = self.sigterm();
        // Kill anything the daemon left behind (same pid *and* start time).
        let tracked = std::mem::take(&mut *self.tracked.lock().unwrap());
        for (pid, start) in tracked {
            if let Some(st) = proc_stat(pid) {
                if st.starttime == start && st.state != 'Z' {
                    send_signal(pid, libc::SIGKILL);
                }
            }
        }
        // Best effort: remove (empty) cgroups a dead daemon could not remove.
        // Tests assert cgroup cleanup themselves before this point.
        thread::sleep(Duration::from_millis(100));
        for id in std::mem::take(&mut *self.created.lock().unwrap()) {
            for dir in cgroup_dirs(&id) {
                let _ = fs::remove_dir(&dir);
            }
        }
        safe_remove_dir(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// Path of the host's static busybox; panics if absent or dynamic.
pub fn busybox_path() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let p = Path::new(p);
        if p.is_file() {
            let data = fs::read(p).unwrap_or_default();
            if elf_has_interp(&data) {
                panic!(
                    "{} is dynamically linked; the tests need a static busybox \
                     (Debian/Ubuntu: apt-get install busybox-static)",
                    p.display()
                );
            }
            return p.to_path_buf();
        }
    }
    panic!(
        "no /bin/busybox on this host: the tests copy it into container rootfs \
         (Debian/Ubuntu: apt-get install busybox-static)"
    );
}

/// True when an ELF64 little-endian file has a PT_INTERP program header.
fn elf_has_interp(d: &[u8]) -> bool {
    if d.len() < 64 || &d[0..4] != b"\x7fELF" || d[4] != 2 || d[5] != 1 {
        return false;
    }
    let u16at = |o: usize| u16::from_le_bytes([d[o], d[o + 1]]) as usize;
    let u64at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let phoff = u64at(0x20);
    let phentsize = u16at(0x36);
    let phnum = u16at(0x38);
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        o + 4 <= d.len() && u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]) == 3
    })
}

fn busybox_applets(bb: &Path) -> Vec<String> {
    let out = Command::new(bb)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("{} --list: {e}", bb.display()));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && l != "busybox" && !l.contains('/'))
        .collect();
    if v.is_empty() {
        v = [
            "sh", "sleep", "cat", "echo", "ls", "id", "top", "mkdir", "touch", "true", "false", "kill", "ps", "head",
            "dd", "grep", "wc", "env", "hostname", "readlink", "stat", "nc",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    v
}

/// `runc spec`-shaped config.json running `args`.
pub fn default_spec(args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [DEFAULT_PATH_ENV, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps.clone(),
                "effective": caps.clone(),
                "permitted": caps
            },
            "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "ctrd-test",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// An OCI bundle: `dir/config.json` + `dir/rootfs` (static busybox).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// Creates `dir` with a busybox rootfs and a default config running
    /// `args`, and writes config.json.
    pub fn busybox(dir: &Path, args: &[&str]) -> Bundle {
        let bb = busybox_path();
        mkdir_p(dir, 0o755);
        let rootfs = dir.join("rootfs");
        mkdir_p(&rootfs, 0o755);
        for d in ["bin", "proc", "sys", "dev", "etc", "root", "usr", "var", "run"] {
            mkdir_p(&rootfs.join(d), 0o755);
        }
        mkdir_p(&rootfs.join("tmp"), 0o1777);
        let target = rootfs.join("bin/busybox");
        fs::copy(&bb, &target).unwrap_or_else(|e| panic!("copy busybox: {e}"));
        chmod(&target, 0o755);
        let mut seen = HashSet::new();
        for applet in busybox_applets(&bb) {
            if seen.insert(applet.clone()) {
                let _ = symlink("busybox", rootfs.join("bin").join(&applet));
            }
        }
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        fs::write(rootfs.join("etc/hostname"), "ctrd-test\n").unwrap();
        for f in ["etc/passwd", "etc/group", "etc/hostname"] {
            chmod(&rootfs.join(f), 0o644);
        }
        let b = Bundle {
            dir: dir.to_path_buf(),
            config: default_spec(args),
        };
        b.write();
        b
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Mutates the config in memory (call [`Bundle::write`] afterwards, or use
    /// [`Bundle::edit_write`]).
    pub fn edit<F: FnOnce(&mut Value)>(&mut self, f: F) -> &mut Bundle {
        f(&mut self.config);
        self
    }

    /// Mutates the config and writes config.json.
    pub fn edit_write<F: FnOnce(&mut Value)>(&mut self, f: F) -> &mut Bundle {
        f(&mut self.config);
        self.write();
        self
    }

    /// Writes config.json (mode 0644).
    pub fn write(&self) -> &Bundle {
        let p = self.config_path();
        fs::write(&p, serde_json::to_vec_pretty(&self.config).unwrap())
            .unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        chmod(&p, 0o644);
        self
    }
}

/// Config editing helpers for tests.
pub mod spec {
    use super::*;

    pub fn set_args(cfg: &mut Value, args: &[&str]) {
        cfg["process"]["args"] = json!(args);
    }

    pub fn add_env(cfg: &mut Value, kv: &str) {
        cfg["process"]["env"]
            .as_array_mut()
            .expect("process.env array")
            .push(json!(kv));
    }

    pub fn add_namespace(cfg: &mut Value, ty: &str) {
        let ns = cfg["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces array");
        if !ns.iter().any(|n| n["type"] == json!(ty)) {
            ns.push(json!({ "type": ty }));
        }
    }

    pub fn remove_namespace(cfg: &mut Value, ty: &str) {
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != json!(ty));
        }
    }

    pub fn add_mount(cfg: &mut Value, mount: Value) {
        cfg["mounts"].as_array_mut().expect("mounts array").push(mount);
    }

    pub fn remove_mount(cfg: &mut Value, destination: &str) {
        if let Some(m) = cfg["mounts"].as_array_mut() {
            m.retain(|m| m["destination"] != json!(destination));
        }
    }

    /// A writable tmpfs at /tmp.
    pub fn add_tmp_tmpfs(cfg: &mut Value) {
        add_mount(
            cfg,
            json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777", "size=16m"] }),
        );
    }

    /// The seccomp architecture name of the host.
    pub fn native_seccomp_arch() -> &'static str {
        match std::env::consts::ARCH {
            "x86_64" => "SCMP_ARCH_X86_64",
            "aarch64" => "SCMP_ARCH_AARCH64",
            "riscv64" => "SCMP_ARCH_RISCV64",
            "s390x" => "SCMP_ARCH_S390X",
            "powerpc64" => "SCMP_ARCH_PPC64LE",
            other => panic!("unknown arch {other}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Checkpoint/restore helpers (CRIU), binary responses, tar listings
// ---------------------------------------------------------------------------

/// The version of the `criu` found on PATH as (major, minor, patch); None if
/// there is none or it does not answer `criu --version`.
pub fn criu_version() -> Option<(u32, u32, u32)> {
    let out = Command::new("criu").arg("--version").output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let v = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))?
        .trim()
        .to_string();
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    Some((it.next()?, it.next().unwrap_or(0), it.next().unwrap_or(0)))
}

/// Returns true (after printing a loud message) when checkpoint/restore tests
/// cannot run: not root, or no `criu` >= 4.2 on PATH.
pub fn skip_unless_criu() -> bool {
    if skip_unless_root() {
        return true;
    }
    match criu_version() {
        Some(v) if v >= (4, 2, 0) => false,
        other => {
            let found = match other {
                Some((a, b, c)) => format!("criu {a}.{b}.{c}"),
                None => "no criu on PATH".to_string(),
            };
            eprintln!();
            eprintln!("**************************************************************");
            eprintln!("*** SKIPPED: checkpoint/restore tests need CRIU >= 4.2     ***");
            eprintln!("*** found: {found:<48}***");
            eprintln!("*** (scripts/install-criu.sh installs it)                  ***");
            eprintln!("**************************************************************");
            eprintln!();
            true
        }
    }
}

/// An HTTP response with a binary body.
#[derive(Clone)]
pub struct BytesResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl BytesResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for BytesResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: String = String::from_utf8_lossy(&self.body[..self.body.len().min(2000)]).into_owned();
        write!(f, "HTTP {} ({} bytes) {}", self.status, self.body.len(), body)
    }
}

/// One request over a unix socket whose response body is kept as bytes
/// (Content-Length, chunked, or until EOF).
pub fn unix_request_bytes(
    socket: &Path,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> io::Result<BytesResponse> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: ctrd-tests\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    match body {
        Some(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
        None if matches!(method, "POST" | "PUT" | "PATCH") => head.push_str("Content-Length: 0\r\n"),
        None => {}
    }
    head.push_str("\r\n");
    // The server may answer early (e.g. 409 on an import) and close without
    // reading the whole body: still read its response.
    let write_res = s
        .write_all(head.as_bytes())
        .and_then(|_| body.map_or(Ok(()), |b| s.write_all(b)))
        .and_then(|_| s.flush());
    let mut r = BufReader::new(s);
    let status_line = match read_line(&mut r) {
        Ok(l) => l,
        Err(e) => {
            return Err(match write_res {
                Err(we) => io::Error::new(we.kind(), format!("write: {we}; read: {e}")),
                Ok(()) => e,
            })
        }
    };
    let mut first = Some(status_line);
    loop {
        let status_line = match first.take() {
            Some(l) => l,
            None => read_line(&mut r)?,
        };
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut r)?;
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        if (100..200).contains(&status) {
            continue;
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut out = Vec::new();
        if status == 204 || status == 304 || method == "HEAD" {
        } else if get("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            loop {
                let line = read_line(&mut r)?;
                let size_str = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_str, 16).map_err(|_| bad(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    while let Ok(l) = read_line(&mut r) {
                        if l.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = out.len();
                out.resize(start + size, 0);
                r.read_exact(&mut out[start..])?;
                let _ = read_line(&mut r)?;
            }
        } else if let Some(cl) = get("Content-Length") {
            let n: usize = cl.parse().map_err(|_| bad(format!("bad Content-Length {cl:?}")))?;
            out.resize(n, 0);
            r.read_exact(&mut out)?;
        } else {
            r.read_to_end(&mut out)?;
        }
        return Ok(BytesResponse {
            status,
            headers,
            body: out,
        });
    }
}

impl Daemon {
    /// A request whose response body is binary (e.g. a checkpoint archive);
    /// panics on I/O errors.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> BytesResponse {
        unix_request_bytes(&self.socket, method, path, content_type, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: I/O error talking to ctrd: {e} (daemon: {})\ndaemon log tail:\n{}",
                self.daemon_exit_info(),
                self.log_tail(40)
            )
        })
    }

    /// Execs `args` in container `id`, waits until the process has exited and
    /// returns its stdout (panics after `WAIT`).
    pub fn exec_output(&self, id: &str, args: &[&str]) -> String {
        let pid = self.exec_ok(id, args);
        let mut last = None;
        let ok = wait_until(WAIT, || {
            last = self.process_entry(id, pid);
            last.as_ref().is_some_and(|p| !p["exitStatus"].is_null())
        });
        assert!(ok, "exec {args:?} in {id} (pid {pid}) never exited; entry: {last:?}");
        read_or_empty(self.exec_stdout(id, pid))
    }
}

/// The entry names of a tar archive (`zstd`: compressed with zstd), listed
/// with the host's `tar` (and `zstd`).
pub fn tar_entries(archive: &[u8], zstd: bool) -> Vec<String> {
    let mut cmd = Command::new("tar");
    if zstd {
        cmd.arg("--zstd");
    }
    let mut child = cmd
        .arg("-tf")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tar -t");
    let mut stdin = child.stdin.take().unwrap();
    let data = archive.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("tar -t");
    let _ = writer.join();
    assert!(
        out.status.success(),
        "tar -t failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// Every cgroup directory below `ctrd/<id>` on any hierarchy (not the
/// container's own cgroup dirs themselves), deepest last.
pub fn cgroup_descendants(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    out.push(e.path());
                    walk(&e.path(), out);
                }
            }
        }
    }
    let mut out = Vec::new();
    for d in cgroup_dirs(id) {
        walk(&d, &mut out);
    }
    out
}

/// Removes the cgroup directories `ctrd/<id>` on every hierarchy together
/// with everything below them (deepest first; only empty cgroups can go).
/// Returns how many directories were removed.
pub fn remove_cgroup_tree(id: &str) -> usize {
    let mut n = 0;
    for d in cgroup_dirs(id) {
        let mut all = vec![d.clone()];
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        out.push(e.path());
                        walk(&e.path(), out);
                    }
                }
            }
        }
        walk(&d, &mut all);
        // Children come after their parents in `all`: remove in reverse.
        for p in all.iter().rev() {
            if fs::remove_dir(p).is_ok() {
                n += 1;
            }
        }
    }
    n
}

/// The roots of the mounted cgroup hierarchies under /sys/fs/cgroup (v1
/// controllers, name=systemd, the unified one; or /sys/fs/cgroup itself).
pub fn cgroup_hierarchy_roots() -> Vec<PathBuf> {
    if cgroup_mode() == CgroupMode::Unified {
        return vec![PathBuf::from("/sys/fs/cgroup")];
    }
    let mut out: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| !p.is_symlink() && p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
