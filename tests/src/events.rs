//! Waiting for corosync's callbacks: a handle is dispatched whenever its
//! descriptor is readable, until what the test waits for has happened.
//!
//! The timeouts here only turn a hang into a failure: tests assert what
//! happened (which events, how many, in which order), never how fast.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use corosync::cfg::Cfg;
use corosync::cmap::Cmap;
use corosync::cpg::Cpg;
use corosync::evs::Evs;
use corosync::quorum::Quorum;
use corosync::votequorum::Votequorum;
use corosync::DispatchMode;

/// How long [`pump`] waits for an event that should come: far longer than
/// corosync needs on a loaded machine, so that reaching it means the event
/// never came.
pub const WAIT: Duration = Duration::from_secs(30);

/// A corosync handle whose pending events [`pump`] can run.
pub trait Handle: AsRawFd {
    /// Runs the callbacks of every pending event (`DispatchMode::All`).
    fn dispatch_pending(&self) -> corosync::Result<()>;
}

macro_rules! handles {
    ($($t:ty),*) => {$(
        impl Handle for $t {
            fn dispatch_pending(&self) -> corosync::Result<()> {
                self.dispatch(DispatchMode::All)
            }
        }
    )*};
}
handles!(Cpg, Quorum, Votequorum, Cmap, Cfg, Evs);

/// Dispatches `handle` whenever its descriptor is readable until `done`
/// returns true (it is asked before each wait, and at least every 100 ms)
/// or [`WAIT`] passes; returns whether `done` became true. A failed
/// dispatch panics with its error; a panic in a callback comes out of here
/// as it came out of dispatch.
pub fn pump(handle: &impl Handle, done: impl FnMut() -> bool) -> bool {
    pump_for(handle, WAIT, done)
}

/// [`pump`] with its own timeout, for waits on much traffic.
pub fn pump_for(handle: &impl Handle, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        wait_readable(handle, (deadline - now).min(Duration::from_millis(100)));
        if let Err(err) = handle.dispatch_pending() {
            panic!("dispatch failed while waiting for an event: {err:?}");
        }
    }
}

/// Waits up to `timeout` for the handle's descriptor to become readable.
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
