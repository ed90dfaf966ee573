//! Integration tests against the real criu (needs root and CRIU >= 4.2; skip loudly otherwise).
//!
//! These are standalone processes that own their children, so they use `DirectWaiter` /
//! waitpid for them (the daemon must not: it has a single reaper).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criu::{ChildWaiter, Criu, CriuError, DirectWaiter, DumpOptions, Notify, RestoreOptions};

fn criu_or_skip(test: &str) -> Option<Criu> {
    // SAFETY: trivial syscall.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED {test}: criu integration tests need root");
        return None;
    }
    // Orphans of the dumped trees (e.g. the counter's `sleep`) must be reaped before a restore:
    // a zombie keeps its pgid/sid pid number busy, and restoring that pid then fails with EEXIST.
    // PID 1 of this machine does not reap promptly, so adopt them ourselves (see reap_tree).
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    match Criu::locate(None) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("SKIPPED {test}: {e}");
            None
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("criu-it-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    fn sub(&self, name: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::create_dir_all(&p).expect("create sub dir");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("CRIU_IT_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Kills the process group on drop (in case a test fails half-way).
struct Tree(i32);

impl Drop for Tree {
    fn drop(&mut self) {
        // SAFETY: plain syscalls on our own child / its group.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
            libc::kill(self.0, libc::SIGKILL);
        }
        reap_tree(self.0);
    }
}

/// Reaps the tree's leader (a child of ours) and then every member of its process group that
/// was re-parented to us (we are a child subreaper), so that all its pid numbers are free.
fn reap_tree(leader: i32) -> Option<i32> {
    let status = DirectWaiter.wait_exit(leader);
    loop {
        let mut st = 0;
        // SAFETY: plain syscall.
        let r = unsafe { libc::waitpid(-leader, &mut st, 0) };
        if r > 0 {
            continue;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return status;
    }
}

/// Starts `sh` counting into `file` every 0.1 s, as a session + process group leader with all
/// stdio on /dev/null and no other inherited descriptors.
fn spawn_counter(file: &Path) -> Tree {
    let script = format!(
        "i=0; while true; do i=$((i+1)); echo $i > {}; sleep 0.1; done",
        file.display()
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe syscalls in the hook.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // drop anything inherited from cargo / the harness (jobserver pipes, ...)
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    // reaped through the returned Tree (reap_tree / DirectWaiter), not Child::wait
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn counter");
    Tree(child.id() as i32)
}

fn read_counter(file: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(n) = fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok()) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "counter file {} never readable",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_counter_at_least(file: &Path, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = fs::read_to_string(file).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            if v >= n {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "counter did not reach {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // a reaped process has no /proc entry; a zombie has state Z
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn pages_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .expect("read images dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("pages-") && n.ends_with(".img")
        })
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn record(log: &mut Vec<String>) -> impl FnMut(&Notify) -> Result<(), String> + '_ {
    move |n: &Notify| {
        log.push(n.script.clone());
        Ok(())
    }
}

#[test]
fn version_is_at_least_4_2() {
    let Some(c) = criu_or_skip("version_is_at_least_4_2") else {
        return;
    };
    let v = c.version(&DirectWaiter).expect("version");
    eprintln!("criu {} at {}", v, c.binary().display());
    assert!(v.at_least(4, 2), "criu {v} is too old: run scripts/install-criu.sh");
    c.ensure_version(&DirectWaiter).expect("ensure_version");
}

#[test]
fn check_passes() {
    let Some(c) = criu_or_skip("check_passes") else { return };
    c.check(&DirectWaiter).expect("criu check");
    let f = c.features(&DirectWaiter).expect("features");
    eprintln!("criu features: {f:?}");
}

#[test]
fn dump_and_restore_process_tree() {
    let Some(c) = criu_or_skip("dump_and_restore_process_tree") else {
        return;
    };
    let tmp = TempDir::new("dump-restore");
    let counter = tmp.0.join("counter");
    let images = tmp.sub("img");
    let tree = spawn_counter(&counter);
    let pid = tree.0;
    wait_counter_at_least(&counter, 15);

    let mut opts = DumpOptions::new(&images, pid);
    opts.leave_running = false;
    opts.notify_scripts = true;
    let mut seen = Vec::new();
    c.dump(&opts, &mut record(&mut seen), &DirectWaiter).expect("dump");
    eprintln!("dump notifications: {seen:?}");
    assert!(
        seen.iter().any(|s| s == "post-dump"),
        "no post-dump notification: {seen:?}"
    );
    assert!(images.join("dump.log").exists());

    // criu killed the tree; reap our child so its pid is free for the restore
    let status = reap_tree(pid);
    eprintln!("original exited with {status:?}");
    assert!(!alive(pid), "dumped process still alive");
    let dumped_at = read_counter(&counter);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        read_counter(&counter),
        dumped_at,
        "counter moved while the process was dumped"
    );

    let mut ropts = RestoreOptions::new(&images);
    ropts.notify_scripts = true;
    let mut seen = Vec::new();
    let out = c
        .restore(&ropts, &mut record(&mut seen), &DirectWaiter)
        .expect("restore");
    eprintln!("restore notifications: {seen:?}; restored pid {}", out.pid);
    assert_eq!(out.pid, pid, "restored with another pid");
    assert!(
        seen.iter().any(|s| s == "post-restore"),
        "no post-restore notification: {seen:?}"
    );
    let _restored = Tree(out.pid);
    assert!(alive(out.pid));

    // it continues from where it was, not from 1
    std::thread::sleep(Duration::from_millis(150));
    let first = read_counter(&counter);
    assert!(first >= dumped_at, "counter restarted: {first} < {dumped_at}");
    let later = wait_counter_at_least(&counter, dumped_at + 5);
    eprintln!("counter: dumped at {dumped_at}, after restore {first} -> {later}");
}

#[test]
fn pre_dump_then_incremental_dump() {
    let Some(c) = criu_or_skip("pre_dump_then_incremental_dump") else {
        return;
    };
    let tmp = TempDir::new("incremental");
    let counter = tmp.0.join("counter");
    let (pre, full, inc) = (tmp.sub("pre"), tmp.sub("full"), tmp.sub("dump"));
    let tree = spawn_counter(&counter);
    let pid = tree.0;
    wait_counter_at_least(&counter, 5);

    let mut o = DumpOptions::new(&pre, pid);
    o.pre_dump = true;
    o.track_mem = true;
    let features = c.features(&DirectWaiter).expect("features");
    if !features.mem_track {
        // Kernel without soft-dirty (CONFIG_MEM_SOFT_DIRTY): pre-dump / incremental dumps are
        // impossible. Check that the failure is reported clearly and the tree survives.
        let err = c
            .dump(&o, &mut |_| Ok(()), &DirectWaiter)
            .expect_err("pre-dump without mem tracking");
        eprintln!("pre-dump error: {err}");
        assert!(err.to_string().contains("Tracking memory is not available"), "{err}");
        assert!(alive(pid));
        eprintln!(
            "SKIPPED pre_dump_then_incremental_dump (incremental part): this kernel has no soft-dirty \
             memory tracking (criu FEATURE_CHECK mem_track=false)"
        );
        return;
    }
    c.dump(&o, &mut |_| Ok(()), &DirectWaiter).expect("pre-dump");
    assert!(alive(pid), "pre-dump stopped the process");
    std::thread::sleep(Duration::from_millis(300));

    // reference: a full dump (no parent, no tracking reset), leaving the tree running
    let mut o = DumpOptions::new(&full, pid);
    o.leave_running = true;
    c.dump(&o, &mut |_| Ok(()), &DirectWaiter).expect("full dump");
    assert!(alive(pid));

    let mut o = DumpOptions::new(&inc, pid);
    o.parent_img = Some("../pre".into());
    o.track_mem = true;
    c.dump(&o, &mut |_| Ok(()), &DirectWaiter).expect("incremental dump");
    reap_tree(pid);
    let dumped_at = read_counter(&counter);

    let (full_sz, inc_sz, pre_sz) = (pages_size(&full), pages_size(&inc), pages_size(&pre));
    eprintln!("pages: pre-dump {pre_sz} B, full dump {full_sz} B, incremental dump {inc_sz} B");
    assert!(full_sz > 0);
    assert!(
        inc_sz < full_sz,
        "incremental dump ({inc_sz} B) not smaller than full ({full_sz} B)"
    );
    assert!(inc.join("parent").exists(), "no parent link in incremental images");

    // the incremental images (with their parent) restore
    let out = c
        .restore(&RestoreOptions::new(&inc), &mut |_| Ok(()), &DirectWaiter)
        .expect("restore incremental");
    let _restored = Tree(out.pid);
    let later = wait_counter_at_least(&counter, dumped_at + 3);
    eprintln!("incremental restore: counter {dumped_at} -> {later}");
}

#[test]
fn failed_dump_reports_criu_error_and_log_tail() {
    let Some(c) = criu_or_skip("failed_dump_reports_criu_error_and_log_tail") else {
        return;
    };
    let tmp = TempDir::new("fail");
    let images = tmp.sub("img");
    // a pid that surely does not exist (above any realistic pid_max use)
    let opts = DumpOptions::new(&images, 4_194_000);
    let err = c
        .dump(&opts, &mut |_| Ok(()), &DirectWaiter)
        .expect_err("dump of a missing pid");
    eprintln!("{err}");
    match &err {
        CriuError::Failed { message, log_tail } => {
            assert!(message.contains("dump of pid 4194000 failed"), "{message}");
            assert!(!log_tail.is_empty(), "no log tail");
            assert!(log_tail.lines().count() <= criu::LOG_TAIL_LINES);
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn notify_callback_error_aborts_dump() {
    let Some(c) = criu_or_skip("notify_callback_error_aborts_dump") else {
        return;
    };
    let tmp = TempDir::new("notify-abort");
    let counter = tmp.0.join("counter");
    let images = tmp.sub("img");
    let tree = spawn_counter(&counter);
    let pid = tree.0;
    wait_counter_at_least(&counter, 3);

    let mut opts = DumpOptions::new(&images, pid);
    opts.notify_scripts = true;
    let mut first: Option<String> = None;
    let err = c
        .dump(
            &opts,
            &mut |n: &Notify| {
                first.get_or_insert_with(|| n.script.clone());
                Err("refused by test".to_string())
            },
            &DirectWaiter,
        )
        .expect_err("dump must fail when the callback fails");
    eprintln!("first notification {first:?}; error: {err}");
    assert!(err.to_string().contains("refused by test"), "{err}");
    // the dump was aborted: the tree keeps running
    assert!(alive(pid), "process died although the dump was aborted");
    let before = read_counter(&counter);
    wait_counter_at_least(&counter, before + 2);
}

fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: valid array; we own the new descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: fresh descriptors.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

/// Reads from `r` until a line with a number > `above` shows up (5 s max).
fn read_number_above(r: &std::fs::File, above: u64) -> u64 {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut acc = String::new();
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 256];
        let n = (&*r).read(&mut buf).expect("read pipe");
        assert!(n > 0, "pipe closed");
        acc.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(v) = acc
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .find(|v| *v > above)
        {
            return v;
        }
    }
    panic!("no number above {above} on the pipe; got {acc:?}");
}

#[test]
fn restore_with_inherited_stdout_pipe() {
    let Some(c) = criu_or_skip("restore_with_inherited_stdout_pipe") else {
        return;
    };
    let tmp = TempDir::new("inherit-fd");
    let counter = tmp.0.join("counter");
    let images = tmp.sub("img");
    let (r1, w1) = pipe();
    let script = format!(
        "i=0; while true; do i=$((i+1)); echo $i; echo $i > {}; sleep 0.1; done",
        counter.display()
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(w1)
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe syscalls in the hook.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn");
    let tree = Tree(child.id() as i32);
    drop(cmd); // closes our copy of the write end
    let pid = tree.0;
    read_number_above(&r1, 3);
    // the inode of the pipe, as CRIU names it: "pipe:[INODE]"
    let key = fs::read_link(format!("/proc/{pid}/fd/1"))
        .expect("readlink fd 1")
        .to_string_lossy()
        .into_owned();
    assert!(key.starts_with("pipe:["), "{key}");

    let opts = DumpOptions::new(&images, pid);
    c.dump(&opts, &mut |_| Ok(()), &DirectWaiter).expect("dump");
    reap_tree(pid);
    std::mem::forget(tree);
    let dumped_at = read_counter(&counter);
    drop(r1);

    // restore with stdout on a new pipe passed as inherit-fd
    let (r2, w2) = pipe();
    let mut ropts = RestoreOptions::new(&images);
    {
        use std::os::fd::AsRawFd;
        ropts.inherit_fds = vec![(key.clone(), w2.as_raw_fd())];
    }
    let out = c
        .restore(&ropts, &mut |_| Ok(()), &DirectWaiter)
        .expect("restore with inherit fd");
    drop(w2);
    let _restored = Tree(out.pid);
    let v = read_number_above(&r2, dumped_at);
    eprintln!("inherit-fd restore: {key} dumped at {dumped_at}, new pipe got {v}");
}
