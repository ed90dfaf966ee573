//! Who may talk to the daemon: root, or members of `--group`. Unix sockets are protected by their
//! mode (0600, or 0660 with a group) and checked with SO_PEERCRED; loopback TCP peers are looked
//! up in the kernel's socket table (/proc/net/tcp{,6} map a local address:port to its owner uid).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nix::unistd::{Gid, Group, Uid, User};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Members of this group may use the API too.
    pub group: Option<Gid>,
}

impl Policy {
    pub fn allows(&self, uid: u32) -> bool {
        if uid == 0 {
            return true;
        }
        let Some(gid) = self.group else { return false };
        let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
            return false;
        };
        if user.gid == gid {
            return true;
        }
        match Group::from_gid(gid) {
            Ok(Some(g)) => g.mem.contains(&user.name),
            _ => false,
        }
    }
}

/// Parses one address of /proc/net/tcp (`0100007F:1F90`) or /proc/net/tcp6.
pub fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let norm = |x: SocketAddr| match x.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    a.port() == b.port() && norm(a) == norm(b)
}

/// The uid owning the client end of a loopback TCP connection (client `peer`, server `local`).
pub fn tcp_peer_uid_in(tables: &[String], peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    for table in tables {
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                continue;
            }
            let (Some(l), Some(r)) = (parse_proc_addr(f[1]), parse_proc_addr(f[2])) else {
                continue;
            };
            if same(l, peer) && same(r, local) {
                return f[7].parse().ok();
            }
        }
    }
    None
}

pub fn tcp_peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let tables: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    tcp_peer_uid_in(&tables, peer, local)
}

/// The uid of a unix socket peer.
pub fn unix_peer_uid(stream: &tokio::net::UnixStream) -> Option<u32> {
    stream.peer_cred().ok().map(|c| c.uid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().expect("addr"))
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:22B8"),
            Some("[::1]:8888".parse().expect("addr"))
        );
        assert_eq!(parse_proc_addr("zz"), None);
    }

    #[test]
    fn finds_the_client_uid() {
        let table =
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:22B8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:D431 0100007F:22B8 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1\n\
   2: 0100007F:22B8 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1\n"
                .to_owned();
        let peer: SocketAddr = "127.0.0.1:54321".parse().expect("addr");
        let local: SocketAddr = "127.0.0.1:8888".parse().expect("addr");
        assert_eq!(tcp_peer_uid_in(&[table], peer, local), Some(1000));
    }

    #[test]
    fn root_is_always_allowed() {
        assert!(Policy::default().allows(0));
        assert!(!Policy::default().allows(65534));
    }
}
