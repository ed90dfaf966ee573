//! Container lifecycle: create, inspect, stdio capture, exec, exit status,
//! delete.

use ctrd_tests::*;
use std::time::Duration;

const NAMESPACES: [&str; 5] = ["pid", "mnt", "uts", "ipc", "net"];

#[test]
fn lifecycle_create_inspect_and_stdout() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("life");
    let b = d.bundle("life", &["sh", "-c", "echo hello; sleep 1000"]);
    let pid = d.create_ok(&id, &b);
    assert!(pid_alive(pid), "container init {pid} not alive");

    // Own namespaces.
    for ns in NAMESPACES {
        assert_ne!(
            ns_link(pid, ns),
            ns_link("self", ns),
            "container shares the host {ns} namespace"
        );
    }

    // GET /containers/ID
    let c = d.container(&id);
    assert_eq!(c["id"], json!(id), "{c}");
    assert_eq!(c["status"], json!("running"), "{c}");
    assert_eq!(c["pid"], json!(pid), "{c}");
    assert_eq!(c["bundlePath"], json!(b.dir), "{c}");
    assert!(c["exitStatus"].is_null(), "running container has exitStatus: {c}");
    assert!(
        c["createdAt"].is_string() || c["createdAt"].is_number(),
        "createdAt missing: {c}"
    );
    assert!(c["processes"].is_array(), "processes missing: {c}");

    // GET /state
    let r = d.get("/state");
    assert_eq!(r.status, 200, "{r:?}");
    let st = &r.json;
    let entry = st["containers"]
        .as_array()
        .expect("containers array")
        .iter()
        .find(|c| c["id"] == json!(id))
        .unwrap_or_else(|| panic!("{id} missing from /state: {st}"));
    assert_eq!(entry["pid"], json!(pid), "{entry}");
    assert_eq!(entry["status"], json!("running"), "{entry}");
    assert!(st["machine"]["cpus"].as_u64().unwrap_or(0) > 0, "machine.cpus: {st}");
    assert!(
        st["machine"]["memory"].as_u64().unwrap_or(0) > 0,
        "machine.memory: {st}"
    );
    assert!(st["machine"]["id"].is_string(), "machine.id: {st}");

    // stdout captured to <state>/ID/stdout.log
    wait_file_contains(d.stdout_log(&id), "hello", WAIT);
    assert!(d.stderr_log(&id).exists(), "stderr.log not created");

    // Hostname from config applies (uts namespace).
    let e = d.exec_ok(&id, &["hostname"]);
    wait_file_contains(d.exec_stdout(&id, e), "ctrd-test", WAIT);

    d.force_delete(&id);
    assert!(
        wait_until(WAIT, || !pid_alive(pid)),
        "pid {pid} alive after force delete"
    );
    d.assert_no_trace(&id);
}

#[test]
fn lifecycle_custom_stdout_stderr_paths() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("stdio");
    let b = d.bundle("stdio", &["sh", "-c", "echo to-out; echo to-err >&2; sleep 1000"]);
    let out = d.dir.join("custom-out.log");
    let err = d.dir.join("custom-err.log");
    let r = d.post(
        &format!("/containers/{id}"),
        Some(json!({ "bundlePath": b.dir, "stdout": out, "stderr": err })),
    );
    let pid = d.expect_created(&id, &r);
    wait_file_contains(&out, "to-out", WAIT);
    wait_file_contains(&err, "to-err", WAIT);
    assert!(!read_or_empty(&out).contains("to-err"), "stderr went to stdout file");
    assert!(pid_alive(pid));
    d.force_delete(&id);
}

#[test]
fn lifecycle_create_with_form_content_type() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("form", &["sleep", "1000"]);
    let body = serde_json::to_vec(&json!({ "bundlePath": b.dir })).unwrap();

    // curl -d sends application/x-www-form-urlencoded
    let id = unique_id("form");
    let r = d.raw(
        "POST",
        &format!("/containers/{id}"),
        Some("application/x-www-form-urlencoded"),
        Some(&body),
    );
    d.expect_created(&id, &r);

    // ... and no Content-Type at all.
    let id2 = unique_id("noct");
    let r = d.raw("POST", &format!("/containers/{id2}"), None, Some(&body));
    d.expect_created(&id2, &r);

    d.force_delete(&id);
    d.force_delete(&id2);
}

#[test]
fn exec_env_user_namespaces_and_process_list() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("exec");
    let b = d.bundle("exec", &["sleep", "1000"]);
    let init = d.create_ok(&id, &b);

    // A long-running exec shares all of init's namespaces.
    let long = d.exec_ok(&id, &["sleep", "1000"]);
    assert!(wait_until(WAIT, || pid_alive(long)), "exec pid {long} not alive");
    for ns in NAMESPACES {
        assert_eq!(
            ns_link(long, ns),
            ns_link(init, ns),
            "exec'd process is not in the container's {ns} namespace"
        );
    }
    let entry = d
        .process_entry(&id, long)
        .unwrap_or_else(|| panic!("exec pid {long} not in processes: {}", d.container(&id)));
    assert_eq!(entry["args"], json!(["sleep", "1000"]), "{entry}");
    assert!(entry["exitStatus"].is_null(), "running exec has exitStatus: {entry}");

    // env + output capture + exit status 0.
    let r = d.exec(
        &id,
        json!({
            "args": ["sh", "-c", "echo $FOO; id -u"],
            "env": ["FOO=bar", DEFAULT_PATH_ENV],
            "cwd": "/",
        }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let e = r.pid();
    let out = wait_file_contains(d.exec_stdout(&id, e), "bar", WAIT);
    assert!(out.lines().any(|l| l.trim() == "0"), "id -u output: {out:?}");
    let mut last = None;
    let ok = wait_until(WAIT, || {
        last = d.process_entry(&id, e);
        last.as_ref().map(|p| p["exitStatus"] == json!(0)).unwrap_or(false)
    });
    assert!(ok, "exec {e} never got exitStatus 0; entry: {last:?}");
    let p = last.unwrap();
    assert_eq!(
        p["env"].as_array().map(|a| a.contains(&json!("FOO=bar"))),
        Some(true),
        "{p}"
    );
    assert_eq!(p["cwd"], json!("/"), "{p}");
    assert_eq!(p["terminal"], json!(false), "{p}");

    // Another user.
    let r = d.exec(
        &id,
        json!({
            "args": ["sh", "-c", "id -u; id -g"],
            "user": { "uid": 1000, "gid": 1000, "additionalGids": [2000] },
        }),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let e = r.pid();
    let out = wait_file_contains(d.exec_stdout(&id, e), "1000", WAIT);
    assert_eq!(out.lines().next().map(str::trim), Some("1000"), "id -u: {out:?}");
    let p = d.process_entry(&id, e).expect("uid-1000 exec listed");
    assert_eq!(p["user"]["uid"], json!(1000), "{p}");
    assert_eq!(p["user"]["gid"], json!(1000), "{p}");

    // Non-zero exit of an exec.
    let e = d.exec_ok(&id, &["sh", "-c", "exit 5"]);
    let mut last = None;
    let ok = wait_until(WAIT, || {
        last = d.process_entry(&id, e);
        last.as_ref().map(|p| p["exitStatus"] == json!(5)).unwrap_or(false)
    });
    assert!(ok, "exec `exit 5` never got exitStatus 5; entry: {last:?}");

    // cwd is honoured.
    let r = d.exec(&id, json!({ "args": ["pwd"], "cwd": "/etc" }));
    assert_eq!(r.status, 200, "{r:?}");
    wait_file_contains(d.exec_stdout(&id, r.pid()), "/etc", WAIT);

    // PUT on /processes is an alias.
    let r = d.put(
        &format!("/containers/{id}/processes"),
        Some(json!({ "args": ["echo", "via-processes"] })),
    );
    assert_eq!(r.status, 200, "{r:?}");
    wait_file_contains(d.exec_stdout(&id, r.pid()), "via-processes", WAIT);

    // Exec stderr is captured separately.
    let e = d.exec_ok(&id, &["sh", "-c", "echo oops >&2"]);
    wait_file_contains(d.exec_stderr(&id, e), "oops", WAIT);

    assert!(pid_alive(init), "init died during execs");
    d.force_delete(&id);
    assert!(
        wait_until(WAIT, || !pid_alive(long)),
        "exec {long} survived force delete"
    );
}

#[test]
fn exit_status_delete_and_replace() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();

    // exit 3
    let id = unique_id("exit3");
    let b = d.bundle("exit3", &["sh", "-c", "exit 3"]);
    d.create_short_ok(&id, &b);
    let c = d.wait_status(&id, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(3), "{c}");

    // true → 0
    let id0 = unique_id("exit0");
    let b0 = d.bundle("exit0", &["true"]);
    d.create_short_ok(&id0, &b0);
    let c = d.wait_status(&id0, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(0), "{c}");

    // Stays listed until DELETE.
    std::thread::sleep(Duration::from_millis(500));
    let ids = d.container_ids();
    assert!(
        ids.contains(&id) && ids.contains(&id0),
        "stopped containers not listed: {ids:?}"
    );
    assert_eq!(d.container(&id)["exitStatus"], json!(3));

    // Exec into a stopped container → 409; pause → 409.
    let r = d.exec(&id, json!({ "args": ["true"] }));
    assert_eq!(r.status, 409, "exec into stopped: {r:?}");
    let r = d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" })));
    assert_eq!(r.status, 409, "pause stopped: {r:?}");

    // POST over a stopped id replaces it.
    let b2 = d.bundle("replace", &["sleep", "1000"]);
    let r = d.create(&id0, &b2);
    let new_pid = d.expect_created(&id0, &r);
    let c = d.container(&id0);
    assert_eq!(c["status"], json!("running"), "{c}");
    assert_eq!(c["pid"], json!(new_pid), "{c}");
    assert!(c["exitStatus"].is_null(), "replaced container kept old exitStatus: {c}");
    assert_eq!(c["bundlePath"], json!(b2.dir), "{c}");

    // DELETE a stopped container → gone: record, state dir, cgroups.
    assert!(d.container_dir(&id).exists(), "state dir of stopped container missing");
    let r = d.delete(&format!("/containers/{id}"), None);
    assert!(r.status == 204 || r.status == 200, "delete stopped: {r:?}");
    d.assert_no_trace(&id);
    let r = d.delete(&format!("/containers/{id}"), None);
    assert_eq!(r.status, 404, "second delete: {r:?}");

    // DELETE running → 409 and it keeps running; ?force=true removes it.
    let r = d.delete(&format!("/containers/{id0}"), None);
    assert_eq!(r.status, 409, "delete running: {r:?}");
    assert!(pid_alive(new_pid), "409 delete killed the container");
    assert_eq!(d.container(&id0)["status"], json!("running"));
    let r = d.delete(&format!("/containers/{id0}?force=true"), None);
    assert!(r.status == 204 || r.status == 200, "force delete: {r:?}");
    assert!(wait_until(WAIT, || !pid_alive(new_pid)), "pid survived force delete");
    d.assert_no_trace(&id0);
}
