//! `GET /containers/{id}/logs?stream=stdout|stderr&follow=true&tail=N`: the captured output,
//! followed until the container stops when asked.

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{Ctx, Reply};
use crate::error::ApiError;

/// The offset where the last `n` lines of `data` start.
pub fn tail_offset(data: &[u8], n: usize) -> usize {
    if n == 0 {
        return data.len();
    }
    let mut seen = 0;
    let end = if data.last() == Some(&b'\n') {
        data.len() - 1
    } else {
        data.len()
    };
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

pub async fn get(ctx: Arc<Ctx>, id: String, query: Option<String>) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", &id)?;
    let q = query.as_deref();
    let rec = ctx.runtime.get(&id)?;
    let path = match crate::router::query_param(q, "stream").unwrap_or("stdout") {
        "stdout" => rec.stdout.clone(),
        "stderr" => rec.stderr.clone(),
        other => {
            return Err(ApiError::bad_request(format!(
                "stream {other:?} must be stdout or stderr"
            )))
        }
    };
    let follow = crate::router::query_flag(q, "follow");
    let tail = match crate::router::query_param(q, "tail") {
        None | Some("") | Some("all") => None,
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("tail {t:?} must be a number")))?,
        ),
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ApiError::internal(format!("opening {path:?}: {e}"))),
    };
    let from = match (file.as_mut(), tail) {
        (Some(f), Some(n)) => tail_start(f, n)
            .await
            .map_err(|e| ApiError::internal(format!("reading {path:?}: {e}")))?,
        _ => 0,
    };
    if let Some(f) = file.as_mut() {
        f.seek(SeekFrom::Start(from))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let (tx, body) = crate::body::channel(16);
    tokio::spawn(async move {
        // What is there now, in chunks (never the whole file in memory).
        let mut buf = vec![0u8; 64 * 1024];
        if let Some(f) = file.as_mut() {
            loop {
                match f.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        }
        if !follow {
            return;
        }
        loop {
            if file.is_none() {
                file = tokio::fs::File::open(&path).await.ok();
            }
            let mut got = 0;
            if let Some(f) = file.as_mut() {
                match f.read(&mut buf).await {
                    Ok(n) => got = n,
                    Err(_) => return,
                }
            }
            if got > 0 {
                if tx.send(Bytes::copy_from_slice(&buf[..got])).await.is_err() {
                    return;
                }
                continue;
            }
            let stopped = ctx
                .runtime
                .get(&id)
                .map(|r| r.status == runtime::Status::Stopped)
                .unwrap_or(true);
            if stopped {
                // One last read for what was written right before the exit.
                if let Some(f) = file.as_mut() {
                    let pos = f.stream_position().await.unwrap_or(0);
                    let _ = f.seek(SeekFrom::Start(pos)).await;
                    if let Ok(n) = f.read(&mut buf).await {
                        if n > 0 {
                            let _ = tx.send(Bytes::copy_from_slice(&buf[..n])).await;
                        }
                    }
                }
                return;
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(Reply::stream("text/plain; charset=utf-8", body))
}

/// The offset where the last `n` lines of the file start, reading backwards in blocks (memory
/// bounded by the size of those lines).
async fn tail_start(f: &mut tokio::fs::File, n: usize) -> std::io::Result<u64> {
    let len = f.seek(SeekFrom::End(0)).await?;
    let mut pos = len;
    let mut acc: Vec<u8> = Vec::new();
    while pos > 0 {
        let block = pos.min(64 * 1024);
        pos -= block;
        f.seek(SeekFrom::Start(pos)).await?;
        let mut chunk = vec![0u8; block as usize];
        f.read_exact(&mut chunk).await?;
        chunk.extend_from_slice(&acc);
        acc = chunk;
        // One more newline than lines asked for (a trailing newline ends the last line).
        if acc.iter().filter(|b| **b == b'\n').count() > n {
            break;
        }
    }
    Ok(len - acc.len() as u64 + tail_offset(&acc, n) as u64)
}

#[cfg(test)]
mod tests {
    use super::tail_offset;

    #[test]
    fn tails_lines() {
        let d = b"a\nb\nc\n";
        assert_eq!(&d[tail_offset(d, 1)..], b"c\n");
        assert_eq!(&d[tail_offset(d, 2)..], b"b\nc\n");
        assert_eq!(&d[tail_offset(d, 10)..], b"a\nb\nc\n");
        assert_eq!(&d[tail_offset(d, 0)..], b"");
        let d = b"a\nb";
        assert_eq!(&d[tail_offset(d, 1)..], b"b");
    }
}
