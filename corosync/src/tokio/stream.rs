//! The machinery every adapter shares: the handle behind its mutex, the
//! descriptor registered with tokio's reactor, and [`Events`], the stream
//! that dispatches the handle and yields what its callbacks queued.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::sync::{mpsc, Notify};
use futures_core::Stream;

use crate::{Error, Result};

/// Refuses to go on outside a tokio runtime (registering would panic).
pub(super) fn in_runtime() -> Result<()> {
    ::tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| Error::NoRuntime)
}

pub(super) mod sealed {
    /// Only this crate's handles are dispatched by a stream.
    pub trait Sealed {
        /// How the handle reconnects, if it does (the stream then makes
        /// the tries, between its polls).
        fn reconnect_policy(&self) -> Option<crate::Reconnect> {
            None
        }

        /// Whether the daemon's end of the connection is gone.
        fn connection_gone(&self) -> bool {
            false
        }

        /// One reconnect try (see [`crate::Reconnect`]).
        fn reconnect_once(&self) -> crate::Result<()> {
            Err(crate::Error::Library)
        }
    }
}

/// A handle an [`Events`] stream can dispatch (implemented by the
/// services' handles; sealed).
pub trait Dispatch: sealed::Sealed + AsRawFd + Send + 'static {
    /// Runs the callbacks of at most `max` pending events; returns how many
    /// there were (fewer than `max`: none was left).
    fn dispatch_some(&self, max: usize) -> Result<usize>;
}

/// Implements [`Dispatch`] for a service's handle.
macro_rules! impl_dispatch {
    (@dispatch $t:ty) => {

        impl $crate::tokio::stream::Dispatch for $t {
            #[inline]
            fn dispatch_some(&self, max: usize) -> $crate::Result<usize> {
                <$t>::dispatch_some(self, max)
            }
        }
    };
    ($t:ty, reconnects) => {
        impl $crate::tokio::stream::sealed::Sealed for $t {
            fn reconnect_policy(&self) -> Option<$crate::Reconnect> {
                $crate::reconnect::Rides::reconnect_policy(self)
            }

            fn connection_gone(&self) -> bool {
                $crate::reconnect::Rides::connection_gone(self)
            }

            fn reconnect_once(&self) -> $crate::Result<()> {
                $crate::reconnect::Rides::reconnect_once(self)
            }
        }
        $crate::tokio::stream::impl_dispatch!(@dispatch $t);
    };
    ($t:ty) => {
        impl $crate::tokio::stream::sealed::Sealed for $t {}
        $crate::tokio::stream::impl_dispatch!(@dispatch $t);
    };
}
pub(super) use impl_dispatch;

/// A handle shared by an adapter and its event stream, and a signal the
/// stream raises after each dispatch (CPG's senders waiting out flow
/// control retry then, rather than only when their back-off timer fires).
///
/// The handle is dropped (finalized) on tokio's blocking pool when the
/// last reference goes inside a runtime: finalizing may wait for the daemon
/// (libcpg asks it) or for another thread's connect (see [`crate::handle`]).
pub(super) struct Inner<H> {
    handle: ManuallyDrop<Mutex<H>>,
    pub(super) dispatched: Notify,
    /// Drops the handle ([`drop_off_runtime`] for `H`).
    drop_handle: fn(H),
}

pub(super) type Shared<H> = Arc<Inner<H>>;

pub(super) fn shared<H: Send + 'static>(handle: H) -> Shared<H> {
    Arc::new(Inner {
        handle: ManuallyDrop::new(Mutex::new(handle)),
        dispatched: Notify::new(),
        drop_handle: drop_off_runtime::<H>,
    })
}

/// Drops `handle` on the blocking pool of the runtime this thread is in,
/// or here when it is in none (or the runtime no longer runs tasks).
fn drop_off_runtime<H: Send + 'static>(handle: H) {
    match ::tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(handle))),
        Err(_) => drop(handle),
    }
}

impl<H> Drop for Inner<H> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and `self.handle` is not used again.
        let handle = unsafe { ManuallyDrop::take(&mut self.handle) };
        (self.drop_handle)(handle.into_inner().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Runs `f` on the runtime's blocking pool and returns what it returns;
/// a panic in `f` resumes here. [`Error::NoRuntime`] outside a runtime, or
/// when the runtime shuts down before `f` runs.
pub(super) async fn on_pool<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    let runtime = ::tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
    match runtime.spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(Error::NoRuntime),
    }
}

/// Runs `f` with the handle, once no other thread uses it, on the
/// runtime's blocking pool (see [`on_pool`]).
pub(super) async fn request<H: Send + 'static, R: Send + 'static>(
    shared: &Shared<H>,
    f: impl FnOnce(&H) -> Result<R> + Send + 'static,
) -> Result<R> {
    let shared = shared.clone();
    on_pool(move || f(&lock(&shared))).await
}

/// The handle's lock, waiting for it (a plain call: see "Requests" in the
/// [module](super) docs).
pub(super) fn lock<H>(shared: &Shared<H>) -> MutexGuard<'_, H> {
    // A poisoned lock only means a panic elsewhere while it was held; the
    // handle itself is still consistent (its methods leave no half state).
    shared.handle.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle's lock if no other thread holds it.
pub(super) fn try_lock<H>(shared: &Shared<H>) -> Option<MutexGuard<'_, H>> {
    match shared.handle.try_lock() {
        Ok(guard) => Some(guard),
        // (As in `lock`.)
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// How many times async code tries a held lock in a row, then how many
/// times it yields to the runtime, before it waits a millisecond between
/// tries.
const LOCK_SPINS: u32 = 64;
const LOCK_YIELDS: u32 = 16;

/// The handle's lock, for async code: the thread never waits on it. Held
/// for a dispatch or a small send it frees within microseconds, so a brief
/// spin usually gets it; held by another thread for longer (a fragmented
/// send on the blocking pool, or a request waiting for a daemon that does
/// not answer), the task yields and then polls it every millisecond, and
/// the runtime's other tasks go on.
// (Only CPG's sends use it.)
#[cfg_attr(not(feature = "cpg"), allow(dead_code))]
pub(super) async fn lock_async<H>(shared: &Shared<H>) -> MutexGuard<'_, H> {
    let mut tries: u32 = 0;
    loop {
        if let Some(guard) = try_lock(shared) {
            return guard;
        }
        tries = tries.saturating_add(1);
        if tries < LOCK_SPINS {
            std::hint::spin_loop();
        } else if tries < LOCK_SPINS + LOCK_YIELDS {
            ::tokio::task::yield_now().await;
        } else {
            ::tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Whether `fd` has input right now (a zero-timeout poll).
fn readable_now(fd: RawFd) -> bool {
    crate::handle::events_now(fd) & libc::POLLIN != 0
}

/// A raw descriptor for AsyncFd; the handle owns the real one.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The most events a stream moves out of corosync in one poll, so that a
/// fast sender (another member, or corosync's queue for this connection)
/// cannot make one poll read without end into memory.
pub(super) const BATCH: usize = 64;

/// How soon a stream tries again for a handle another thread holds.
const LOCK_RETRY: Duration = Duration::from_millis(1);

/// How soon a stream dispatches again, readiness or not, after a dispatch
/// that produced events: corosync often has the next ones ready by then,
/// and reading them without waiting for the reactor keeps a sender's
/// stream moving (see BENCHMARKS.md for what it buys).
const RECHECK: Duration = Duration::from_millis(1);

/// The events of one handle as a stream: `Ok(event)` for each callback,
/// then, if the connection fails, one `Err` and the end.
///
/// Await it with [`Events::next`] (or through [`Stream`]).
pub struct Events<H, E> {
    // Declared first so that it is dropped (deregistered) before this
    // stream's reference to the handle, which owns the descriptor.
    fd: AsyncFd<Fd>,
    handle: Shared<H>,
    rx: mpsc::UnboundedReceiver<E>,
    done: bool,
    /// Why the connection failed, until the stream has yielded it (after
    /// the events queued before).
    failure: Option<Error>,
    /// Set when the last dispatch stopped at [`BATCH`] events.
    more: bool,
    /// Polls in a row that found the handle held by another thread.
    lock_waits: u32,
    /// Fires when it is time to try a held handle again, or to look again
    /// after a dispatch that produced events. Reset, not reallocated, each
    /// time.
    retry: Pin<Box<::tokio::time::Sleep>>,
    retry_armed: bool,
    /// Set while a handle that reconnects has lost its connection.
    down: Option<Down>,
}

/// A lost connection the stream is reconnecting.
struct Down {
    since: ::tokio::time::Instant,
    /// The wait before the last try.
    delay: Option<Duration>,
    /// What the dispatch answered, yielded if the stream gives up.
    error: Error,
}

impl<H: Dispatch, E> Events<H, E> {
    /// A stream of what the callbacks of `handle` send to `rx`.
    pub(super) fn new(handle: Shared<H>, rx: mpsc::UnboundedReceiver<E>) -> Result<Self> {
        let raw = lock(&handle).as_raw_fd();
        // SAFETY: the descriptor belongs to the handle's connection, which
        // keeps it open and unchanged until the handle is finalized; this
        // stream holds a reference to the handle and drops the AsyncFd
        // before it (field order).
        let fd =
            unsafe { AsyncFd::register_with_interest(Fd(raw), ::tokio::io::Interest::READABLE) }
                .map_err(|_| Error::Library)?;
        Ok(Events {
            fd,
            handle,
            rx,
            done: false,
            failure: None,
            more: false,
            lock_waits: 0,
            // (Made here, so that a runtime without timers fails at once.)
            retry: Box::pin(::tokio::time::sleep(LOCK_RETRY)),
            retry_armed: false,
            down: None,
        })
    }

    /// The next event; `None` once the stream has ended.
    ///
    /// Cancellation-safe: an event is queued before it is yielded, so
    /// dropping this future (in a `select!`, say) loses nothing.
    pub async fn next(&mut self) -> Option<Result<E>> {
        std::future::poll_fn(|cx| self.poll_event(cx, |_, _| {})).await
    }

    /// How many events the stream holds: read from corosync, not yet
    /// yielded. A stream reads at most 64 at a time, and only when it
    /// holds none. (A plain read, no request.)
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// The handle this stream dispatches.
    // (Only CPG's stream needs it.)
    #[cfg_attr(not(feature = "cpg"), allow(dead_code))]
    pub(super) fn handle(&self) -> &Shared<H> {
        &self.handle
    }

    /// [`Stream::poll_next`], calling `after_dispatch` with the handle and
    /// the result after each dispatch.
    pub(super) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        mut after_dispatch: impl FnMut(&Shared<H>, &Result<usize>),
    ) -> Poll<Option<Result<E>>> {
        // At most one dispatch per call, so that a call's work is bounded
        // even when a batch puts nothing in the channel (fragments of a
        // large message, events no callback takes).
        let mut dispatched = false;
        loop {
            if let Poll::Ready(Some(event)) = self.rx.poll_recv(cx) {
                return Poll::Ready(Some(Ok(event)));
            }
            if !self.rx.is_empty() {
                // The task has used up its budget (tokio's cooperative
                // scheduling), which has already arranged a wake-up:
                // dispatching more now would only queue more.
                return Poll::Pending;
            }
            if self.done {
                // The failure comes after the events queued before it.
                return Poll::Ready(self.failure.take().map(Err));
            }
            if self.down.is_some() {
                if dispatched {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                dispatched = true;
                match self.poll_reconnect(cx) {
                    Poll::Ready(()) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            }
            // The reactor is edge-triggered: a readiness is kept until a
            // dispatch has drained the handle (below).
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => Some(guard),
                Poll::Ready(Err(_)) => {
                    self.done = true;
                    self.failure = Some(Error::Library);
                    continue;
                }
                Poll::Pending => None,
            };
            let retry = self.retry_armed && self.retry.as_mut().poll(cx).is_ready();
            if guard.is_none() && !self.more && !retry {
                return Poll::Pending;
            }
            if dispatched {
                // (The readiness, the batch flag or the fired timer stay as
                // they are for the next call.)
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let Some(handle) = try_lock(&self.handle) else {
                // Another thread holds the handle (a fragmented send on the
                // blocking pool, a request waiting for the daemon): come
                // back soon rather than wait for it on this worker. The
                // readiness and the batch flag stay as they are.
                self.lock_waits = self.lock_waits.saturating_add(1);
                if self.lock_waits < LOCK_YIELDS {
                    cx.waker().wake_by_ref();
                } else {
                    self.retry
                        .as_mut()
                        .reset(::tokio::time::Instant::now() + LOCK_RETRY);
                    self.retry_armed = true;
                    // (Registers the wake-up; it cannot have fired yet.)
                    let _ = self.retry.as_mut().poll(cx);
                }
                return Poll::Pending;
            };
            self.lock_waits = 0;
            self.retry_armed = false;
            dispatched = true;
            // Drain, as the crate's event-loop rule says: a batch, and more
            // while the descriptor still shows input, up to BATCH in all
            // (bounded, in case a descriptor stayed readable with nothing
            // to dispatch; the next edge or poll comes back here anyway).
            let mut result = handle.dispatch_some(BATCH);
            for _ in 0..16 {
                match result {
                    Ok(n) if n < BATCH && readable_now(self.fd.get_ref().0) => {
                        result = handle.dispatch_some(BATCH - n).map(|m| n + m);
                    }
                    _ => break,
                }
            }
            let reconnects = match &result {
                Err(err) => {
                    handle.reconnect_policy().is_some()
                        && (*err == Error::Library || handle.connection_gone())
                }
                Ok(_) => false,
            };
            drop(handle);
            after_dispatch(&self.handle, &result);
            // A full batch may have left events behind: dispatch again as
            // soon as these are consumed, readiness or not.
            self.more = matches!(result, Ok(BATCH));
            if let Some(guard) = guard.as_mut() {
                // Readiness that arrived after the guard was taken is kept.
                guard.clear_ready();
            }
            if !self.more && !self.rx.is_empty() {
                self.retry
                    .as_mut()
                    .reset(::tokio::time::Instant::now() + RECHECK);
                self.retry_armed = true;
            }
            self.handle.dispatched.notify_waiters();
            if let Err(err) = result {
                if reconnects {
                    self.down = Some(Down {
                        since: ::tokio::time::Instant::now(),
                        delay: None,
                        error: err,
                    });
                    self.retry_armed = false;
                    self.more = false;
                } else {
                    self.done = true;
                    self.failure = Some(err);
                }
            }
        }
    }

    /// One step of reconnecting: waits out the back-off, then makes one
    /// try. `Ready` when the stream has a connection again, or has given
    /// up (then it yields the error that lost the connection and ends).
    fn poll_reconnect(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.retry_armed {
            if self.retry.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.retry_armed = false;
        }
        let Some(handle) = try_lock(&self.handle) else {
            self.retry
                .as_mut()
                .reset(::tokio::time::Instant::now() + LOCK_RETRY);
            self.retry_armed = true;
            // (Registers the wake-up; it cannot have fired yet.)
            let _ = self.retry.as_mut().poll(cx);
            return Poll::Pending;
        };
        let tried = handle.reconnect_once();
        let policy = handle.reconnect_policy().unwrap_or_default();
        drop(handle);
        // (A reconnection queued its notification; the next dispatch
        // comes without waiting for readiness.)
        let Some(mut down) = self.down.take() else {
            return Poll::Ready(());
        };
        if tried.is_ok() {
            self.more = true;
            return Poll::Ready(());
        }
        let next = policy.next_delay(down.delay);
        if down.since.elapsed().saturating_add(next) > policy.patience_limit() {
            self.done = true;
            self.failure = Some(down.error);
            return Poll::Ready(());
        }
        down.delay = Some(next);
        self.down = Some(down);
        self.retry
            .as_mut()
            .reset(::tokio::time::Instant::now() + next);
        self.retry_armed = true;
        // (Registers the wake-up; it cannot have fired yet.)
        let _ = self.retry.as_mut().poll(cx);
        Poll::Pending
    }
}

impl<H: Dispatch, E> Stream for Events<H, E> {
    type Item = Result<E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<E>>> {
        // (Every field is Unpin.)
        self.get_mut().poll_event(cx, |_, _| {})
    }
}
