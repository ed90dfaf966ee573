//! `POST /containers/{id}/wait` and `POST /containers/{id}/process/{pid}/wait`: block until the
//! process exits, answer `{"exitStatus": N}` (null when it cannot be known).

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use super::{Ctx, Reply};
use crate::error::ApiError;

pub async fn container(ctx: Arc<Ctx>, id: String) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", &id)?;
    let pid = ctx.runtime.get(&id)?.pid;
    process(ctx, id, pid).await
}

pub async fn process(ctx: Arc<Ctx>, id: String, pid: i32) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", &id)?;
    loop {
        let notified = ctx.runtime.exits().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(status) = ctx.runtime.process_exit(&id, pid)? {
            return Reply::json(StatusCode::OK, &json!({ "pid": pid, "exitStatus": status }));
        }
        notified.await;
    }
}
