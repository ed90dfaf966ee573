//! `GET /containers/{id}/stats[?stream=true]`: cgroup readings, once or one line per second.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;

use super::{blocking, Ctx, Reply};
use crate::error::ApiError;

pub async fn get(ctx: Arc<Ctx>, id: String, stream: bool) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", &id)?;
    let rt = ctx.runtime.clone();
    let first = {
        let (rt, id) = (rt.clone(), id.clone());
        blocking(move || rt.stats(&id).map_err(ApiError::from)).await?
    };
    if !stream {
        return Reply::json(StatusCode::OK, &first);
    }
    let (tx, body) = crate::body::channel(4);
    tokio::spawn(async move {
        let mut next = Some(first);
        loop {
            let Some(s) = next.take() else { return };
            let Ok(mut line) = serde_json::to_vec(&s) else { return };
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (rt, id) = (rt.clone(), id.clone());
            next = tokio::task::spawn_blocking(move || rt.stats(&id).ok())
                .await
                .ok()
                .flatten();
        }
    });
    Ok(Reply::stream("application/x-ndjson", body))
}
