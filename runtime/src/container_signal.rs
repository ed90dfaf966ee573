//! Signals: to the container's main process, or to one of its processes.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::{ContainerRecord, Status};
use crate::supervisor::Runtime;

pub(crate) fn parse_signal(sig: i64) -> Result<Signal> {
    i32::try_from(sig)
        .ok()
        .and_then(|s| Signal::try_from(s).ok())
        .ok_or_else(|| Error::invalid(format!("signal {sig} is not a valid signal number")))
}

impl Runtime {
    /// Sends `sig` to the container's main process.
    pub fn signal(&self, id: &str, sig: i64) -> Result<ContainerRecord> {
        let signal = parse_signal(sig)?;
        let inner = self.lock();
        let e = match inner.containers.get(id) {
            Some(e) if !e.creating => e,
            _ => return Err(Error::not_found(format!("no such container: {id}"))),
        };
        if e.rec.status == Status::Stopped {
            return Err(Error::conflict(format!("container {id} is stopped")));
        }
        kill(Pid::from_raw(e.rec.pid), signal)
            .map_err(|err| Error::conflict(format!("signalling container {id}: {err}")))?;
        let rec = e.rec.clone();
        drop(inner);
        self.emit(Event::new("signal", id, Some(rec.pid), Some(sig as i32)));
        Ok(rec)
    }

    /// Sends `sig` to one process of the container (its main process or an exec'd one).
    pub fn signal_process(&self, id: &str, pid: i32, sig: i64) -> Result<()> {
        let signal = parse_signal(sig)?;
        let inner = self.lock();
        let e = match inner.containers.get(id) {
            Some(e) if !e.creating => e,
            _ => return Err(Error::not_found(format!("no such container: {id}"))),
        };
        let is_init = e.rec.pid == pid && e.rec.status != Status::Stopped;
        let is_exec = e.rec.processes.iter().any(|p| p.pid == pid && p.running);
        if !is_init && !is_exec {
            return Err(Error::not_found(format!("container {id} has no running process {pid}")));
        }
        kill(Pid::from_raw(pid), signal).map_err(|err| Error::not_found(format!("signalling process {pid}: {err}")))?;
        drop(inner);
        self.emit(Event::new("signal", id, Some(pid), Some(sig as i32)));
        Ok(())
    }
}
