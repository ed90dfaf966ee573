//! `/containers/{id}`: start (POST), inspect (GET), update (PATCH), delete (DELETE).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use super::types::{Container, StartContainer, UpdateContainer};
use super::{blocking, parse_json, Ctx, Reply};
use crate::error::ApiError;

pub async fn start(ctx: Arc<Ctx>, id: String, body: Bytes) -> Result<Reply, ApiError> {
    let req: StartContainer = parse_json(&body)?;
    runtime::id::validate_id("container id", &id)?;
    let bundle = req.bundle_path.filter(|b| !b.is_empty());
    if bundle.is_none() && req.checkpoint.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request("bundlePath is required"));
    }
    let opts = runtime::CreateOptions {
        bundle: bundle.map(PathBuf::from).unwrap_or_default(),
        stdout: req.stdout.filter(|s| !s.is_empty()).map(PathBuf::from),
        stderr: req.stderr.filter(|s| !s.is_empty()).map(PathBuf::from),
        checkpoint: req.checkpoint.filter(|s| !s.is_empty()),
        checkpoint_container: req.checkpoint_container.clone().filter(|s| !s.is_empty()),
    };
    if req.checkpoint_container.is_some() && opts.checkpoint.is_none() {
        return Err(ApiError::bad_request("checkpointContainer needs checkpoint"));
    }
    let accepted = std::time::Instant::now();
    let _slot = ctx.spawn_slot().await?;
    let rt = ctx.runtime.clone();
    // startMs: from the moment the daemon works on the request to the process running;
    // queueMs: how long it waited for one of the --concurrency slots before that.
    let started = std::time::Instant::now();
    let queue_ms = started.duration_since(accepted).as_secs_f64() * 1000.0;
    let result = blocking(move || rt.create(&id, opts).map_err(ApiError::from)).await;
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;
    ctx.metrics.record_start(start_ms / 1000.0, result.is_ok());
    let rec = result?;
    Reply::json(
        StatusCode::CREATED,
        &json!({"id": rec.id, "pid": rec.pid, "status": rec.status.as_str(), "startMs": start_ms, "queueMs": queue_ms}),
    )
}

pub fn get(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", id)?;
    let rec = ctx.runtime.get(id)?;
    Reply::json(StatusCode::OK, &Container::from(&rec))
}

pub async fn update(ctx: Arc<Ctx>, id: String, body: Bytes) -> Result<Reply, ApiError> {
    let req: UpdateContainer = parse_json(&body)?;
    runtime::id::validate_id("container id", &id)?;
    let rt = ctx.runtime.clone();
    let given =
        usize::from(req.status.is_some()) + usize::from(req.signal.is_some()) + usize::from(req.resources.is_some());
    if given > 1 {
        return Err(ApiError::bad_request("give one of status, signal or resources"));
    }
    if let Some(res) = req.resources {
        let rec = blocking(move || rt.update_resources(&id, &res).map_err(ApiError::from)).await?;
        return Reply::json(StatusCode::OK, &Container::from(&rec));
    }
    let rec = match (req.status.as_deref(), req.signal) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either status or signal, not both")),
        (Some("paused"), None) => blocking(move || rt.pause(&id).map_err(ApiError::from)).await?,
        (Some("running"), None) => blocking(move || rt.resume(&id).map_err(ApiError::from)).await?,
        (Some(other), None) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?} is not valid: use \"paused\" or \"running\""
            )))
        }
        (None, Some(sig)) => rt.signal(&id, sig)?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "nothing to update: give status, signal or resources",
            ))
        }
    };
    Reply::json(StatusCode::OK, &Container::from(&rec))
}

pub async fn delete(ctx: Arc<Ctx>, id: String, force: bool) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", &id)?;
    let rt = ctx.runtime.clone();
    blocking(move || rt.delete(&id, force).map_err(ApiError::from)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
