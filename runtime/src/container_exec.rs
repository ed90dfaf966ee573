//! Exec: a new process inside a running container's namespaces and cgroup (libcontainer's tenant
//! builder, run from the fork server). `PUT /containers/{id}/process`.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::spawner::{ExecRequest, Request};
use crate::store::{ProcessRecord, Status, User};
use crate::supervisor::{Owner, Runtime};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<User>,
    pub terminal: bool,
}

impl Runtime {
    /// Starts a process in the container; returns its pid (as seen from the host).
    pub fn exec(&self, id: &str, opts: ExecOptions) -> Result<i32> {
        if opts.args.is_empty() || opts.args[0].is_empty() {
            return Err(Error::invalid("args must name a program"));
        }
        if let Some(cwd) = &opts.cwd {
            if !cwd.starts_with('/') {
                return Err(Error::invalid(format!("cwd {cwd:?} must be an absolute path")));
            }
        }
        if let Some(bad) = opts.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid(format!("env entry {bad:?} must be KEY=VALUE")));
        }
        let seccomp = {
            let inner = self.lock();
            let e = match inner.containers.get(id) {
                Some(e) if !e.creating => e,
                _ => return Err(Error::not_found(format!("no such container: {id}"))),
            };
            if e.rec.status != Status::Running {
                return Err(Error::conflict(format!(
                    "container {id} is {}, not running",
                    e.rec.status.as_str()
                )));
            }
            if e.busy {
                // Being deleted, paused or checkpointed: a process joining a frozen or dying
                // cgroup would hang or leak.
                return Err(Error::conflict(format!("container {id} is being changed")));
            }
            if let Some(cwd) = &opts.cwd {
                // Seen through the init's root, with the container's own mounts.
                let inside = std::path::Path::new("/proc").join(e.rec.pid.to_string()).join("root");
                if !inside.join(cwd.trim_start_matches('/')).is_dir() {
                    return Err(Error::invalid(format!(
                        "cwd {cwd:?} is not a directory in container {id}"
                    )));
                }
            }
            e.seccomp.clone()
        };
        let dir = self.container_dir(id);
        let nonce = format!("{:016x}", rand_u64());
        let tmp_out = dir.join(format!(".exec-{nonce}.stdout.log"));
        let tmp_err = dir.join(format!(".exec-{nonce}.stderr.log"));
        // Like docker exec: without a user, the process runs as the container's own user.
        let user = match opts.user.clone() {
            Some(u) => u,
            None => container_user(&dir),
        };
        let since = Instant::now();
        let result = self.spawner.call(&Request::Exec(ExecRequest {
            id: id.to_owned(),
            lc_root: self.lc_root.clone(),
            args: opts.args.clone(),
            env: opts.env.clone(),
            cwd: opts.cwd.as_ref().map(PathBuf::from),
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids.clone(),
            stdout: tmp_out.clone(),
            stderr: tmp_err.clone(),
            seccomp: seccomp.as_deref().cloned(),
            terminal: opts.terminal,
            bundle: dir.clone(),
            console_socket: dir.join(format!(".console-{nonce}.sock")),
        }));
        let (pid, pty) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_out);
                let _ = std::fs::remove_file(&tmp_err);
                // The container may have stopped meanwhile: that is the client's conflict.
                if self.get(id).map(|r| r.status != Status::Running).unwrap_or(true) {
                    return Err(Error::conflict(format!("container {id} is not running")));
                }
                return Err(e);
            }
        };
        let _ = std::fs::rename(&tmp_out, dir.join(format!("exec-{pid}.stdout.log")));
        let _ = std::fs::rename(&tmp_err, dir.join(format!("exec-{pid}.stderr.log")));
        let start_time = crate::reaper::start_time(pid).unwrap_or(0);

        let mut inner = self.lock();
        let exited = self.claim(&mut inner, pid, Owner::Exec(id.to_owned()), since);
        if let Some(master) = pty {
            // Even an already exited process's pty still holds its output for an attach.
            let exited_at = exited.map(|_| Instant::now());
            inner
                .ptys
                .insert((id.to_owned(), pid), (std::sync::Arc::new(master), exited_at));
        }
        let gone = !inner
            .containers
            .get(id)
            .is_some_and(|e| !e.creating && e.rec.status == Status::Running);
        if gone {
            // Deleted or stopped while the process was being started: do not leave it behind.
            inner.owners.remove(&pid);
            inner.ptys.remove(&(id.to_owned(), pid));
            drop(inner);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            return Err(Error::conflict(format!(
                "container {id} stopped or was deleted during the exec"
            )));
        }
        let Some(e) = inner.containers.get_mut(id) else {
            return Err(Error::not_found(format!("container {id} was deleted meanwhile")));
        };
        e.rec.processes.push(ProcessRecord {
            pid,
            start_time,
            args: opts.args,
            env: opts.env,
            cwd: opts.cwd.unwrap_or_else(|| "/".to_owned()),
            user,
            terminal: opts.terminal,
            running: exited.is_none(),
            exit_status: exited.flatten(),
        });
        self.persist(&e.rec)?;
        drop(inner);
        self.emit(Event::new("addProcess", id, Some(pid), None));
        if let Some(status) = exited {
            self.emit(Event::new("execExit", id, Some(pid), status));
        }
        Ok(pid)
    }
}

/// `process.user` of the container's (normalized) spec.
fn container_user(dir: &std::path::Path) -> User {
    oci_spec::runtime::Spec::load(dir.join("config.json"))
        .ok()
        .and_then(|s| s.process().clone())
        .map(|p| {
            let u = p.user();
            User {
                uid: u.uid(),
                gid: u.gid(),
                additional_gids: u.additional_gids().clone().unwrap_or_default(),
            }
        })
        .unwrap_or_default()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}
