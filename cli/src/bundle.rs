//! `ctr bundle init`: an OCI bundle with a busybox rootfs and a config.json like `runc spec`
//! (the same as scripts/make-bundle.sh writes).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

pub const DEFAULT_ARGS: [&str; 2] = ["sleep", "infinity"];

/// The config.json for a bundle running `args` (default: sleep forever) without a terminal.
pub fn config(args: &[String]) -> Value {
    let args: Vec<String> = if args.is_empty() {
        DEFAULT_ARGS.iter().map(|s| s.to_string()).collect()
    } else {
        args.to_vec()
    };
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ctrd",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn io_err(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", p.display())
}

fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(|e| io_err("chmod", p, e))
}

/// Writes `dir/config.json`.
pub fn write_config(dir: &Path, args: &[String]) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    let mut text = serde_json::to_string_pretty(&config(args)).map_err(|e| e.to_string())?;
    text.push('\n');
    let p = dir.join("config.json");
    fs::write(&p, text).map_err(|e| io_err("writing", &p, e))
}

/// Writes `dir/rootfs`: busybox (copied from `busybox`), a symlink per applet, the usual
/// directories, and /etc/passwd + /etc/group with root and nobody.
pub fn write_rootfs(dir: &Path, busybox: &Path) -> Result<usize, String> {
    let meta = fs::metadata(busybox).map_err(|e| {
        format!(
            "{}: {e} (install Debian's busybox-static, or give --rootfs-from)",
            busybox.display()
        )
    })?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", busybox.display()));
    }
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "run"] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).map_err(|e| io_err("creating", &p, e))?;
    }
    set_mode(dir, 0o755)?;
    set_mode(&rootfs, 0o755)?;
    set_mode(&rootfs.join("tmp"), 0o1777)?;
    let bin = rootfs.join("bin");
    let target = bin.join("busybox");
    // A previous run may have left a symlink here: never copy through it.
    if fs::symlink_metadata(&target).is_ok() {
        fs::remove_file(&target).map_err(|e| io_err("removing", &target, e))?;
    }
    fs::copy(busybox, &target).map_err(|e| io_err("copying busybox to", &target, e))?;
    set_mode(&target, 0o755)?;
    let out = Command::new(&target)
        .arg("--list")
        .output()
        .map_err(|e| io_err("running", &target, e))?;
    if !out.status.success() {
        return Err(format!("{} --list failed: {}", target.display(), out.status));
    }
    let mut applets = 0;
    for app in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if app == "busybox" || app.contains('/') {
            continue;
        }
        let link = bin.join(app);
        if fs::symlink_metadata(&link).is_ok() {
            fs::remove_file(&link).map_err(|e| io_err("removing", &link, e))?;
        }
        symlink("busybox", &link).map_err(|e| io_err("linking", &link, e))?;
        applets += 1;
    }
    let etc = rootfs.join("etc");
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .map_err(|e| io_err("writing", &etc.join("passwd"), e))?;
    fs::write(etc.join("group"), "root:x:0:\nnogroup:x:65534:\n")
        .map_err(|e| io_err("writing", &etc.join("group"), e))?;
    Ok(applets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_expected_fields() {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), &[]).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(v["ociVersion"], "1.0.2-dev");
        assert_eq!(v["process"]["terminal"], false);
        assert_eq!(v["process"]["args"], json!(["sleep", "infinity"]));
        assert_eq!(v["process"]["cwd"], "/");
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert_eq!(v["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
        assert_eq!(v["process"]["capabilities"]["bounding"].as_array().unwrap().len(), 3);
        assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
        let dests: Vec<&str> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup",
                "/tmp"
            ]
        );
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
        assert_eq!(v["linux"]["maskedPaths"].as_array().unwrap().len(), 10);
        assert_eq!(v["linux"]["readonlyPaths"].as_array().unwrap().len(), 5);

        write_config(dir.path(), &["sh".into(), "-c".into(), "echo \"hi\"".into()]).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(v["process"]["args"], json!(["sh", "-c", "echo \"hi\""]));
    }

    #[test]
    fn rootfs_from_busybox() {
        let busybox = Path::new("/bin/busybox");
        if !busybox.exists() {
            eprintln!("skipped: /bin/busybox is missing");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let n = write_rootfs(dir.path(), busybox).unwrap();
        assert!(n > 10);
        let bin = dir.path().join("rootfs/bin");
        assert!(fs::symlink_metadata(bin.join("busybox")).unwrap().is_file());
        assert_eq!(fs::read_link(bin.join("sh")).unwrap(), Path::new("busybox"));
        assert!(fs::read_to_string(dir.path().join("rootfs/etc/passwd"))
            .unwrap()
            .contains("nobody"));
        for d in ["proc", "sys", "dev", "tmp", "etc", "root", "run"] {
            assert!(dir.path().join("rootfs").join(d).is_dir(), "{d}");
        }
        // Again over the same directory: replaces, never writes through a symlink.
        write_rootfs(dir.path(), busybox).unwrap();
        assert!(fs::symlink_metadata(bin.join("busybox")).unwrap().is_file());
    }
}
