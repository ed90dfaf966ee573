//! `ctr bench`: start many containers concurrently, measure, clean up (like containerd 0.0.3's
//! hack/benchmark).

use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::cli::BenchArgs;
use crate::commands::print_json;
use crate::http::{encode, Client, Error, Result};
use crate::stats::summarize;
use crate::Ctx;

/// One request's outcome: its client-observed latency (ms) and the answer, or the error.
type Outcome = std::result::Result<(f64, Value), String>;

/// Runs `f(i)` for i in 0..n on `concurrency` threads pulling from a shared counter; shows a
/// progress bar on stderr when it is a terminal.
fn pool<F>(label: &str, n: usize, concurrency: usize, f: F) -> Vec<Outcome>
where
    F: Fn(usize) -> std::result::Result<Value, Error> + Sync,
{
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; n]);
    let show = io::stderr().is_terminal() && n > 0;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        if show {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    progress(label, finished.load(Ordering::Relaxed), n);
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let t0 = Instant::now();
            let r = f(i);
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let outcome = r.map(|v| (ms, v)).map_err(|e| e.to_string());
            if let Ok(mut g) = results.lock() {
                g[i] = Some(outcome);
            }
            finished.fetch_add(1, Ordering::Relaxed);
        };
        let workers: Vec<_> = (0..concurrency.clamp(1, n.max(1)))
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        if workers.is_empty() {
            work(); // could not start a thread: do it all here
        }
        for w in workers {
            let _ = w.join();
        }
        stop.store(true, Ordering::Relaxed);
    });
    if show {
        progress(label, n, n);
        eprintln!();
    }
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("not run".into())))
        .collect()
}

fn progress(label: &str, done: usize, total: usize) {
    const WIDTH: usize = 40;
    let filled = done * WIDTH / total.max(1);
    eprint!(
        "\r{label:<8} [{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = io::stderr().flush();
}

fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:06x}",
        ((nanos as u64) ^ ((std::process::id() as u64) << 20)) & 0xff_ffff
    )
}

/// Waits until every one of `ids` shows as running in GET /state (or the deadline passes);
/// returns how many are running.
fn wait_running(client: &Client, ids: &[String], deadline: Duration) -> Result<usize> {
    let want: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    loop {
        let state = client.call("GET", "/state", None)?;
        let running = state["containers"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| c["status"] == "running" && c["id"].as_str().is_some_and(|id| want.contains(id)))
            .count();
        if running >= want.len() || t0.elapsed() > deadline {
            return Ok(running);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn errors_of(outcomes: &[Outcome]) -> Vec<String> {
    let mut seen = Vec::new();
    for e in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        if !seen.contains(e) {
            seen.push(e.clone());
        }
        if seen.len() >= 5 {
            break;
        }
    }
    seen
}

pub fn run(ctx: &Ctx, a: &BenchArgs) -> Result<i32> {
    let client = &ctx.client;
    if a.count == 0 {
        return Err("--count must be at least 1".into());
    }
    // Fail fast (and clearly) when the daemon is not there.
    client.call("GET", "/version", None)?;
    let bundle = std::path::absolute(&a.bundle).map_err(|e| Error::Other(format!("{}: {e}", a.bundle.display())))?;
    if !bundle.join("config.json").exists() {
        return Err(Error::Other(format!(
            "{}: no config.json there (make one with `ctr bundle init {}`)",
            bundle.display(),
            bundle.display()
        )));
    }
    let rid = run_id();
    let ids: Vec<String> = (0..a.count).map(|n| format!("bench-{rid}-{n}")).collect();
    let body = json!({"bundlePath": bundle.to_string_lossy()});

    // Start phase.
    let t0 = Instant::now();
    let starts = pool("start", a.count, a.concurrency, |i| {
        client.call("POST", &format!("/containers/{}", encode(&ids[i])), Some(&body))
    });
    let start_wall = t0.elapsed().as_secs_f64();
    let started: Vec<String> = starts
        .iter()
        .zip(&ids)
        .filter(|(o, _)| o.is_ok())
        .map(|(_, id)| id.clone())
        .collect();
    let latencies: Vec<f64> = starts
        .iter()
        .filter_map(|o| o.as_ref().ok().map(|(ms, _)| *ms))
        .collect();
    let daemon_ms: Vec<f64> = starts
        .iter()
        .filter_map(|o| {
            o.as_ref()
                .ok()
                .and_then(|(_, v)| v.get("startMs").and_then(Value::as_f64))
        })
        .collect();
    let failures = a.count - started.len();
    let start_errors = errors_of(&starts);
    let running = wait_running(client, &started, Duration::from_secs(60))?;
    let running_wall = t0.elapsed().as_secs_f64();

    // Exec phase.
    let exec = if a.exec && !started.is_empty() {
        let pbody = json!({"args": ["true"], "env": [], "terminal": false});
        let t = Instant::now();
        let outs = pool("exec", started.len(), a.concurrency, |i| {
            client.call(
                "PUT",
                &format!("/containers/{}/process", encode(&started[i])),
                Some(&pbody),
            )
        });
        let wall = t.elapsed().as_secs_f64();
        let lat: Vec<f64> = outs.iter().filter_map(|o| o.as_ref().ok().map(|(ms, _)| *ms)).collect();
        Some((summarize(&lat), outs.len() - lat.len(), wall, errors_of(&outs)))
    } else {
        None
    };

    // Cleanup phase: force-delete (kills) every container this run created.
    let cleanup = if a.keep {
        None
    } else {
        let t = Instant::now();
        let outs = pool("delete", started.len(), a.concurrency, |i| {
            client.call(
                "DELETE",
                &format!("/containers/{}?force=true", encode(&started[i])),
                None,
            )
        });
        let failed = outs.iter().filter(|o| o.is_err()).count();
        Some((failed, t.elapsed().as_secs_f64(), errors_of(&outs)))
    };

    let start_summary = summarize(&latencies);
    let daemon_summary = summarize(&daemon_ms);
    let rate = if start_wall > 0.0 {
        a.count as f64 / start_wall
    } else {
        0.0
    };
    if ctx.json {
        print_json(&json!({
            "runId": rid,
            "bundle": bundle,
            "count": a.count,
            "concurrency": a.concurrency,
            "started": started.len(),
            "failures": failures,
            "errors": start_errors,
            "running": running,
            "startWallSeconds": start_wall,
            "allRunningSeconds": running_wall,
            "rate": rate,
            "startLatencyMs": start_summary.to_json(),
            "daemonStartMs": daemon_summary.to_json(),
            "exec": exec.as_ref().map(|(s, f, w, e)| json!({
                "latencyMs": s.to_json(), "failures": f, "wallSeconds": w, "errors": e,
            })),
            "cleanup": cleanup.as_ref().map(|(f, w, e)| json!({"failures": f, "wallSeconds": w, "errors": e})),
            "kept": a.keep,
        }));
    } else {
        outln!(
            "bench {rid}: {} containers from {}, concurrency {}",
            a.count,
            bundle.display(),
            a.concurrency
        );
        outln!(
            "started: {} ok, {failures} failed in {start_wall:.3} s ({rate:.1} containers/s); {running} running after {running_wall:.3} s",
            started.len()
        );
        for e in &start_errors {
            outln!("  error: {e}");
        }
        out!("{}", start_summary.lines("start latency (client-observed)"));
        if daemon_summary.count > 0 || started.is_empty() {
            out!("{}", daemon_summary.lines("start time inside the daemon (startMs)"));
        } else {
            outln!("start time inside the daemon (startMs): not reported by this daemon");
        }
        if let Some((s, f, w, e)) = &exec {
            outln!("exec: {} ok, {f} failed in {w:.3} s", s.count);
            for e in e {
                outln!("  error: {e}");
            }
            out!("{}", s.lines("exec latency (client-observed)"));
        }
        match &cleanup {
            Some((f, w, e)) => {
                outln!("removed: {} ok, {f} failed in {w:.3} s", started.len() - f);
                for e in e {
                    outln!("  error: {e}");
                }
            }
            None => outln!("kept: {} containers (bench-{rid}-*)", started.len()),
        }
    }
    Ok(i32::from(failures > 0))
}
