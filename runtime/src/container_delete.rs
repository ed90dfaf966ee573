//! Delete: remove a stopped container (or kill it first with `force`).

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroups;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::Status;
use crate::supervisor::Runtime;

impl Runtime {
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let (rec, was_running) = {
            let mut inner = self.lock();
            let e = match inner.containers.get_mut(id) {
                Some(e) if !e.creating => e,
                _ => return Err(Error::not_found(format!("no such container: {id}"))),
            };
            if e.busy {
                return Err(Error::conflict(format!("container {id} is being changed")));
            }
            let running = e.rec.status != Status::Stopped;
            if running && !force {
                return Err(Error::conflict(format!(
                    "container {id} is {}; stop it first or delete with ?force=true",
                    e.rec.status.as_str()
                )));
            }
            e.busy = true;
            (e.rec.clone(), running)
        };
        if was_running {
            let _ = kill(Pid::from_raw(rec.pid), Signal::SIGKILL);
            for pid in cgroups::pids(id, &rec.cgroups_path) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if rec.status == Status::Paused {
                let _ = cgroups::freeze(id, &rec.cgroups_path, false);
            }
            if !self.wait_stopped(id, Duration::from_secs(20)) {
                if let Some(e) = self.lock().containers.get_mut(id) {
                    e.busy = false;
                }
                return Err(Error::internal(format!("container {id} did not exit after SIGKILL")));
            }
        }
        self.remove_resources(id, &rec.cgroups_path);
        let mut inner = self.lock();
        if let Some(e) = inner.containers.remove(id) {
            for p in &e.rec.processes {
                inner.ptys.remove(&p.pid);
            }
        }
        inner.owners.retain(
            |_, o| !matches!(o, crate::supervisor::Owner::Exec(x) | crate::supervisor::Owner::Init(x) if x == id),
        );
        drop(inner);
        self.emit(Event::new("deleteContainer", id, Some(rec.pid), None));
        Ok(())
    }
}
