//! `ctr`, the command-line client, driven as a user would against a real daemon.
//!
//! Needs both binaries: `cargo build -p ctrd -p ctr-cli`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctrd_tests::ctr::*;
use ctrd_tests::*;

/// Long enough for a loaded machine.
const LONG: Duration = Duration::from_secs(60);

/// `ctr bundle init DIR [-- CMD...]` into `<daemon dir>/bundles/<unique>`; returns DIR.
fn init_bundle(d: &Daemon, name: &str, cmd: &[&str]) -> PathBuf {
    let dir = d.dir.join("bundles").join(unique_id(name));
    let dir_s = dir.display().to_string();
    let mut args = vec!["bundle", "init", dir_s.as_str()];
    if !cmd.is_empty() {
        args.push("--");
        args.extend_from_slice(cmd);
    }
    ctr(d, &args).ok();
    dir
}

/// `ctr c start ID DIR`, asserting it prints the id.
fn start(d: &Daemon, id: &str, dir: &Path) {
    let out = ctr(d, &["c", "start", id, &dir.display().to_string()]);
    assert_eq!(
        out.code,
        0,
        "ctr c start {id}: {out:?}\ndaemon log:\n{}",
        d.log_tail(30)
    );
    assert_eq!(out.stdout.trim(), id, "{out:?}");
}

/// A running `sleep infinity` container started with ctr from a `ctr bundle init` bundle.
fn running(d: &Daemon, name: &str) -> (String, PathBuf) {
    let dir = init_bundle(d, name, &[]);
    let id = unique_id(name);
    start(d, &id, &dir);
    (id, dir)
}

/// The `ctr c ls` row of `id` split on whitespace.
fn ls_row(d: &Daemon, id: &str) -> Vec<String> {
    let out = ctr(d, &["c", "ls"]).ok();
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row for {id} in ctr c ls: {out:?}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn assert_no_panic(out: &CtrOut) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "thread 'main'"] {
        assert!(!out.stderr.contains(bad), "ctr panicked: {out:?}");
    }
}

// 1
#[test]
fn bundle_init_start_and_list() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let dir = init_bundle(&d, "web", &[]);
    let bb = fs::symlink_metadata(dir.join("rootfs/bin/busybox")).expect("rootfs/bin/busybox");
    assert!(bb.file_type().is_file(), "rootfs/bin/busybox is not a regular file");
    let sh = fs::symlink_metadata(dir.join("rootfs/bin/sh")).expect("rootfs/bin/sh");
    assert!(sh.file_type().is_symlink(), "rootfs/bin/sh is not a symlink");
    assert!(dir.join("config.json").is_file());

    let id = unique_id("web");
    start(&d, &id, &dir);

    let out = ctr(&d, &["c", "ls"]).ok();
    let header: Vec<&str> = out.stdout.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["ID", "STATUS", "PID", "EXIT", "BUNDLE", "CREATED"], "{out:?}");
    let row = ls_row(&d, &id);
    assert_eq!(row[1], "running", "{row:?}");
    let pid: i32 = row[2].parse().unwrap_or_else(|_| panic!("PID column {row:?}"));
    assert!(pid_alive(pid));
    assert_eq!(row[3], "-", "{row:?}");

    let out = ctr(&d, &["--json", "c", "ls"]).ok();
    let v = out.json();
    let list = v.as_array().unwrap_or_else(|| panic!("not an array: {out:?}"));
    assert!(
        list.iter().any(|c| c["id"] == json!(id) && c["status"] == "running"),
        "{out:?}"
    );
}

// 2
#[test]
fn duplicate_start_fails() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, dir) = running(&d, "dup");
    let out = ctr(&d, &["c", "start", &id, &dir.display().to_string()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("ctr: "), "{out:?}");
    assert!(out.stderr.contains(&id), "the error should name the container: {out:?}");
    assert_no_panic(&out);
}

// 3
#[test]
fn exec_exit_codes_detach_and_signal_a_process() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "exec");

    let out = ctr(&d, &["c", "exec", &id, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, 7, "{out:?}");

    let out = ctr(&d, &["--json", "c", "exec", &id, "--", "true"]).ok();
    let v = out.json();
    assert_eq!(v["exitStatus"], json!(0), "{out:?}");
    assert!(v["pid"].as_i64().unwrap_or(0) > 0, "{out:?}");

    let out = ctr(&d, &["c", "exec", "-d", &id, "--", "sleep", "100"]).ok();
    let p: i32 = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("exec -d did not print a pid: {out:?}"));
    assert!(wait_until(WAIT, || pid_alive(p)), "detached process {p} not running");

    let out = ctr(&d, &["c", "kill", "--pid", &p.to_string(), "--signal", "USR1", &id]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut last = Value::Null;
    let ok = wait_until(LONG, || {
        let out = ctr(&d, &["c", "inspect", &id]).ok();
        last = out.json();
        last["processes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|x| x["pid"] == json!(p)))
            .is_some_and(|x| x["exitStatus"] == json!(138))
    });
    assert!(ok, "process {p} never showed exitStatus 138 (SIGUSR1): {last:#}");
}

// 4
#[test]
fn exec_user_env_cwd() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "user");
    let out = ctr(
        &d,
        &[
            "c",
            "exec",
            "--user",
            "65534:65534",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            &id,
            "--",
            "sh",
            "-c",
            r#"test "$(id -u)" = 65534 && test "$(id -g)" = 65534 && test "$FOO" = bar && test "$PWD" = /tmp"#,
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    // And the opposite, so the check above is not vacuous.
    let out = ctr(&d, &["c", "exec", &id, "--", "sh", "-c", r#"test "$(id -u)" = 65534"#]);
    assert_eq!(out.code, 1, "{out:?}");
}

/// True when one line of the terminal output is exactly `word` (the typed command line, which
/// the terminal echoes, also contains the word).
fn has_line(output: &str, word: &str) -> bool {
    output.lines().any(|l| l.trim_matches(['\r', '\n', ' ']) == word)
}

// 5
#[test]
fn interactive_exec_through_a_pty() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "tty");

    let mut p = PtyCtr::spawn(&d, &["c", "exec", "-t", &id, "--", "sh"]);
    // The shell's prompt ("/ # ") shows once we are attached; type anyway if it does not.
    let prompt = p.wait_output("# ", LONG);
    p.write(b"echo hi; exit 3\n");
    let (code, output) = p.wait(LONG);
    eprintln!("terminal output: {output:?}");
    assert!(
        has_line(&output, "hi"),
        "no line 'hi' in the terminal output (prompt seen: {prompt}): {output:?}"
    );
    assert_eq!(code, Some(3), "ctr exec -t exit code; output: {output:?}");

    // Without "--"; the terminal's size (24x80, set by the test on its pty) reached the
    // process's pty through ctr's resize.
    let mut p = PtyCtr::spawn(&d, &["c", "exec", "-t", &id, "sh"]);
    p.wait_output("# ", LONG);
    p.write(b"stty size; exit 0\n");
    let (code, output) = p.wait(LONG);
    assert!(has_line(&output, "24 80"), "window size not propagated: {output:?}");
    assert_eq!(code, Some(0), "{output:?}");

    // Piped stdin (not a terminal).
    let out = Ctr::new(&d, &["c", "exec", "-t", &id, "sh"])
        .stdin(b"echo piped; exit 4\n")
        .run();
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stdout.contains("piped"), "{out:?}");
}

// 5 (short-lived command)
#[test]
fn interactive_exec_of_a_short_command() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "ttyshort");
    for i in 0..5 {
        let word = format!("hello{i}");
        let p = PtyCtr::spawn(&d, &["c", "exec", "-t", &id, "echo", &word]);
        let (code, output) = p.wait(LONG);
        assert!(has_line(&output, &word), "run {i}: no {word:?} in {output:?}");
        assert_eq!(code, Some(0), "run {i}: {output:?}");

        let out = Ctr::new(&d, &["c", "exec", "-t", &id, "sh", "-c", "echo piped; exit 3"]).run();
        assert_eq!(out.code, 3, "run {i}: {out:?}");
        assert!(out.stdout.contains("piped"), "run {i}: {out:?}");
    }
}

// 6
#[test]
fn pause_and_resume() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "pause");
    let out = ctr(&d, &["c", "pause", &id]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(ls_row(&d, &id)[1], "paused");
    assert_eq!(freezer_state(&id).as_deref(), Some("FROZEN"));

    let out = ctr(&d, &["c", "exec", &id, "true"]);
    assert_eq!(out.code, 1, "exec in a paused container: {out:?}");
    assert!(out.stderr.starts_with("ctr: "), "{out:?}");
    let out = ctr(&d, &["c", "pause", &id]);
    assert_eq!(out.code, 1, "pause twice: {out:?}");

    let out = ctr(&d, &["c", "resume", &id]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(ls_row(&d, &id)[1], "running");
    let out = ctr(&d, &["c", "exec", &id, "true"]);
    assert_eq!(out.code, 0, "exec after resume: {out:?}");
}

// 7
#[test]
fn update_limits_and_stats() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "upd");
    let out = ctr(&d, &["c", "update", &id, "--memory", "256M", "--pids-limit", "50"]);
    assert_eq!(out.code, 0, "{out:?}");

    let mem = cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max");
    let pids = cgroup_file(&id, "pids", "pids.max", "pids.max");
    assert_eq!(read_or_empty(&mem).trim(), "268435456", "{}", mem.display());
    assert_eq!(read_or_empty(&pids).trim(), "50", "{}", pids.display());

    let out = ctr(&d, &["c", "stats", &id]).ok();
    assert!(
        out.stdout.contains("256.0MiB"),
        "stats should show the memory limit: {out:?}"
    );
    assert!(out.stdout.contains("/ 50"), "stats should show the pids limit: {out:?}");
    let out = ctr(&d, &["--json", "c", "stats", &id]).ok();
    let v = out.json();
    assert_eq!(v["memory"]["limit"], json!(268435456u64), "{out:?}");
    assert_eq!(v["pids"]["limit"], json!(50), "{out:?}");

    let mut s = ctr_spawn(&d, &["--json", "c", "stats", "--stream", &id]);
    s.stdout.wait_for_from(0, LONG, |_| true).expect("first stats line");
    s.stdout
        .wait_for_from(1, LONG, |_| true)
        .unwrap_or_else(|| panic!("only one stats line: {}", s.stdout.text()));
    let stderr = s.kill();
    for l in &s.stdout.seen {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("stats line not JSON ({e}): {l:?}"));
        assert!(v.get("cpu").is_some(), "no cpu key: {l}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// 8
#[test]
fn kill_wait_and_bad_signal() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "kill");
    let out = ctr(&d, &["c", "kill", "-s", "NOPE", &id]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("NOPE"), "the error should name the signal: {out:?}");
    assert_no_panic(&out);
    assert_eq!(ls_row(&d, &id)[1], "running");

    let out = ctr(&d, &["c", "kill", "-s", "KILL", &id]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = ctr(&d, &["c", "wait", &id]);
    assert_eq!(out.code, 137, "{out:?}");
    assert_eq!(out.stdout.trim(), "137", "{out:?}");
    let row = ls_row(&d, &id);
    assert_eq!(row[1], "stopped", "{row:?}");
    assert_eq!(row[3], "137", "{row:?}");
    // Waiting again on a stopped container answers at once.
    let out = ctr(&d, &["c", "wait", &id]);
    assert_eq!(out.code, 137, "{out:?}");
}

// 9
#[test]
fn logs_stdout_stderr_tail_follow() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let dir = init_bundle(&d, "logs", &["sh", "-c", "echo line1; echo err1 >&2; exit 5"]);
    let id = unique_id("logs");
    start(&d, &id, &dir);
    let out = ctr(&d, &["c", "wait", &id]);
    assert_eq!(out.code, 5, "{out:?}");
    let out = ctr(&d, &["c", "logs", &id]).ok();
    assert_eq!(out.stdout, "line1\n", "{out:?}");
    let out = ctr(&d, &["c", "logs", "--stderr", &id]).ok();
    assert_eq!(out.stdout, "err1\n", "{out:?}");

    let dir = init_bundle(&d, "tail", &["sh", "-c", "echo a; echo b; echo c"]);
    let id = unique_id("tail");
    start(&d, &id, &dir);
    assert_eq!(ctr(&d, &["c", "wait", &id]).code, 0);
    let out = ctr(&d, &["c", "logs", "--tail", "1", &id]).ok();
    assert_eq!(out.stdout, "c\n", "{out:?}");
    let out = ctr(&d, &["c", "logs", "--tail", "2", &id]).ok();
    assert_eq!(out.stdout, "b\nc\n", "{out:?}");

    // --follow: a line every 0.2 s until killed.
    let dir = init_bundle(
        &d,
        "follow",
        &[
            "sh",
            "-c",
            "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done",
        ],
    );
    let id = unique_id("follow");
    start(&d, &id, &dir);
    let mut f = ctr_spawn(&d, &["c", "logs", "--follow", &id]);
    let first = f
        .stdout
        .wait_for(LONG, |l| l.starts_with("tick"))
        .unwrap_or_else(|| panic!("no line from logs --follow: {}", f.stdout.text()));
    let n0: u64 = f.stdout.seen[first][4..].parse().unwrap();
    // Lines written after the follow started keep arriving.
    let want = format!("tick{}", n0 + 5);
    assert!(
        f.stdout.wait_for(LONG, |l| l == want).is_some(),
        "logs --follow did not show {want}: {}",
        f.stdout.text()
    );
    let ticks: Vec<u64> = f
        .stdout
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("tick")?.parse().ok())
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "lines out of order: {ticks:?}"
    );
    assert_eq!(
        f.wait_exit(Duration::ZERO),
        None,
        "logs --follow ended while the container runs"
    );
    ctr(&d, &["c", "kill", "-s", "KILL", &id]).ok();
    let code = f.wait_exit(LONG);
    assert_eq!(code, Some(0), "logs --follow should end (0) once the container stopped");
}

fn event_id_type(l: &str) -> Option<(String, String)> {
    // Human lines: "TIMESTAMP TYPE ID pid=.. status=..".
    let f: Vec<&str> = l.split_whitespace().collect();
    Some((f.get(2)?.to_string(), f.get(1)?.to_string()))
}

// 10
#[test]
fn events_human_and_json_with_filter() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let dir = init_bundle(&d, "ev", &[]);
    let x = unique_id("evx");
    let y = unique_id("evy");

    let before = request_count(&d, "/events", "GET");
    let mut all = ctr_spawn(&d, &["events"]);
    let mut only_x = ctr_spawn(&d, &["--json", "events", "--id", &x]);
    // Both subscribed (counted once the answer's head is sent).
    assert!(
        wait_until(LONG, || request_count(&d, "/events", "GET") >= before + 2.0),
        "the two ctr events never subscribed"
    );

    start(&d, &y, &dir);
    start(&d, &x, &dir);
    ctr(&d, &["c", "kill", "-s", "KILL", &x]).ok();
    assert_eq!(ctr(&d, &["c", "wait", &x]).code, 137);
    ctr(&d, &["c", "rm", &x]).ok();
    ctr(&d, &["c", "rm", "-f", &y]).ok();

    // Human stream: startContainer X, then exit X status=137, then deleteContainer X; Y too.
    let is = |id: &str, ty: &str| {
        let (id, ty) = (id.to_string(), ty.to_string());
        move |l: &str| event_id_type(l) == Some((id.clone(), ty.clone()))
    };
    let s = all
        .stdout
        .wait_for(LONG, is(&x, "startContainer"))
        .unwrap_or_else(|| panic!("no startContainer for {x}: {}", all.stdout.text()));
    let e = all
        .stdout
        .wait_for_from(s, LONG, is(&x, "exit"))
        .unwrap_or_else(|| panic!("no exit after startContainer for {x}: {}", all.stdout.text()));
    assert!(all.stdout.seen[e].contains("status=137"), "{}", all.stdout.seen[e]);
    all.stdout
        .wait_for_from(e, LONG, is(&x, "deleteContainer"))
        .unwrap_or_else(|| panic!("no deleteContainer after exit for {x}: {}", all.stdout.text()));
    all.stdout
        .wait_for(LONG, is(&y, "deleteContainer"))
        .unwrap_or_else(|| panic!("no events of {y}: {}", all.stdout.text()));

    // JSON, filtered: X's events only, in order.
    only_x
        .stdout
        .wait_for(LONG, |l| l.contains("deleteContainer"))
        .unwrap_or_else(|| panic!("no deleteContainer in --id stream: {}", only_x.stdout.text()));
    let evs: Vec<Value> = only_x
        .stdout
        .seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("--json events line not JSON ({e}): {l:?}")))
        .collect();
    assert!(
        evs.iter().all(|e| e["id"] == json!(x)),
        "--id let other events through: {evs:?}"
    );
    let types: Vec<&str> = evs.iter().filter_map(|e| e["type"].as_str()).collect();
    let pos = |t: &str| types.iter().position(|x| *x == t);
    let (s, e) = (pos("startContainer"), pos("exit"));
    assert!(s.is_some() && e.is_some() && s < e, "order: {types:?}");
    assert_eq!(evs[e.unwrap()]["status"], json!(137), "{evs:?}");
    assert!(types.contains(&"signal"), "{types:?}");

    assert_eq!(all.wait_exit(Duration::ZERO), None, "ctr events ended by itself");
    all.kill();
    only_x.kill();
}

// 11
#[test]
fn rm_reports_every_error() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, _) = running(&d, "rm");
    let nope = unique_id("nope");
    let out = ctr(&d, &["c", "rm", &nope, &id]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&nope), "error for {nope} missing: {out:?}");
    assert!(out.stderr.contains(&id), "error for {id} missing: {out:?}");
    assert_eq!(
        out.stderr.lines().filter(|l| l.starts_with("ctr: ")).count(),
        2,
        "{out:?}"
    );
    assert_eq!(ls_row(&d, &id)[1], "running");

    let out = ctr(&d, &["c", "rm", "-f", &id]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), id);
    d.assert_no_trace(&id);
}

// 12
#[test]
fn unreachable_daemon() {
    if skip_unless_root() {
        return;
    }
    let out = Ctr::bare(&["--address", "unix:///nonexistent.sock", "state"]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("cannot reach ctrd at unix:///nonexistent.sock"),
        "{out:?}"
    );
    assert_no_panic(&out);

    let out = Ctr::bare(&["--address", "tcp://127.0.0.1:1", "c", "ls"]).run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot reach ctrd at tcp://127.0.0.1:1"), "{out:?}");
    assert_no_panic(&out);

    // Through the environment too.
    let out = Ctr::bare(&["version"]).address("unix:///nonexistent.sock").run();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot reach ctrd"), "{out:?}");
    assert_no_panic(&out);
}

// 13
#[test]
fn bench_starts_execs_and_cleans_up() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let dir = init_bundle(&d, "bench", &[]);
    let out = Ctr::new(
        &d,
        &[
            "--json",
            "bench",
            "--count",
            "20",
            "--concurrency",
            "5",
            "--bundle",
            &dir.display().to_string(),
            "--exec",
        ],
    )
    .timeout(Duration::from_secs(300))
    .run();
    assert_eq!(out.code, 0, "{out:?}\ndaemon log:\n{}", d.log_tail(30));
    let v = out.json();
    assert_eq!(v["started"], json!(20), "{v:#}");
    assert_eq!(v["failures"], json!(0), "{v:#}");
    assert_eq!(v["running"], json!(20), "{v:#}");
    assert_eq!(v["exec"]["failures"], json!(0), "{v:#}");
    assert_eq!(v["cleanup"]["failures"], json!(0), "{v:#}");
    let rid = v["runId"].as_str().expect("runId").to_string();

    let out = ctr(&d, &["--json", "c", "ls"]).ok();
    assert_eq!(out.json(), json!([]), "{out:?}");
    let prefix = format!("bench-{rid}-");
    let mut left = Vec::new();
    for e in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for dir in [e.path().join("ctrd"), e.path()] {
            if let Ok(rd) = fs::read_dir(&dir) {
                for c in rd.flatten() {
                    if c.file_name().to_string_lossy().starts_with(&prefix) {
                        left.push(c.path());
                    }
                }
            }
        }
    }
    assert!(left.is_empty(), "cgroups left by bench: {left:?}");
}

// 14
#[test]
fn version_and_completion() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let out = ctr(&d, &["version"]).ok();
    assert!(out.stdout.contains("Client:"), "{out:?}");
    assert!(out.stdout.contains("Server:"), "{out:?}");
    let api = d.get("/version").json["apiVersion"].as_str().unwrap().to_string();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("API version:") && l.trim_end().ends_with(&api)),
        "{out:?}"
    );
    let out = ctr(&d, &["--json", "version"]).ok();
    let v = out.json();
    assert_eq!(v["server"]["apiVersion"], json!(api), "{v}");
    assert!(v["client"]["version"].is_string(), "{v}");

    for sh in ["bash", "zsh", "fish"] {
        let out = Ctr::bare(&["completion", sh]).run();
        assert_eq!(out.code, 0, "{sh}: {out:?}");
        assert!(out.stdout.len() > 100, "{sh}: {out:?}");
        assert!(out.stdout.contains("ctr"), "{sh}: {out:?}");
    }
}

// 15
#[test]
fn state_and_inspect() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let (id, dir) = running(&d, "state");
    let out = ctr(&d, &["state"]).ok();
    assert!(out.stdout.lines().any(|l| l.starts_with(&id)), "{out:?}");
    assert!(out.stdout.lines().any(|l| l.starts_with("machine: ")), "{out:?}");

    let out = ctr(&d, &["--json", "state"]).ok();
    let v = out.json();
    assert_eq!(ids_of(&v), std::slice::from_ref(&id), "{v}");
    assert!(v["machine"]["cpus"].as_u64().unwrap_or(0) >= 1, "{v}");

    let out = ctr(&d, &["c", "inspect", &id]).ok();
    assert!(out.stdout.lines().count() > 5, "not pretty-printed: {out:?}");
    assert!(out.stdout.contains("\n  \""), "not indented: {out:?}");
    let v = out.json();
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["status"], json!("running"));
    let canon = fs::canonicalize(&dir).unwrap();
    assert_eq!(v["bundlePath"], json!(canon.display().to_string()), "{v}");

    let out = ctr(&d, &["c", "inspect", "nope-nope"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("ctr: "), "{out:?}");
}
