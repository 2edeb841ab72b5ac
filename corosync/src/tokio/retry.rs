//! [`Retry`] with tokio's sleep.

use std::ops::ControlFlow;

use crate::{Result, Retry};

/// Runs `op` until it answers anything but [`Error::TryAgain`](crate::Error::TryAgain),
/// as [`Retry::run`] does, but sleeping asynchronously between attempts.
pub async fn retry_async<T>(policy: Retry, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let mut backoff = policy.backoff();
    loop {
        match backoff.after(op()) {
            ControlFlow::Continue(delay) => ::tokio::time::sleep(delay).await,
            ControlFlow::Break(result) => return result,
        }
    }
}
