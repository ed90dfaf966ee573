//! Concurrency stress: many containers at once, then checks for leaks
//! (fds, zombies, cgroups, mounts).

use ctrd_tests::*;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

const CONTAINERS: usize = 200;
const CLIENTS: usize = 16;
const OVERALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `f(i)` for i in 0..n on CLIENTS threads; returns the failures.
fn parallel<F: Fn(usize) -> Result<(), String> + Sync>(n: usize, f: F) -> Vec<String> {
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let f = &f;
            let errors = &errors;
            s.spawn(move || {
                for i in (t..n).step_by(CLIENTS) {
                    if let Err(e) = f(i) {
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    errors.into_inner().unwrap()
}

fn first_errors(errs: &[String]) -> String {
    errs.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
}

#[test]
fn stress_200_containers() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    // Let the daemon settle, then take the fd baseline.
    for _ in 0..3 {
        assert_eq!(d.get("/state").status, 200);
    }
    let dpid = d.pid();
    let fds_before = fd_count(dpid);
    let bundle = d.bundle("stress", &["sleep", "1000"]);
    let ids: Vec<String> = (0..CONTAINERS).map(|i| unique_id(&format!("st{i}"))).collect();

    let (tx, rx) = mpsc::channel();
    let outcome = std::thread::scope(|s| {
        let d = &d;
        let ids = &ids;
        let bundle = &bundle;
        s.spawn(move || {
            let pids: Vec<Mutex<i32>> = (0..CONTAINERS).map(|_| Mutex::new(0)).collect();
            let errs = parallel(CONTAINERS, |i| {
                let r = d
                    .try_raw(
                        "POST",
                        &format!("/containers/{}", ids[i]),
                        Some("application/json"),
                        Some(&serde_json::to_vec(&json!({ "bundlePath": bundle.dir })).unwrap()),
                    )
                    .map_err(|e| format!("create {}: {e}", ids[i]))?;
                if r.status != 201 {
                    return Err(format!("create {}: {r:?}", ids[i]));
                }
                *pids[i].lock().unwrap() = r.json["pid"].as_i64().unwrap_or(0) as i32;
                Ok(())
            });
            if !errs.is_empty() {
                let _ = tx.send(Err(format!(
                    "{} of {CONTAINERS} creates failed:\n{}",
                    errs.len(),
                    first_errors(&errs)
                )));
                return;
            }
            let listed = d.container_ids();
            let missing: Vec<&String> = ids.iter().filter(|id| !listed.contains(id)).collect();
            if !missing.is_empty() {
                let _ = tx.send(Err(format!("not listed in /state: {missing:?}")));
                return;
            }

            let errs = parallel(CONTAINERS, |i| {
                let body = json!({ "args": ["sh", "-c", "echo exec-ok"] });
                let r = d
                    .try_raw(
                        "PUT",
                        &format!("/containers/{}/process", ids[i]),
                        Some("application/json"),
                        Some(&serde_json::to_vec(&body).unwrap()),
                    )
                    .map_err(|e| format!("exec {}: {e}", ids[i]))?;
                if r.status != 200 {
                    return Err(format!("exec {}: {r:?}", ids[i]));
                }
                let pid = r.json["pid"].as_i64().unwrap_or(0) as i32;
                let out = d.exec_stdout(&ids[i], pid);
                if !wait_until(WAIT, || read_or_empty(&out).contains("exec-ok")) {
                    return Err(format!("exec {} pid {pid}: no output in {}", ids[i], out.display()));
                }
                Ok(())
            });
            if !errs.is_empty() {
                let _ = tx.send(Err(format!(
                    "{} of {CONTAINERS} execs failed:\n{}",
                    errs.len(),
                    first_errors(&errs)
                )));
                return;
            }

            let errs = parallel(CONTAINERS, |i| {
                let r = d
                    .try_raw("DELETE", &format!("/containers/{}?force=true", ids[i]), None, None)
                    .map_err(|e| format!("delete {}: {e}", ids[i]))?;
                if r.status != 204 && r.status != 200 {
                    return Err(format!("delete {}: {r:?}", ids[i]));
                }
                Ok(())
            });
            if !errs.is_empty() {
                let _ = tx.send(Err(format!(
                    "{} of {CONTAINERS} deletes failed:\n{}",
                    errs.len(),
                    first_errors(&errs)
                )));
                return;
            }
            let pids: Vec<i32> = pids.iter().map(|p| *p.lock().unwrap()).collect();
            let _ = tx.send(Ok(pids));
        });
        // The scope joins the worker; if it hangs past the timeout we fail
        // from here (the Daemon's Drop then tears everything down).
        match rx.recv_timeout(OVERALL_TIMEOUT) {
            Ok(r) => r,
            Err(_) => {
                eprintln!("stress run hung; ctrd log tail:\n{}", d.log_tail(60));
                // Kill the daemon so pending requests fail and the scope can end.
                d.kill9();
                Err(format!("stress run did not finish within {OVERALL_TIMEOUT:?}"))
            }
        }
    });
    let pids = match outcome {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };

    // Everything is gone.
    assert!(
        wait_until(WAIT, || pids.iter().all(|p| !pid_alive(*p))),
        "container processes survived force delete: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    let left = d.container_ids();
    assert!(
        left.iter().all(|id| !ids.contains(id)),
        "containers still listed: {left:?}"
    );
    let mut fds = 0;
    assert!(
        wait_until(WAIT, || {
            fds = fd_count(dpid);
            fds <= fds_before + 5
        }),
        "daemon fd leak: {fds_before} fds before, {fds} after"
    );
    let mut z = Vec::new();
    assert!(
        wait_until(WAIT, || {
            z = zombie_children(dpid);
            z.is_empty()
        }),
        "zombie children of the daemon: {z:?}"
    );
    let leftover: Vec<_> = ids.iter().flat_map(|id| cgroup_dirs(id)).collect();
    assert!(
        leftover.is_empty(),
        "leftover cgroup dirs: {:?}",
        &leftover[..leftover.len().min(10)]
    );
    let state = d.state_dir.display().to_string();
    let mounts = mounts_containing(&state);
    assert!(mounts.is_empty(), "leftover mounts under the state dir: {mounts:?}");
    let root = d.root_dir.display().to_string();
    let mounts = mounts_containing(&root);
    assert!(mounts.is_empty(), "leftover mounts under the root dir: {mounts:?}");
    let dirs: Vec<_> = ids.iter().filter(|id| d.container_dir(id).exists()).collect();
    assert!(dirs.is_empty(), "leftover state dirs: {dirs:?}");
    assert!(d.is_running(), "daemon died");
}
