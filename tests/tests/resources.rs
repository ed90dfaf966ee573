//! Resource limits (cgroups), user namespaces and seccomp.

use ctrd_tests::spec;
use ctrd_tests::*;

#[test]
fn memory_and_pids_limits() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("mem");
    let mut b = d.bundle("mem", &["sleep", "1000"]);
    b.edit_write(|cfg| {
        cfg["linux"]["resources"]["memory"] = json!({ "limit": 67108864 });
        cfg["linux"]["resources"]["pids"] = json!({ "limit": 42 });
    });
    let pid = d.create_ok(&id, &b);

    let mem = cgroup_file(&id, "memory", "memory.limit_in_bytes", "memory.max");
    let v = read_opt(&mem).unwrap_or_else(|| panic!("{} missing", mem.display()));
    assert_eq!(v.trim(), "67108864", "{}", mem.display());

    let pids = cgroup_file(&id, "pids", "pids.max", "pids.max");
    let v = read_opt(&pids).unwrap_or_else(|| panic!("{} missing", pids.display()));
    assert_eq!(v.trim(), "42", "{}", pids.display());

    // The container's init is in that cgroup.
    let procs = mem.with_file_name("cgroup.procs");
    let procs = read_or_empty(&procs);
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "pid {pid} not in memory cgroup procs: {procs:?}"
    );
    // ... and an exec'd process too.
    let e = d.exec_ok(&id, &["sleep", "1000"]);
    let cg = read_or_empty(format!("/proc/{e}/cgroup"));
    assert!(
        cg.lines().any(|l| l.ends_with(&format!("/ctrd/{id}"))),
        "exec'd process {e} not in /ctrd/{id}: {cg}"
    );

    d.force_delete(&id);
    assert!(wait_until(WAIT, || !pid_alive(pid)));
    d.assert_no_trace(&id);
}

#[test]
fn user_namespace_mapping() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("userns");
    let mut b = d.bundle("userns", &["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 1000"]);
    b.edit_write(|cfg| {
        spec::add_namespace(cfg, "user");
        cfg["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        cfg["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        // A cgroup v1 hierarchy cannot be mounted from a non-initial user
        // namespace (kernel restriction), so drop the cgroup mount and the
        // cgroup namespace as rootless runc setups do. sysfs is kept: the
        // container has its own network namespace owned by its userns.
        spec::remove_mount(cfg, "/sys/fs/cgroup");
        spec::remove_namespace(cfg, "cgroup");
    });
    let pid = d.create_ok(&id, &b);
    assert_ne!(ns_link(pid, "user"), ns_link("self", "user"), "no new user namespace");
    let uids = proc_uids(pid);
    assert_eq!(uids.first(), Some(&100000), "host Uid line of {pid}: {uids:?}");
    let gids = proc_gids(pid);
    assert_eq!(gids.first(), Some(&100000), "host Gid line of {pid}: {gids:?}");
    let map = read_or_empty(format!("/proc/{pid}/uid_map"));
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536"], "uid_map: {map:?}");
    let gmap = read_or_empty(format!("/proc/{pid}/gid_map"));
    let fields: Vec<&str> = gmap.split_whitespace().collect();
    assert_eq!(fields, ["0", "100000", "65536"], "gid_map: {gmap:?}");

    // Inside, it is root.
    let out = wait_file_contains(d.stdout_log(&id), "100000", WAIT);
    assert_eq!(out.lines().next().map(str::trim), Some("0"), "id -u inside: {out:?}");

    // exec joins the user namespace too.
    let e = d.exec_ok(&id, &["sleep", "1000"]);
    assert!(wait_until(WAIT, || pid_alive(e)));
    assert_eq!(ns_link(e, "user"), ns_link(pid, "user"), "exec not in container userns");
    assert_eq!(proc_uids(e).first(), Some(&100000), "exec host uid");

    d.force_delete(&id);
}

#[test]
fn user_namespace_with_unmodified_runc_spec() {
    if skip_unless_root() {
        return;
    }
    // runc accepts `runc spec` + a user namespace as is (it bind-mounts the
    // cgroup hierarchies instead of mounting cgroupfs), so ctrd should too.
    let d = Daemon::start();
    let id = unique_id("userns-full");
    let mut b = d.bundle("userns-full", &["sh", "-c", "id -u; sleep 1000"]);
    b.edit_write(|cfg| {
        spec::add_namespace(cfg, "user");
        cfg["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        cfg["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    });
    let pid = d.create_ok(&id, &b);
    assert_eq!(proc_uids(pid).first(), Some(&100000));
    wait_file_contains(d.stdout_log(&id), "0", WAIT);
    d.force_delete(&id);
}

fn seccomp_profile(errno: u32) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [spec::native_seccomp_arch()],
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno }
        ]
    })
}

/// Runs `mkdir /tmp/x` in a container (with /tmp a tmpfs) and returns
/// (stdout, stderr) once it has stopped.
fn run_mkdir(d: &Daemon, name: &str, profile: Option<serde_json::Value>) -> (String, String) {
    let id = unique_id(name);
    let mut b = d.bundle(name, &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    b.edit_write(|cfg| {
        spec::add_tmp_tmpfs(cfg);
        if let Some(p) = profile {
            cfg["linux"]["seccomp"] = p;
        }
    });
    d.create_short_ok(&id, &b);
    let c = d.wait_status(&id, "stopped", WAIT);
    assert_eq!(c["exitStatus"], json!(0), "{c}");
    let out = read_or_empty(d.stdout_log(&id));
    let err = read_or_empty(d.stderr_log(&id));
    let r = d.delete(&format!("/containers/{id}"), None);
    assert!(r.status == 204 || r.status == 200, "delete: {r:?}");
    (out, err)
}

#[test]
fn seccomp_errno_profiles() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();

    let (out, err) = run_mkdir(&d, "noseccomp", None);
    assert!(
        out.contains("rc=0"),
        "mkdir without seccomp failed: out={out:?} err={err:?}"
    );

    let (out, err) = run_mkdir(&d, "seccomp13", Some(seccomp_profile(13)));
    assert!(
        out.contains("rc=") && !out.contains("rc=0"),
        "mkdir under EACCES profile succeeded: out={out:?} err={err:?}"
    );
    assert!(err.contains("Permission denied"), "stderr: {err:?}");

    let (out, err) = run_mkdir(&d, "seccomp1", Some(seccomp_profile(1)));
    assert!(
        out.contains("rc=") && !out.contains("rc=0"),
        "mkdir under EPERM profile succeeded: out={out:?} err={err:?}"
    );
    assert!(err.contains("Operation not permitted"), "stderr: {err:?}");

    // Without "architectures" (optional in the OCI spec) the native one is used.
    let mut p = seccomp_profile(13);
    p.as_object_mut().unwrap().remove("architectures");
    let (out, err) = run_mkdir(&d, "seccompnoarch", Some(p));
    assert!(
        !out.contains("rc=0") && err.contains("Permission denied"),
        "profile without architectures not applied: out={out:?} err={err:?}"
    );
}

#[test]
fn seccomp_applies_to_exec() {
    if skip_unless_root() {
        return;
    }
    let d = Daemon::start();
    let id = unique_id("seccompexec");
    let mut b = d.bundle("seccompexec", &["sleep", "1000"]);
    b.edit_write(|cfg| {
        spec::add_tmp_tmpfs(cfg);
        cfg["linux"]["seccomp"] = seccomp_profile(13);
    });
    d.create_ok(&id, &b);
    let e = d.exec_ok(&id, &["sh", "-c", "mkdir /tmp/y; echo rc=$?"]);
    let out = wait_file_contains(d.exec_stdout(&id, e), "rc=", WAIT);
    assert!(!out.contains("rc=0"), "exec escaped the seccomp profile: {out:?}");
    d.force_delete(&id);
}

/// On a cgroup v1 host, the container's `/sys/fs/cgroup/<hierarchy>` are read-only bind mounts of
/// its own cgroup directories (what a namespaced cgroupfs mount would show, without a new
/// superblock per hierarchy and container), and the masked directories share one read-only tmpfs.
#[test]
fn cgroup_v1_view_is_own_cgroup_read_only_and_masked_dirs_share_one_tmpfs() {
    if skip_unless_root() {
        return;
    }
    if cgroup_mode() != CgroupMode::Hybrid {
        eprintln!("SKIP: cgroup v1 hierarchies only (this host is cgroup v2 only)");
        return;
    }
    let d = Daemon::start();
    let id = unique_id("cgview");
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; \
                  cat /proc/self/cgroup; \
                  if echo 1 > /sys/fs/cgroup/pids/pids.max; then echo WROTE; else echo REFUSED; fi; \
                  if touch /sys/firmware/x; then echo WROTE-MASK; else echo REFUSED-MASK; fi; \
                  echo LISTED $(ls -A /sys/firmware | wc -l); echo DONE; sleep 1000";
    let mut b = d.bundle("cgview", &["sh", "-c", script]);
    b.edit_write(|cfg| {
        cfg["linux"]["resources"]["memory"] = json!({ "limit": 67108864 });
        cfg["linux"]["resources"]["pids"] = json!({ "limit": 42 });
    });
    let pid = d.create_ok(&id, &b);
    let out = wait_file_contains(d.stdout_log(&id), "DONE", WAIT);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines.first(), Some(&"67108864"), "memory limit seen inside: {out}");
    assert_eq!(lines.get(1), Some(&"42"), "pids limit seen inside: {out}");
    // The cgroup namespace makes the container's cgroups its root.
    assert!(
        lines.iter().any(|l| *l == "4:memory:/" || l.ends_with(":memory:/")),
        "{out}"
    );
    assert!(lines.contains(&"REFUSED"), "the spec's cgroup mount is ro: {out}");
    assert!(lines.contains(&"REFUSED-MASK"), "masked dir must be read-only: {out}");
    assert!(lines.contains(&"LISTED 0"), "masked dir must be empty: {out}");
    // The host's pids limit is untouched.
    assert_eq!(
        read_or_empty(cgroup_file(&id, "pids", "pids.max", "pids.max")).trim(),
        "42"
    );
    // The default parent's cpuset hands its CPUs and memory nodes to each new container's cpuset
    // (cgroup.clone_children), so libcgroups need not write them.
    let cpuset = cgroup_file(&id, "cpuset", "cpuset.cpus", "cpuset.cpus");
    let parent = cpuset
        .parent()
        .and_then(|p| p.parent())
        .expect("cpuset parent")
        .to_path_buf();
    assert_eq!(
        read_or_empty(parent.join("cgroup.clone_children")).trim(),
        "1",
        "{parent:?}"
    );
    assert_eq!(
        read_or_empty(&cpuset).trim(),
        read_or_empty(parent.join("cpuset.cpus")).trim()
    );
    assert!(
        !read_or_empty(&cpuset).trim().is_empty(),
        "empty cpuset.cpus in {cpuset:?}"
    );

    // Superblocks: every cgroup mount in the container is the host hierarchy's own superblock,
    // and all masked directories are one tmpfs.
    let host_dev = |mp: &str| -> Option<String> {
        read_or_empty("/proc/self/mountinfo")
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some(mp))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
    };
    let inside = read_or_empty(format!("/proc/{pid}/mountinfo"));
    let mut cgroup_mounts = 0;
    let mut masked_devs = std::collections::BTreeSet::new();
    for l in inside.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (dev, mp) = (f[2], f[4]);
        let fstype = f.iter().skip_while(|x| **x != "-").nth(1).copied().unwrap_or("");
        if fstype == "cgroup" {
            cgroup_mounts += 1;
            assert!(f[5].split(',').any(|o| o == "ro"), "cgroup mount not ro: {l}");
            assert_eq!(host_dev(mp).as_deref(), Some(dev), "new superblock for {mp}: {l}");
        }
        if fstype == "tmpfs" && ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware"].contains(&mp) {
            masked_devs.insert(dev.to_owned());
        }
    }
    assert!(cgroup_mounts >= 2, "no cgroup mounts inside: {inside}");
    assert_eq!(masked_devs.len(), 1, "masked directories on {masked_devs:?}: {inside}");

    d.force_delete(&id);
    assert!(wait_until(WAIT, || !pid_alive(pid)));
    d.assert_no_trace(&id);
}
