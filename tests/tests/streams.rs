//! The API's streams and observability endpoints, called directly: /events (filters, slow
//! readers), /stats, /metrics, /version, and live resource updates.

use std::io::Read;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use ctrd_tests::ctr::*;
use ctrd_tests::*;

const LONG: Duration = Duration::from_secs(60);

fn is_event(v: &Value, id: &str, ty: &str) -> bool {
    v["id"] == json!(id) && v["type"] == json!(ty)
}

fn line_is(l: &str, id: &str, ty: &str) -> bool {
    serde_json::from_str::<Value>(l).is_ok_and(|v| is_event(&v, id, ty))
}

// 16
#[test]
fn events_start_signal_exit_and_filter() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let x = unique_id("evx");
    let y = unique_id("evy");
    let mut all = ApiStream::get(&d, "/events");
    let mut only_x = ApiStream::get(&d, &format!("/events?id={x}"));
    for s in [&all, &only_x] {
        assert_eq!(s.status, 200);
        let ct = s
            .headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str());
        assert_eq!(ct, Some("application/x-ndjson"), "{:?}", s.headers);
    }
    // An invalid id is refused.
    let r = d.get("/events?id=-bad");
    assert_eq!(r.status, 400, "{r:?}");

    let b = d.bundle("ev", &["sleep", "1000"]);
    let ypid = d.create_ok(&y, &b);
    let xpid = d.create_ok(&x, &b);
    let r = d.patch(&format!("/containers/{x}"), Some(json!({"signal": 9})));
    assert_eq!(r.status, 200, "{r:?}");
    d.wait_status(&x, "stopped", WAIT);

    let s = all
        .lines
        .wait_for(LONG, |l| line_is(l, &x, "startContainer"))
        .unwrap_or_else(|| panic!("no startContainer for {x}: {}", all.lines.text()));
    let sig = all
        .lines
        .wait_for_from(s, LONG, |l| line_is(l, &x, "signal"))
        .unwrap_or_else(|| panic!("no signal event for {x}: {}", all.lines.text()));
    let e = all
        .lines
        .wait_for_from(sig, LONG, |l| line_is(l, &x, "exit"))
        .unwrap_or_else(|| panic!("no exit after the signal for {x}: {}", all.lines.text()));
    let evs = all.json_lines();
    let get = |i: usize| -> Value { serde_json::from_str(&all.lines.seen[i]).unwrap() };
    assert_eq!(get(s)["pid"], json!(xpid));
    assert_eq!(get(sig)["status"], json!(9));
    assert_eq!(get(e)["status"], json!(137), "{:?}", all.lines.seen[e]);
    assert_eq!(get(e)["pid"], json!(xpid));
    assert!(get(e)["timestamp"].is_string());
    assert!(
        evs.iter()
            .any(|v| is_event(v, &y, "startContainer") && v["pid"] == json!(ypid)),
        "no startContainer for {y}: {}",
        all.lines.text()
    );

    only_x
        .lines
        .wait_for(LONG, |l| line_is(l, &x, "exit"))
        .unwrap_or_else(|| panic!("filtered stream: no exit for {x}: {}", only_x.lines.text()));
    let evs = only_x.json_lines();
    assert_eq!(
        evs.len(),
        only_x.lines.seen.len(),
        "non-JSON lines: {}",
        only_x.lines.text()
    );
    assert!(
        evs.iter().all(|v| v["id"] == json!(x)),
        "?id={x} let others through: {evs:?}"
    );
    let types: Vec<&str> = evs.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(types, ["startContainer", "signal", "exit"], "{evs:?}");
}

/// Creates `n` containers from `b` on `threads` threads; panics on any failure; returns the ids
/// and the wall time.
fn start_many(d: &Daemon, b: &Bundle, prefix: &str, n: usize, threads: usize) -> (Vec<String>, Duration) {
    let ids: Vec<String> = (0..n).map(|i| unique_id(&format!("{prefix}{i}"))).collect();
    let failures = Mutex::new(Vec::new());
    let t0 = Instant::now();
    thread::scope(|s| {
        for chunk in ids.chunks(n.div_ceil(threads)) {
            let failures = &failures;
            s.spawn(move || {
                for id in chunk {
                    let r = d.create(id, b);
                    if r.status != 201 {
                        failures.lock().unwrap().push(format!("{id}: {r:?}"));
                    }
                }
            });
        }
    });
    let took = t0.elapsed();
    let f = failures.into_inner().unwrap();
    assert!(f.is_empty(), "creates failed: {f:?}\nlog:\n{}", d.log_tail(30));
    (ids, took)
}

/// Sends `n` signal-28 (SIGWINCH: ignored by the container's init) PATCHes to `id` on 4
/// threads: `n` `signal` events.
fn signal_events(d: &Daemon, id: &str, n: usize) {
    thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for _ in (t..n).step_by(4) {
                    let r = d.patch(&format!("/containers/{id}"), Some(json!({"signal": 28})));
                    assert_eq!(r.status, 200, "PATCH signal 28: {r:?}");
                }
            });
        }
    });
}

fn assert_all_started(live: &mut ApiStream, ids: &[String]) {
    for id in ids {
        assert!(
            live.lines
                .wait_for(LONG, |l| line_is(l, id, "startContainer"))
                .is_some(),
            "live reader missed startContainer of {id} ({} lines seen)",
            live.lines.seen.len()
        );
    }
}

// 17
#[test]
fn stalled_events_reader_does_not_slow_others() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("stall", &["sleep", "1000"]);
    let target = unique_id("target");
    d.create_ok(&target, &b);

    // Without a stalled reader.
    let mut live = ApiStream::get(&d, "/events");
    let (ids, without) = start_many(&d, &b, "a", 50, 5);
    assert_all_started(&mut live, &ids);
    for id in &ids {
        d.force_delete(id);
    }

    // With a reader that never reads: fill its socket and most of its buffer first.
    let (status, _, mut stalled) = http_stream_open(&d.socket, "GET", "/events").expect("open stalled /events");
    assert_eq!(status, 200);
    let mut live = ApiStream::get(&d, "/events");
    signal_events(&d, &target, 900);
    let (ids, with) = start_many(&d, &b, "b", 50, 5);
    assert_all_started(&mut live, &ids);
    eprintln!(
        "50 starts (5 threads): {:.3} s without a stalled /events reader, {:.3} s with one",
        without.as_secs_f64(),
        with.as_secs_f64()
    );
    // Now overflow it for sure.
    let extra = 2500;
    signal_events(&d, &target, extra);
    let total = 900 + 50 + extra;
    // The live reader got everything.
    let want = |l: &str| line_is(l, &target, "signal");
    let ok = wait_until(LONG, || {
        live.lines.poll();
        live.lines.seen.iter().filter(|l| want(l)).count() >= 900 + extra
    });
    assert!(
        ok,
        "live reader got {} of {} signal events",
        live.lines.seen.iter().filter(|l| want(l)).count(),
        900 + extra
    );
    assert!(
        !live.lines.seen.iter().any(|l| l.contains("overflow")),
        "the live reader overflowed"
    );

    // The stalled one was cut off with an overflow line after a bounded amount.
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let r = stalled.read_to_end(&mut buf);
        let _ = tx.send((r.map_err(|e| e.to_string()), buf));
    });
    let (r, buf) = rx
        .recv_timeout(LONG)
        .expect("the stalled /events response never ended (overflow should end it)");
    r.expect("reading the stalled /events response");
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("stalled reader: {} lines of {total} events", lines.len());
    assert_eq!(
        lines.last().copied(),
        Some(r#"{"type":"overflow"}"#),
        "last lines: {:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
    let events = lines.len() - 1;
    assert!(
        events < total,
        "the stalled reader got every event ({events}): not cut off"
    );
    // 1024 buffered lines, plus what the kernel's socket buffer (and hyper's write buffer)
    // took before the reader stalled completely: a few hundred lines of ~150 bytes.
    assert!(
        events <= 1024 + 1024,
        "the stalled reader got {events} lines: more than its buffer plus the socket's"
    );
    assert!(
        lines[..events].iter().all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "stalled reader got a broken line"
    );
    assert!(d.is_running());
}

// 18
#[test]
fn stats_memory_grows() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let mut b = d.bundle("mem", &["sleep", "1000"]);
    b.edit_write(|c| {
        spec::add_mount(
            c,
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "mode=1777", "size=128m"]}),
        )
    });
    let id = unique_id("mem");
    d.create_ok(&id, &b);
    let usage = || {
        let r = d.get(&format!("/containers/{id}/stats"));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json["id"], json!(id));
        r.json["memory"]["usage"]
            .as_u64()
            .unwrap_or_else(|| panic!("no memory.usage: {r:?}"))
    };
    let before = usage();
    let pid = d.exec_ok(&id, &["dd", "if=/dev/zero", "of=/tmp/fill", "bs=1M", "count=64"]);
    let r = d.post(&format!("/containers/{id}/process/{pid}/wait"), None);
    assert_eq!(r.json["exitStatus"], json!(0), "dd: {r:?}");
    let mut after = 0;
    let ok = wait_until(WAIT, || {
        after = usage();
        after > before + 30_000_000
    });
    assert!(ok, "memory.usage did not grow by 30 MB: before {before}, after {after}");

    // The stream gives the same figures, one JSON object per line.
    let mut s = ApiStream::get(&d, &format!("/containers/{id}/stats?stream=true"));
    assert_eq!(s.status, 200);
    s.lines.wait_for_from(1, LONG, |_| true).expect("two stats lines");
    let v: Value = serde_json::from_str(&s.lines.seen[0]).expect("stats line is JSON");
    assert!(v["memory"]["usage"].as_u64().unwrap() > before + 30_000_000, "{v}");
    // It ends when the container stops.
    d.patch(&format!("/containers/{id}"), Some(json!({"signal": 9})));
    assert!(
        s.lines.wait_end(LONG),
        "stats stream did not end after the container stopped"
    );
    let r = d.get(&format!("/containers/{id}/stats"));
    assert_eq!(r.status, 409, "stats of a stopped container: {r:?}");
}

// 19
#[test]
fn metrics_exposition() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("met", &["sleep", "1000"]);
    let id = unique_id("met");
    d.create_ok(&id, &b);
    let r = d.get("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type").unwrap_or("").starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    let m = &r.body;
    assert_eq!(metric_in(m, r#"ctrd_containers{status="running"}"#), Some(1.0), "{m}");
    assert_eq!(metric_in(m, "ctrd_container_starts_total"), Some(1.0), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("ctrd_container_start_seconds_bucket{")),
        "{m}"
    );
    assert_eq!(metric_in(m, "ctrd_container_start_seconds_count"), Some(1.0), "{m}");
    let post = m.lines().find(|l| {
        l.starts_with("ctrd_http_request_seconds_count{")
            && l.contains(r#"route="/containers/{id}""#)
            && l.contains(r#"method="POST""#)
            && l.contains(r#"code="201""#)
    });
    let post = post.unwrap_or_else(|| panic!("no POST /containers/{{id}} 201 request count: {m}"));
    assert_eq!(post.rsplit(' ').next(), Some("1"), "{post}");
    let fds = metric_in(m, "ctrd_open_fds").unwrap_or_else(|| panic!("no ctrd_open_fds: {m}"));
    assert!(fds > 0.0, "{m}");
}

// 20
#[test]
fn version_keys() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let r = d.get("/version");
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json.as_object().unwrap_or_else(|| panic!("{r:?}"));
    for k in ["version", "apiVersion", "libcontainer", "criu"] {
        assert!(v.contains_key(k), "/version has no {k}: {r:?}");
    }
    assert!(r.json["version"].as_str().is_some_and(|s| !s.is_empty()), "{r:?}");
    assert_eq!(r.json["apiVersion"], json!("1"), "{r:?}");
}

// 21
#[test]
fn live_resources() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("res", &["sleep", "1000"]);
    let id = unique_id("res");
    d.create_ok(&id, &b);
    let path = format!("/containers/{id}");
    let r = d.patch(
        &path,
        Some(json!({"resources": {
            "memory": {"limit": 67108864},
            "pids": {"limit": 64},
            "cpu": {"quota": 50000, "period": 100000}
        }})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["id"], json!(id));
    let mem = cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(read_or_empty(&mem).trim(), "67108864", "{}", mem.display());
    let pids = cgroup_file(&id, "pids", "pids.max", "pids.max");
    assert_eq!(read_or_empty(&pids).trim(), "64");
    match cgroup_mode() {
        CgroupMode::Unified => {
            let f = cgroup_file(&id, "cpu", "", "cpu.max");
            assert_eq!(read_or_empty(&f).trim(), "50000 100000");
        }
        CgroupMode::Hybrid => {
            let f = cgroup_file(&id, "cpu", "cpu.cfs_quota_us", "cpu.max");
            assert_eq!(read_or_empty(&f).trim(), "50000", "{}", f.display());
        }
    }

    let r = d.patch(&path, Some(json!({"resources": {"memory": {"limit": 10}}})));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!r.error().is_empty(), "{r:?}");
    assert_eq!(
        read_or_empty(&mem).trim(),
        "67108864",
        "a refused update changed the cgroup"
    );
    let r = d.patch(
        &path,
        Some(json!({"resources": {"memory": {"limit": 67108864}, "bogus": 1}})),
    );
    assert_eq!(r.status, 400, "unknown resource member: {r:?}");

    d.patch(&path, Some(json!({"signal": 9})));
    d.wait_status(&id, "stopped", WAIT);
    let r = d.patch(&path, Some(json!({"resources": {"pids": {"limit": 32}}})));
    assert_eq!(r.status, 409, "resources on a stopped container: {r:?}");
}
