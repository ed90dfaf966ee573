//! Create + start: `POST /containers/{id}`.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::id::validate_id;
use crate::spawner::{CreateRequest, Request};
use crate::store::{ContainerRecord, Status};
use crate::supervisor::{Entry, Owner, Runtime, SECCOMP_FILE};
use crate::{bundle, cgroups};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    /// Restore from this checkpoint instead of a fresh start.
    pub checkpoint: Option<String>,
    /// Whose checkpoint to restore (default: this container's own): cloning.
    pub checkpoint_container: Option<String>,
}

fn check_output_path(field: &str, p: &Option<PathBuf>) -> Result<()> {
    if let Some(p) = p {
        if !p.is_absolute() {
            return Err(Error::invalid(format!("{field} {p:?} must be an absolute path")));
        }
        match p.parent() {
            Some(dir) if dir.is_dir() => {}
            _ => return Err(Error::invalid(format!("{field} {p:?}: its directory does not exist"))),
        }
        if p.is_dir() {
            return Err(Error::invalid(format!("{field} {p:?} is a directory")));
        }
    }
    Ok(())
}

impl Runtime {
    /// Creates and starts a container. A failure leaves nothing behind.
    pub fn create(&self, id: &str, opts: CreateOptions) -> Result<ContainerRecord> {
        validate_id("container id", id)?;
        check_output_path("stdout", &opts.stdout)?;
        check_output_path("stderr", &opts.stderr)?;
        let mut opts = opts;
        if let Some(name) = &opts.checkpoint {
            let source = opts.checkpoint_container.clone().unwrap_or_else(|| id.to_owned());
            crate::id::validate_id("checkpointContainer", &source)?;
            let info = self.checkpoint_info(&source, name)?;
            if opts.bundle.as_os_str().is_empty() {
                opts.bundle = info.bundle_path.clone();
            }
        } else if opts.checkpoint_container.is_some() {
            return Err(Error::invalid("checkpointContainer needs checkpoint"));
        }
        if opts.bundle.as_os_str().is_empty() {
            return Err(Error::invalid("bundlePath is required"));
        }
        let bundle = bundle::load(id, &opts.bundle)?;

        // Reserve the id (a stopped container of that id is replaced).
        let replaced = {
            let mut inner = self.lock();
            let old = match inner.containers.get(id) {
                Some(e) if e.creating || e.busy => {
                    return Err(Error::conflict(format!("container {id} is being created or changed")))
                }
                Some(e) if e.rec.status != Status::Stopped => {
                    return Err(Error::conflict(format!(
                        "container {id} already exists and is {}",
                        e.rec.status.as_str()
                    )))
                }
                Some(_) => inner.containers.remove(id).map(|e| e.rec),
                None => None,
            };
            let placeholder = ContainerRecord {
                id: id.to_owned(),
                bundle_path: opts.bundle.clone(),
                status: Status::Stopped,
                pid: 0,
                start_time: 0,
                exit_status: None,
                created_at: String::new(),
                cgroups_path: bundle.cgroups_path.clone(),
                stdout: PathBuf::new(),
                stderr: PathBuf::new(),
                processes: Vec::new(),
            };
            inner.containers.insert(
                id.to_owned(),
                Entry {
                    rec: placeholder,
                    creating: true,
                    busy: false,
                    seccomp: None,
                },
            );
            old
        };
        if let Some(old) = replaced {
            self.remove_resources(&old.id, &old.cgroups_path);
        }
        // ctrd only ever creates a cgroup of its own: never adopt (and later kill and remove) an
        // existing one, be it a host service's, the root, or another container's.
        if let Some(existing) = crate::cgroups::existing_dir(&bundle.cgroups_path) {
            self.lock().containers.remove(id);
            return Err(Error::conflict(format!(
                "linux.cgroupsPath {:?} already exists ({}): ctrd only runs containers in cgroups it creates",
                bundle.cgroups_path,
                existing.display()
            )));
        }

        match self.create_reserved(id, &opts, &bundle) {
            Ok(rec) => Ok(rec),
            Err(e) => {
                self.remove_resources(id, &bundle.cgroups_path);
                self.lock().containers.remove(id);
                Err(e)
            }
        }
    }

    fn create_reserved(&self, id: &str, opts: &CreateOptions, bundle: &bundle::Bundle) -> Result<ContainerRecord> {
        let dir = self.container_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(format!("creating {dir:?}: {e}")))?;
        // libcontainer reads the normalized spec from this directory (our "shadow bundle").
        let spec = serde_json::to_vec(&bundle.spec).map_err(|e| Error::internal(format!("encoding spec: {e}")))?;
        std::fs::write(dir.join("config.json"), spec)?;
        if let Some(profile) = &bundle.seccomp_profile {
            let body = serde_json::to_vec(profile).map_err(|e| Error::internal(format!("encoding seccomp: {e}")))?;
            std::fs::write(dir.join(SECCOMP_FILE), body)?;
        }
        let stdout = opts.stdout.clone().unwrap_or_else(|| dir.join("stdout.log"));
        let stderr = opts.stderr.clone().unwrap_or_else(|| dir.join("stderr.log"));

        let since = Instant::now();
        let pid = match &opts.checkpoint {
            None => {
                self.spawner
                    .call(&Request::Create(CreateRequest {
                        id: id.to_owned(),
                        lc_root: self.lc_root.clone(),
                        bundle: dir.clone(),
                        stdout: stdout.clone(),
                        stderr: stderr.clone(),
                        seccomp: bundle.seccomp.as_deref().cloned(),
                        loopback: bundle.new_netns(),
                    }))?
                    .0
            }
            Some(name) => {
                let source = opts.checkpoint_container.as_deref().unwrap_or(id);
                let pid = self.restore_reserved(&crate::checkpoint::RestoreTarget {
                    id,
                    name,
                    source,
                    bundle,
                    dir: &dir,
                    stdout: &stdout,
                    stderr: &stderr,
                })?;
                self.write_libcontainer_state(id, pid, &dir, &bundle.spec)?;
                pid
            }
        };
        let start_time = crate::reaper::start_time(pid).unwrap_or(0);

        let mut inner = self.lock();
        let exited = self.claim(&mut inner, pid, Owner::Init(id.to_owned()), since);
        let mut rec = ContainerRecord {
            id: id.to_owned(),
            bundle_path: opts.bundle.clone(),
            status: Status::Running,
            pid,
            start_time,
            exit_status: None,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            cgroups_path: bundle.cgroups_path.clone(),
            stdout,
            stderr,
            processes: Vec::new(),
        };
        if let Some(status) = exited {
            rec.status = Status::Stopped;
            rec.exit_status = status;
        }
        if let Err(e) = self.persist(&rec) {
            inner.owners.remove(&pid);
            drop(inner);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            return Err(e);
        }
        if let Some(e) = inner.containers.get_mut(id) {
            e.rec = rec.clone();
            e.creating = false;
            e.seccomp = bundle.seccomp.clone();
        }
        drop(inner);
        tracing::info!(id, pid, "container started");
        self.emit(crate::events::Event::new("startContainer", id, Some(pid), None));
        if let Some(status) = exited {
            self.emit(Event::new("exit", id, Some(pid), status));
        }
        Ok(rec)
    }

    /// A restored container was not created by libcontainer: write the state libcontainer's exec
    /// (tenant builder) expects to find.
    fn write_libcontainer_state(
        &self,
        id: &str,
        pid: i32,
        bundle_dir: &std::path::Path,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<()> {
        use libcontainer::container::{Container, ContainerStatus};
        let root = self.lc_root.join(id);
        std::fs::create_dir_all(&root)?;
        let mut c = Container::new(id, ContainerStatus::Running, Some(pid), bundle_dir, &root)
            .map_err(|e| Error::internal(format!("libcontainer state: {e}")))?;
        c.set_systemd(false).set_creator(0);
        c.save()
            .map_err(|e| Error::internal(format!("libcontainer state: {e}")))?;
        libcontainer::config::YoukiConfig::from_spec(spec, id)
            .and_then(|cfg| cfg.save(&root))
            .map_err(|e| Error::internal(format!("libcontainer config: {e}")))?;
        Ok(())
    }

    /// Removes everything a container had on the host: cgroup, libcontainer state, our state dir.
    pub(crate) fn remove_resources(&self, id: &str, cgroups_path: &std::path::Path) {
        if let Err(e) = cgroups::remove(id, cgroups_path) {
            tracing::warn!(id, "{e}");
        }
        for dir in [self.lc_root.join(id), self.container_dir(id)] {
            if dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(id, ?dir, "removing: {e}");
                }
            }
        }
    }
}
