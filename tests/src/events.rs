//! Waiting for corosync's callbacks: a handle is dispatched whenever its
//! descriptor is readable, until what the test waits for has happened.
//!
//! The timeouts here only turn a hang into a failure: tests assert what
//! happened (which events, how many, in which order), never how fast.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

pub use corosync_testkit::poll::{pending_events, wait_pending, wait_readable};

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
