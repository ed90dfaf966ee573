//! One module per resource: each parses its request into typed runtime calls.

pub mod attach;
pub mod checkpoint;
pub mod containers;
pub mod events;
pub mod logs;
pub mod metrics;
pub mod process;
pub mod state;
pub mod stats;
pub mod types;
pub mod wait;

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::body::Body;
use crate::error::ApiError;

/// What every handler may use.
pub struct Ctx {
    pub runtime: Arc<runtime::Runtime>,
    pub machine_id: String,
    /// Bounds concurrent creates and execs to what the machine can use.
    pub spawn_slots: Semaphore,
    /// How many slots there are.
    pub spawn_slots_total: usize,
    pub metrics: metrics::Metrics,
    /// The CRIU version found at start-up, if any.
    pub criu_version: Option<String>,
}

impl Ctx {
    /// One of the `--concurrency` slots for a create or an exec (held until dropped).
    pub async fn spawn_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.spawn_slots
            .acquire()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}

/// A handler's answer.
pub struct Reply {
    pub status: StatusCode,
    pub body: Body,
    pub content_type: &'static str,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
}

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("encoding answer: {e}")))?;
        Ok(Reply {
            status,
            body: crate::body::full(body),
            content_type: "application/json",
            headers: Vec::new(),
        })
    }
    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: crate::body::full(Bytes::new()),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }
    pub fn stream(content_type: &'static str, body: Body) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            content_type,
            headers: Vec::new(),
        }
    }
}

/// Parses a JSON body (whatever the Content-Type: `curl -d` sends form type).
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Runs blocking engine work off the async threads.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker task failed: {e}")))?
}
