//! The supervisor: the one owner of all container state. One map behind one lock; the disk copy
//! is written before a call returns. Exits arrive from the reaper thread (our children) or the
//! pidfd watcher (containers adopted after a restart).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::reaper::{self, ExitSink, PidfdWatcher, Reaper};
use crate::seccomp::CompiledSeccomp;
use crate::spawner::Spawner;
use crate::store::{ContainerRecord, Status};

/// How long an exit nobody claimed yet is kept (a container may exit before its creator
/// registered its pid).
const UNCLAIMED_TTL: Duration = Duration::from_secs(120);

/// How long the pty of an exited terminal exec waits for an attach.
const PTY_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Config {
    /// Hot state: records, logs, libcontainer's state (`--state-dir`).
    pub state_dir: PathBuf,
    /// Durable data (`--root`).
    pub root_dir: PathBuf,
    /// The criu binary (`--criu`); found on PATH when not given.
    pub criu_path: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cpus: usize,
    /// Bytes of RAM.
    pub memory: u64,
}

#[derive(Debug, Clone)]
pub(crate) enum Owner {
    Init(String),
    Exec(String),
    /// A helper process the daemon spawned (CRIU) and waits for.
    Helper,
}

pub(crate) struct Entry {
    pub rec: ContainerRecord,
    /// Set while a create is in flight: the id is reserved but the container is not visible.
    pub creating: bool,
    /// Set while a delete or pause/resume is in flight.
    pub busy: bool,
    /// The compiled seccomp profile, also applied to exec'd processes.
    pub seccomp: Option<Arc<CompiledSeccomp>>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub containers: HashMap<String, Entry>,
    pub owners: HashMap<i32, Owner>,
    pub unclaimed: HashMap<i32, (Option<i32>, Instant)>,
    /// Pty masters of terminal execs, by pid, with the time their process exited: a master is
    /// kept after the exit (its buffer still holds the output) until an attach drained it or
    /// PTY_GRACE passed, so a client attaching to a short-lived process still gets everything.
    pub ptys: HashMap<(String, i32), (Arc<std::os::fd::OwnedFd>, Option<Instant>)>,
    /// Exits of helper processes, until their waiter takes them.
    pub helper_exits: HashMap<i32, Option<i32>>,
}

pub struct Runtime {
    pub(crate) cfg: Config,
    pub(crate) lc_root: PathBuf,
    pub(crate) spawner: Spawner,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) exited: Condvar,
    /// Woken on every exit, for async waiters.
    exits: tokio::sync::Notify,
    watcher: PidfdWatcher,
    reaper: Reaper,
    events: broadcast::Sender<Event>,
    criu: std::sync::OnceLock<crate::checkpoint::CriuState>,
}

impl Runtime {
    /// Sets up the state directories, re-adopts the containers of a previous run, and starts
    /// the reaper. `spawner` must have been started while the process was single-threaded, and
    /// this must be called while it still is (the reaper blocks SIGCHLD for every thread).
    pub fn new(cfg: Config, spawner: Spawner) -> Result<Arc<Runtime>> {
        let reaper = Reaper::new()?;
        for dir in [&cfg.state_dir, &cfg.root_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::internal(format!("creating {dir:?}: {e}")))?;
            // Checkpoints, imported archives and logs are root's: others may traverse (a
            // user-namespaced container's rootfs may live below) but not list.
            let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o711));
        }
        let lc_root = cfg.state_dir.join(".libcontainer");
        std::fs::create_dir_all(&lc_root).map_err(|e| Error::internal(format!("creating {lc_root:?}: {e}")))?;
        let lc_root = lc_root.canonicalize()?;
        crate::cgroups::prepare_default_parent();

        // The exit sinks need the runtime; the runtime needs the watcher: tie them with a cell.
        let slot: Arc<std::sync::OnceLock<std::sync::Weak<Runtime>>> = Arc::default();
        let sink_slot = slot.clone();
        let sink: ExitSink = Arc::new(move |pid, status| {
            if let Some(rt) = sink_slot.get().and_then(|w| w.upgrade()) {
                rt.on_exit(pid, status);
            }
        });
        let watcher = PidfdWatcher::start(sink.clone())?;
        let (events, _) = broadcast::channel(1024);
        let rt = Arc::new(Runtime {
            cfg,
            lc_root,
            spawner,
            inner: Mutex::new(Inner::default()),
            exited: Condvar::new(),
            exits: tokio::sync::Notify::new(),
            watcher,
            reaper,
            events,
            criu: std::sync::OnceLock::new(),
        });
        let _ = slot.set(Arc::downgrade(&rt));
        crate::checkpoint::clean_criu_roots(&rt.cfg.state_dir);
        rt.adopt_existing();
        rt.reaper.start(sink)?;
        // CRIU is asked for its version through the reaper, like every child.
        let criu = crate::checkpoint::CriuState::probe(rt.cfg.criu_path.as_deref(), rt.as_ref());
        let _ = rt.criu.set(criu);
        Ok(rt)
    }

    pub(crate) fn criu_state(&self) -> &crate::checkpoint::CriuState {
        static NONE: crate::checkpoint::CriuState = crate::checkpoint::CriuState {
            criu: None,
            version: None,
            unavailable: None,
            mem_track: false,
        };
        self.criu.get().unwrap_or(&NONE)
    }

    /// Waits for the exit of a helper child (CRIU): the reaper thread reaps it and hands the
    /// status over here.
    pub(crate) fn wait_helper(&self, pid: i32) -> Option<i32> {
        let mut inner = self.lock();
        if let Some((status, _)) = inner.unclaimed.remove(&pid) {
            return status;
        }
        inner.owners.insert(pid, Owner::Helper);
        self.reaper.watch(pid);
        loop {
            if let Some(status) = inner.helper_exits.remove(&pid) {
                return status;
            }
            inner = match self.exited.wait(inner) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        ContainerRecord::dir(&self.cfg.state_dir, id)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, ev: Event) {
        let _ = self.events.send(ev);
    }

    /// Host facts for `/state`.
    pub fn machine() -> Machine {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        Machine { cpus, memory }
    }

    /// One container, as the API shows it.
    pub fn get(&self, id: &str) -> Result<ContainerRecord> {
        let inner = self.lock();
        match inner.containers.get(id) {
            Some(e) if !e.creating => Ok(e.rec.clone()),
            _ => Err(Error::not_found(format!("no such container: {id}"))),
        }
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Vec<ContainerRecord> {
        let inner = self.lock();
        let mut v: Vec<ContainerRecord> = inner
            .containers
            .values()
            .filter(|e| !e.creating)
            .map(|e| e.rec.clone())
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        v
    }

    /// Starts a long change of a container (pause, delete, checkpoint …): refuses an unknown or
    /// busy container, lets `check` refuse its state, then marks it busy and returns its record.
    /// Call `end_change` when done.
    pub(crate) fn begin_change(
        &self,
        id: &str,
        check: impl FnOnce(&ContainerRecord) -> Result<()>,
    ) -> Result<ContainerRecord> {
        let mut inner = self.lock();
        let e = match inner.containers.get_mut(id) {
            Some(e) if !e.creating => e,
            _ => return Err(Error::not_found(format!("no such container: {id}"))),
        };
        if e.busy {
            return Err(Error::conflict(format!("container {id} is being changed")));
        }
        check(&e.rec)?;
        e.busy = true;
        Ok(e.rec.clone())
    }

    pub(crate) fn end_change(&self, id: &str) {
        if let Some(e) = self.lock().containers.get_mut(id) {
            e.busy = false;
        }
    }

    /// Persists one container's record (called with the lock held).
    pub(crate) fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        rec.save(&self.container_dir(&rec.id))
    }

    /// Registers a new child's owner, unless its exit was already seen (returns that status),
    /// and has the reaper watch it.
    pub(crate) fn claim(&self, inner: &mut Inner, pid: i32, owner: Owner, since: Instant) -> Option<Option<i32>> {
        if let Some((status, at)) = inner.unclaimed.remove(&pid) {
            if at >= since {
                return Some(status);
            }
        }
        inner.owners.insert(pid, owner);
        self.reaper.watch(pid);
        None
    }

    /// An exit, from the reaper thread or the pidfd watcher.
    fn on_exit(&self, pid: i32, status: Option<i32>) {
        let mut inner = self.lock();
        match inner.owners.remove(&pid) {
            Some(Owner::Init(id)) => {
                if let Some(e) = inner.containers.get_mut(&id) {
                    if e.rec.pid == pid && e.rec.status != Status::Stopped {
                        e.rec.status = Status::Stopped;
                        e.rec.exit_status = status;
                        if status == Some(137) && crate::cgroups::oom_killed(&e.rec.cgroups_path) {
                            self.emit(Event::new("oom", &id, Some(pid), status));
                        }
                        if let Err(err) = self.persist(&e.rec) {
                            tracing::error!(id, "saving exit: {err}");
                        }
                        tracing::info!(id, pid, ?status, "container exited");
                        self.emit(Event::new("exit", &id, Some(pid), status));
                    }
                }
            }
            Some(Owner::Exec(id)) => {
                let now = Instant::now();
                inner
                    .ptys
                    .retain(|_, (_, exited)| exited.is_none_or(|t| now.duration_since(t) < PTY_GRACE));
                if let Some((_, exited)) = inner.ptys.get_mut(&(id.clone(), pid)) {
                    *exited = Some(now);
                }
                if let Some(e) = inner.containers.get_mut(&id) {
                    if let Some(p) = e.rec.processes.iter_mut().find(|p| p.pid == pid && p.running) {
                        p.running = false;
                        p.exit_status = status;
                        if let Err(err) = self.persist(&e.rec) {
                            tracing::error!(id, "saving exec exit: {err}");
                        }
                        self.emit(Event::new("execExit", &id, Some(pid), status));
                    }
                }
            }
            Some(Owner::Helper) => {
                inner.helper_exits.insert(pid, status);
            }
            None if pid == self.spawner.pid().as_raw() => {
                // Without its fork server the daemon cannot create or exec anything, and a new
                // one cannot be forked safely from this multi-threaded process. Every record is on
                // disk and containers outlive the daemon: exit, and let the service manager (or
                // the operator) start ctrd again, which re-adopts them.
                tracing::error!(?status, "the fork server died: exiting so that ctrd can be restarted");
                std::process::exit(70);
            }
            None => {
                let now = Instant::now();
                // Pruned in batches: a container re-parenting many short-lived orphans to the
                // daemon must not make every exit a scan under the one lock.
                if inner.unclaimed.len() >= 256 {
                    inner
                        .unclaimed
                        .retain(|_, (_, at)| now.duration_since(*at) < UNCLAIMED_TTL);
                }
                inner.unclaimed.insert(pid, (status, now));
            }
        }
        drop(inner);
        self.exited.notify_all();
        self.exits.notify_waiters();
    }

    /// Notified on every exit: an async waiter enables a `notified()` future, checks the state,
    /// then awaits it.
    pub fn exits(&self) -> &tokio::sync::Notify {
        &self.exits
    }

    /// The exit status of one of the container's processes (its init or an exec'd one): `None`
    /// while it runs, `Some(status)` once it exited (the status itself may be unknown).
    pub fn process_exit(&self, id: &str, pid: i32) -> Result<Option<Option<i32>>> {
        let inner = self.lock();
        let e = match inner.containers.get(id) {
            Some(e) if !e.creating => e,
            _ => return Err(Error::not_found(format!("no such container: {id}"))),
        };
        if e.rec.pid == pid {
            return Ok((e.rec.status == Status::Stopped).then_some(e.rec.exit_status));
        }
        match e.rec.processes.iter().find(|p| p.pid == pid) {
            Some(p) => Ok((!p.running).then_some(p.exit_status)),
            None => Err(Error::not_found(format!("container {id} has no process {pid}"))),
        }
    }

    /// An attach to `pid` ended: once its process has exited, nobody needs its pty any more.
    pub fn release_pty(&self, id: &str, pid: i32) {
        let mut inner = self.lock();
        let key = (id.to_owned(), pid);
        if matches!(inner.ptys.get(&key), Some((_, Some(_)))) {
            inner.ptys.remove(&key);
        }
    }

    /// The pty master of a terminal exec (shared: attach and resize use it).
    pub fn pty(&self, id: &str, pid: i32) -> Result<Arc<std::os::fd::OwnedFd>> {
        let inner = self.lock();
        match inner.containers.get(id) {
            Some(e) if !e.creating && e.rec.processes.iter().any(|p| p.pid == pid) => {}
            _ => return Err(Error::not_found(format!("container {id} has no process {pid}"))),
        }
        inner
            .ptys
            .get(&(id.to_owned(), pid))
            .map(|(fd, _)| fd.clone())
            .ok_or_else(|| Error::conflict(format!("process {pid} has no terminal (or it has exited)")))
    }

    /// Reads the records of a previous run: containers still alive (same pid and start time) are
    /// adopted and watched through pidfds; those that died meanwhile are stopped, status unknown.
    fn adopt_existing(&self) {
        let Ok(dir) = std::fs::read_dir(&self.cfg.state_dir) else {
            return;
        };
        let mut inner = self.lock();
        for ent in dir.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !ent.path().is_dir() {
                continue;
            }
            let mut rec = match ContainerRecord::load(&ent.path()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(dir = ?ent.path(), "skipping unreadable container record: {e}");
                    continue;
                }
            };
            let alive = |pid: i32, start: u64| reaper::start_time(pid) == Some(start);
            let mut changed = false;
            if rec.status != Status::Stopped {
                if alive(rec.pid, rec.start_time) && self.watcher.watch(rec.pid) {
                    inner.owners.insert(rec.pid, Owner::Init(rec.id.clone()));
                    tracing::info!(id = rec.id, pid = rec.pid, "re-adopted running container");
                } else {
                    rec.status = Status::Stopped;
                    rec.exit_status = None;
                    changed = true;
                    tracing::info!(id = rec.id, pid = rec.pid, "container exited while ctrd was down");
                }
            }
            for p in rec.processes.iter_mut().filter(|p| p.running) {
                if rec.status != Status::Stopped && alive(p.pid, p.start_time) && self.watcher.watch(p.pid) {
                    inner.owners.insert(p.pid, Owner::Exec(rec.id.clone()));
                } else {
                    p.running = false;
                    p.exit_status = None;
                    changed = true;
                }
            }
            if changed {
                if let Err(e) = rec.save(&ent.path()) {
                    tracing::error!(id = rec.id, "saving record: {e}");
                }
            }
            let seccomp = load_seccomp(&ent.path());
            inner.containers.insert(
                rec.id.clone(),
                Entry {
                    rec,
                    creating: false,
                    busy: false,
                    seccomp,
                },
            );
        }
    }

    /// Waits (bounded) until the container's init exit has been seen.
    pub(crate) fn wait_stopped(&self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            match inner.containers.get(id) {
                Some(e) if e.rec.status != Status::Stopped => {}
                _ => return true,
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = match self.exited.wait_timeout(inner, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Waits until the container stops, without a bound; returns its exit status.
    pub fn wait(&self, id: &str) -> Result<Option<i32>> {
        let mut inner = self.lock();
        loop {
            match inner.containers.get(id) {
                None => return Err(Error::not_found(format!("no such container: {id}"))),
                Some(e) if e.rec.status == Status::Stopped && !e.creating => return Ok(e.rec.exit_status),
                Some(_) => {}
            }
            inner = match self.exited.wait(inner) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }
}

pub(crate) const SECCOMP_FILE: &str = "seccomp.json";

/// The container's seccomp profile as the bundle gave it, recompiled (cached) after a restart.
fn load_seccomp(dir: &Path) -> Option<Arc<CompiledSeccomp>> {
    let body = std::fs::read(dir.join(SECCOMP_FILE)).ok()?;
    let profile: oci_spec::runtime::LinuxSeccomp = serde_json::from_slice(&body).ok()?;
    crate::seccomp::compile(&profile).ok()
}
