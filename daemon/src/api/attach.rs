//! Interactive exec: `GET /containers/{id}/process/{pid}/attach` upgrades the connection
//! (HTTP/1.1 `Upgrade: ctrd-attach`) to a raw byte stream bridged to the process's pty;
//! `POST /containers/{id}/process/{pid}/resize {"rows","cols"}` sets its window size.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{parse_json, Ctx, Reply};
use crate::error::ApiError;

pub const PROTOCOL: &str = "ctrd-attach";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    pub rows: u16,
    pub cols: u16,
}

pub fn resize(ctx: &Ctx, id: &str, pid: i32, body: &Bytes) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", id)?;
    let req: Resize = parse_json(body)?;
    if req.rows == 0 || req.cols == 0 {
        return Err(ApiError::bad_request("rows and cols must be positive"));
    }
    let pty = ctx.runtime.pty(id, pid)?;
    let ws = libc::winsize {
        ws_row: req.rows,
        ws_col: req.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc != 0 {
        return Err(ApiError::internal(format!(
            "resizing the pty: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn attach(ctx: &Arc<Ctx>, id: &str, pid: i32, req: Request<Incoming>) -> Result<Reply, ApiError> {
    runtime::id::validate_id("container id", id)?;
    let pty = ctx.runtime.pty(id, pid)?;
    let wants_upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(PROTOCOL));
    if !wants_upgrade {
        return Err(ApiError::bad_request(format!(
            "attach needs the headers 'Connection: Upgrade' and 'Upgrade: {PROTOCOL}'"
        )));
    }
    let master = dup_nonblocking(&pty).map_err(|e| ApiError::internal(format!("pty: {e}")))?;
    let id = id.to_owned();
    let rt = ctx.runtime.clone();
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                if let Err(e) = bridge(TokioIo::new(upgraded), master).await {
                    tracing::debug!(id, pid, "attach ended: {e}");
                }
                rt.release_pty(&id, pid);
            }
            Err(e) => tracing::warn!(id, pid, "attach upgrade failed: {e}"),
        }
    });
    let mut reply = Reply::empty(StatusCode::SWITCHING_PROTOCOLS);
    reply.headers.push((CONNECTION, HeaderValue::from_static("Upgrade")));
    reply.headers.push((UPGRADE, HeaderValue::from_static(PROTOCOL)));
    Ok(reply)
}

fn dup_nonblocking(fd: &OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    let dup = fd.try_clone()?;
    let flags = nix::fcntl::fcntl(dup.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(dup.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    // SAFETY: `dup` is a fresh fd owned by the AsyncFd alone; nobody else closes it.
    unsafe { AsyncFd::register(dup) }.map_err(|e| e.into_parts().1)
}

/// Copies bytes both ways until the process's side closes (EIO on the master once it exited).
async fn bridge<S>(stream: S, master: AsyncFd<OwnedFd>) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let master = Arc::new(master);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let to_pty = {
        let master = master.clone();
        async move {
            let mut buf = [0u8; 8192];
            loop {
                let n = rd.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                let mut off = 0;
                while off < n {
                    let mut guard = master.writable().await?;
                    match guard
                        .try_io(|fd| nix::unistd::write(fd.get_ref(), &buf[off..n]).map_err(std::io::Error::from))
                    {
                        Ok(Ok(w)) => off += w,
                        Ok(Err(e)) => return Err(e),
                        Err(_would_block) => continue,
                    }
                }
            }
        }
    };
    let from_pty = async move {
        let mut buf = [0u8; 8192];
        loop {
            let mut guard = master.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref().as_raw_fd(), &mut buf).map_err(std::io::Error::from))
            {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => wr.write_all(&buf[..n]).await?,
                // EIO: every slave fd is closed, the process is gone.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => break,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        wr.shutdown().await
    };
    // The session ends when the process's output ends; client input alone does not end it.
    tokio::select! {
        r = from_pty => r,
        r = async { let r = to_pty.await; std::future::pending::<()>().await; r } => r,
    }
}
