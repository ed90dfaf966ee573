//! The daemon process itself: crash + restart (re-adoption), environment
//! independence, listeners, SIGTERM.

use ctrd_tests::*;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn kill9_and_readopt() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("adopt", &["sleep", "1000"]);
    let ids: Vec<String> = (0..3).map(|i| unique_id(&format!("adopt{i}"))).collect();
    let pids: Vec<i32> = ids.iter().map(|id| d.create_ok(id, &b)).collect();
    let pre_exec = d.exec_ok(&ids[0], &["sleep", "1000"]);
    assert!(wait_until(WAIT, || pid_alive(pre_exec)));

    d.kill9();
    for (id, pid) in ids.iter().zip(&pids) {
        assert!(pid_alive(*pid), "container {id} (pid {pid}) died with the daemon");
    }
    assert!(pid_alive(pre_exec), "exec'd process died with the daemon");

    // Kill the third container by hand while the daemon is down.
    let dead = pids[2];
    assert!(send_signal(dead, libc::SIGKILL));
    assert!(
        wait_until(WAIT, || !pid_alive(dead)),
        "pid {dead} did not die from SIGKILL"
    );

    d.restart();
    let listed = d.container_ids();
    for id in &ids {
        assert!(listed.contains(id), "{id} not listed after restart: {listed:?}");
    }
    for i in 0..2 {
        let c = d.container(&ids[i]);
        assert_eq!(c["status"], json!("running"), "adopted {}: {c}", ids[i]);
        assert_eq!(c["pid"], json!(pids[i]), "adopted {} changed pid: {c}", ids[i]);
        assert!(c["exitStatus"].is_null(), "{c}");
    }
    let c = d.container(&ids[2]);
    assert_eq!(c["status"], json!("stopped"), "died while down: {c}");
    assert!(
        c["exitStatus"].is_null(),
        "exitStatus of a container that died while down: {c}"
    );

    // Exec into an adopted container.
    let e = d.exec_ok(&ids[1], &["sh", "-c", "echo adopted-exec"]);
    wait_file_contains(d.exec_stdout(&ids[1], e), "adopted-exec", WAIT);
    // ... and its namespaces are the container's.
    let e2 = d.exec_ok(&ids[1], &["sleep", "1000"]);
    assert!(wait_until(WAIT, || pid_alive(e2)));
    assert_eq!(ns_link(e2, "pid"), ns_link(pids[1], "pid"));
    assert_eq!(ns_link(e2, "mnt"), ns_link(pids[1], "mnt"));
    // Signal that exec'd process.
    let r = d.post(
        &format!("/containers/{}/process/{e2}", ids[1]),
        Some(json!({ "signal": 9 })),
    );
    assert_eq!(r.status, 200, "signal exec in adopted container: {r:?}");
    assert!(wait_until(WAIT, || !pid_alive(e2)));

    // Pause / resume an adopted container.
    let p0 = format!("/containers/{}", ids[0]);
    let r = d.patch(&p0, Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 200, "pause adopted: {r:?}");
    assert!(
        wait_until(WAIT, || freezer_state(&ids[0]).as_deref() == Some("FROZEN")),
        "adopted container not frozen: {:?}",
        freezer_state(&ids[0])
    );
    let r = d.patch(&p0, Some(json!({ "status": "running" })));
    assert_eq!(r.status, 200, "resume adopted: {r:?}");
    assert!(wait_until(WAIT, || freezer_state(&ids[0]).as_deref() == Some("THAWED")));

    // Kill an adopted container via the API → stopped.
    let r = d.patch(&p0, Some(json!({ "signal": 9 })));
    assert_eq!(r.status, 200, "signal adopted: {r:?}");
    let c = d.wait_status(&ids[0], "stopped", WAIT);
    assert!(
        c["exitStatus"].is_null() || c["exitStatus"] == json!(137),
        "adopted container killed by SIGKILL: {c}"
    );
    assert!(!pid_alive(pids[0]));
    // Its exec from before the crash is gone with the pid namespace.
    assert!(wait_until(WAIT, || !pid_alive(pre_exec)), "pre-crash exec survived");

    // An adopted container that exits by itself is noticed.
    assert!(send_signal(pids[1], libc::SIGKILL));
    let c = d.wait_status(&ids[1], "stopped", WAIT);
    assert!(
        c["exitStatus"].is_null() || c["exitStatus"] == json!(137),
        "adopted container that died: {c}"
    );

    // Delete works on all of them.
    for id in &ids {
        let r = d.delete(&format!("/containers/{id}"), None);
        assert!(r.status == 204 || r.status == 200, "delete {id}: {r:?}");
        d.assert_no_trace(id);
    }
}

#[test]
fn restart_twice_keeps_state() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("twice", &["sleep", "1000"]);
    let running = unique_id("twice-run");
    let stopped = unique_id("twice-stop");
    let pid = d.create_ok(&running, &b);
    let sb = d.bundle("twice-exit", &["sh", "-c", "exit 4"]);
    d.create_short_ok(&stopped, &sb);
    d.wait_status(&stopped, "stopped", WAIT);

    d.kill9();
    d.restart();
    d.kill9();
    d.restart();

    let c = d.container(&running);
    assert_eq!(c["status"], json!("running"), "{c}");
    assert_eq!(c["pid"], json!(pid), "{c}");
    // A container that had already stopped keeps its recorded exit status.
    let c = d.container(&stopped);
    assert_eq!(c["status"], json!("stopped"), "{c}");
    assert_eq!(c["exitStatus"], json!(4), "exit status lost over restart: {c}");
    d.force_delete(&running);
    d.force_delete(&stopped);
}

#[test]
fn no_other_runtime_on_path() {
    if skip_unless_root() {
        return;
    }
    let empty = TempDir::new("emptypath");
    let path = empty.path().display().to_string();
    let d = Daemon::start_with(&[], Some(&[("PATH", path.as_str())]));
    let id = unique_id("nopath");
    let b = d.bundle("nopath", &["sh", "-c", "echo started; sleep 1000"]);
    let pid = d.create_ok(&id, &b);
    wait_file_contains(d.stdout_log(&id), "started", WAIT);
    assert_eq!(d.container(&id)["status"], json!("running"));
    let e = d.exec_ok(&id, &["echo", "exec-ok"]);
    wait_file_contains(d.exec_stdout(&id, e), "exec-ok", WAIT);
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 200, "{r:?}");
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "running" })));
    assert_eq!(r.status, 200, "{r:?}");
    d.force_delete(&id);
    assert!(wait_until(WAIT, || !pid_alive(pid)));
}

fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tcp_non_loopback_refused_without_insecure_flag() {
    if skip_unless_root() {
        return;
    }
    let bin = ctrd_bin();
    let dir = TempDir::new("tcp-refuse");
    let port = free_tcp_port();
    let mut child = Command::new(&bin)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--listen")
        .arg(format!("tcp://0.0.0.0:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ctrd");
    let st = wait_exit(&mut child, Duration::from_secs(15));
    let mut msg = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut msg);
    }
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut msg);
    }
    let st = st.unwrap_or_else(|| panic!("ctrd kept running with --listen tcp://0.0.0.0:{port} and no --insecure-tcp"));
    assert!(
        !st.success(),
        "ctrd exited 0 for a non-loopback tcp listener; output: {msg}"
    );
    assert!(!msg.trim().is_empty(), "ctrd refused the listener without a message");
}

#[test]
fn tcp_loopback_and_unix_socket_mode() {
    if skip_unless_root() {
        return;
    }
    let port = free_tcp_port();
    let listen = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["--listen", &listen], None);

    let meta = std::fs::metadata(&d.socket).expect("socket metadata");
    assert!(meta.file_type().is_socket(), "{} is not a socket", d.socket.display());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "unix socket mode is {:o}",
        meta.permissions().mode() & 0o777
    );

    let addr = format!("127.0.0.1:{port}");
    let mut last = None;
    let ok = wait_until(WAIT, || match tcp_request(&addr, "GET", "/state", None) {
        Ok(r) => {
            let ok = r.status == 200;
            last = Some(format!("{r:?}"));
            ok
        }
        Err(e) => {
            last = Some(e.to_string());
            false
        }
    });
    assert!(ok, "GET /state over tcp failed: {last:?}");
    let r = tcp_request(&addr, "GET", "/state", None).unwrap();
    assert!(r.json["containers"].is_array(), "{r:?}");
    assert!(r.json["machine"]["cpus"].as_u64().unwrap_or(0) > 0, "{r:?}");

    // The tcp listener serves the full API.
    let id = unique_id("tcp");
    let b = d.bundle("tcp", &["sleep", "1000"]);
    let r = tcp_request(
        &addr,
        "POST",
        &format!("/containers/{id}"),
        Some(&json!({ "bundlePath": b.dir })),
    )
    .unwrap();
    assert_eq!(r.status, 201, "create over tcp: {r:?}");
    let pid = r.pid();
    assert_eq!(d.container(&id)["pid"], json!(pid));
    d.force_delete(&id);
    assert!(wait_until(WAIT, || !pid_alive(pid)));
}

#[test]
fn sigterm_exits_zero_and_leaves_containers_running() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("term");
    let b = d.bundle("term", &["sleep", "1000"]);
    let pid = d.create_ok(&id, &b);

    let st = d.sigterm().expect("ctrd did not exit within 30 s of SIGTERM");
    assert_eq!(st.code(), Some(0), "ctrd exit status after SIGTERM: {st}");
    assert!(pid_alive(pid), "container {pid} died with the daemon on SIGTERM");

    // Come back, adopt, clean up.
    d.restart();
    let c = d.container(&id);
    assert_eq!(c["status"], json!("running"), "{c}");
    assert_eq!(c["pid"], json!(pid), "{c}");
    d.force_delete(&id);
    assert!(
        wait_until(WAIT, || !pid_alive(pid)),
        "force delete of adopted container"
    );
}

#[test]
fn machine_id_and_concurrency_flags() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start_with(&["--id", "test-machine-7", "--concurrency", "2"], None);
    let r = d.get("/state");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["machine"]["id"], json!("test-machine-7"), "{r:?}");
    // With --concurrency 2, several simultaneous creates still all succeed.
    let b = d.bundle("conc", &["sleep", "1000"]);
    let ids: Vec<String> = (0..6).map(|i| unique_id(&format!("conc{i}"))).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let d = &d;
            let b = &b;
            s.spawn(move || {
                d.create_ok(id, b);
            });
        }
    });
    for id in &ids {
        assert_eq!(d.container(id)["status"], json!("running"));
        d.force_delete(id);
    }
}

/// Containers never inherit an ignored signal from the daemon or its fork server, and a SIGTERM
/// that reaches the fork server (`pkill ctrd` matches it too) does not take the daemon down.
#[test]
fn signal_dispositions_and_fork_server_sigterm() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("sigign", &["sleep", "1000"]);
    let id = unique_id("sigign");
    let r = d.post(&format!("/containers/{id}"), Some(json!({ "bundlePath": b.dir })));
    assert_eq!(r.status, 201, "{r:?}");
    let pid = r.json["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ign = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(ign, "0000000000000000", "the container ignores signals: {ign}");

    // The fork server and its workers (idle between requests): the daemon's children.
    let servers = children_named(d.pid(), "ctrd-forkserver");
    assert_eq!(servers.len(), 1, "the fork server is a child of the daemon");
    let workers = children_named(d.pid(), "ctrd-worker");
    assert!(!workers.is_empty(), "the workers are children of the daemon");
    for p in servers.iter().chain(&workers) {
        unsafe { libc::kill(*p, libc::SIGTERM) };
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(pid_alive(servers[0]), "the fork server died of SIGTERM");
    for w in &workers {
        assert!(pid_alive(*w), "an idle worker died of SIGTERM");
    }
    let id2 = unique_id("sigign2");
    let r = d.post(&format!("/containers/{id2}"), Some(json!({ "bundlePath": b.dir })));
    assert_eq!(
        r.status, 201,
        "the daemon cannot create after SIGTERM to its fork server: {r:?}"
    );
}

fn children_of(pid: i32) -> Vec<i32> {
    read_or_empty(format!("/proc/{pid}/task/{pid}/children"))
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The children of `pid` whose command name is `comm`.
fn children_named(pid: i32, comm: &str) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|c| read_or_empty(format!("/proc/{c}/comm")).trim() == comm)
        .collect()
}

/// The fork server keeps one long-lived worker per `--concurrency` slot. A worker serves many
/// creates and execs, and each one leaves it as it found it: same file descriptors, same network
/// namespace (a create brings the container's `lo` up from inside its netns), same working
/// directory, no child left behind. The workers, and the containers' inits and exec'd processes
/// they clone, are the daemon's children (the exits reach its reaper), and a container without a
/// user namespace costs no other process (no intermediate process is left, none is reaped by a
/// worker).
#[test]
fn fork_server_workers_are_reused_and_left_clean() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start_with(&["--concurrency", "2"], None);
    let b = d.bundle("reuse", &["sleep", "1000"]);
    // Warm up: the first request of a worker may open what it keeps (its log fd).
    let warm = unique_id("reuse-warm");
    d.create_ok(&warm, &b);
    d.force_delete(&warm);

    let servers = children_named(d.pid(), "ctrd-forkserver");
    assert_eq!(servers.len(), 1, "daemon children: {:?}", children_of(d.pid()));
    let server = servers[0];
    assert!(
        children_of(server).is_empty(),
        "the fork server has children: {:?}",
        children_of(server)
    );
    let workers = children_named(d.pid(), "ctrd-worker");
    assert_eq!(workers.len(), 2, "one worker per slot: {:?}", children_of(d.pid()));
    let snapshot = |w: i32| {
        (
            fd_count(w),
            ns_link(w, "net"),
            ns_link(w, "pid_for_children"),
            std::fs::read_link(format!("/proc/{w}/cwd")).ok(),
        )
    };
    // A worker closes its answer socket right after sending the answer, and may be preempted
    // in between by the daemon it just woke: read its state once it has settled.
    let settled = |w: i32| {
        let mut last = snapshot(w);
        for _ in 0..100 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = snapshot(w);
            if now == last {
                return now;
            }
            last = now;
        }
        last
    };
    let before: Vec<_> = workers.iter().map(|w| settled(*w)).collect();
    assert_eq!(before[0].1, ns_link(d.pid(), "net"), "worker not in the daemon's netns");

    let ids: Vec<String> = (0..8).map(|i| unique_id(&format!("reuse{i}"))).collect();
    let mut inits = Vec::new();
    let mut execs = Vec::new();
    for id in &ids {
        let pid = d.create_ok(id, &b);
        inits.push(pid);
        d.exec_ok(id, &["true"]);
        execs.push(d.exec_ok(id, &["sleep", "1000"]));
    }
    for pid in inits.iter().chain(&execs) {
        let ppid = proc_stat(*pid).map(|s| s.ppid);
        assert_eq!(ppid, Some(d.pid()), "container process {pid} is not the daemon's child");
    }
    for (init, exec) in inits.iter().zip(&execs) {
        assert_eq!(
            ns_link(*exec, "pid"),
            ns_link(*init, "pid"),
            "exec'd process outside the container's pid namespace"
        );
        assert_eq!(
            read_or_empty(format!("/proc/{exec}/cgroup")),
            read_or_empty(format!("/proc/{init}/cgroup")),
            "exec'd process outside the container's cgroups"
        );
    }
    assert_eq!(
        children_named(d.pid(), "ctrd-worker"),
        workers,
        "workers were replaced, not reused"
    );
    let after: Vec<_> = workers.iter().map(|w| settled(*w)).collect();
    assert_eq!(
        after, before,
        "a worker kept state from its requests (fds, netns, pid namespace for children, cwd)"
    );
    for w in &workers {
        assert!(zombie_children(*w).is_empty(), "worker {w} left zombies");
        assert!(
            children_of(*w).is_empty(),
            "worker {w} kept children: {:?}",
            children_of(*w)
        );
    }
    for id in &ids {
        d.force_delete(id);
    }
}

/// The reaper watches the children it knows through pidfds; a child it does not know (here an
/// orphan of a container without a pid namespace, re-parented to the daemon, a child subreaper)
/// is still reaped: by the pid its SIGCHLD names, or by the sweep that follows SIGCHLDs (they
/// coalesce). Many of them exiting at once must leave no zombie behind either.
#[test]
fn orphans_reparented_to_the_daemon_are_reaped() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    // 20 orphans: each subshell starts a short sleep in the background and exits at once.
    let mut b = d.bundle(
        "orphans",
        &[
            "sh",
            "-c",
            "for i in $(seq 20); do (sleep 0.3 &); done; exec sleep 1000",
        ],
    );
    b.edit_write(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
        ns.retain(|n| n["type"] != "pid");
    });
    let id = unique_id("orphans");
    let init = d.create_ok(&id, &b);
    // The orphans are the daemon's children while they sleep ...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = 0;
    while std::time::Instant::now() < deadline && seen == 0 {
        seen = children_of(d.pid())
            .into_iter()
            .filter(|p| read_or_empty(format!("/proc/{p}/comm")).trim() == "sleep" && *p != init)
            .count();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(seen > 0, "no orphan was re-parented to the daemon");
    // ... and none is left, not even as a zombie, shortly after they exit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let orphans: Vec<i32> = children_of(d.pid())
            .into_iter()
            .filter(|p| read_or_empty(format!("/proc/{p}/comm")).trim() == "sleep" && *p != init)
            .collect();
        let zombies = zombie_children(d.pid());
        if orphans.is_empty() && zombies.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "orphans {orphans:?} / zombies {zombies:?} of the daemon not reaped"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The container itself still works as usual: its exit is seen.
    d.force_delete(&id);
    d.assert_no_trace(&id);
}
