//! Async adapters for tokio (cargo feature `tokio`).
//!
//! Each adapter owns a handle of the blocking API behind a mutex, registers
//! its descriptor with tokio's reactor ([`tokio::io::unix::AsyncFd`]), and
//! turns its callbacks into owned events on a [`Stream`]. Polling the stream
//! dispatches the handle when its descriptor is readable, on the task that
//! polls it, never blocking a runtime worker: corosync's dispatch with
//! [`DispatchMode::All`] only handles what is already queued. The mutex is
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
//! Adapters must be created inside a tokio runtime (they register with its
//! reactor). The events are copies (`Vec`s) because they outlive the
//! dispatch call; the blocking API keeps its zero-copy delivery.
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
//! Every handle is [`std::os::fd::AsFd`]; any poll loop (mio, calloop,
//! glib, a hand-written `poll`) can drive it. corosync signals readiness
//! once per queued event and the descriptor stays readable only while
//! events are queued: on readiness call `dispatch(DispatchMode::All)`,
//! which drains the queue, before waiting again. With mio, register the fd
//! through `mio::unix::SourceFd` for `Interest::READABLE` and dispatch with
//! `All` on every readable event (mio is edge-triggered: dispatching only
//! one event would leave the rest waiting for a wake-up that never comes).
//! With calloop, wrap the fd in a `calloop::generic::Generic` source in
//! level mode and dispatch with `All` in its callback.

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::sync::{mpsc, Notify};
use futures_core::Stream;

use crate::cfg::{Cfg, ShutdownMode};
use crate::cmap::{Cmap, Map, TrackEventKind, TrackId, TrackType, Value};
use crate::cpg::{Address, Cpg, GroupName, Guarantee};
use crate::quorum::Quorum;
use crate::votequorum::{NodeState, Votequorum};
use crate::{DispatchMode, Error, NodeId, Result, Retry, RingId, TrackFlags};

/// Refuses to go on outside a tokio runtime (registering would panic).
fn in_runtime() -> Result<()> {
    ::tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| Error::InvalidInput {
            what: "async adapter",
            reason: "it must be created inside a tokio runtime",
        })
}

/// A handle a [`Events`] stream can dispatch.
pub trait Dispatch: AsRawFd + Send + 'static {
    /// Runs the callbacks of every queued event.
    fn dispatch_all(&self) -> Result<()>;
}

macro_rules! impl_dispatch {
    ($($t:ty),*) => {$(
        impl Dispatch for $t {
            fn dispatch_all(&self) -> Result<()> {
                self.dispatch(DispatchMode::All)
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
    /// Armed after a dispatch that produced events: dispatch again when it
    /// fires even if no readiness came (see `poll_next`).
    recheck: Option<Pin<Box<::tokio::time::Sleep>>>,
}

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
            recheck: None,
        })
    }
}

impl<H: Dispatch, E> Stream for Events<H, E> {
    type Item = Result<E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<E>>> {
        // Every field is Unpin.
        let this = self.get_mut();
        loop {
            if let Poll::Ready(Some(event)) = this.rx.poll_recv(cx) {
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            let mut guard = match this.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(guard)) => Some(guard),
                Poll::Ready(Err(_)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::Library)));
                }
                Poll::Pending => None,
            };
            // libqb's descriptor does not always signal every queued event:
            // a dispatch can stop at an event still being written, whose
            // wake-up was already consumed. After a dispatch that found
            // events, look again shortly even without readiness (the
            // blocking API's poll loops do the same with their timeouts).
            if guard.is_none() {
                match this.recheck.as_mut().map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => this.recheck = None,
                    _ => return Poll::Pending,
                }
            }
            let result = {
                let handle = lock(&this.handle);
                let mut result = handle.dispatch_all();
                // Bounded, in case a descriptor stays readable with nothing
                // to dispatch; the next edge or poll comes back here anyway.
                for _ in 0..16 {
                    if result.is_err() || !readable_now(this.fd.get_ref().0) {
                        break;
                    }
                    result = handle.dispatch_all();
                }
                result
            };
            if let Some(guard) = guard.as_mut() {
                // Readiness that arrived after the guard was taken is kept.
                guard.clear_ready();
            }
            if !this.rx.is_empty() {
                this.recheck = Some(Box::pin(::tokio::time::sleep(RECHECK)));
            }
            this.handle.dispatched.notify_waiters();
            if let Err(err) = result {
                this.done = true;
                // Events queued before the failure come out first.
                if let Poll::Ready(Some(event)) = this.rx.poll_recv(cx) {
                    this.rx.close();
                    return Poll::Ready(Some(Ok(event)));
                }
                return Poll::Ready(Some(Err(err)));
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
/// back-off delay, whichever comes first.
async fn retry_on_dispatch<H, T>(
    shared: &Shared<H>,
    policy: Retry,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut failures = 0;
    loop {
        // Registered before the attempt, so a dispatch in between counts.
        let dispatched = shared.dispatched.notified();
        match op() {
            Err(err) if err.is_retryable() => {
                failures += 1;
                if failures >= policy.attempts() {
                    return Err(err);
                }
                ::tokio::select! {
                    _ = dispatched => {}
                    _ = ::tokio::time::sleep(policy.delay_after(failures)) => {}
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
        /// The group.
        group: GroupName,
        /// The sender's node.
        nodeid: NodeId,
        /// The sender's process id.
        pid: u32,
        /// The payload.
        data: Vec<u8>,
    },
    /// A group membership change.
    ConfChange {
        /// The group.
        group: GroupName,
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
}

/// How many bytes of a handle's own multicasts may be on their way back to
/// it before its next send first moves the handle's queued events into
/// the stream.
///
/// corosync does not refuse a sender whose own event queue is full: it
/// copies further events into a per-connection out-queue and retries that
/// queue on every pass of its main loop until the client reads
/// (`msg_send_or_queue`/`outq_flush` in corosync's `exec/ipc_glue.c`). A
/// task that multicasts faster than its stream is polled drives the
/// daemon into that state, and both slow down sharply. Measured with
/// `scripts/bench-cpg.sh` (BENCHMARKS.md): against no window, 128 KiB made
/// 16 KiB and 64 KiB sends two to three times faster but 1 KiB sends
/// slower (fewer messages in flight); 512 KiB did better at 1 KiB and
/// 16 KiB and worse at 64 KiB.
pub const SEND_WINDOW: usize = 128 * 1024;

/// The most times one send waits for its window (about a second at most):
/// the window is advice, corosync's own flow control still applies.
const WINDOW_WAITS: u32 = 1000;

/// The bytes a handle has multicast and not yet had delivered back.
struct SendWindow {
    outstanding: AtomicUsize,
    /// This handle's node id; its own messages come from (nodeid, pid).
    nodeid: AtomicU32,
    pid: u32,
}

impl SendWindow {
    #[inline]
    fn is_own(&self, nodeid: NodeId, pid: u32) -> bool {
        pid == self.pid && nodeid.get() == self.nodeid.load(Ordering::Relaxed)
    }

    #[inline]
    fn delivered(&self, bytes: usize) {
        let _ = self
            .outstanding
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(bytes))
            });
    }
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
        let window = Arc::new(SendWindow {
            outstanding: AtomicUsize::new(0),
            nodeid: AtomicU32::new(0),
            pid: std::process::id(),
        });
        let (w1, w2) = (window.clone(), window.clone());
        let cpg = Cpg::builder()
            .deliver_initial_totem_conf(true)
            .on_deliver(move |_, m| {
                if w1.is_own(m.nodeid, m.pid) {
                    w1.delivered(m.data.len());
                }
                let _ = t1.send(CpgEvent::Message {
                    group: *m.group,
                    nodeid: m.nodeid,
                    pid: m.pid,
                    data: m.data.to_vec(),
                });
            })
            .on_confchg(move |_, c| {
                // Out of the group, nothing sent earlier comes back.
                if c.left.iter().any(|a| w2.is_own(a.nodeid(), a.pid())) {
                    w2.outstanding.store(0, Ordering::Relaxed);
                }
                let _ = t2.send(CpgEvent::ConfChange {
                    group: *c.group,
                    members: c.members.to_vec(),
                    left: c.left.to_vec(),
                    joined: c.joined.to_vec(),
                });
            })
            .on_totem_confchg(move |_, t| {
                let _ = t3.send(CpgEvent::TotemConfChange {
                    ring_id: t.ring_id,
                    members: t.members.to_vec(),
                });
            })
            .connect()?;
        window
            .nodeid
            .store(cpg.local_nodeid()?.get(), Ordering::Relaxed);
        let cpg = shared(cpg);
        let events = Events::new(cpg.clone(), rx)?;
        Ok((AsyncCpg { cpg, window }, events))
    }

    /// Runs `f` with the blocking handle (briefly: other tasks wait).
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
        self.window.outstanding.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Multicasts `data`, waiting out flow control asynchronously.
    ///
    /// While more than [`SEND_WINDOW`] bytes of this handle's multicasts
    /// have not come back to it, the send first moves queued events into
    /// the stream (without running any user code) and lets other tasks
    /// run, so a sender cannot bury its own event queue.
    pub async fn mcast(&self, guarantee: Guarantee, data: &[u8]) -> Result<()> {
        self.wait_for_window().await;
        retry_on_dispatch(&self.cpg, send_policy(), || {
            self.with(|c| c.mcast(guarantee, data))
        })
        .await?;
        self.window
            .outstanding
            .fetch_add(data.len(), Ordering::Relaxed);
        Ok(())
    }

    async fn wait_for_window(&self) {
        for _ in 0..WINDOW_WAITS {
            let before = self.window.outstanding.load(Ordering::Relaxed);
            if before <= SEND_WINDOW {
                return;
            }
            // Dispatching here only queues owned events for the stream.
            // libqb's descriptor does not signal every queued event, so
            // this does not wait for readiness first.
            let dispatched = lock(&self.cpg).dispatch_all();
            self.cpg.dispatched.notify_waiters();
            if dispatched.is_err() {
                // The send that follows reports the failure.
                return;
            }
            if self.window.outstanding.load(Ordering::Relaxed) < before {
                ::tokio::task::yield_now().await;
                continue;
            }
            // Nothing came back yet: wait for the stream's next dispatch
            // (when the descriptor signals) or a millisecond.
            ::tokio::select! {
                _ = self.cpg.dispatched.notified() => {}
                _ = ::tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
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

    /// Runs `f` with the blocking handle.
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
                    nodes: n.nodes.to_vec(),
                });
            })
            .on_expected_votes(move |_, n| {
                let _ = t3.send(VotequorumEvent::ExpectedVotes(n.expected_votes));
            })
            .connect()?;
        vq.track_start(flags, 0)?;
        let vq = shared(vq);
        let events = Events::new(vq.clone(), rx)?;
        Ok((AsyncVotequorum { vq }, events))
    }

    /// Runs `f` with the blocking handle.
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

    /// Runs `f` with the blocking handle.
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

    /// Runs `f` with the blocking handle.
    pub fn with<R>(&self, f: impl FnOnce(&Cfg) -> R) -> R {
        f(&lock(&self.cfg))
    }

    /// Answers a shutdown request.
    pub fn reply_to_shutdown(&self, allow: bool) -> Result<()> {
        self.with(|c| c.reply_to_shutdown(allow))
    }
}
