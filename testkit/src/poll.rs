//! Waiting on a corosync handle's descriptor (every handle of the
//! `corosync` crate is `AsRawFd`): for a test that dispatches a handle
//! itself until the callback it waits for has run.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Waits up to `timeout` for the descriptor to become readable; says
/// whether it did.
pub fn wait_readable(fd: &impl AsRawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// How many events wait on a handle's descriptor: libqb writes one byte to
/// the client's socket per event and the client reads it with the event,
/// so this is the count of unread bytes there (`FIONREAD`).
pub fn pending_events(fd: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the valid pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc < 0 {
        0
    } else {
        n as usize
    }
}

/// Waits up to `timeout` until at least `n` events wait on `fd`; says
/// whether they do.
pub fn wait_pending(fd: &impl AsRawFd, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pending_events(fd) < n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}
