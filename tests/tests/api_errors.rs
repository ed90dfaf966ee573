//! Bad inputs: every failing request answers the documented status with an
//! {"error": "..."} body and leaves nothing behind.

use ctrd_tests::*;
use std::fs;

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert!(
        r.json["error"].is_string() && !r.error().is_empty(),
        "{what}: error body is not {{\"error\": \"...\"}}: {r:?}"
    );
}

/// POST /containers/{id} with a raw body; asserts `status` and no trace.
fn create_fails(d: &Daemon, id: &str, body: &[u8], status: u16, what: &str) -> Response {
    let r = d.raw(
        "POST",
        &format!("/containers/{id}"),
        Some("application/json"),
        Some(body),
    );
    assert_error(&r, status, what);
    d.assert_no_trace(id);
    r
}

fn create_json_fails(d: &Daemon, id: &str, body: Value, status: u16, what: &str) -> Response {
    create_fails(d, id, &serde_json::to_vec(&body).unwrap(), status, what)
}

#[test]
fn bad_create_requests() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let good = d.bundle("good", &["sleep", "1000"]);

    create_fails(&d, &unique_id("badjson"), b"{not json", 400, "bad JSON");
    create_fails(&d, &unique_id("empty"), b"", 400, "empty body");
    create_json_fails(&d, &unique_id("nobundle"), json!({}), 400, "missing bundlePath");
    create_json_fails(
        &d,
        &unique_id("nullbundle"),
        json!({ "bundlePath": null }),
        400,
        "null bundlePath",
    );
    create_json_fails(
        &d,
        &unique_id("numbundle"),
        json!({ "bundlePath": 42 }),
        400,
        "numeric bundlePath",
    );
    create_json_fails(&d, &unique_id("array"), json!([1, 2]), 400, "JSON array body");
    create_json_fails(
        &d,
        &unique_id("relbundle"),
        json!({ "bundlePath": "relative/bundle" }),
        400,
        "relative bundlePath",
    );
    create_json_fails(
        &d,
        &unique_id("nobundle"),
        json!({ "bundlePath": d.dir.join("does-not-exist") }),
        400,
        "nonexistent bundle",
    );

    // Invalid config.json.
    let broken = d.bundle("broken", &["true"]);
    fs::write(broken.config_path(), "{ this is not json").unwrap();
    create_json_fails(
        &d,
        &unique_id("badcfg"),
        json!({ "bundlePath": broken.dir }),
        400,
        "invalid config.json",
    );
    // Missing config.json.
    let nocfg = d.bundle("nocfg", &["true"]);
    fs::remove_file(nocfg.config_path()).unwrap();
    create_json_fails(
        &d,
        &unique_id("nocfg"),
        json!({ "bundlePath": nocfg.dir }),
        400,
        "missing config.json",
    );
    // config.json without process.args.
    let mut noargs = d.bundle("noargs", &["true"]);
    noargs.edit_write(|c| {
        c["process"].as_object_mut().unwrap().remove("args");
    });
    create_json_fails(
        &d,
        &unique_id("noargs"),
        json!({ "bundlePath": noargs.dir }),
        400,
        "config without process.args",
    );
    // Missing rootfs.
    let norootfs = d.bundle("norootfs", &["true"]);
    fs::remove_dir_all(norootfs.rootfs()).unwrap();
    create_json_fails(
        &d,
        &unique_id("norootfs"),
        json!({ "bundlePath": norootfs.dir }),
        400,
        "bundle without rootfs",
    );

    // A resource value the kernel refuses (a CPU this machine does not have): the container's
    // cgroup is created before the kernel can say no; it must be gone again.
    let mut badcpu = d.bundle("badcpu", &["true"]);
    badcpu.edit_write(|c| {
        c["linux"]["resources"]["cpu"] = json!({ "cpus": "4095" });
    });
    let r = create_json_fails(
        &d,
        &unique_id("badcpu"),
        json!({ "bundlePath": badcpu.dir }),
        400,
        "cpuset.cpus naming a CPU this machine does not have",
    );
    assert!(
        r.error().contains("cpuset.cpus"),
        "the error names the refused file: {r:?}"
    );

    // Bad ids.
    let body = serde_json::to_vec(&json!({ "bundlePath": good.dir })).unwrap();
    let long65 = "a".repeat(65);
    for (path_id, what) in [
        ("..", "id .."),
        ("a%2Fb", "id a/b (encoded)"),
        (long65.as_str(), "65-char id"),
        ("-x", "id starting with -"),
        (".hidden", "id starting with ."),
        ("a%20b", "id with space"),
        ("a%00b", "id with NUL"),
    ] {
        let r = d.raw(
            "POST",
            &format!("/containers/{path_id}"),
            Some("application/json"),
            Some(&body),
        );
        assert_error(&r, 400, what);
    }
    assert!(
        d.container_ids().is_empty(),
        "containers left after bad-id creates: {:?}",
        d.container_ids()
    );
    assert!(!d.state_dir.join("a").exists(), "bad id a/b created a directory");

    // Boundary: a 64-char id and one with _ . - are fine.
    let id64 = format!("{}{}", unique_id("b64"), "x".repeat(64))
        .chars()
        .take(64)
        .collect::<String>();
    assert_eq!(id64.len(), 64);
    let pid64 = d.create_ok(&id64, &good);
    let odd = unique_id("Ok_1.x");
    d.create_ok(&odd, &good);

    // Duplicate running id → 409; original untouched.
    let r = d.create(&id64, &good);
    assert_error(&r, 409, "duplicate id");
    let c = d.container(&id64);
    assert_eq!(c["pid"], json!(pid64), "duplicate create changed the container: {c}");
    assert_eq!(c["status"], json!("running"));
    assert!(pid_alive(pid64));

    // Body over 1 MiB → 413.
    let big = json!({ "bundlePath": good.dir, "stdout": format!("/tmp/{}", "x".repeat(1536 * 1024)) });
    create_json_fails(&d, &unique_id("big"), big, 413, "body over 1 MiB");

    // Restore from a checkpoint: a bad name → 400, an unknown one → 404, a clone source
    // without a checkpoint → 400.
    create_json_fails(
        &d,
        &unique_id("ckpt"),
        json!({ "bundlePath": good.dir, "checkpoint": d.dir.join("ckpt") }),
        400,
        "checkpoint name with a slash",
    );
    create_json_fails(
        &d,
        &unique_id("ckpt"),
        json!({ "bundlePath": good.dir, "checkpoint": "nosuchcheckpoint" }),
        404,
        "unknown checkpoint",
    );
    create_json_fails(
        &d,
        &unique_id("ckpt"),
        json!({ "bundlePath": good.dir, "checkpointContainer": "other" }),
        400,
        "checkpointContainer without checkpoint",
    );

    // Unsupported config fields → 400 naming the field.
    let mut hooks = d.bundle("hooks", &["true"]);
    hooks.edit_write(|c| {
        c["hooks"] = json!({ "prestart": [ { "path": "/bin/true" } ] });
    });
    let r = create_json_fails(
        &d,
        &unique_id("hooks"),
        json!({ "bundlePath": hooks.dir }),
        400,
        "hooks.prestart",
    );
    let msg = r.error().to_lowercase();
    assert!(
        msg.contains("hooks") || msg.contains("prestart"),
        "error does not name the hooks field: {r:?}"
    );
    let mut rdt = d.bundle("rdt", &["true"]);
    rdt.edit_write(|c| {
        c["linux"]["intelRdt"] = json!({ "closID": "x", "l3CacheSchema": "L3:0=ffff" });
    });
    let r = create_json_fails(
        &d,
        &unique_id("rdt"),
        json!({ "bundlePath": rdt.dir }),
        400,
        "linux.intelRdt",
    );
    let msg = r.error().to_lowercase().replace(['_', '-', ' '], "");
    assert!(msg.contains("intelrdt"), "error does not name intelRdt: {r:?}");

    // The daemon is still healthy and only the two good containers exist.
    let mut ids = d.container_ids();
    ids.sort();
    let mut want = vec![id64.clone(), odd.clone()];
    want.sort();
    assert_eq!(ids, want);
    d.force_delete(&id64);
    d.force_delete(&odd);
}

#[test]
fn unknown_container_is_404() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("ghost");
    assert_error(&d.get(&format!("/containers/{id}")), 404, "GET unknown");
    assert_error(
        &d.patch(&format!("/containers/{id}"), Some(json!({ "status": "paused" }))),
        404,
        "PATCH unknown",
    );
    assert_error(
        &d.patch(&format!("/containers/{id}"), Some(json!({ "signal": 9 }))),
        404,
        "PATCH signal unknown",
    );
    assert_error(&d.delete(&format!("/containers/{id}"), None), 404, "DELETE unknown");
    assert_error(
        &d.delete(&format!("/containers/{id}?force=true"), None),
        404,
        "DELETE force unknown",
    );
    assert_error(
        &d.put(&format!("/containers/{id}/process"), Some(json!({ "args": ["true"] }))),
        404,
        "PUT process unknown",
    );
    assert_error(
        &d.put(
            &format!("/containers/{id}/processes"),
            Some(json!({ "args": ["true"] })),
        ),
        404,
        "PUT processes unknown",
    );
    assert_error(
        &d.post(&format!("/containers/{id}/process/1"), Some(json!({ "signal": 9 }))),
        404,
        "POST process signal unknown",
    );
    d.assert_no_trace(&id);
}

#[test]
fn bad_patch_and_exec_bodies() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("badpatch");
    let b = d.bundle("badpatch", &["sleep", "1000"]);
    let pid = d.create_ok(&id, &b);
    let path = format!("/containers/{id}");

    assert_error(&d.patch(&path, Some(json!({ "status": "bogus" }))), 400, "status bogus");
    assert_error(
        &d.patch(&path, Some(json!({ "signal": "KILLME" }))),
        400,
        "signal string",
    );
    assert_error(&d.patch(&path, Some(json!({ "signal": 4096 }))), 400, "signal 4096");
    assert_error(&d.patch(&path, Some(json!({ "signal": -1 }))), 400, "signal -1");
    assert_error(
        &d.raw("PATCH", &path, Some("application/json"), Some(b"{oops")),
        400,
        "PATCH bad JSON",
    );
    assert_error(
        &d.raw("PUT", &format!("{path}/process"), Some("application/json"), Some(b"[")),
        400,
        "exec bad JSON",
    );
    assert_error(
        &d.put(&format!("{path}/process"), Some(json!({ "env": ["A=b"] }))),
        400,
        "exec without args",
    );
    assert_error(
        &d.put(&format!("{path}/process"), Some(json!({ "args": "sh" }))),
        400,
        "exec args not an array",
    );
    assert_error(
        &d.put(
            &format!("{path}/process"),
            Some(json!({ "args": ["true"], "cwd": "relative" })),
        ),
        400,
        "exec relative cwd",
    );
    assert_error(
        &d.post(&format!("{path}/process/{pid}"), Some(json!({ "signal": "x" }))),
        400,
        "process signal string",
    );

    // Nothing changed.
    let c = d.container(&id);
    assert_eq!(c["status"], json!("running"), "{c}");
    assert_eq!(c["pid"], json!(pid), "{c}");
    assert!(pid_alive(pid));
    assert_eq!(freezer_state(&id).as_deref().unwrap_or("THAWED"), "THAWED");
    d.force_delete(&id);
}

#[test]
fn unknown_routes_and_methods() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let r = d.get("/no/such/route");
    assert_eq!(r.status, 404, "unknown route: {r:?}");
    let r = d.delete("/state", None);
    assert!(
        r.status == 405 || r.status == 404,
        "DELETE /state should be 405/404: {r:?}"
    );
    // The daemon still serves.
    assert_eq!(d.get("/state").status, 200);
}

/// A bundle may not put its container into a cgroup that already exists (a host service's, the
/// root, another container's): ctrd would otherwise kill and remove it on cleanup.
#[test]
fn existing_or_root_cgroups_are_refused() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    // A cgroup that exists, with a process in it.
    let name = unique_id("hostsvc");
    let host_cg = std::path::PathBuf::from("/sys/fs/cgroup/pids").join(&name);
    fs::create_dir_all(&host_cg).unwrap();
    let mut sleeper = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    fs::write(host_cg.join("cgroup.procs"), sleeper.id().to_string()).unwrap();

    let mut b = d.bundle("cgexist", &["sleep", "100"]);
    let cg = format!("/{name}");
    b.edit_write(|c| c["linux"]["cgroupsPath"] = json!(cg));
    let id = unique_id("cgexist");
    create_json_fails(&d, &id, json!({ "bundlePath": b.dir }), 409, "existing cgroup");
    assert!(host_cg.exists(), "the existing cgroup was removed");
    assert!(
        pid_alive(sleeper.id() as i32),
        "the process in the existing cgroup was killed"
    );

    let mut root = d.bundle("cgroot", &["sleep", "100"]);
    root.edit_write(|c| c["linux"]["cgroupsPath"] = json!("/"));
    create_json_fails(
        &d,
        &unique_id("cgroot"),
        json!({ "bundlePath": root.dir }),
        400,
        "root cgroup",
    );
    assert!(pid_alive(sleeper.id() as i32));

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = fs::remove_dir(&host_cg);
}

/// Programs and directories the client names that do not exist in the container are the
/// client's mistake: 400, and nothing is left in the container's process list.
#[test]
fn exec_of_missing_program_or_cwd_is_400() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let b = d.bundle("execerr", &["sleep", "1000"]);
    let id = unique_id("execerr");
    let r = d.post(&format!("/containers/{id}"), Some(json!({ "bundlePath": b.dir })));
    assert_eq!(r.status, 201, "{r:?}");
    let path = format!("/containers/{id}/process");
    let r = d.put(&path, Some(json!({ "args": ["nosuchprog"] })));
    assert_error(&r, 400, "missing program");
    assert!(r.error().contains("nosuchprog"), "{r:?}");
    let r = d.put(&path, Some(json!({ "args": ["true"], "cwd": "/nonexistent" })));
    assert_error(&r, 400, "missing cwd");
    let r = d.get(&format!("/containers/{id}"));
    assert_eq!(r.json["processes"].as_array().map(|a| a.len()), Some(0), "{r:?}");
    let r = d.put(&path, Some(json!({ "args": ["true"], "cwd": "/tmp" })));
    assert_eq!(r.status, 200, "{r:?}");
}
