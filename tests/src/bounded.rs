//! Calls that must return rather than hang, such as every call on a handle
//! whose daemon has gone: a test runs them through [`returns_within`], so a
//! hang fails the test instead of stopping it forever.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

/// The bound for calls that answer within milliseconds when they work
/// (such as calls on a handle whose daemon has stopped, which fail at
/// once). It is generous on purpose: it only tells an answer from a hang,
/// and says nothing about speed.
pub const NO_HANG: Duration = Duration::from_secs(10);

/// Runs `f` on a thread of its own and returns what it returns, if it
/// returns within `limit`. A panic in `f` (a failed assertion) comes back
/// to the caller; if `f` has not returned by then, the test fails naming
/// `what`, and the thread is left behind.
pub fn returns_within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("{what}: no answer within {limit:?}; it hangs"),
    }
}
