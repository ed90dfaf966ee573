//! `/containers/{id}/process`: exec a new process (PUT), signal one (POST .../{pid}).

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use super::types::{AddProcess, Container, SignalProcess};
use super::{blocking, parse_json, Ctx, Reply};
use crate::error::ApiError;

pub async fn add(ctx: Arc<Ctx>, id: String, body: Bytes) -> Result<Reply, ApiError> {
    let req: AddProcess = parse_json(&body)?;
    runtime::id::validate_id("container id", &id)?;
    let args = req
        .args
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("args is required"))?;
    let opts = runtime::ExecOptions {
        args,
        env: req.env,
        cwd: req.cwd.filter(|c| !c.is_empty()),
        user: req.user,
        terminal: req.terminal,
    };
    let _slot = ctx.spawn_slot().await?;
    let rt = ctx.runtime.clone();
    let pid = blocking(move || rt.exec(&id, opts).map_err(ApiError::from)).await?;
    Reply::json(StatusCode::OK, &json!({ "pid": pid }))
}

/// `GET /containers/{id}/process`: the container's processes.
pub fn list(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", id)?;
    let rec = ctx.runtime.get(id)?;
    Reply::json(StatusCode::OK, &Container::from(&rec).processes)
}

pub fn signal(ctx: &Ctx, id: &str, pid: i32, body: &Bytes) -> Result<Reply, ApiError> {
    let req: SignalProcess = parse_json(body)?;
    runtime::id::validate_id("container id", id)?;
    let sig = req.signal.ok_or_else(|| ApiError::bad_request("signal is required"))?;
    ctx.runtime.signal_process(id, pid, sig)?;
    Reply::json(StatusCode::OK, &json!({ "pid": pid, "signal": sig }))
}
