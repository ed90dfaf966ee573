//! One `criu swrk` process and its SOCK_SEQPACKET socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use prost::Message;

use crate::proto::{CriuReq, CriuResp};
use crate::{ChildWaiter, CriuError};

/// A running `criu swrk`. Dropping it closes the socket (criu then exits) and reaps criu
/// through the [`ChildWaiter`].
pub(crate) struct Session<'w> {
    sock: Option<OwnedFd>,
    pid: i32,
    waiter: &'w dyn ChildWaiter,
    status: Option<Option<i32>>,
}

impl<'w> Session<'w> {
    /// Spawns `binary swrk <fd>`; `pass_fds` (descriptors of this process, numbers >= 3) are
    /// inherited by criu under the same numbers.
    pub(crate) fn spawn(binary: &Path, pass_fds: &[RawFd], waiter: &'w dyn ChildWaiter) -> Result<Self, CriuError> {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: fds is a valid 2-element array.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(CriuError::io(
                "socketpair(AF_UNIX, SOCK_SEQPACKET)",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: socketpair succeeded; we own both descriptors.
        let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // stdio of the child is set up before the pre_exec hook: keep criu's end off 0..=2.
        let theirs = if theirs.as_raw_fd() <= 2 {
            dup_high(theirs.as_raw_fd())?
        } else {
            theirs
        };

        let mut inherit: Vec<RawFd> = Vec::with_capacity(pass_fds.len() + 1);
        inherit.push(theirs.as_raw_fd());
        inherit.extend_from_slice(pass_fds);

        let mut cmd = Command::new(binary);
        cmd.arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the hook only calls fcntl (async-signal-safe) on descriptor numbers computed
        // before the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        // std's spawn reaps the child itself when execve fails, and panics if another thread
        // (the daemon's reaper, which waits for every child) reaped it first. Check the binary
        // can be executed before spawning, and never let that panic escape.
        let c_path =
            std::ffi::CString::new(binary.as_os_str().as_encoded_bytes()).map_err(|_| CriuError::NotFound {
                searched: binary.display().to_string(),
            })?;
        // SAFETY: access(2) only reads the NUL-terminated path.
        if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.kind() == io::ErrorKind::NotFound {
                CriuError::NotFound {
                    searched: binary.display().to_string(),
                }
            } else {
                CriuError::Spawn {
                    binary: binary.to_path_buf(),
                    source: e,
                }
            });
        }
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd.spawn())).unwrap_or_else(|_| {
            Err(io::Error::other(
                "spawning criu failed (its exec failed and the child was reaped elsewhere)",
            ))
        });
        let child = spawned.map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                CriuError::NotFound {
                    searched: binary.display().to_string(),
                }
            } else {
                CriuError::Spawn {
                    binary: binary.to_path_buf(),
                    source: e,
                }
            }
        })?;
        drop(theirs);
        let pid = child.id() as i32;
        // Dropping a Child neither waits nor kills: the waiter reaps it.
        drop(child);
        Ok(Session {
            sock: Some(ours),
            pid,
            waiter,
            status: None,
        })
    }

    fn fd(&self) -> Result<RawFd, CriuError> {
        self.sock
            .as_ref()
            .map(|s| s.as_raw_fd())
            .ok_or_else(|| CriuError::Protocol("criu socket already closed".into()))
    }

    /// Sends one request (one seqpacket).
    pub(crate) fn send(&self, req: &CriuReq) -> Result<(), CriuError> {
        let fd = self.fd()?;
        let buf = req.encode_to_vec();
        loop {
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                if n as usize != buf.len() {
                    return Err(CriuError::Protocol(format!(
                        "short send to criu: {n} of {} bytes",
                        buf.len()
                    )));
                }
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(CriuError::io("sending request to criu", e));
            }
        }
    }

    /// Receives one response; `Ok(None)` on EOF (criu closed the socket / exited).
    pub(crate) fn recv(&self) -> Result<Option<CriuResp>, CriuError> {
        let fd = self.fd()?;
        // Learn the size of the next packet without consuming it.
        let len = loop {
            let mut probe = [0u8; 1];
            // SAFETY: probe is valid for 1 byte; MSG_TRUNC makes recv return the real length.
            let n = unsafe { libc::recv(fd, probe.as_mut_ptr().cast(), 1, libc::MSG_PEEK | libc::MSG_TRUNC) };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECONNRESET) => return Ok(None),
                _ => return Err(CriuError::io("receiving from criu", e)),
            }
        };
        if len == 0 {
            // Consume a zero-length packet if that is what it was, then report EOF.
            let mut probe = [0u8; 1];
            // SAFETY: as above; MSG_DONTWAIT so an EOF does not block.
            unsafe { libc::recv(fd, probe.as_mut_ptr().cast(), 1, libc::MSG_DONTWAIT) };
            return Ok(None);
        }
        let mut buf = vec![0u8; len];
        let n = loop {
            // SAFETY: buf is valid for len bytes.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), len, 0) };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(CriuError::io("receiving from criu", e));
            }
        };
        buf.truncate(n);
        CriuResp::decode(buf.as_slice())
            .map(Some)
            .map_err(|e| CriuError::Protocol(format!("undecodable criu_resp ({n} bytes): {e}")))
    }

    /// Closes the socket (criu swrk exits on EOF) and waits for criu through the waiter.
    /// Returns criu's exit status if known. Idempotent.
    pub(crate) fn finish(&mut self) -> Option<i32> {
        if let Some(status) = self.status {
            return status;
        }
        drop(self.sock.take());
        let status = self.waiter.wait_exit(self.pid);
        self.status = Some(status);
        status
    }
}

/// Duplicates `fd` to a new close-on-exec descriptor numbered >= 3.
pub(crate) fn dup_high(fd: RawFd) -> Result<OwnedFd, CriuError> {
    // SAFETY: plain fcntl; on success we own the new descriptor.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if n < 0 {
        return Err(CriuError::io(
            format!("duplicating fd {fd}"),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: n is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}
