//! The send window of an [`AsyncCpg`](super::AsyncCpg): the bytes of a
//! handle's own multicasts on their way back to it, and who waits for
//! them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use ::tokio::sync::Notify;

use crate::tokio::stream::BATCH;
use crate::{NodeId, Result};

/// The bytes of a handle's own multicasts on their way back to it.
pub(super) struct SendWindow {
    /// The most bytes on the way before a send waits (the event ring's
    /// size once connected, unless `AsyncCpg::set_send_window` changes it).
    pub(super) limit: AtomicUsize,
    /// The event ring's size (set once connected).
    pub(super) ring: AtomicUsize,
    /// Sent and not yet dispatched: in corosync.
    pub(super) in_corosync: AtomicUsize,
    /// Dispatched and not yet yielded: in the stream.
    pub(super) queued: AtomicUsize,
    /// Events the stream has yielded (only ever grows).
    pub(super) yielded: AtomicUsize,
    /// Bytes of all events in the stream (each counted as in `queued`;
    /// membership events as an empty message).
    pub(super) in_stream: AtomicUsize,
    /// Set when a wait saw nothing read; cleared when the stream yields.
    pub(super) reader_idle: AtomicBool,
    /// This handle's node id; its own messages come from (nodeid, pid).
    pub(super) nodeid: AtomicU32,
    pub(super) pid: u32,
    /// How many sends wait for the window.
    pub(super) waiters: AtomicUsize,
    /// How many counted sends corosync has not accepted yet (they wait
    /// out TRY_AGAIN).
    pub(super) sending: AtomicUsize,
    /// How many times the window was seen empty while sends waited.
    pub(super) drains: AtomicUsize,
    /// Raised when the stream's reading leaves nothing on the way while a
    /// send waits.
    pub(super) consumed: Notify,
    /// Set when the stream is dropped.
    pub(super) stream_gone: AtomicBool,
    /// Set while the stream has a request on its way to wake corosync.
    pub(super) nudging: AtomicBool,
}

impl SendWindow {
    pub(super) fn new(pid: u32) -> SendWindow {
        SendWindow {
            limit: AtomicUsize::new(0),
            ring: AtomicUsize::new(0),
            in_corosync: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            yielded: AtomicUsize::new(0),
            in_stream: AtomicUsize::new(0),
            reader_idle: AtomicBool::new(false),
            nodeid: AtomicU32::new(0),
            pid,
            waiters: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            drains: AtomicUsize::new(0),
            consumed: Notify::new(),
            stream_gone: AtomicBool::new(false),
            nudging: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(super) fn is_own(&self, nodeid: NodeId, pid: u32) -> bool {
        pid == self.pid && nodeid.get() == self.nodeid.load(Ordering::Relaxed)
    }

    /// The bytes that count against the window now.
    #[inline]
    pub(super) fn on_the_way(&self) -> usize {
        self.counted(self.in_corosync.load(Ordering::Relaxed))
    }

    /// The bytes that count against the window with `in_corosync` bytes
    /// in corosync: those, and the stream's unless its reader is idle.
    #[inline]
    fn counted(&self, in_corosync: usize) -> usize {
        if self.reader_idle.load(Ordering::Relaxed) {
            in_corosync
        } else {
            in_corosync.saturating_add(self.queued.load(Ordering::Relaxed))
        }
    }

    /// Counts a message of `bytes` as on the way if it fits in the window,
    /// or if nothing is on the way; says whether it did.
    #[inline]
    pub(super) fn try_reserve(&self, bytes: usize) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.in_corosync
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |in_corosync| {
                let total = self.counted(in_corosync);
                (total == 0 || total.saturating_add(bytes) <= limit)
                    .then(|| in_corosync.saturating_add(bytes))
            })
            .is_ok()
    }

    /// Whether the window lets more than the event ring be on the way, so
    /// that corosync may hold some of it in its out-queue.
    #[inline]
    fn beyond_ring(&self) -> bool {
        self.limit.load(Ordering::Relaxed) > self.ring.load(Ordering::Relaxed)
    }

    /// Whether corosync may hold this handle's own messages in its
    /// out-queue after a dispatch that returned `dispatched`: the window is
    /// past the ring, the dispatch read the ring dry, and some are still in
    /// corosync. corosync retries that queue only when its main loop comes
    /// round, and with nothing else to do the loop waits up to 50 ms for
    /// input (libqb's `qb_loop_run` when only jobs are pending), so a
    /// reader would wait that long for every ring's worth; a request
    /// (a nudge) wakes the loop.
    #[inline]
    pub(super) fn may_hold_ours(&self, dispatched: &Result<usize>) -> bool {
        self.beyond_ring()
            && matches!(dispatched, Ok(n) if *n < BATCH)
            && self.in_corosync.load(Ordering::Relaxed) > 0
    }

    /// Notes that nothing is on the way while sends wait.
    pub(super) fn drained(&self) {
        self.drains.fetch_add(1, Ordering::Relaxed);
        self.consumed.notify_waiters();
    }

    /// An own message of `bytes` came out of corosync into the stream.
    #[inline]
    pub(super) fn dispatched(&self, bytes: usize) {
        sub(&self.in_corosync, bytes);
        if !self.stream_gone.load(Ordering::Relaxed) {
            self.queued.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// An event of `bytes` (anyone's) went into the stream.
    #[inline]
    pub(super) fn entered(&self, bytes: usize) {
        if !self.stream_gone.load(Ordering::Relaxed) {
            self.in_stream.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Whether a send waiting for the window may move more events into
    /// the stream: while it holds less than a window's worth, or when
    /// nobody reads it (then what the sender sent is read back later), or
    /// when there is no stream (then the events are dropped at once; a
    /// dispatch racing with the stream's drop may have left a count).
    #[inline]
    pub(super) fn may_read(&self) -> bool {
        !self.reading()
            || self.in_stream.load(Ordering::Relaxed) < self.limit.load(Ordering::Relaxed)
    }

    /// Whether the stream holds events and somebody reads it.
    #[inline]
    pub(super) fn reading(&self) -> bool {
        !self.stream_gone.load(Ordering::Relaxed)
            && !self.reader_idle.load(Ordering::Relaxed)
            && self.in_stream.load(Ordering::Relaxed) > 0
    }

    /// The stream yielded an event of `all` bytes, of which `own` (all or
    /// nothing) were the handle's own message.
    #[inline]
    pub(super) fn yielded(&self, own: usize, all: usize) {
        sub(&self.in_stream, all);
        self.yielded.fetch_add(1, Ordering::Relaxed);
        if self.reader_idle.load(Ordering::Relaxed) {
            self.reader_idle.store(false, Ordering::Relaxed);
        }
        if own > 0 {
            sub(&self.queued, own);
        }
        if self.waiters.load(Ordering::Relaxed) > 0 {
            if own > 0 && self.on_the_way() == 0 {
                self.drained();
            } else if self.beyond_ring() && self.in_stream.load(Ordering::Relaxed) == 0 {
                // The reader has caught up while corosync may hold more of
                // ours in its out-queue: a waiting send looks at once (see
                // `AsyncCpg::reserve`).
                self.consumed.notify_waiters();
            }
        }
    }

    /// Forgets everything on the way (after leaving the group). What is
    /// in the stream still counts in `in_stream` until it is yielded.
    pub(super) fn reset(&self) {
        self.in_corosync.store(0, Ordering::Relaxed);
        self.queued.store(0, Ordering::Relaxed);
    }
}

/// Subtracts without wrapping (a reset may have raced with a delivery, or
/// a pool's approximate count with a put).
#[inline]
pub(super) fn sub(counter: &AtomicUsize, bytes: usize) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(bytes))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(limit: usize) -> SendWindow {
        let w = SendWindow::new(1);
        w.limit.store(limit, Ordering::Relaxed);
        w
    }

    #[test]
    fn reservations_share_the_window() {
        let w = window(1000);
        assert!(w.try_reserve(400));
        assert!(w.try_reserve(400));
        assert!(!w.try_reserve(400), "1200 bytes in a window of 1000");
        assert!(w.try_reserve(200), "exactly full");
        assert!(!w.try_reserve(1));
        assert_eq!(w.in_corosync.load(Ordering::Relaxed), 1000);
    }

    #[test]
    fn a_message_larger_than_the_window_goes_out_alone() {
        let w = window(1000);
        assert!(w.try_reserve(5000), "nothing on the way");
        assert!(!w.try_reserve(1));
        sub(&w.in_corosync, 5000);
        assert!(w.try_reserve(1));
    }

    #[test]
    fn the_stream_counts_until_its_reader_is_idle() {
        let w = window(1000);
        assert!(w.try_reserve(600));
        // Delivered into the stream, not yet yielded: still counts.
        w.dispatched(600);
        assert_eq!(w.in_corosync.load(Ordering::Relaxed), 0);
        assert!(!w.try_reserve(600));
        // A reader judged idle no longer paces the sender.
        w.reader_idle.store(true, Ordering::Relaxed);
        assert!(w.try_reserve(600));
        // Yielding clears the idle mark and takes the bytes off.
        w.yielded(600, 600);
        assert!(!w.reader_idle.load(Ordering::Relaxed));
        assert_eq!(w.on_the_way(), 600);
    }

    #[test]
    fn a_waiting_send_reads_until_the_stream_holds_a_window() {
        let w = window(1000);
        // Other members' messages and membership events count too.
        w.entered(600);
        assert!(w.may_read());
        w.entered(400);
        assert!(!w.may_read(), "a window's worth is waiting to be read");
        // Nobody reading: the sender reads on (it reads its batch later).
        w.reader_idle.store(true, Ordering::Relaxed);
        assert!(w.may_read());
        // Yielding another member's message takes its bytes off, and
        // nothing off the send window.
        w.yielded(0, 400);
        assert!(!w.reader_idle.load(Ordering::Relaxed));
        assert!(w.may_read());
        assert_eq!(w.in_stream.load(Ordering::Relaxed), 600);
        // Without a stream, nothing waits to be read, whatever the count.
        w.entered(1000);
        assert!(!w.may_read());
        w.stream_gone.store(true, Ordering::Relaxed);
        assert!(w.may_read());
        assert!(!w.reading());
    }

    #[test]
    fn a_dropped_stream_stops_counting() {
        let w = window(1000);
        w.stream_gone.store(true, Ordering::Relaxed);
        assert!(w.try_reserve(600));
        w.dispatched(600);
        assert_eq!(w.on_the_way(), 0);
    }
}
