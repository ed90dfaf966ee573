//! `ctr containers exec`: run a process; wait for it, detach, or attach a terminal to it.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};
use serde_json::{json, Value};

use crate::commands::print_json;
use crate::http::{encode, Body, Client, Error, Result};
use crate::Ctx;

pub struct ExecRequest {
    pub id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<(u32, u32)>,
    pub tty: bool,
    pub detach: bool,
}

pub fn body(r: &ExecRequest) -> Value {
    let mut b = json!({"args": r.args, "env": r.env, "terminal": r.tty});
    if let Some(cwd) = &r.cwd {
        b["cwd"] = json!(cwd);
    }
    if let Some((uid, gid)) = r.user {
        b["user"] = json!({"uid": uid, "gid": gid});
    }
    b
}

pub fn exec(ctx: &Ctx, r: ExecRequest) -> Result<i32> {
    let base = format!("/containers/{}", encode(&r.id));
    let ans = ctx.client.call("PUT", &format!("{base}/process"), Some(&body(&r)))?;
    let pid = ans
        .get("pid")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Other(format!("the daemon's answer has no pid: {ans}")))? as i32;
    if r.detach {
        if ctx.json {
            print_json(&ans);
        } else {
            outln!("{pid}");
        }
        return Ok(0);
    }
    if r.tty {
        return attach(ctx, &r.id, pid);
    }
    let code = wait_process(&ctx.client, &r.id, pid)?;
    if ctx.json {
        print_json(&json!({"pid": pid, "exitStatus": code}));
    }
    code.ok_or_else(|| Error::Other(format!("process {pid}: exit status unknown")))
}

/// Waits for one of a container's processes: `POST .../process/PID/wait` where the daemon
/// serves it, else polling `GET /containers/ID` until the process's exitStatus shows.
pub fn wait_process(client: &Client, id: &str, pid: i32) -> Result<Option<i32>> {
    let base = format!("/containers/{}", encode(id));
    match client.call("POST", &format!("{base}/process/{pid}/wait"), Some(&json!({}))) {
        Ok(v) => return Ok(v.get("exitStatus").and_then(Value::as_i64).map(|n| n as i32)),
        Err(Error::Api { status, message })
            if status == 405 || status == 501 || (status == 404 && message.starts_with("no such endpoint")) => {}
        Err(e) => return Err(e),
    }
    let mut delay = Duration::from_millis(10);
    let mut stopped_since: Option<Instant> = None;
    loop {
        let c = client.call("GET", &base, None)?;
        let p = c["processes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["pid"].as_i64() == Some(pid as i64)));
        let Some(p) = p else {
            return Err(Error::Other(format!("container {id} has no process {pid}")));
        };
        if let Some(n) = p["exitStatus"].as_i64() {
            return Ok(Some(n as i32));
        }
        // The container is gone: give the reaper a moment, then stop asking.
        if c["status"] == "stopped" {
            let since = *stopped_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(2) {
                return Ok(None);
            }
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// Puts a terminal in raw mode; restores it when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enable() -> io::Result<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

fn is_tty(fd: BorrowedFd<'_>) -> bool {
    std::io::IsTerminal::is_terminal(&fd)
}

/// The window size of the first terminal among stdin, stdout, stderr.
fn window_size() -> Option<(u16, u16)> {
    for fd in [0, 1, 2] {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ only writes a winsize into the struct we own.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

fn send_resize(client: &Client, path: &str) {
    if let Some((rows, cols)) = window_size() {
        let _ = client.call("POST", path, Some(&json!({"rows": rows, "cols": cols})));
    }
}

/// Bridges this terminal (or stdin/stdout) to the process's pty through an upgraded connection.
fn attach(ctx: &Ctx, id: &str, pid: i32) -> Result<i32> {
    let client = &ctx.client;
    let base = format!("/containers/{}/process/{pid}", encode(id));
    let resp = client
        .send(
            "GET",
            &format!("{base}/attach"),
            Body::None,
            &[("Connection", "Upgrade"), ("Upgrade", "ctrd-attach")],
        )?
        .check()?;
    if resp.status != 101 {
        return Err(Error::Other(format!(
            "the daemon did not switch to the attach protocol (answered {} {})",
            resp.status, resp.reason
        )));
    }
    let mut from_daemon = resp
        .body
        .into_upgraded()
        .ok_or("the daemon's 101 answer carried a body")?;
    let mut to_daemon = from_daemon
        .get_ref()
        .try_clone()
        .map_err(|e| Error::Other(format!("attach: {e}")))?;

    let interactive = is_tty(io::stdin().as_fd());
    let raw = if interactive {
        Some(RawMode::enable().map_err(|e| Error::Other(format!("setting the terminal to raw mode: {e}")))?)
    } else {
        None
    };

    // Window size now and on every SIGWINCH (a thread waits for it; others block it).
    let resize_path = format!("{base}/resize");
    if window_size().is_some() {
        send_resize(client, &resize_path);
        let mut set = SigSet::empty();
        set.add(Signal::SIGWINCH);
        if set.thread_block().is_ok() {
            let c = client.clone();
            let p = resize_path.clone();
            std::thread::spawn(move || loop {
                if set.wait().is_ok() {
                    send_resize(&c, &p);
                }
            });
        }
    }

    // stdin → daemon; at end of input, half-close so the daemon sees EOF.
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = [0u8; 8192];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to_daemon.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = to_daemon.shutdown(Shutdown::Write);
    });

    // daemon → stdout until the stream closes (the process exited).
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 8192];
    let mut out_err = None;
    loop {
        match from_daemon.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = stdout.write_all(&buf[..n]).and_then(|_| stdout.flush()) {
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        out_err = Some(e);
                    }
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset at the end is the same as a close.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => {
                out_err = Some(e);
                break;
            }
        }
    }
    drop(stdout);
    drop(raw);
    if let Some(e) = out_err {
        return Err(Error::Other(format!("attach: {e}")));
    }
    match wait_process(client, id, pid)? {
        Some(code) => Ok(code),
        None => Err(Error::Other(format!("process {pid}: exit status unknown"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_bodies() {
        let r = ExecRequest {
            id: "web".into(),
            args: vec!["sh".into(), "-c".into(), "id".into()],
            env: vec!["A=1".into()],
            cwd: Some("/tmp".into()),
            user: Some((1000, 100)),
            tty: true,
            detach: false,
        };
        assert_eq!(
            body(&r),
            json!({"args": ["sh", "-c", "id"], "env": ["A=1"], "cwd": "/tmp",
                   "user": {"uid": 1000, "gid": 100}, "terminal": true})
        );
        let r = ExecRequest {
            cwd: None,
            user: None,
            tty: false,
            ..r
        };
        assert_eq!(
            body(&r),
            json!({"args": ["sh", "-c", "id"], "env": ["A=1"], "terminal": false})
        );
    }
}
