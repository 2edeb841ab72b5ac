//! Helpers for tests that wait for corosync callbacks.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Dispatches `handle` (through `dispatch`, which should use
/// `DispatchMode::All`) whenever its descriptor is readable, until `done`
/// returns true or `timeout` passes. Returns whether `done` became true.
/// A dispatch error ends the wait and is returned.
pub fn dispatch_until<E>(
    handle: &impl AsRawFd,
    timeout: Duration,
    mut dispatch: impl FnMut() -> Result<(), E>,
    mut done: impl FnMut() -> bool,
) -> Result<bool, E> {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        crate::wait_readable(handle, wait);
        dispatch()?;
    }
}
