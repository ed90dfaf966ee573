//! Container records: the one copy of a container's state in memory, and its durable copy on
//! disk at `<state-dir>/<id>/ctrd.json`, written atomically (temp file + rename) before the API
//! answers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const RECORD_FILE: &str = "ctrd.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// A process started in a container with exec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRecord {
    pub pid: i32,
    /// Start time (clock ticks since boot) to recognize the process after a daemon restart.
    #[serde(default)]
    pub start_time: u64,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub terminal: bool,
    /// Still running (false once its exit was seen).
    pub running: bool,
    pub exit_status: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    pub id: String,
    pub bundle_path: PathBuf,
    pub status: Status,
    pub pid: i32,
    #[serde(default)]
    pub start_time: u64,
    pub exit_status: Option<i32>,
    /// RFC 3339.
    pub created_at: String,
    pub cgroups_path: PathBuf,
    /// Where the container's stdout/stderr go.
    #[serde(default)]
    pub stdout: PathBuf,
    #[serde(default)]
    pub stderr: PathBuf,
    #[serde(default)]
    pub processes: Vec<ProcessRecord>,
}

impl ContainerRecord {
    pub fn dir(state_dir: &Path, id: &str) -> PathBuf {
        state_dir.join(id)
    }

    /// Writes the record atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let body = serde_json::to_vec(self).map_err(|e| Error::internal(format!("encoding record: {e}")))?;
        let tmp = dir.join(".ctrd.json.tmp");
        std::fs::write(&tmp, body).map_err(|e| Error::internal(format!("writing {tmp:?}: {e}")))?;
        let dst = dir.join(RECORD_FILE);
        std::fs::rename(&tmp, &dst).map_err(|e| Error::internal(format!("renaming to {dst:?}: {e}")))?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<ContainerRecord> {
        let path = dir.join(RECORD_FILE);
        let body = std::fs::read(&path).map_err(|e| Error::internal(format!("reading {path:?}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| Error::internal(format!("parsing {path:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = ContainerRecord {
            id: "c1".into(),
            bundle_path: "/b".into(),
            status: Status::Running,
            pid: 42,
            start_time: 7,
            exit_status: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            cgroups_path: "/ctrd/c1".into(),
            stdout: "/x/stdout.log".into(),
            stderr: "/x/stderr.log".into(),
            processes: vec![ProcessRecord {
                pid: 43,
                start_time: 8,
                args: vec!["sh".into()],
                env: vec![],
                cwd: "/".into(),
                user: User::default(),
                terminal: false,
                running: true,
                exit_status: None,
            }],
        };
        rec.save(dir.path()).expect("save");
        let back = ContainerRecord::load(dir.path()).expect("load");
        assert_eq!(back.pid, 42);
        assert_eq!(back.processes[0].pid, 43);
        assert_eq!(back.status, Status::Running);
        let text = std::fs::read_to_string(dir.path().join(RECORD_FILE)).expect("read");
        assert!(text.contains("\"bundlePath\"") && text.contains("\"running\""));
        assert!(!dir.path().join(".ctrd.json.tmp").exists());
    }
}
