//! Pause and resume through the cgroup freezer.

use crate::cgroups;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::{ContainerRecord, Status};
use crate::supervisor::Runtime;

impl Runtime {
    pub fn pause(&self, id: &str) -> Result<ContainerRecord> {
        self.set_frozen(id, true)
    }

    pub fn resume(&self, id: &str) -> Result<ContainerRecord> {
        self.set_frozen(id, false)
    }

    fn set_frozen(&self, id: &str, frozen: bool) -> Result<ContainerRecord> {
        let (from, to) = if frozen {
            (Status::Running, Status::Paused)
        } else {
            (Status::Paused, Status::Running)
        };
        let cgroups_path = self
            .begin_change(id, |rec| {
                if rec.status != from {
                    return Err(Error::conflict(format!(
                        "cannot {} container {id}: it is {}",
                        if frozen { "pause" } else { "resume" },
                        rec.status.as_str()
                    )));
                }
                Ok(())
            })?
            .cgroups_path;
        let result = cgroups::freeze(id, &cgroups_path, frozen);
        let mut inner = self.lock();
        let Some(e) = inner.containers.get_mut(id) else {
            return Err(Error::not_found(format!("no such container: {id}")));
        };
        e.busy = false;
        result?;
        if e.rec.status == from {
            e.rec.status = to;
            self.persist(&e.rec)?;
        }
        let rec = e.rec.clone();
        drop(inner);
        self.emit(Event::new("updateContainer", id, Some(rec.pid), None));
        Ok(rec)
    }
}
