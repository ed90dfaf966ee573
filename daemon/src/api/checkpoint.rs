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

pub async fn get(ctx: Arc<Ctx>, id: String, name: String) -> Result<Reply, ApiError> {
    let rt = ctx.runtime.clone();
    let info = blocking(move || rt.checkpoint_info(&id, &name).map_err(ApiError::from)).await?;
    Reply::json(StatusCode::OK, &info)
}

pub async fn delete(ctx: Arc<Ctx>, id: String, name: String) -> Result<Reply, ApiError> {
    let rt = ctx.runtime.clone();
    blocking(move || rt.delete_checkpoint(&id, &name).map_err(ApiError::from)).await?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// A `Write` that sends what it is given into a streaming body (from a blocking thread).
struct ChannelWriter(tokio::sync::mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /containers/{id}/checkpoint/{name}/archive[?compress=zstd][&rootfs=false]`.
pub fn export(ctx: &Arc<Ctx>, id: String, name: String, query: Option<&str>) -> Result<Reply, ApiError> {
    let zstd = match crate::router::query_param(query, "compress") {
        None | Some("") | Some("none") => false,
        Some("zstd") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "compress {other:?}: only zstd is supported"
            )))
        }
    };
    let rootfs = !matches!(crate::router::query_param(query, "rootfs"), Some("false" | "0"));
    ctx.runtime.archive_check(&id, &name)?;
    let (tx, body) = crate::body::channel(8);
    let rt = ctx.runtime.clone();
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx));
        if let Err(e) = rt.export_checkpoint(&id, &name, rootfs, zstd, out) {
            // The status line is gone already: the client sees a truncated archive.
            tracing::warn!(id, name, "checkpoint export failed: {e}");
        }
    });
    let content_type = if zstd { "application/zstd" } else { "application/x-tar" };
    Ok(Reply::stream(content_type, body))
}

/// A `Read` over a request body's chunks, fed from the async side.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// `PUT /containers/{id}/checkpoint/{name}/archive`: the body is the archive (any size).
pub async fn import(ctx: Arc<Ctx>, id: String, name: String, body: hyper::body::Incoming) -> Result<Reply, ApiError> {
    use http_body_util::BodyExt;
    runtime::id::validate_id("container id", &id)?;
    runtime::id::validate_id("checkpoint name", &name)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(16);
    let rt = ctx.runtime.clone();
    let worker =
        tokio::task::spawn_blocking(move || rt.import_checkpoint(&id, &name, ChannelReader { rx, cur: Bytes::new() }));
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(f) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                break;
            }
        };
        let tx2 = tx.clone();
        // The importer may have stopped reading (bad archive): stop feeding it then.
        match tokio::task::spawn_blocking(move || tx2.send(Ok(chunk))).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    drop(tx);
    let info = worker.await.map_err(|e| ApiError::internal(e.to_string()))??;
    Reply::json(StatusCode::CREATED, &info)
}
