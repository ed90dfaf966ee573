//! Listener addresses: `unix:///path` or `tcp://host:port` (loopback only unless --insecure-tcp).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

pub fn parse(s: &str, insecure_tcp: bool) -> Result<Listen, String> {
    if let Some(path) = s.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(format!("--listen {s}: the socket path must be absolute (unix:///path)"));
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    if let Some(hostport) = s.strip_prefix("tcp://") {
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| format!("--listen {s}: {e}"))?
            .next()
            .ok_or_else(|| format!("--listen {s}: no address"))?;
        let loopback = match addr.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => ip.is_loopback(),
        };
        if !loopback && !insecure_tcp {
            return Err(format!(
                "--listen {s}: refusing a TCP listener on non-loopback address {}; the API gives root on this host. \
                 Add --insecure-tcp if you really mean it",
                addr.ip()
            ));
        }
        return Ok(Listen::Tcp(addr));
    }
    Err(format!("--listen {s}: expected unix:///path or tcp://host:port"))
}

pub enum Bound {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

/// Binds with std (before the async runtime exists). The unix socket is made mode 0600 in a
/// directory only root can write.
pub fn bind(l: &Listen, group: Option<nix::unistd::Gid>) -> Result<Bound, String> {
    match l {
        Listen::Unix(path) => {
            if let Some(dir) = path.parent() {
                if !dir.exists() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("creating {dir:?}: {e}"))?;
                    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711));
                }
            }
            if path.exists() {
                // A stale socket of a previous run; refuse to steal one that still answers.
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(format!("{path:?} is in use by another running daemon"));
                }
                std::fs::remove_file(path).map_err(|e| format!("removing stale {path:?}: {e}"))?;
            }
            // SAFETY: umask only changes this process's file mode mask; no thread exists yet.
            let old = unsafe { libc::umask(0o177) };
            let res = std::os::unix::net::UnixListener::bind(path);
            unsafe { libc::umask(old) };
            let listener = res.map_err(|e| format!("binding {path:?}: {e}"))?;
            let mode = match group {
                None => 0o600,
                Some(gid) => {
                    nix::unistd::chown(path, None, Some(gid)).map_err(|e| format!("chown {path:?}: {e}"))?;
                    0o660
                }
            };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("chmod {path:?}: {e}"))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok(Bound::Unix(listener))
        }
        Listen::Tcp(addr) => {
            let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("binding {addr}: {e}"))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok(Bound::Tcp(listener))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners() {
        assert_eq!(
            parse("unix:///run/x.sock", false),
            Ok(Listen::Unix("/run/x.sock".into()))
        );
        assert!(parse("unix://rel.sock", false).is_err());
        assert!(matches!(parse("tcp://127.0.0.1:8888", false), Ok(Listen::Tcp(_))));
        assert!(matches!(parse("tcp://[::1]:8888", false), Ok(Listen::Tcp(_))));
        assert!(parse("tcp://0.0.0.0:8888", false).is_err());
        assert!(matches!(parse("tcp://0.0.0.0:8888", true), Ok(Listen::Tcp(_))));
        assert!(parse("http://x", false).is_err());
    }
}
