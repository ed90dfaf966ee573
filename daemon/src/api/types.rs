//! JSON shapes of the API (requests and responses), in the seed's field names.

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartContainer {
    pub bundle_path: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub checkpoint: Option<String>,
    pub checkpoint_container: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContainer {
    pub status: Option<String>,
    pub signal: Option<i64>,
    pub resources: Option<runtime::ResourceUpdate>,
}

/// `{"uid", "gid", "additionalGids"}`: the engine's own type has exactly the API's shape.
pub use runtime::User;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddProcess {
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<User>,
    #[serde(default)]
    pub terminal: bool,
}

#[derive(Debug, Deserialize)]
pub struct SignalProcess {
    pub signal: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub pid: i32,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub terminal: bool,
    pub exit_status: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub id: String,
    pub bundle_path: String,
    pub status: &'static str,
    pub pid: i32,
    pub exit_status: Option<i32>,
    pub created_at: String,
    pub processes: Vec<Process>,
}

impl From<&runtime::ContainerRecord> for Container {
    fn from(r: &runtime::ContainerRecord) -> Self {
        Container {
            id: r.id.clone(),
            bundle_path: r.bundle_path.to_string_lossy().into_owned(),
            status: r.status.as_str(),
            pid: r.pid,
            exit_status: r.exit_status,
            created_at: r.created_at.clone(),
            processes: r
                .processes
                .iter()
                .map(|p| Process {
                    pid: p.pid,
                    args: p.args.clone(),
                    env: p.env.clone(),
                    cwd: p.cwd.clone(),
                    user: p.user.clone(),
                    terminal: p.terminal,
                    exit_status: p.exit_status,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub id: String,
    pub cpus: usize,
    pub memory: u64,
}

#[derive(Debug, Serialize)]
pub struct State {
    pub containers: Vec<Container>,
    pub machine: Machine,
}
