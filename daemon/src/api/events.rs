//! `GET /events[?id=ID]`: newline-delimited JSON events, flushed as they happen. A reader that
//! falls behind by more than a bounded buffer is dropped with a final `{"type":"overflow"}` line:
//! it never slows the daemon or the other readers.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc::error::TrySendError;

use super::{Ctx, Reply};
use crate::error::ApiError;

/// Lines buffered per reader before it is dropped.
pub const READER_BUFFER: usize = 1024;

pub fn stream(ctx: &Arc<Ctx>, filter: Option<String>) -> Result<Reply, ApiError> {
    if let Some(id) = &filter {
        runtime::id::validate_id("container id", id)?;
    }
    let mut events = ctx.runtime.subscribe();
    let (tx, body) = crate::body::channel(READER_BUFFER + 1);
    tokio::spawn(async move {
        let overflow = || Bytes::from_static(b"{\"type\":\"overflow\"}\n");
        loop {
            // A client that went away is noticed even when no event ever matches its filter.
            let next = tokio::select! {
                ev = events.recv() => ev,
                _ = tx.closed() => return,
            };
            let ev = match next {
                Ok(ev) => ev,
                Err(RecvError::Lagged(_)) => {
                    let _ = tx.try_send(overflow());
                    return;
                }
                Err(RecvError::Closed) => return,
            };
            if filter.as_deref().is_some_and(|id| id != ev.id) {
                continue;
            }
            let Ok(mut line) = serde_json::to_vec(&ev) else {
                continue;
            };
            line.push(b'\n');
            // Keep one slot for the overflow line.
            if tx.capacity() <= 1 {
                let _ = tx.try_send(overflow());
                tracing::warn!("dropping a slow /events reader");
                return;
            }
            match tx.try_send(Bytes::from(line)) {
                Ok(()) => {}
                Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(_)) => {
                    let _ = tx.try_send(overflow());
                    return;
                }
            }
        }
    });
    Ok(Reply::stream("application/x-ndjson", body))
}
