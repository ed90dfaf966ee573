//! Access control: only root (and `--group` members) may use the API, on every listener.
//!
//! The unprivileged client is `curl` (or `ctr`) run through `setpriv` as uid/gid 65534
//! (nobody/nogroup) with no supplementary groups.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use ctrd_tests::ctr::*;
use ctrd_tests::*;

const NOBODY: u32 = 65534;

/// Runs `cmd` as uid/gid 65534 without supplementary groups; returns (exit code, stdout, stderr).
fn as_nobody(cmd: &[&str]) -> (i32, String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg("setpriv")
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .args(cmd)
        .env_remove("CTRD_ADDRESS")
        .output()
        .unwrap_or_else(|e| panic!("run setpriv {cmd:?}: {e} (needs util-linux's setpriv and timeout)"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `curl` as nobody: (curl exit code, HTTP status (0 if none), body).
fn curl_as_nobody(extra: &[&str], url: &str) -> (i32, u16, String) {
    let mut args = vec!["curl", "-sS", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"];
    args.extend_from_slice(extra);
    args.push(url);
    let (code, stdout, stderr) = as_nobody(&args);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    let status = status.trim().parse().unwrap_or(0);
    eprintln!("curl {extra:?} {url} as nobody: exit {code}, HTTP {status}, body {body:?}, stderr {stderr:?}");
    (code, status, body.to_string())
}

fn tcp_daemon(extra: &[&str]) -> (Daemon, String) {
    let port = free_tcp_port();
    let tcp = format!("127.0.0.1:{port}");
    let listen = format!("tcp://{tcp}");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend_from_slice(extra);
    let d = Daemon::start_with(&args, None);
    (d, tcp)
}

// 22
#[test]
fn non_root_is_refused_on_every_listener() {
    if skip_unless_root() {
        return;
    }
    let (d, tcp) = tcp_daemon(&[]);
    let sock = d.socket.display().to_string();
    let meta = fs::metadata(&d.socket).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    assert_eq!(meta.uid(), 0);

    // Root: 200 on both.
    let r = tcp_request(&tcp, "GET", "/state", None).expect("GET /state over TCP as root");
    assert_eq!(r.status, 200, "{r:?}");
    let r = d.get("/state");
    assert_eq!(r.status, 200, "{r:?}");

    // nobody over TCP: 403 with a JSON error naming the uid.
    let (code, status, body) = curl_as_nobody(&[], &format!("http://{tcp}/state"));
    assert_eq!(code, 0, "curl failed");
    assert_eq!(status, 403, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("403 body not JSON ({e}): {body:?}"));
    let msg = v["error"].as_str().unwrap_or_else(|| panic!("no error string: {body}"));
    assert!(msg.contains("65534"), "the error should name the uid: {msg}");
    // Every request is refused, whatever the route or method.
    let (_, status, _) = curl_as_nobody(&["-X", "POST", "-d", "{}"], &format!("http://{tcp}/containers/x"));
    assert_eq!(status, 403);
    let (_, status, _) = curl_as_nobody(&[], &format!("http://{tcp}/nope"));
    assert_eq!(status, 403);

    // nobody on the unix socket (mode 0600): cannot even connect (curl exit 7).
    let (code, status, _) = curl_as_nobody(&["--unix-socket", &sock], "http://localhost/state");
    assert_eq!(code, 7, "curl should fail to connect");
    assert_eq!(status, 0);

    // ctr as nobody: a clear error, exit 1.
    let bin = ctr_bin().display().to_string();
    let addr = format!("tcp://{tcp}");
    let (code, _, stderr) = as_nobody(&[&bin, "--address", &addr, "state"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("ctr: ") && stderr.contains("refused"), "{stderr}");
    let addr = format!("unix://{sock}");
    let (code, _, stderr) = as_nobody(&[&bin, "--address", &addr, "state"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach ctrd") && stderr.contains("ermission denied"),
        "{stderr}"
    );

    // Root still fine after the refusals; refused connections are not counted.
    let r = tcp_request(&tcp, "GET", "/metrics", None).expect("GET /metrics");
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains(r#"code="403""#),
        "refused requests counted in /metrics"
    );
}

// 22 (--group)
#[test]
fn group_members_are_allowed() {
    if skip_unless_root() {
        return;
    }
    let (d, tcp) = tcp_daemon(&["--group", "nogroup"]);
    let sock = d.socket.display().to_string();
    let meta = fs::metadata(&d.socket).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "socket mode with --group");
    assert_eq!(meta.gid(), NOBODY, "socket group with --group nogroup");

    let (code, status, body) = curl_as_nobody(&[], &format!("http://{tcp}/state"));
    assert_eq!((code, status), (0, 200), "{body}");
    let v: Value = serde_json::from_str(&body).expect("state JSON");
    assert!(v["containers"].is_array(), "{body}");
    let (code, status, body) = curl_as_nobody(&["--unix-socket", &sock], "http://localhost/state");
    assert_eq!((code, status), (0, 200), "{body}");

    // A member can drive containers too (the API is root on the host: that is the point).
    let b = d.bundle("grp", &["sleep", "1000"]);
    let id = unique_id("grp");
    let bin = ctr_bin().display().to_string();
    let addr = format!("unix://{sock}");
    let (code, stdout, stderr) = as_nobody(&[
        &bin,
        "--address",
        &addr,
        "c",
        "start",
        &id,
        &b.dir.display().to_string(),
    ]);
    assert_eq!(code, 0, "ctr c start as a group member: {stderr}");
    assert_eq!(stdout.trim(), id);
    let (code, _, stderr) = as_nobody(&[&bin, "--address", &addr, "c", "rm", "-f", &id]);
    assert_eq!(code, 0, "{stderr}");

    // Root too.
    let r = tcp_request(&tcp, "GET", "/state", None).expect("GET /state as root");
    assert_eq!(r.status, 200, "{r:?}");
}
