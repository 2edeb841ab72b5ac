//! Async adapters for tokio (cargo feature `tokio`).
//!
//! Each adapter owns a handle of the blocking API behind a mutex, registers
//! its descriptor with tokio's reactor ([`tokio::io::unix::AsyncFd`]), and
//! turns its callbacks into owned events on a [`Stream`]. Polling the stream
//! dispatches the handle when its descriptor is readable (or a batch
//! stopped with more to come), on the task that polls it, never blocking a
//! runtime worker: it handles what is already queued, at most 64 events
//! per poll ([`Cpg::dispatch_some`] and its counterparts), so a backlog in
//! corosync is read a batch at a time rather than into memory at once. The mutex is
//! never held across an `.await`, and no user code runs while it is held
//! (the callbacks only queue events).
//!
//! Streams are cancellation-safe: an event is queued before it is yielded,
//! so dropping a `next()` future loses nothing. When the daemon goes away a
//! stream yields one `Err` (usually [`Error::Library`]) and then ends.
//!
//! Sends wait out [`Error::TryAgain`] (flow control, membership changes)
//! with an async back-off, a [`Retry`] policy whose sleeps are
//! `tokio::time::sleep`.
//!
//! Adapters must be created inside a tokio runtime with its IO and time
//! drivers enabled (`enable_all`): they register with its reactor and use
//! its timers, and, as with tokio's own types, a runtime without them
//! panics when an adapter is created. The events are owned copies because
//! they outlive the dispatch call; a CPG message's bytes come as a
//! [`Payload`], whose buffer goes back to its stream for reuse when
//! dropped. The blocking API keeps its zero-copy delivery.
//!
//! An [`AsyncCpg`] sender is paced by its stream: see
//! [`AsyncCpg::send_window`].
//!
//! # Requests
//!
//! Streams and sends never make a thread wait for another: when the
//! handle is busy on another thread they yield and come back. The other
//! methods (`join`, `leave`, `membership`, `is_quorate`, `track`,
//! `reply_to_shutdown`, `with`, …) are plain calls: each asks the daemon
//! and waits for its answer on the calling thread, usually for well under
//! a millisecond, and holds the handle meanwhile. A daemon that has died
//! answers at once with an error; one that hangs without dying (stopped
//! with `SIGSTOP`, say) is waited for as long as it hangs, as libcorosync
//! sets no time limit. Where that must not hold up a runtime worker, make
//! the call on the blocking pool: the adapters are `Clone + Send + Sync`,
//! so `tokio::task::spawn_blocking(move || cpg.join(&group))` does it.
//! Dropping the last clone of an adapter and its stream finalizes the
//! connection, which is such a call too.
//!
//! One exception: a CPG stream whose send window is past the event ring
//! ([`AsyncCpg::set_send_window`]) makes a request of its own now and then,
//! from tokio's blocking pool. While one is on its way it holds the
//! handle (the last reference to it, if the adapter and stream are
//! dropped meanwhile, so the connection is then finalized there), and a
//! runtime being shut down waits for it, as for any blocking task, also
//! if the daemon hangs.
//!
//! ```no_run
//! # async fn run() -> corosync::Result<()> {
//! use corosync::cpg::{GroupName, Guarantee};
//! use corosync::tokio::{AsyncCpg, CpgEvent};
//! use futures_core::Stream;
//! use std::pin::pin;
//!
//! let (cpg, events) = AsyncCpg::connect()?;
//! cpg.join(&GroupName::new("my-service")?)?;
//! cpg.mcast(Guarantee::Agreed, b"hello").await?;
//! let mut events = pin!(events);
//! while let Some(event) = std::future::poll_fn(|cx| events.as_mut().poll_next(cx)).await {
//!     if let CpgEvent::Message { nodeid, data, .. } = event? {
//!         println!("{nodeid}: {data:?}");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Other event loops
//!
//! Without tokio, every handle can be driven from any poll loop through
//! its descriptor: see [Event loops](crate#event-loops) in the crate docs.

use std::future::Future;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::io::unix::AsyncFd;
use ::tokio::sync::{mpsc, Notify};
use futures_core::Stream;

mod payload;
pub use payload::Payload;
use payload::Recycler;

use crate::cfg::{Cfg, ShutdownMode};
use crate::cmap::{Cmap, Map, TrackEventKind, TrackId, TrackType, Value};
use crate::cpg::{event_size, message_len, Address, Cpg, GroupName, Guarantee};
use crate::quorum::Quorum;
use crate::votequorum::{NodeState, Votequorum};
use crate::{Error, NodeId, Result, Retry, RingId, TrackFlags};

/// Refuses to go on outside a tokio runtime (registering would panic).
fn in_runtime() -> Result<()> {
    ::tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| Error::InvalidInput {
            what: "async adapter",
            reason: "it must be created inside a tokio runtime",
        })
}

mod sealed {
    /// Only this crate's handles are dispatched by a stream.
    pub trait Sealed {}
}

/// A handle a [`Events`] stream can dispatch (implemented by the
/// services' handles; sealed).
pub trait Dispatch: sealed::Sealed + AsRawFd + Send + 'static {
    /// Runs the callbacks of at most `max` pending events; returns how many
    /// there were (fewer than `max`: none was left).
    fn dispatch_some(&self, max: usize) -> Result<usize>;
}

macro_rules! impl_dispatch {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}

        impl Dispatch for $t {
            #[inline]
            fn dispatch_some(&self, max: usize) -> Result<usize> {
                <$t>::dispatch_some(self, max)
            }
        }
    )*};
}
impl_dispatch!(Cpg, Quorum, Votequorum, Cmap, Cfg);

/// A handle shared by an adapter and its event stream, and a signal the
/// stream raises after each dispatch (senders waiting out flow control
/// retry then, rather than only when their back-off timer fires).
struct Inner<H> {
    handle: Mutex<H>,
    dispatched: Notify,
}

type Shared<H> = Arc<Inner<H>>;

fn shared<H>(handle: H) -> Shared<H> {
    Arc::new(Inner {
        handle: Mutex::new(handle),
        dispatched: Notify::new(),
    })
}

fn lock<H>(shared: &Shared<H>) -> MutexGuard<'_, H> {
    // A poisoned lock only means a panic elsewhere while it was held; the
    // handle itself is still consistent (its methods leave no half state).
    shared.handle.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle's lock if no other thread holds it.
fn try_lock<H>(shared: &Shared<H>) -> Option<MutexGuard<'_, H>> {
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
/// send on the blocking pool, or a request from [`AsyncCpg::with`] and the
/// like waiting for a daemon that does not answer), the task yields and
/// then polls it every millisecond, and the runtime's other tasks go on.
async fn lock_async<H>(shared: &Shared<H>) -> MutexGuard<'_, H> {
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
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & libc::POLLIN != 0 }
}

/// A raw descriptor for AsyncFd; the handle owns the real one.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The events of one handle as a stream: `Ok(event)` for each callback,
/// then, if the connection fails, one `Err` and the end.
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
    /// Armed after a dispatch that produced events: dispatch again when it
    /// fires even if no readiness came (see `poll_next`). Reset, not
    /// reallocated, each time.
    recheck: Pin<Box<::tokio::time::Sleep>>,
    recheck_armed: bool,
    /// Set when the last dispatch stopped at [`BATCH`] events.
    more: bool,
    /// Polls in a row that found the handle held by another thread.
    lock_waits: u32,
    /// The send window that this stream's own messages count against
    /// until they are yielded (CPG only).
    window: Option<Arc<SendWindow>>,
    /// A request that wakes corosync's main loop (CPG only; see
    /// [`Events::nudge_if_owed`]).
    nudge: Option<fn(&H)>,
}

/// What an event counts against its adapter's send window when the
/// stream yields it.
trait Weigh {
    /// The bytes to take off `window`'s counts: those of the handle's own
    /// message (zero for anything else), and those of any event.
    fn weight(&self, _window: &SendWindow) -> (usize, usize) {
        (0, 0)
    }
}

// Only CPG sends count against a window.
impl Weigh for QuorumEvent {}
impl Weigh for VotequorumEvent {}
impl Weigh for CmapEvent {}
impl Weigh for CfgEvent {}

impl<H, E> Drop for Events<H, E> {
    fn drop(&mut self) {
        // Nothing more will be consumed: senders stop waiting for it.
        if let Some(window) = &self.window {
            // Under the handle's lock when it is free, so that no dispatch
            // in progress counts a message into the stream after this.
            // (When another thread holds it, not waiting for it: at worst
            // a dispatch counts a few messages that senders then stop
            // waiting for after `STALL`.)
            let _handle = try_lock(&self.handle);
            window.stream_gone.store(true, Ordering::Relaxed);
            window.queued.store(0, Ordering::Relaxed);
            window.in_stream.store(0, Ordering::Relaxed);
            window.consumed.notify_waiters();
        }
    }
}

/// The most events a stream moves out of corosync before it yields what
/// it has, so that a fast sender (another member, or corosync's queue for
/// this connection) cannot make one poll read without end into memory.
const BATCH: usize = 64;

/// How soon a stream looks again after a dispatch that produced events.
const RECHECK: Duration = Duration::from_millis(1);

impl<H: Dispatch, E> Events<H, E> {
    fn new(handle: Shared<H>, rx: mpsc::UnboundedReceiver<E>) -> Result<Self> {
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
            // (Made here, so that a runtime without timers fails at once.)
            recheck: Box::pin(::tokio::time::sleep(RECHECK)),
            recheck_armed: false,
            more: false,
            lock_waits: 0,
            window: None,
            nudge: None,
        })
    }

    /// After a dispatch that read the ring dry (`result`), wakes corosync
    /// if it may hold more of this handle's own messages in its out-queue,
    /// as a waiting send does (see `AsyncCpg::reserve`): with a window
    /// past the ring, a sender that has finished leaves them there, and
    /// nothing else may wake corosync for 50 ms. The request goes to the
    /// blocking pool, as streams make no requests on a runtime thread (a
    /// daemon that does not answer would hold it up; the stream then
    /// finds the handle taken and waits for it as for any request, where
    /// a send, which makes requests anyway, nudges inline); one at a time.
    fn nudge_if_owed(&self, result: &Result<usize>) {
        let (Some(nudge), Some(window)) = (self.nudge, &self.window) else {
            return;
        };
        if !window.may_hold_ours(result) {
            return;
        }
        // (Outside a runtime context, as when a stream is polled by
        // another executor, nothing is sent.)
        let Ok(runtime) = ::tokio::runtime::Handle::try_current() else {
            return;
        };
        if window.nudging.swap(true, Ordering::Relaxed) {
            return;
        }
        /// Lets the next nudge go, also if the runtime drops the task
        /// unrun.
        struct Nudging(Arc<SendWindow>);
        impl Drop for Nudging {
            fn drop(&mut self) {
                self.0.nudging.store(false, Ordering::Relaxed);
            }
        }
        let nudging = Nudging(window.clone());
        let handle = self.handle.clone();
        drop(runtime.spawn_blocking(move || {
            let cpg = lock(&handle);
            nudge(&cpg);
            // Let go under the lock: a dispatch that then finds a nudge on
            // its way read the ring before this request went out, so this
            // request is the one that refills it.
            drop(nudging);
            drop(cpg);
        }));
    }

    /// `event`, after taking its weight off the send window.
    #[inline]
    fn yielded(&self, event: E) -> E
    where
        E: Weigh,
    {
        if let Some(window) = &self.window {
            let (own, all) = event.weight(window);
            window.yielded(own, all);
        }
        event
    }

    /// How many events the stream holds: read from corosync, not yet
    /// yielded. A stream reads at most 64 at a time when it finds none
    /// here, and a send waiting for its [window](AsyncCpg::send_window)
    /// stops reading while the stream holds a window's worth, so this
    /// stays within about a window's worth of events unless nobody reads
    /// the stream.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }
}

impl<H: Dispatch, E: Weigh> Stream for Events<H, E> {
    type Item = Result<E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<E>>> {
        // Every field is Unpin.
        let this = self.get_mut();
        // At most one dispatch per call, so that a call's work is bounded
        // even when a batch puts nothing in the channel (fragments of a
        // large message, events no callback takes).
        let mut dispatched = false;
        loop {
            if let Poll::Ready(Some(event)) = this.rx.poll_recv(cx) {
                return Poll::Ready(Some(Ok(this.yielded(event))));
            }
            if !this.rx.is_empty() {
                // The task has used up its budget (tokio's cooperative
                // scheduling), which has already arranged a wake-up:
                // dispatching more now would only queue more.
                return Poll::Pending;
            }
            if this.done {
                // The failure comes after the events queued before it.
                return Poll::Ready(this.failure.take().map(Err));
            }
            let mut guard = match this.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => Some(guard),
                Poll::Ready(Err(_)) => {
                    this.done = true;
                    this.failure = Some(Error::Library);
                    continue;
                }
                Poll::Pending => None,
            };
            // libqb's descriptor does not always signal every queued event:
            // a dispatch can stop at an event still being written, whose
            // wake-up was already consumed. After a dispatch that found
            // events, look again shortly even without readiness (the
            // blocking API's poll loops do the same with their timeouts).
            let recheck = this.recheck_armed && this.recheck.as_mut().poll(cx).is_ready();
            if guard.is_none() && !this.more && !recheck {
                return Poll::Pending;
            }
            if dispatched {
                // (The readiness, the batch flag or the fired timer stay as
                // they are for the next call.)
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let Some(handle) = try_lock(&this.handle) else {
                // Another thread holds the handle (a fragmented send on the
                // blocking pool, a request waiting for the daemon): come
                // back soon rather than wait for it on this worker. The
                // readiness and the batch flag stay as they are.
                this.lock_waits = this.lock_waits.saturating_add(1);
                if this.lock_waits < LOCK_YIELDS {
                    cx.waker().wake_by_ref();
                } else {
                    this.recheck
                        .as_mut()
                        .reset(::tokio::time::Instant::now() + RECHECK);
                    this.recheck_armed = true;
                    // (Registers the wake-up; it cannot have fired yet.)
                    let _ = this.recheck.as_mut().poll(cx);
                }
                return Poll::Pending;
            };
            this.lock_waits = 0;
            dispatched = true;
            this.recheck_armed = false;
            let result = {
                let mut result = handle.dispatch_some(BATCH);
                // Bounded, in case a descriptor stays readable with nothing
                // to dispatch; the next edge or poll comes back here anyway.
                for _ in 0..16 {
                    match result {
                        Ok(n) if n < BATCH && readable_now(this.fd.get_ref().0) => {
                            result = handle.dispatch_some(BATCH - n).map(|m| n + m);
                        }
                        _ => break,
                    }
                }
                drop(handle);
                result
            };
            this.nudge_if_owed(&result);
            // A full batch may have left events behind: dispatch again as
            // soon as these are consumed, readiness or not.
            this.more = matches!(result, Ok(BATCH));
            if let Some(guard) = guard.as_mut() {
                // Readiness that arrived after the guard was taken is kept.
                guard.clear_ready();
            }
            if !this.more && !this.rx.is_empty() {
                this.recheck
                    .as_mut()
                    .reset(::tokio::time::Instant::now() + RECHECK);
                this.recheck_armed = true;
            }
            this.handle.dispatched.notify_waiters();
            if let Err(err) = result {
                this.done = true;
                this.failure = Some(err);
            }
        }
    }
}

/// Runs `op` until it answers anything but [`Error::TryAgain`], sleeping
/// asynchronously between attempts as `policy` says.
pub async fn retry_async<T>(policy: Retry, mut op: impl FnMut() -> Result<T>) -> Result<T> {
    let mut failures = 0;
    loop {
        match op() {
            Err(err) if err.is_retryable() => {
                failures += 1;
                if failures >= policy.attempts() {
                    return Err(err);
                }
                ::tokio::time::sleep(policy.delay_after(failures)).await;
            }
            other => return other,
        }
    }
}

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

// ---------------------------------------------------------------- CPG ---

/// An owned CPG event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpgEvent {
    /// A delivered message.
    Message {
        /// The group (shared by the messages of one group, so that an
        /// event stays small to move).
        group: Arc<GroupName>,
        /// The sender's node.
        nodeid: NodeId,
        /// The sender's process id.
        pid: u32,
        /// The payload (its buffer goes back to the stream when dropped).
        data: Payload,
    },
    /// A group membership change.
    ConfChange {
        /// The group.
        group: Arc<GroupName>,
        /// The members after the change.
        members: Vec<Address>,
        /// Who left, and why.
        left: Vec<Address>,
        /// Who joined, and why.
        joined: Vec<Address>,
    },
    /// A totem membership change (the initial one included).
    TotemConfChange {
        /// The new ring id.
        ring_id: RingId,
        /// The nodes.
        members: Vec<NodeId>,
    },
}

/// A CPG connection for async code; cheap to clone, all clones share it.
#[derive(Clone)]
pub struct AsyncCpg {
    cpg: Shared<Cpg>,
    window: Arc<SendWindow>,
    /// The largest message libcpg sends without fragments.
    atomic: usize,
}

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

/// The bytes of a handle's own multicasts on their way back to it.
struct SendWindow {
    /// The most bytes on the way before a send waits (the event ring's
    /// size once connected, unless `AsyncCpg::set_send_window` changes it).
    limit: AtomicUsize,
    /// The event ring's size (set once connected).
    ring: AtomicUsize,
    /// Sent and not yet dispatched: in corosync.
    in_corosync: AtomicUsize,
    /// Dispatched and not yet yielded: in the stream.
    queued: AtomicUsize,
    /// Events the stream has yielded (only ever grows).
    yielded: AtomicUsize,
    /// Bytes of all events in the stream (each counted as in `queued`;
    /// membership events as an empty message).
    in_stream: AtomicUsize,
    /// Set when a wait saw nothing read; cleared when the stream yields.
    reader_idle: AtomicBool,
    /// This handle's node id; its own messages come from (nodeid, pid).
    nodeid: AtomicU32,
    pid: u32,
    /// How many sends wait for the window.
    waiters: AtomicUsize,
    /// How many counted sends corosync has not accepted yet (they wait
    /// out TRY_AGAIN).
    sending: AtomicUsize,
    /// How many times the window was seen empty while sends waited.
    drains: AtomicUsize,
    /// Raised when the stream's reading leaves nothing on the way while a
    /// send waits.
    consumed: Notify,
    /// Set when the stream is dropped.
    stream_gone: AtomicBool,
    /// Set while the stream has a request on its way to wake corosync.
    nudging: AtomicBool,
}

impl SendWindow {
    fn new(pid: u32) -> SendWindow {
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
    fn is_own(&self, nodeid: NodeId, pid: u32) -> bool {
        pid == self.pid && nodeid.get() == self.nodeid.load(Ordering::Relaxed)
    }

    /// The bytes that count against the window now.
    #[inline]
    fn on_the_way(&self) -> usize {
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
    fn try_reserve(&self, bytes: usize) -> bool {
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
    /// ([`nudge`]) wakes the loop.
    #[inline]
    fn may_hold_ours(&self, dispatched: &Result<usize>) -> bool {
        self.beyond_ring()
            && matches!(dispatched, Ok(n) if *n < BATCH)
            && self.in_corosync.load(Ordering::Relaxed) > 0
    }

    /// Notes that nothing is on the way while sends wait.
    fn drained(&self) {
        self.drains.fetch_add(1, Ordering::Relaxed);
        self.consumed.notify_waiters();
    }

    /// An own message of `bytes` came out of corosync into the stream.
    #[inline]
    fn dispatched(&self, bytes: usize) {
        sub(&self.in_corosync, bytes);
        if !self.stream_gone.load(Ordering::Relaxed) {
            self.queued.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// An event of `bytes` (anyone's) went into the stream.
    #[inline]
    fn entered(&self, bytes: usize) {
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
    fn may_read(&self) -> bool {
        !self.reading()
            || self.in_stream.load(Ordering::Relaxed) < self.limit.load(Ordering::Relaxed)
    }

    /// Whether the stream holds events and somebody reads it.
    #[inline]
    fn reading(&self) -> bool {
        !self.stream_gone.load(Ordering::Relaxed)
            && !self.reader_idle.load(Ordering::Relaxed)
            && self.in_stream.load(Ordering::Relaxed) > 0
    }

    /// The stream yielded an event of `all` bytes, of which `own` (all or
    /// nothing) were the handle's own message.
    #[inline]
    fn yielded(&self, own: usize, all: usize) {
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
    fn reset(&self) {
        self.in_corosync.store(0, Ordering::Relaxed);
        self.queued.store(0, Ordering::Relaxed);
    }
}

/// Subtracts without wrapping (a reset may have raced with a delivery, or
/// a pool's approximate count with a put).
#[inline]
fn sub(counter: &AtomicUsize, bytes: usize) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(bytes))
    });
}

impl Weigh for CpgEvent {
    #[inline]
    fn weight(&self, window: &SendWindow) -> (usize, usize) {
        match self {
            CpgEvent::Message {
                nodeid, pid, data, ..
            } => {
                let all = event_size(data.len());
                (if window.is_own(*nodeid, *pid) { all } else { 0 }, all)
            }
            _ => (0, event_size(0)),
        }
    }
}

/// Wakes corosync's main loop: any request does, and this is the cheapest
/// (the answer is not needed; a failure shows at the next dispatch).
fn nudge(cpg: &Cpg) {
    let _ = cpg.local_nodeid();
}

/// The stream of [`CpgEvent`]s of an [`AsyncCpg`].
pub type CpgEvents = Events<Cpg, CpgEvent>;

impl AsyncCpg {
    /// Connects (inside a tokio runtime), with the initial totem
    /// configuration reported after the first join.
    pub fn connect() -> Result<(AsyncCpg, CpgEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
        let window = Arc::new(SendWindow::new(std::process::id()));
        let (w1, w2, w3) = (window.clone(), window.clone(), window.clone());
        let mut recycler = Recycler::new();
        // A connection is in one group at a time: its messages share the
        // name, allocated when it changes.
        let mut msg_group: Option<Arc<GroupName>> = None;
        let cpg = Cpg::builder()
            .deliver_initial_totem_conf(true)
            .on_deliver(move |_, m| {
                let bytes = event_size(m.data.len());
                if w1.is_own(m.nodeid, m.pid) {
                    w1.dispatched(bytes);
                }
                w1.entered(bytes);
                let group = match &msg_group {
                    Some(g) if **g == *m.group => g.clone(),
                    _ => msg_group.insert(Arc::new(*m.group)).clone(),
                };
                let _ = t1.send(CpgEvent::Message {
                    group,
                    nodeid: m.nodeid,
                    pid: m.pid,
                    data: recycler.copy(m.data),
                });
            })
            .on_confchg(move |_, c| {
                // Out of the group, nothing sent earlier comes back.
                if c.left.iter().any(|a| w2.is_own(a.nodeid(), a.pid())) {
                    w2.reset();
                }
                w2.entered(event_size(0));
                let _ = t2.send(CpgEvent::ConfChange {
                    group: Arc::new(*c.group),
                    members: c.members.to_vec(),
                    left: c.left.to_vec(),
                    joined: c.joined.to_vec(),
                });
            })
            .on_totem_confchg(move |_, t| {
                w3.entered(event_size(0));
                let _ = t3.send(CpgEvent::TotemConfChange {
                    ring_id: t.ring_id,
                    members: t.members.to_vec(),
                });
            })
            .connect()?;
        window
            .nodeid
            .store(cpg.local_nodeid()?.get(), Ordering::Relaxed);
        let ring = cpg.event_ring_size()?;
        window.ring.store(ring, Ordering::Relaxed);
        window.limit.store(ring, Ordering::Relaxed);
        let atomic = cpg.max_atomic_msgsize()?;
        let cpg = shared(cpg);
        let mut events = Events::new(cpg.clone(), rx)?;
        events.window = Some(window.clone());
        events.nudge = Some(nudge);
        Ok((
            AsyncCpg {
                cpg,
                window,
                atomic,
            },
            events,
        ))
    }

    /// Runs `f` with the blocking handle, on the calling thread, once no
    /// other thread uses it (see "Requests" in the [module](self) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cpg) -> R) -> R {
        f(&lock(&self.cpg))
    }

    /// Joins `group`.
    pub fn join(&self, group: &GroupName) -> Result<()> {
        self.with(|c| c.join(group))
    }

    /// Leaves `group`.
    pub fn leave(&self, group: &GroupName) -> Result<()> {
        self.with(|c| c.leave(group))?;
        self.window.reset();
        Ok(())
    }

    /// How many bytes of this handle's own multicasts may be on their way
    /// back to it before a send waits: by default the size of the event
    /// ring between corosync and this connection ([`Cpg::event_ring_size`],
    /// 1 MiB with corosync's usual build; [`set_send_window`](Self::set_send_window)
    /// changes it). Each message counts what its event takes in the ring
    /// ([`event_size`]).
    ///
    /// A send that does not fit (unless nothing is on the way) moves the
    /// events corosync has queued for the handle into its stream, while
    /// the stream holds less than a window's worth of events (its own
    /// and anyone else's, counted the same way) or nobody reads it, and
    /// waits until all of its own messages have come back, for a second
    /// at most. Sends are counted before they go out, so tasks
    /// sending through one handle share the window; once it has drained,
    /// waiting sends go out while they fit, and a send that finds others
    /// waiting queues behind them.
    ///
    /// Only the handle's own multicasts count: other members' messages and
    /// membership events also take room in the ring, and a message larger
    /// than the ring goes out alone and overflows it regardless.
    ///
    /// Why it works this way:
    ///
    /// - Messages still in corosync always count. A sender that overfills
    ///   the ring is not refused: corosync copies further events into a
    ///   per-connection out-queue that it retries on every pass of its
    ///   main loop (`msg_send_or_queue`/`outq_flush` in corosync's
    ///   `exec/ipc_glue.c`) and keeps accepting sends meanwhile, so a
    ///   sender that never waits can grow the daemon without bound.
    /// - Messages waiting in the stream count while another task reads the
    ///   stream, so a fast sender is paced by its reader and the events (and
    ///   their buffers, which are reused) stay bounded. When the waits of
    ///   about 20 ms see nothing read, the sender goes on without counting
    ///   them until the stream yields again: a task may multicast a batch
    ///   and read it back afterwards, and a reader that spends longer than
    ///   that on one event no longer paces its sender.
    /// - Waiting until everything has come back, rather than until the
    ///   window is partly free, sends in bursts of a whole window, which is
    ///   what kept corosync busiest in `scripts/bench-cpg.sh`
    ///   (BENCHMARKS.md): smaller bursts left it waking up for a few
    ///   messages at a time.
    pub fn send_window(&self) -> usize {
        self.window.limit.load(Ordering::Relaxed)
    }

    /// Sets the [send window](Self::send_window) of this connection (all
    /// its clones), in bytes as [`event_size`] counts them. It applies to
    /// sends from now on; sends already waiting go out when the window has
    /// drained and they fit in the new one.
    ///
    /// The default, the event ring, is the largest window with which corosync
    /// does not have to hold this connection's own messages in its out-queue
    /// (unless other members' messages or the waits' time limits above take
    /// room of their own). A larger one trades the daemon's memory for
    /// throughput: past the ring, corosync keeps up to `bytes` minus the ring
    /// per connection in that queue (and the stream may hold up to `bytes` of
    /// events its reader has yet to take). Whether it buys anything depends on
    /// the cluster and the message size, so measure before raising it: in
    /// `scripts/bench-cpg.sh` (BENCHMARKS.md), against the default, a 16 MiB
    /// window changed throughput on three nodes by +2 to +11 % in two runs
    /// on one machine, and by −21 to +11 % in four on another (each time
    /// least at 64 KiB, where it lost 3–21 %), and on one node by −26 to
    /// −2 %.
    ///
    /// corosync hands out its out-queue one ring's worth at a time, each
    /// time its main loop comes round, and with nothing else to do the loop
    /// waits up to 50 ms for input (libqb's `qb_loop_run` when only jobs
    /// are pending). So with a window past the ring, whenever a waiting send
    /// or the stream reads the ring dry while some of this handle's messages
    /// are still in corosync, it makes a request to wake it (one at a time;
    /// the stream's from tokio's blocking pool, and not when it is polled
    /// outside a tokio runtime, where the 50 ms waits come back). These
    /// requests cost the daemon a little CPU each, up to one per dispatch.
    ///
    /// A smaller window keeps fewer messages on the way; `0` sends one
    /// message at a time (a message always goes out when nothing else is on
    /// the way). `usize::MAX` means no window: only corosync's own flow
    /// control holds a sender back, and a sender that outruns its reader
    /// grows the daemon without bound.
    pub fn set_send_window(&self, bytes: usize) {
        self.window.limit.store(bytes, Ordering::Relaxed);
    }

    /// Multicasts `data`, waiting out flow control asynchronously.
    ///
    /// A message larger than [`Cpg::max_atomic_msgsize`] is copied and sent
    /// from tokio's blocking pool: libcpg sends it in fragments, each a
    /// round trip to the daemon, and sleeps between its own retries. Such
    /// a send, once started, goes out even if this future is dropped.
    ///
    /// A send that does not fit in the [send window](Self::send_window)
    /// first moves queued events into the stream (without running any
    /// user code) and waits, so that a sender neither buries its own event
    /// queue in corosync nor runs far ahead of the task reading its stream.
    pub async fn mcast(&self, guarantee: Guarantee, data: &[u8]) -> Result<()> {
        self.mcast_vectored(guarantee, &[IoSlice::new(data)]).await
    }

    /// Multicasts the concatenation of `bufs` as one message without
    /// copying them first ([`Cpg::mcast_vectored`]), waiting as
    /// [`mcast`](Self::mcast) does. Too many buffers or bytes are refused
    /// at once, before any wait.
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
            // user code) and wake the task reading it. libqb's descriptor
            // does not signal every queued event, so this does not wait
            // for readiness first. Not while the stream holds a window's
            // worth that its reader has yet to take: a flood from other
            // members would pile up there instead of in corosync, and the
            // reader's own polls read on as it goes.
            let result = if window.may_read() {
                let cpg = lock_async(&self.cpg).await;
                let result = cpg.dispatch_some(BATCH);
                // Not when the stream has a nudge on its way: as this holds
                // the lock, that one goes out after this read.
                if window.may_hold_ours(&result) && !window.nudging.load(Ordering::Relaxed) {
                    nudge(&cpg);
                }
                drop(cpg);
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

    /// The members of `group`.
    pub fn membership(&self, group: &GroupName) -> Result<Vec<Address>> {
        self.with(|c| c.membership(group))
    }

    /// The local node id.
    pub fn local_nodeid(&self) -> Result<NodeId> {
        self.with(Cpg::local_nodeid)
    }
}

// ------------------------------------------------------------- quorum ---

/// An owned quorum event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumEvent {
    /// Quorate or not, and the members.
    Quorum {
        /// Whether the partition is quorate.
        quorate: bool,
        /// The ring id.
        ring_id: RingId,
        /// The members.
        members: Vec<NodeId>,
    },
    /// The node list and what changed (corosync 3.1 and later).
    NodeList {
        /// The ring id.
        ring_id: RingId,
        /// The members.
        members: Vec<NodeId>,
        /// Who joined.
        joined: Vec<NodeId>,
        /// Who left.
        left: Vec<NodeId>,
    },
}

/// A quorum connection for async code.
#[derive(Clone)]
pub struct AsyncQuorum {
    quorum: Shared<Quorum>,
}

/// The stream of [`QuorumEvent`]s of an [`AsyncQuorum`].
pub type QuorumEvents = Events<Quorum, QuorumEvent>;

impl AsyncQuorum {
    /// Connects (inside a tokio runtime) and starts tracking with `flags`.
    pub fn connect(flags: TrackFlags) -> Result<(AsyncQuorum, QuorumEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let t1 = tx.clone();
        let mut builder = Quorum::builder().on_quorum(move |_, n| {
            let _ = t1.send(QuorumEvent::Quorum {
                quorate: n.quorate,
                ring_id: n.ring_id,
                members: n.members.to_vec(),
            });
        });
        if cfg!(corosync_has_quorum_model_initialize) {
            builder = builder.on_nodelist(move |_, n| {
                let _ = tx.send(QuorumEvent::NodeList {
                    ring_id: n.ring_id,
                    members: n.members.to_vec(),
                    joined: n.joined.to_vec(),
                    left: n.left.to_vec(),
                });
            });
        }
        let quorum = builder.connect()?;
        quorum.track_start(flags)?;
        let quorum = shared(quorum);
        let events = Events::new(quorum.clone(), rx)?;
        Ok((AsyncQuorum { quorum }, events))
    }

    /// Runs `f` with the blocking handle, on the calling thread, once no
    /// other thread uses it (see "Requests" in the [module](self) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Quorum) -> R) -> R {
        f(&lock(&self.quorum))
    }

    /// Whether the partition is quorate now.
    pub fn is_quorate(&self) -> Result<bool> {
        self.with(Quorum::is_quorate)
    }
}

// --------------------------------------------------------- votequorum ---

/// An owned votequorum event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VotequorumEvent {
    /// Quorate or not, and every node's state.
    Quorum {
        /// Whether the cluster is quorate.
        quorate: bool,
        /// The nodes and their states.
        nodes: Vec<(NodeId, NodeState)>,
    },
    /// The membership and its ring id.
    NodeList {
        /// The ring id.
        ring_id: RingId,
        /// The members.
        nodes: Vec<NodeId>,
    },
    /// The expected votes changed.
    ExpectedVotes(u32),
}

/// A votequorum connection for async code.
#[derive(Clone)]
pub struct AsyncVotequorum {
    vq: Shared<Votequorum>,
}

/// The stream of [`VotequorumEvent`]s of an [`AsyncVotequorum`].
pub type VotequorumEvents = Events<Votequorum, VotequorumEvent>;

impl AsyncVotequorum {
    /// Connects (inside a tokio runtime) and starts tracking with `flags`.
    pub fn connect(flags: TrackFlags) -> Result<(AsyncVotequorum, VotequorumEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
        let vq = Votequorum::builder()
            .on_quorum(move |_, n| {
                let nodes = n.nodes.iter().map(|s| (s.nodeid(), s.state())).collect();
                let _ = t1.send(VotequorumEvent::Quorum {
                    quorate: n.quorate,
                    nodes,
                });
            })
            .on_nodelist(move |_, n| {
                let _ = t2.send(VotequorumEvent::NodeList {
                    ring_id: n.ring_id,
                    nodes: n.members.to_vec(),
                });
            })
            .on_expected_votes(move |_, n| {
                let _ = t3.send(VotequorumEvent::ExpectedVotes(n.expected_votes));
            })
            .connect()?;
        vq.track_start(flags)?;
        let vq = shared(vq);
        let events = Events::new(vq.clone(), rx)?;
        Ok((AsyncVotequorum { vq }, events))
    }

    /// Runs `f` with the blocking handle, on the calling thread, once no
    /// other thread uses it (see "Requests" in the [module](self) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Votequorum) -> R) -> R {
        f(&lock(&self.vq))
    }
}

// ---------------------------------------------------------------- CMAP ---

/// An owned change of a tracked cmap key.
#[derive(Debug, Clone, PartialEq)]
pub struct CmapEvent {
    /// The registration that reported it.
    pub track: TrackId,
    /// What happened.
    pub kind: TrackEventKind,
    /// The key.
    pub key: Vec<u8>,
    /// The new value (none for a deletion, or one that did not decode).
    pub new_value: Option<Value>,
    /// The old value (none for an addition, or one that did not decode).
    pub old_value: Option<Value>,
}

/// A cmap connection for async code: tracking registrations report to one
/// stream.
#[derive(Clone)]
pub struct AsyncCmap {
    cmap: Shared<Cmap>,
    tx: mpsc::UnboundedSender<CmapEvent>,
}

/// The stream of [`CmapEvent`]s of an [`AsyncCmap`].
pub type CmapEvents = Events<Cmap, CmapEvent>;

impl AsyncCmap {
    /// Connects to `map` (inside a tokio runtime).
    pub fn connect(map: Map) -> Result<(AsyncCmap, CmapEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cmap = shared(Cmap::with_map(map)?);
        let events = Events::new(cmap.clone(), rx)?;
        Ok((AsyncCmap { cmap, tx }, events))
    }

    /// Runs `f` with the blocking handle, on the calling thread, once no
    /// other thread uses it (see "Requests" in the [module](self) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cmap) -> R) -> R {
        f(&lock(&self.cmap))
    }

    /// Tracks `key` (or a prefix, with [`TrackType::PREFIX`]); its changes
    /// come out of the stream until [`AsyncCmap::untrack`].
    pub fn track(&self, key: &str, flags: TrackType) -> Result<TrackId> {
        let tx = self.tx.clone();
        self.with(|c| {
            c.track_add(key, flags, move |_, ev| {
                let _ = tx.send(CmapEvent {
                    track: ev.track,
                    kind: ev.kind,
                    key: ev.key.to_vec(),
                    new_value: ev.new_value.and_then(|v| v.to_value().ok()),
                    old_value: ev.old_value.and_then(|v| v.to_value().ok()),
                });
            })
            .map(|t| t.detach())
        })
    }

    /// Ends a registration made by [`AsyncCmap::track`].
    pub fn untrack(&self, id: TrackId) -> Result<()> {
        self.with(|c| c.track_delete(id))
    }
}

// ----------------------------------------------------------------- CFG ---

/// An owned CFG event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgEvent {
    /// A shutdown was requested: answer with
    /// [`AsyncCfg::reply_to_shutdown`] (only connections that called
    /// `track_start` are asked).
    Shutdown(ShutdownMode),
}

/// A CFG connection for async code.
#[derive(Clone)]
pub struct AsyncCfg {
    cfg: Shared<Cfg>,
}

/// The stream of [`CfgEvent`]s of an [`AsyncCfg`].
pub type CfgEvents = Events<Cfg, CfgEvent>;

impl AsyncCfg {
    /// Connects (inside a tokio runtime).
    pub fn connect() -> Result<(AsyncCfg, CfgEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cfg = Cfg::builder()
            .on_shutdown(move |_, mode| {
                let _ = tx.send(CfgEvent::Shutdown(mode));
            })
            .connect()?;
        let cfg = shared(cfg);
        let events = Events::new(cfg.clone(), rx)?;
        Ok((AsyncCfg { cfg }, events))
    }

    /// Runs `f` with the blocking handle, on the calling thread, once no
    /// other thread uses it (see "Requests" in the [module](self) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cfg) -> R) -> R {
        f(&lock(&self.cfg))
    }

    /// Answers a shutdown request.
    pub fn reply_to_shutdown(&self, allow: bool) -> Result<()> {
        self.with(|c| c.reply_to_shutdown(allow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wake-ups from a busy stream do not use up a send's attempts: only
    /// delays that run out do.
    #[test]
    fn a_send_waits_out_its_delays_however_often_the_stream_wakes_it() {
        let rt = ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
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
            let policy = Retry::new(20).delays(Duration::from_millis(5), Duration::from_millis(5));
            let start = Instant::now();
            let mut tries = 0u32;
            let result: Result<()> = retry_on_dispatch(&s, policy, || {
                tries += 1;
                async { Err(Error::TryAgain) }
            })
            .await;
            busy.abort();
            assert_eq!(result, Err(Error::TryAgain));
            // 19 delays of 5 ms (or the 100 ms budget), not 19 wake-ups.
            assert!(
                start.elapsed() >= Duration::from_millis(90),
                "gave up after {:?} and {tries} tries",
                start.elapsed()
            );
            assert!(tries > 20, "the wake-ups did retry: {tries}");
        });
    }

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
