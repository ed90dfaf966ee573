//! Network namespace helpers.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Brings the loopback interface up inside the network namespace of `pid`, from the calling
/// thread, which is moved into that namespace for good: call it only from a thread (or a
/// single-threaded worker process) that has nothing else to do in the host's namespace.
pub fn loopback_up_on_this_thread(pid: i32) -> std::io::Result<()> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    // SAFETY: a plain datagram socket used only for the two ioctls below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: we own the fd just created.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read/write the ifreq we pass, valid for the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if req.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0 {
            return Ok(());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Brings `lo` up in the network namespace of `pid` from the calling (single-threaded) process,
/// and returns it to its own network namespace afterwards.
pub fn loopback_up_and_return(pid: i32) -> std::io::Result<()> {
    let home = std::fs::File::open("/proc/thread-self/ns/net")?;
    let result = loopback_up_on_this_thread(pid);
    nix::sched::setns(&home, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
    result
}

/// Brings `lo` up in the network namespace of `pid` from a short-lived thread of its own
/// (`setns(CLONE_NEWNET)` changes only the calling thread, which then ends).
pub fn loopback_up(pid: i32) -> std::io::Result<()> {
    std::thread::spawn(move || loopback_up_on_this_thread(pid))
        .join()
        .map_err(|_| std::io::Error::other("the netns thread panicked"))?
}
