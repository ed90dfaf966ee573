//! Events the engine publishes (start, exit, exec, signal, delete …) to whoever subscribes.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub pid: Option<i32>,
    pub status: Option<i32>,
    /// RFC 3339 with nanoseconds.
    pub timestamp: String,
}

impl Event {
    pub fn new(kind: &'static str, id: &str, pid: Option<i32>, status: Option<i32>) -> Event {
        Event {
            kind,
            id: id.to_owned(),
            pid,
            status,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        }
    }
}
