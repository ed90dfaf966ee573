//! `/containers/{id}/checkpoint[/{name}]`: checkpoint (POST), list (GET), delete (DELETE).

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;

use super::{blocking, Ctx, Reply};
use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateCheckpoint {
    #[serde(default)]
    exit: bool,
    #[serde(default)]
    tcp: bool,
    #[serde(default)]
    unix_sockets: bool,
    #[serde(default)]
    shell: bool,
    #[serde(default)]
    pre_dump: bool,
    parent: Option<String>,
}

pub async fn create(ctx: Arc<Ctx>, id: String, name: String, body: Bytes) -> Result<Reply, ApiError> {
    // All options are optional: an empty body is an empty object.
    let req: CreateCheckpoint = if body.iter().all(|b| b.is_ascii_whitespace()) {
        CreateCheckpoint::default()
    } else {
        super::parse_json(&body)?
    };
    runtime::id::validate_id("container id", &id)?;
    runtime::id::validate_id("checkpoint name", &name)?;
    let opts = runtime::CheckpointOptions {
        exit: req.exit,
        tcp: req.tcp,
        unix_sockets: req.unix_sockets,
        shell: req.shell,
        pre_dump: req.pre_dump,
        parent: req.parent.filter(|p| !p.is_empty()),
    };
    let rt = ctx.runtime.clone();
    let info = blocking(move || rt.checkpoint(&id, &name, &opts).map_err(ApiError::from)).await?;
    Reply::json(StatusCode::CREATED, &info)
}

pub async fn list(ctx: Arc<Ctx>, id: String) -> Result<Reply, ApiError> {
    let rt = ctx.runtime.clone();
    let list = blocking(move || rt.list_checkpoints(&id).map_err(ApiError::from)).await?;
    Reply::json(StatusCode::OK, &list)
}

pub fn get(ctx: &Ctx, id: &str, name: &str) -> Result<Reply, ApiError> {
    Reply::json(StatusCode::OK, &ctx.runtime.checkpoint_info(id, name)?)
}

pub async fn delete(ctx: Arc<Ctx>, id: String, name: String) -> Result<Reply, ApiError> {
    let rt = ctx.runtime.clone();
    blocking(move || rt.delete_checkpoint(&id, &name).map_err(ApiError::from)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
