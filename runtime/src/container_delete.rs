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
        let rec = self.begin_change(id, |rec| {
            if rec.status != Status::Stopped && !force {
                return Err(Error::conflict(format!(
                    "container {id} is {}; stop it first or delete with ?force=true",
                    rec.status.as_str()
                )));
            }
            Ok(())
        })?;
        let was_running = rec.status != Status::Stopped;
        if was_running {
            let _ = kill(Pid::from_raw(rec.pid), Signal::SIGKILL);
            for pid in cgroups::pids(id, &rec.cgroups_path) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if rec.status == Status::Paused {
                let _ = cgroups::freeze(id, &rec.cgroups_path, false);
            }
            if !self.wait_stopped(id, Duration::from_secs(20)) {
                self.end_change(id);
                return Err(Error::internal(format!("container {id} did not exit after SIGKILL")));
            }
        }
        self.remove_resources(id, &rec.cgroups_path);
        let mut inner = self.lock();
        if let Some(e) = inner.containers.remove(id) {
            for p in &e.rec.processes {
                inner.ptys.remove(&(id.to_owned(), p.pid));
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
