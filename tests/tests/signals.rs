//! Signals (main process and exec'd processes) and pause/resume.

use ctrd_tests::*;

const TRAP_SCRIPT: &str = r#"trap "exit 7" TERM; echo ready; while true; do sleep 1; done"#;

#[test]
fn signal_main_process_sigkill() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("sigkill");
    let b = d.bundle("sigkill", &["sleep", "1000"]);
    let pid = d.create_ok(&id, &b);
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "signal": 9 })));
    assert_eq!(r.status, 200, "PATCH signal 9: {r:?}");
    let c = d.wait_status(&id, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(137), "{c}");
    assert!(!pid_alive(pid), "pid {pid} still alive");
    // Signalling a stopped container is a state conflict.
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "signal": 9 })));
    assert_eq!(r.status, 409, "signal to stopped container: {r:?}");
}

#[test]
fn signal_main_process_sigterm_with_trap() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("sigterm");
    let b = d.bundle("sigterm", &["sh", "-c", TRAP_SCRIPT]);
    d.create_ok(&id, &b);
    // Make sure the trap is installed before signalling.
    wait_file_contains(d.stdout_log(&id), "ready", WAIT);
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "signal": 15 })));
    assert_eq!(r.status, 200, "PATCH signal 15: {r:?}");
    let c = d.wait_status(&id, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(7), "{c}");
}

#[test]
fn signal_exec_process_only() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("sigexec");
    let b = d.bundle("sigexec", &["sleep", "1000"]);
    let init = d.create_ok(&id, &b);
    let e = d.exec_ok(&id, &["sleep", "1000"]);
    assert!(wait_until(WAIT, || pid_alive(e)), "exec {e} not alive");

    let r = d.post(&format!("/containers/{id}/process/{e}"), Some(json!({ "signal": 9 })));
    assert_eq!(r.status, 200, "signal exec process: {r:?}");
    assert!(wait_until(WAIT, || !pid_alive(e)), "exec {e} survived SIGKILL");
    let mut last = None;
    let ok = wait_until(WAIT, || {
        last = d.process_entry(&id, e);
        last.as_ref().map(|p| p["exitStatus"] == json!(137)).unwrap_or(false)
    });
    assert!(ok, "killed exec never got exitStatus 137: {last:?}");

    // The container itself is untouched.
    assert!(pid_alive(init), "init died when signalling the exec'd process");
    assert_eq!(d.container(&id)["status"], json!("running"));

    // Unknown pids → 404: one above pid_max, and a real process (us) that is
    // not in the container.
    for bogus in [999_999_999i64, std::process::id() as i64] {
        let r = d.post(
            &format!("/containers/{id}/process/{bogus}"),
            Some(json!({ "signal": 9 })),
        );
        assert_eq!(r.status, 404, "signal to foreign pid {bogus}: {r:?}");
    }
    assert!(pid_alive(init));

    // The init pid is one of the container's processes too.
    let r = d.post(
        &format!("/containers/{id}/process/{init}"),
        Some(json!({ "signal": 9 })),
    );
    assert_eq!(r.status, 200, "signal init via process endpoint: {r:?}");
    let c = d.wait_status(&id, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(137), "{c}");
}

#[test]
fn pause_and_resume() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("pause");
    let b = d.bundle(
        "pause",
        &[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /dev/null; sleep 0.1; done",
        ],
    );
    let pid = d.create_ok(&id, &b);

    // Resume a running container → 409.
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "running" })));
    assert_eq!(r.status, 409, "resume running: {r:?}");

    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 200, "pause: {r:?}");
    assert_eq!(r.json["status"], json!("paused"), "pause response: {r:?}");
    let mut fs = None;
    assert!(
        wait_until(WAIT, || {
            fs = freezer_state(&id);
            fs.as_deref() == Some("FROZEN")
        }),
        "freezer state after pause: {fs:?}"
    );
    assert_eq!(d.container(&id)["status"], json!("paused"));
    assert!(pid_alive(pid), "paused process is gone");
    // Exec into a paused container is a state conflict.
    let r = d.exec(&id, json!({ "args": ["true"] }));
    assert!(
        r.status == 409 || r.status == 200,
        "exec into paused container: unexpected {r:?}"
    );
    if r.status == 200 {
        eprintln!("note: exec into a paused container accepted (pid {})", r.pid());
    }
    // DELETE without force refuses a paused container.
    let r = d.delete(&format!("/containers/{id}"), None);
    assert_eq!(r.status, 409, "delete paused without force: {r:?}");

    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "running" })));
    assert_eq!(r.status, 200, "resume: {r:?}");
    assert_eq!(r.json["status"], json!("running"), "resume response: {r:?}");
    assert!(
        wait_until(WAIT, || {
            fs = freezer_state(&id);
            fs.as_deref() == Some("THAWED")
        }),
        "freezer state after resume: {fs:?}"
    );
    assert_eq!(d.container(&id)["status"], json!("running"));

    // A paused container can be force-deleted (the kill must get through
    // the freezer).
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 200, "pause again: {r:?}");
    let r = d.delete(&format!("/containers/{id}?force=true"), None);
    assert!(r.status == 204 || r.status == 200, "force delete paused: {r:?}");
    assert!(wait_until(WAIT, || !pid_alive(pid)), "paused pid survived force delete");
    d.assert_no_trace(&id);
}

#[test]
fn pause_stopped_container_conflicts() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("pausestop");
    let b = d.bundle("pausestop", &["true"]);
    d.create_short_ok(&id, &b);
    d.wait_status(&id, "stopped", WAIT);
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 409, "pause stopped: {r:?}");
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "running" })));
    assert_eq!(r.status, 409, "resume stopped: {r:?}");
    let c = d.container(&id);
    assert_eq!(c["status"], json!("stopped"), "{c}");
    assert_eq!(c["exitStatus"], json!(0), "{c}");
}
