//! The commands: each builds its request, calls the daemon, and prints the answer.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::cli::{Bundle, Checkpoints, Containers};
use crate::http::{encode, Body, Error, Result};
use crate::{bundle as bundle_mod, exec, table, Ctx};

pub fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    outln!("{text}");
}

/// Shows a JSON value in a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Ok(c);
    }
    std::path::absolute(p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))
}

fn container_path(id: &str) -> String {
    format!("/containers/{}", encode(id))
}

/// Copies a streaming body to `out` as it arrives. A closed stdout (`| head`) ends it quietly.
fn copy_stream(mut body: impl Read, out: &mut dyn Write) -> Result<u64> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Other(format!("reading from the daemon: {e}"))),
        };
        match out.write_all(&buf[..n]).and_then(|_| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(Error::Other(format!("writing: {e}"))),
        }
        total += n as u64;
    }
    Ok(total)
}

/// Prints an id (human) or the daemon's answer (JSON).
fn done(ctx: &Ctx, human: &str, answer: Value) {
    if ctx.json {
        print_json(&answer);
    } else {
        outln!("{human}");
    }
}

pub fn containers(ctx: &Ctx, cmd: Containers) -> Result<i32> {
    let c = &ctx.client;
    match cmd {
        Containers::List => {
            let state = c.call("GET", "/state", None)?;
            if ctx.json {
                print_json(&state["containers"]);
            } else {
                out!("{}", containers_table(&state["containers"]));
            }
            Ok(0)
        }
        Containers::Start {
            checkpoint,
            from,
            stdout,
            stderr,
            id,
            bundle,
        } => {
            let mut body = Map::new();
            if let Some(bundle) = bundle {
                body.insert("bundlePath".into(), json!(absolute(&bundle)?.to_string_lossy()));
            }
            if let Some(p) = stdout {
                body.insert("stdout".into(), json!(absolute(&p)?.to_string_lossy()));
            }
            if let Some(p) = stderr {
                body.insert("stderr".into(), json!(absolute(&p)?.to_string_lossy()));
            }
            if let Some(cp) = checkpoint {
                body.insert("checkpoint".into(), json!(cp));
            }
            if let Some(f) = from {
                body.insert("checkpointContainer".into(), json!(f));
            }
            let ans = c.call("POST", &container_path(&id), Some(&Value::Object(body)))?;
            done(ctx, &id, ans);
            Ok(0)
        }
        Containers::Kill { pid, signal, id } => {
            let body = json!({ "signal": signal });
            let ans = match pid {
                None => c.call("PATCH", &container_path(&id), Some(&body))?,
                Some(pid) => c.call("POST", &format!("{}/process/{pid}", container_path(&id)), Some(&body))?,
            };
            done(ctx, &id, ans);
            Ok(0)
        }
        Containers::Exec {
            tty,
            user,
            env,
            cwd,
            detach,
            id,
            cmd,
        } => exec::exec(
            ctx,
            exec::ExecRequest {
                id,
                args: cmd,
                env,
                cwd,
                user,
                tty,
                detach,
            },
        ),
        Containers::Pause { id } => {
            let ans = c.call("PATCH", &container_path(&id), Some(&json!({"status": "paused"})))?;
            done(ctx, &id, ans);
            Ok(0)
        }
        Containers::Resume { id } => {
            let ans = c.call("PATCH", &container_path(&id), Some(&json!({"status": "running"})))?;
            done(ctx, &id, ans);
            Ok(0)
        }
        Containers::Delete { force, ids } => {
            let mut failed = false;
            let mut results = Vec::new();
            for id in ids {
                let mut path = container_path(&id);
                if force {
                    path.push_str("?force=true");
                }
                match c.call("DELETE", &path, None) {
                    Ok(_) => {
                        if !ctx.json {
                            outln!("{id}");
                        }
                        results.push(json!({"id": id, "deleted": true}));
                    }
                    Err(e @ Error::Connect { .. }) => return Err(e),
                    Err(e) => {
                        failed = true;
                        eprintln!("ctr: {id}: {e}");
                        results.push(json!({"id": id, "deleted": false, "error": e.to_string()}));
                    }
                }
            }
            if ctx.json {
                print_json(&Value::Array(results));
            }
            Ok(i32::from(failed))
        }
        Containers::Inspect { id } => {
            print_json(&c.call("GET", &container_path(&id), None)?);
            Ok(0)
        }
        Containers::Stats { stream, id } => stats(ctx, &id, stream),
        Containers::Logs {
            follow,
            stderr,
            tail,
            id,
        } => {
            let mut path = format!(
                "{}/logs?stream={}",
                container_path(&id),
                if stderr { "stderr" } else { "stdout" }
            );
            if follow {
                path.push_str("&follow=true");
            }
            if let Some(n) = tail {
                path.push_str(&format!("&tail={n}"));
            }
            let resp = c.stream("GET", &path, None)?;
            copy_stream(resp.body, &mut io::stdout().lock())?;
            Ok(0)
        }
        Containers::Wait { id } => {
            let ans = c.call("POST", &format!("{}/wait", container_path(&id)), Some(&json!({})))?;
            if ctx.json {
                print_json(&ans);
            }
            match ans.get("exitStatus").and_then(Value::as_i64) {
                Some(n) => {
                    if !ctx.json {
                        outln!("{n}");
                    }
                    Ok(n as i32)
                }
                None => Err(Error::Other(format!("{id}: exit status unknown"))),
            }
        }
        Containers::Update {
            id,
            memory,
            cpu_shares,
            cpu_quota,
            cpu_period,
            pids_limit,
        } => {
            let body = update_body(memory, cpu_shares, cpu_quota, cpu_period, pids_limit)
                .ok_or("nothing to update: give --memory, --cpu-shares, --cpu-quota, --cpu-period or --pids-limit")?;
            let ans = c.call("PATCH", &container_path(&id), Some(&body))?;
            done(ctx, &id, ans);
            Ok(0)
        }
    }
}

pub fn update_body(
    memory: Option<i64>,
    cpu_shares: Option<u64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<u64>,
    pids_limit: Option<i64>,
) -> Option<Value> {
    let mut res = Map::new();
    if let Some(m) = memory {
        res.insert("memory".into(), json!({ "limit": m }));
    }
    let mut cpu = Map::new();
    if let Some(v) = cpu_shares {
        cpu.insert("shares".into(), json!(v));
    }
    if let Some(v) = cpu_quota {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = cpu_period {
        cpu.insert("period".into(), json!(v));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = pids_limit {
        res.insert("pids".into(), json!({ "limit": p }));
    }
    (!res.is_empty()).then(|| json!({ "resources": res }))
}

pub fn containers_table(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            vec![
                cell(&c["id"]),
                cell(&c["status"]),
                match c["pid"].as_i64() {
                    Some(0) | None => "-".into(),
                    Some(p) => p.to_string(),
                },
                cell(&c["exitStatus"]),
                cell(&c["bundlePath"]),
                cell(&c["createdAt"]),
            ]
        })
        .collect();
    table::render(&["ID", "STATUS", "PID", "EXIT", "BUNDLE", "CREATED"], &rows)
}

pub fn state(ctx: &Ctx) -> Result<i32> {
    let state = ctx.client.call("GET", "/state", None)?;
    if ctx.json {
        print_json(&state);
        return Ok(0);
    }
    out!("{}", containers_table(&state["containers"]));
    let m = &state["machine"];
    let mem = m["memory"].as_u64().map_or_else(|| cell(&m["memory"]), human_bytes);
    outln!("machine: {} cpus={} memory={}", cell(&m["id"]), cell(&m["cpus"]), mem);
    Ok(0)
}

pub fn version(ctx: &Ctx) -> Result<i32> {
    let client = env!("CARGO_PKG_VERSION");
    let server = ctx.client.call("GET", "/version", None);
    if ctx.json {
        let server = server?;
        print_json(&json!({"client": {"version": client}, "server": server}));
        return Ok(0);
    }
    outln!("Client:\n  Version:      {client}");
    let s = server?;
    outln!("Server:");
    for (label, key) in [
        ("Version", "version"),
        ("API version", "apiVersion"),
        ("libcontainer", "libcontainer"),
        ("CRIU", "criu"),
    ] {
        if let Some(v) = s.get(key).filter(|v| !v.is_null()) {
            outln!("  {:<13} {}", format!("{label}:"), cell(v));
        }
    }
    Ok(0)
}

/// One event as a human line: "TIMESTAMP TYPE ID pid=.. status=..".
pub fn event_line(ev: &Value) -> String {
    let mut line = format!("{} {} {}", cell(&ev["timestamp"]), cell(&ev["type"]), cell(&ev["id"]));
    if !ev["pid"].is_null() {
        line.push_str(&format!(" pid={}", cell(&ev["pid"])));
    }
    if !ev["status"].is_null() {
        line.push_str(&format!(" status={}", cell(&ev["status"])));
    }
    line
}

pub fn events(ctx: &Ctx, id: Option<&str>) -> Result<i32> {
    let path = match id {
        Some(id) => format!("/events?id={}", encode(id)),
        None => "/events".into(),
    };
    let resp = ctx.client.stream("GET", &path, None)?;
    let reader = BufReader::new(resp.body);
    let stdout = io::stdout();
    for line in reader.lines() {
        let line = line.map_err(|e| Error::Other(format!("reading events: {e}")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let out = if ctx.json {
            line.to_string()
        } else {
            match serde_json::from_str::<Value>(line) {
                Ok(ev) => event_line(&ev),
                Err(_) => line.to_string(),
            }
        };
        let mut o = stdout.lock();
        if writeln!(o, "{out}").and_then(|_| o.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

/// The first number found at one of these JSON pointers.
fn num_at(v: &Value, pointers: &[&str]) -> Option<f64> {
    pointers.iter().find_map(|p| v.pointer(p).and_then(Value::as_f64))
}

fn limit_text(l: Option<f64>, fmt: impl Fn(f64) -> String) -> String {
    match l {
        // cgroup v1 shows "no limit" as a huge number.
        Some(x) if x > 0.0 && x < 9.0e18 => fmt(x),
        _ => "unlimited".into(),
    }
}

/// A stats row: CPU total (s), MEM usage / limit, PIDS current / limit.
pub fn stats_row(id: &str, s: &Value) -> Vec<String> {
    let cpu = num_at(
        s,
        &[
            "/cpu/usageTotal",
            "/cpu/usage/total",
            "/cpu/usageNs",
            "/cpu/totalNs",
            "/cpu/usage",
        ],
    )
    .map(|ns| ns / 1e9)
    .or_else(|| num_at(s, &["/cpu/usageUsec", "/cpu/usage_usec"]).map(|us| us / 1e6))
    .map_or("-".into(), |secs| format!("{secs:.3}s"));
    let mem_usage = num_at(s, &["/memory/usage/usage", "/memory/usage", "/memory/current"]);
    let mem_limit = num_at(s, &["/memory/usage/limit", "/memory/limit", "/memory/max"]);
    let mem = format!(
        "{} / {}",
        mem_usage.map_or("-".into(), |u| human_bytes(u as u64)),
        limit_text(mem_limit, |l| human_bytes(l as u64))
    );
    let pids = format!(
        "{} / {}",
        num_at(s, &["/pids/current"]).map_or("-".into(), |p| (p as u64).to_string()),
        limit_text(num_at(s, &["/pids/limit", "/pids/max"]), |l| (l as u64).to_string())
    );
    vec![id.to_string(), cpu, mem, pids]
}

const STATS_HEADER: [&str; 4] = ["CONTAINER", "CPU", "MEM USAGE / LIMIT", "PIDS / LIMIT"];

fn stats(ctx: &Ctx, id: &str, stream: bool) -> Result<i32> {
    let mut path = format!("{}/stats", container_path(id));
    if !stream {
        let s = ctx.client.call("GET", &path, None)?;
        if ctx.json {
            print_json(&s);
        } else {
            out!("{}", table::render(&STATS_HEADER, &[stats_row(id, &s)]));
        }
        return Ok(0);
    }
    path.push_str("?stream=true");
    let resp = ctx.client.stream("GET", &path, None)?;
    let stdout = io::stdout();
    let mut first = true;
    for line in BufReader::new(resp.body).lines() {
        let line = line.map_err(|e| Error::Other(format!("reading stats: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let out = if ctx.json {
            format!("{}\n", line.trim())
        } else {
            let s: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            let t = table::render(&STATS_HEADER, &[stats_row(id, &s)]);
            if first {
                t
            } else {
                t.lines().skip(1).map(|l| format!("{l}\n")).collect()
            }
        };
        first = false;
        let mut o = stdout.lock();
        if o.write_all(out.as_bytes()).and_then(|_| o.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}

pub fn checkpoints(ctx: &Ctx, cmd: Checkpoints) -> Result<i32> {
    let c = &ctx.client;
    let cp_path = |id: &str, name: &str| format!("{}/checkpoint/{}", container_path(id), encode(name));
    match cmd {
        Checkpoints::List { id } => {
            let list = c.call("GET", &format!("{}/checkpoint", container_path(&id)), None)?;
            if ctx.json {
                print_json(&list);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|cp| {
                    let opts: Vec<&str> = [
                        ("exit", "exit"),
                        ("tcp", "tcp"),
                        ("unixSockets", "unix-sockets"),
                        ("shell", "shell"),
                        ("preDump", "pre-dump"),
                    ]
                    .iter()
                    .filter(|(k, _)| cp[*k].as_bool() == Some(true))
                    .map(|(_, label)| *label)
                    .collect();
                    vec![
                        cell(&cp["name"]),
                        cell(&cp["timestamp"]),
                        cp["sizeBytes"]
                            .as_u64()
                            .map_or_else(|| cell(&cp["sizeBytes"]), human_bytes),
                        cp["frozenMs"]
                            .as_f64()
                            .map_or_else(|| "-".into(), |m| format!("{m:.1}ms")),
                        cell(&cp["pagesWritten"]),
                        cell(&cp["parent"]),
                        if opts.is_empty() { "-".into() } else { opts.join(",") },
                    ]
                })
                .collect();
            out!(
                "{}",
                table::render(
                    &["NAME", "TIMESTAMP", "SIZE", "FROZEN", "PAGES", "PARENT", "OPTIONS"],
                    &rows
                )
            );
            Ok(0)
        }
        Checkpoints::Create {
            exit,
            tcp,
            unix_sockets,
            shell,
            pre_dump,
            parent,
            id,
            name,
        } => {
            let mut body = json!({
                "exit": exit, "tcp": tcp, "unixSockets": unix_sockets, "shell": shell, "preDump": pre_dump,
            });
            if let Some(p) = parent {
                body["parent"] = json!(p);
            }
            let ans = c.call("POST", &cp_path(&id, &name), Some(&body))?;
            if ctx.json {
                print_json(&ans);
            } else {
                match ans.get("frozenMs").and_then(Value::as_f64) {
                    Some(ms) => outln!("{name} (container frozen for {ms:.1} ms)"),
                    None => outln!("{name}"),
                }
            }
            Ok(0)
        }
        Checkpoints::Delete { id, name } => {
            let ans = c.call("DELETE", &cp_path(&id, &name), None)?;
            done(ctx, &name, if ans.is_null() { json!({"name": name}) } else { ans });
            Ok(0)
        }
        Checkpoints::Export {
            compress,
            no_rootfs,
            id,
            name,
            file,
        } => {
            let mut path = format!("{}/archive", cp_path(&id, &name));
            let mut q = Vec::new();
            if let Some(alg) = compress {
                q.push(format!("compress={alg}"));
            }
            if no_rootfs {
                q.push("rootfs=false".to_string());
            }
            if !q.is_empty() {
                path.push('?');
                path.push_str(&q.join("&"));
            }
            let resp = c.stream("GET", &path, None)?;
            let to_stdout = file.as_os_str() == "-";
            let n = if to_stdout {
                copy_stream(resp.body, &mut io::stdout().lock())?
            } else {
                let mut f = File::create(&file).map_err(|e| Error::Other(format!("{}: {e}", file.display())))?;
                match copy_stream(resp.body, &mut f) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = std::fs::remove_file(&file);
                        return Err(e);
                    }
                }
            };
            if ctx.json {
                print_json(&json!({"file": file, "bytes": n}));
            } else if !to_stdout {
                outln!("{} ({})", file.display(), human_bytes(n));
            }
            Ok(0)
        }
        Checkpoints::Import { id, name, file } => {
            let f = File::open(&file).map_err(|e| Error::Other(format!("{}: {e}", file.display())))?;
            let len = f
                .metadata()
                .map_err(|e| Error::Other(format!("{}: {e}", file.display())))?
                .len();
            let resp = c
                .send(
                    "PUT",
                    &format!("{}/archive", cp_path(&id, &name)),
                    Body::File(f, len),
                    &[],
                )?
                .check()?;
            let ans = resp.json()?;
            done(ctx, &name, if ans.is_null() { json!({"name": name}) } else { ans });
            Ok(0)
        }
    }
}

pub fn bundle(cmd: &Bundle, json_out: bool) -> Result<i32> {
    let Bundle::Init {
        rootfs_from,
        config_only,
        dir,
        cmd,
    } = cmd;
    let dir = std::path::absolute(dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let applets = if *config_only {
        0
    } else {
        bundle_mod::write_rootfs(&dir, rootfs_from)?
    };
    bundle_mod::write_config(&dir, cmd)?;
    let args: Vec<String> = if cmd.is_empty() {
        bundle_mod::DEFAULT_ARGS.iter().map(|s| s.to_string()).collect()
    } else {
        cmd.clone()
    };
    if json_out {
        print_json(&json!({"bundle": dir, "args": args, "applets": applets}));
    } else {
        outln!("bundle ready: {} (runs: {})", dir.display(), args.join(" "));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_bodies() {
        assert_eq!(update_body(None, None, None, None, None), None);
        assert_eq!(
            update_body(Some(1 << 29), Some(512), None, Some(100000), Some(64)),
            Some(json!({"resources": {
                "memory": {"limit": 536870912},
                "cpu": {"shares": 512, "period": 100000},
                "pids": {"limit": 64}
            }}))
        );
    }

    #[test]
    fn tables_and_lines() {
        let list = json!([
            {"id": "web", "status": "running", "pid": 4242, "exitStatus": null, "bundlePath": "/b/web",
             "createdAt": "2024-01-01T00:00:00Z"},
            {"id": "job-1", "status": "stopped", "pid": 0, "exitStatus": 3, "bundlePath": "/b/j",
             "createdAt": "2024-01-01T00:00:01Z"}
        ]);
        assert_eq!(
            containers_table(&list),
            "ID     STATUS   PID   EXIT  BUNDLE  CREATED\n\
             web    running  4242  -     /b/web  2024-01-01T00:00:00Z\n\
             job-1  stopped  -     3     /b/j    2024-01-01T00:00:01Z\n"
        );
        assert_eq!(
            containers_table(&Value::Null),
            "ID  STATUS  PID  EXIT  BUNDLE  CREATED\n"
        );
        let ev = json!({"type": "exit", "id": "web", "pid": 42, "status": 0, "timestamp": "T"});
        assert_eq!(event_line(&ev), "T exit web pid=42 status=0");
        let ev = json!({"type": "start", "id": "web", "timestamp": "T"});
        assert_eq!(event_line(&ev), "T start web");
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(512 << 20), "512.0MiB");
    }

    #[test]
    fn stats_rows() {
        let s = json!({"cpu": {"usage": {"total": 2_500_000_000u64}},
                       "memory": {"usage": {"usage": 1048576, "limit": 536870912}},
                       "pids": {"current": 3, "limit": 0}});
        assert_eq!(
            stats_row("x", &s),
            ["x", "2.500s", "1.0MiB / 512.0MiB", "3 / unlimited"]
        );
        let s = json!({"cpu": {"usageUsec": 1500000}, "memory": {"usage": 2048, "limit": null},
                       "pids": {"current": 1, "limit": 10}});
        assert_eq!(stats_row("x", &s), ["x", "1.500s", "2.0KiB / unlimited", "1 / 10"]);
        assert_eq!(stats_row("x", &json!({})), ["x", "-", "- / unlimited", "- / unlimited"]);
    }
}
