//! CPG sends: the send window's wait, and the back-off of flow control.

use std::future::Future;
use std::io::IoSlice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::window::{sub, SendWindow};
use super::{nudge_if_owed, AsyncCpg};
use crate::cpg::{event_size, message_len, Guarantee};
use crate::tokio::stream::{lock, lock_async, Shared, BATCH};
use crate::{Error, Result, Retry};

/// How long one send waits for its window at most.
const WINDOW_WAIT: Duration = Duration::from_secs(1);

/// After this many waits in a row (20 ms or more) in which the stream
/// yielded nothing, a send takes it that nobody reads the stream while it
/// waits, and stops counting what waits there. Long enough that a reader
/// the OS has descheduled for a while still paces its sender.
const READER_IDLE_WAITS: u32 = 20;

/// After this long without any of a handle's own messages coming back out
/// of corosync, a send stops waiting for them. (Measured in time, not in
/// wake-ups: a waiting send also wakes at every dispatch of the stream,
/// which can come far more often than once a millisecond.)
const STALL: Duration = Duration::from_millis(100);

/// Runs `op` until it answers anything but [`Error::TryAgain`]; between
/// attempts waits for the next dispatch of the handle's stream or the
/// back-off delay, whichever comes first. Only delays that run out count
/// as attempts (a busy stream wakes a waiting sender far more often than
/// once a millisecond), and it gives up in any case once the policy's
/// attempts times its longest delay have passed since the first
/// TRY_AGAIN.
async fn retry_on_dispatch<H, T, F>(
    shared: &Shared<H>,
    policy: Retry,
    mut op: impl FnMut() -> F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    // The clock starts at the first failure, so that a send that goes
    // through at once (almost all of them) reads no clock and works out
    // no budget.
    let mut clock: Option<(Instant, Duration)> = None;
    let mut failures = 0;
    loop {
        // Registered before the attempt, so a dispatch in between counts.
        let dispatched = shared.dispatched.notified();
        match op().await {
            Err(err) if err.is_retryable() => {
                let (start, budget) = *clock.get_or_insert_with(|| {
                    let budget = policy
                        .delay_after(policy.attempts())
                        .saturating_mul(policy.attempts());
                    (Instant::now(), budget)
                });
                if failures + 1 >= policy.attempts() || start.elapsed() >= budget {
                    return Err(err);
                }
                ::tokio::select! {
                    _ = dispatched => {}
                    _ = ::tokio::time::sleep(policy.delay_after(failures + 1)) => failures += 1,
                }
            }
            other => return other,
        }
    }
}

/// The back-off of async sends: every millisecond (or at the next
/// dispatch, if sooner), up to 50,000 attempts (about a minute). corosync
/// lifts flow control without telling the client, and usually within a
/// millisecond or two, so a growing delay would only idle the sender.
pub fn send_policy() -> Retry {
    Retry::new(50_000).delays(Duration::from_millis(1), Duration::from_millis(1))
}

impl AsyncCpg {
    /// Multicasts `data`, waiting out flow control asynchronously.
    ///
    /// A message larger than
    /// [`Cpg::max_atomic_msgsize`](crate::cpg::Cpg::max_atomic_msgsize) is
    /// copied and sent from tokio's blocking pool: libcpg sends it in
    /// fragments, each a round trip to the daemon, and sleeps between its
    /// own retries. Such a send, once started, goes out even if this
    /// future is dropped.
    ///
    /// A send that does not fit in the [send window](Self::send_window)
    /// first moves queued events into the stream (without running any
    /// user code) and waits, so that a sender neither buries its own event
    /// queue in corosync nor runs far ahead of the task reading its stream.
    pub async fn mcast(&self, guarantee: Guarantee, data: &[u8]) -> Result<()> {
        self.mcast_vectored(guarantee, &[IoSlice::new(data)]).await
    }

    /// Multicasts the concatenation of `bufs` as one message without
    /// copying them first
    /// ([`Cpg::mcast_vectored`](crate::cpg::Cpg::mcast_vectored)), waiting
    /// as [`mcast`](Self::mcast) does. Too many buffers or bytes are
    /// refused at once, before any wait.
    pub async fn mcast_vectored(&self, guarantee: Guarantee, bufs: &[IoSlice<'_>]) -> Result<()> {
        // Counted before the send, so that no dispatch can see the message
        // come back first, and so that concurrent senders share the window
        // instead of each finding it open.
        let len = message_len(bufs)?;
        let bytes = event_size(len);
        self.reserve(bytes).await;
        // Given back unless the message went out (also if this future is
        // dropped).
        struct Reserved<'a> {
            window: &'a SendWindow,
            bytes: usize,
            sent: bool,
        }
        impl Drop for Reserved<'_> {
            fn drop(&mut self) {
                if !self.sent {
                    sub(&self.window.in_corosync, self.bytes);
                }
                self.window.sending.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.window.sending.fetch_add(1, Ordering::Relaxed);
        let mut reserved = Reserved {
            window: &self.window,
            bytes,
            sent: false,
        };
        if len <= self.atomic {
            retry_on_dispatch(&self.cpg, send_policy(), || async {
                lock_async(&self.cpg).await.mcast_vectored(guarantee, bufs)
            })
            .await?;
        } else {
            // libcpg sends this in fragments, each a round trip to the
            // daemon that it retries itself with sleeps in between: that
            // runs on tokio's blocking pool, on a copy of the message.
            let mut data = Vec::with_capacity(len);
            for buf in bufs {
                data.extend_from_slice(buf);
            }
            let data = Arc::new(data);
            retry_on_dispatch(&self.cpg, send_policy(), || {
                let (shared, data) = (self.cpg.clone(), data.clone());
                async move {
                    ::tokio::task::spawn_blocking(move || lock(&shared).mcast(guarantee, &data))
                        .await
                        .unwrap_or(Err(Error::Library))
                }
            })
            .await?;
        }
        reserved.sent = true;
        Ok(())
    }

    /// Counts `bytes` as on the way, once they fit in the window.
    async fn reserve(&self, bytes: usize) {
        let window = &*self.window;
        // Sends that find others waiting queue up behind them.
        if window.waiters.load(Ordering::Relaxed) == 0 && window.try_reserve(bytes) {
            return;
        }
        // Counted while waiting, also if this future is dropped.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        window.waiters.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&window.waiters);
        let mut drains = window.drains.load(Ordering::Relaxed);
        let mut unread = 0;
        let mut last = window.in_corosync.load(Ordering::Relaxed);
        let start = Instant::now();
        let mut progress = start;
        while start.elapsed() < WINDOW_WAIT {
            // Registered before looking, so that what happens in between
            // counts.
            let consumed = window.consumed.notified();
            // Move what corosync has queued into the stream (this runs no
            // user code) and wake the task reading it. Without waiting for
            // readiness: that goes to the stream (whose task may not run
            // now, or be this one), and a dispatch that finds nothing
            // returns at once. Not while the stream holds a window's
            // worth that its reader has yet to take: a flood from other
            // members would pile up there instead of in corosync, and the
            // reader's own polls read on as it goes.
            let result = if window.may_read() {
                let cpg = lock_async(&self.cpg).await;
                let result = cpg.dispatch_some(BATCH);
                drop(cpg);
                // A request: from the blocking pool, as the stream's, so
                // that a daemon that does not answer holds up no worker.
                nudge_if_owed(&self.window, &self.cpg, &result);
                self.cpg.dispatched.notify_waiters();
                result
            } else {
                Ok(0)
            };
            // Registered after this task's own signal.
            let dispatched = self.cpg.dispatched.notified();
            let full = match result {
                Ok(n) => n == BATCH,
                // (Reported by the send that follows.)
                Err(_) => break,
            };
            if window.on_the_way() == 0 {
                window.drained();
            }
            // Once the window has drained, waiting sends go out while they
            // fit; those that do not wait for it to drain again.
            let now_drains = window.drains.load(Ordering::Relaxed);
            if now_drains != drains {
                if window.try_reserve(bytes) {
                    return;
                }
                drains = now_drains;
            }
            if full {
                // More is queued: read on in batches, letting other tasks
                // run in between. (Reading is progress, not a stall.)
                progress = Instant::now();
                ::tokio::task::yield_now().await;
                continue;
            }
            let yielded = window.yielded.load(Ordering::Relaxed);
            let reading = window.reading();
            let now = window.in_corosync.load(Ordering::Relaxed);
            // (A send waiting out TRY_AGAIN holds counted bytes that
            // corosync has not got yet.)
            if reading || now < last || window.sending.load(Ordering::Relaxed) > 0 {
                progress = Instant::now();
            } else if progress.elapsed() >= STALL {
                // Nothing of ours has come back for a while: corosync
                // holds deliveries (during a membership change, say).
                // Stop counting those messages rather than make every
                // send wait for them; corosync's own flow control
                // still applies.
                window.in_corosync.store(0, Ordering::Relaxed);
                window.drained();
                progress = Instant::now();
                continue;
            }
            last = now;
            // Wait for the reader, or else for corosync to deliver.
            let signal = if reading { consumed } else { dispatched };
            ::tokio::select! {
                _ = signal => {}
                _ = ::tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            if reading {
                if window.yielded.load(Ordering::Relaxed) == yielded {
                    unread += 1;
                    if unread >= READER_IDLE_WAITS {
                        // Nobody has read the stream for a while: stop
                        // counting what waits in it.
                        window.reader_idle.store(true, Ordering::Relaxed);
                    }
                } else {
                    unread = 0;
                }
            }
        }
        // Waited long enough (or the connection failed): go anyway.
        window.in_corosync.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokio::stream::shared;

    /// Wake-ups from a busy stream do not use up a send's attempts: only
    /// delays that run out do.
    #[test]
    fn a_send_waits_out_its_delays_however_often_the_stream_wakes_it() {
        // One thread: the busy task and the send take turns, so every
        // wake-up reaches the send however loaded the machine is.
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = shared(());
            let s2 = s.clone();
            let busy = ::tokio::spawn(async move {
                loop {
                    s2.dispatched.notify_waiters();
                    ::tokio::task::yield_now().await;
                }
            });
            // Under Miri the busy task wakes the send some thousand times
            // less often: longer delays leave room for as many wake-ups.
            let delay = Duration::from_millis(if cfg!(miri) { 500 } else { 50 });
            let policy = Retry::new(20).delays(delay, delay);
            let start = Instant::now();
            let mut tries = 0u32;
            let result: Result<()> = retry_on_dispatch(&s, policy, || {
                tries += 1;
                async { Err(Error::TryAgain) }
            })
            .await;
            busy.abort();
            assert_eq!(result, Err(Error::TryAgain));
            // 19 delays (or the budget of 20), not 19 wake-ups.
            assert!(
                start.elapsed() >= delay * 19,
                "gave up after {:?} and {tries} tries",
                start.elapsed()
            );
            assert!(tries > 20, "the wake-ups did retry: {tries}");
        });
    }
}
