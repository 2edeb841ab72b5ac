//! The CPG adapter: the stream, and sends paced by a send window.
//!
//! Only CPG paces its sender: its stream takes every yielded message of
//! the handle's own off the [send window](AsyncCpg::send_window), and
//! wakes corosync when the window lets it hold some of them back
//! ([`SendWindow::may_hold_ours`]).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::sync::mpsc;
use futures_core::Stream;

mod payload;
mod send;
mod window;

pub use payload::Payload;
pub use send::send_policy;

use payload::Recycler;
use window::SendWindow;

use super::stream::{
    impl_dispatch, in_runtime, lock, on_pool, request, shared, try_lock, Events, Shared,
};
use crate::cpg::{event_size, Address, Cpg, GroupName};
use crate::{Disconnected, NodeId, Reconnect, Result, RingId};

impl_dispatch!(Cpg, reconnects);

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
    /// The connection was lost and made again, and the group joined again
    /// (only with [`AsyncCpg::reconnecting`]): messages and membership
    /// changes of the time between may be missing. The events of the new
    /// connection follow, starting with the group's membership.
    Reconnected(Disconnected),
}

impl CpgEvent {
    /// What the event takes off `window` when the stream yields it: the
    /// bytes of the handle's own message (zero for anything else), and
    /// those of any event.
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

/// A CPG connection for async code; cheap to clone, all clones share it
/// (and its send window).
#[derive(Clone)]
pub struct AsyncCpg {
    cpg: Shared<Cpg>,
    window: Arc<SendWindow>,
    /// The largest message libcpg sends without fragments.
    atomic: usize,
}

/// The stream of [`CpgEvent`]s of an [`AsyncCpg`]; await it with
/// [`CpgEvents::next`] (or through [`Stream`]).
///
/// Reading it is what lets the handle's sends go on: its own messages
/// count against the [send window](AsyncCpg::send_window) until this
/// stream yields them.
pub struct CpgEvents {
    events: Events<Cpg, CpgEvent>,
    window: Arc<SendWindow>,
}

impl CpgEvents {
    /// The next event; `None` once the stream has ended. After a failure
    /// of the connection, the events read before it, one `Err`, then the
    /// end.
    ///
    /// Cancellation-safe: an event is queued before it is yielded, so
    /// dropping this future (in a `select!`, say) loses nothing.
    pub async fn next(&mut self) -> Option<Result<CpgEvent>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// How many events the stream holds: read from corosync, not yet
    /// yielded. A stream reads at most 64 at a time when it holds none,
    /// and a send waiting for its window stops reading while the stream
    /// holds a window's worth, so this stays within about a window's worth
    /// of events unless nobody reads the stream. (A plain read, no
    /// request.)
    pub fn buffered(&self) -> usize {
        self.events.buffered()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<CpgEvent>>> {
        let window = &self.window;
        let polled = self
            .events
            .poll_event(cx, |cpg, result| nudge_if_owed(window, cpg, result));
        if let Poll::Ready(Some(Ok(event))) = &polled {
            let (own, all) = event.weight(window);
            window.yielded(own, all);
        }
        polled
    }
}

impl Stream for CpgEvents {
    type Item = Result<CpgEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<CpgEvent>>> {
        // (Every field is Unpin.)
        self.get_mut().poll_event(cx)
    }
}

impl Drop for CpgEvents {
    fn drop(&mut self) {
        // Nothing more will be consumed: senders stop waiting for it.
        // Under the handle's lock when it is free, so that no dispatch in
        // progress counts a message into the stream after this. (When
        // another thread holds it, not waiting for it: at worst a dispatch
        // counts a few messages that senders then stop waiting for after
        // a stall.)
        let window = &self.window;
        let _handle = try_lock(self.events.handle());
        window.stream_gone.store(true, Ordering::Relaxed);
        window.queued.store(0, Ordering::Relaxed);
        window.in_stream.store(0, Ordering::Relaxed);
        window.consumed.notify_waiters();
    }
}

/// Wakes corosync's main loop: any request does, and this is the cheapest
/// (the answer is not needed; a failure shows at the next dispatch).
fn nudge(cpg: &Cpg) {
    let _ = cpg.local_nodeid();
}

/// After a dispatch that read the ring dry (`result`), by the stream or by
/// a send waiting for its window, wakes corosync if it may hold more of
/// this handle's own messages in its out-queue: with a window past the
/// ring, a sender that has finished leaves them there, and nothing else
/// may wake corosync for 50 ms. The request goes to the blocking pool, as
/// the adapters make no requests on a runtime thread (a daemon that does
/// not answer would hold it up; a stream or send then finds the handle
/// taken and waits for it as for any request); one at a time.
fn nudge_if_owed(window: &Arc<SendWindow>, cpg: &Shared<Cpg>, result: &Result<usize>) {
    if !window.may_hold_ours(result) {
        return;
    }
    // (Outside a runtime context, as when a stream is polled by another
    // executor, nothing is sent.)
    let Ok(runtime) = ::tokio::runtime::Handle::try_current() else {
        return;
    };
    if window.nudging.swap(true, Ordering::Relaxed) {
        return;
    }
    /// Lets the next nudge go, also if the runtime drops the task unrun.
    struct Nudging(Arc<SendWindow>);
    impl Drop for Nudging {
        fn drop(&mut self) {
            self.0.nudging.store(false, Ordering::Relaxed);
        }
    }
    let nudging = Nudging(window.clone());
    let shared = cpg.clone();
    drop(runtime.spawn_blocking(move || {
        let cpg = lock(&shared);
        nudge(&cpg);
        // Let go under the lock: a dispatch that then finds a nudge on its
        // way read the ring before this request went out, so this request
        // is the one that refills it.
        drop(nudging);
        drop(cpg);
    }));
}

impl AsyncCpg {
    /// Connects (awaited in a tokio runtime, else
    /// [`Error::NoRuntime`](crate::Error::NoRuntime)), with the initial
    /// totem configuration reported after the first join. The requests are
    /// made on tokio's blocking pool (see "Requests" in the
    /// [module](super) docs).
    ///
    /// Saying hello and printing what the group says until the hello
    /// comes back:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> corosync::Result<()> {
    /// use corosync::cpg::{GroupName, Guarantee};
    /// use corosync::tokio::{AsyncCpg, CpgEvent};
    ///
    /// let (cpg, mut events) = AsyncCpg::connect().await?;
    /// cpg.join(&GroupName::new("my-service")?).await?;
    /// cpg.mcast(Guarantee::Agreed, b"hello").await?;
    /// while let Some(event) = events.next().await {
    ///     if let CpgEvent::Message { nodeid, pid, data, .. } = event? {
    ///         println!("{nodeid}: {data:?}");
    ///         if pid == std::process::id() {
    ///             break;
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect() -> Result<(AsyncCpg, CpgEvents)> {
        on_pool(|| AsyncCpg::connect_with(None)).await
    }

    /// Connects as [`AsyncCpg::connect`] does, and rides through restarts
    /// of the local daemon: when the connection is lost, the stream
    /// connects again as `policy` says (a try, then waits on the runtime's
    /// timer, never on a thread), joins the group again and yields
    /// [`CpgEvent::Reconnected`]; calls made while it is down answer
    /// [`Error::Library`](crate::Error::Library), and so do sends under way
    /// when the daemon died (waiting for the send window or out flow
    /// control), which are not sent again. When `policy`'s patience runs
    /// out, the stream yields the error and ends.
    pub async fn reconnecting(policy: Reconnect) -> Result<(AsyncCpg, CpgEvents)> {
        on_pool(move || AsyncCpg::connect_with(Some(policy))).await
    }

    fn connect_with(policy: Option<Reconnect>) -> Result<(AsyncCpg, CpgEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx);
        let window = Arc::new(SendWindow::new(std::process::id()));
        let (w1, w2, w3, w4) = (
            window.clone(),
            window.clone(),
            window.clone(),
            window.clone(),
        );
        let mut recycler = Recycler::new();
        // A connection is in one group at a time: its messages share the
        // name, allocated when it changes.
        let mut msg_group: Option<Arc<GroupName>> = None;
        let mut builder = Cpg::builder();
        if let Some(policy) = policy {
            builder = builder
                .reconnect(policy)
                .stream_driven()
                .on_reconnect(move |_, d| {
                    // What was on its way back is lost with the connection.
                    w4.reset();
                    let _ = t4.send(CpgEvent::Reconnected(*d));
                });
        }
        let cpg = builder
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
        let events = CpgEvents {
            events: Events::new(cpg.clone(), rx)?,
            window: window.clone(),
        };
        Ok((
            AsyncCpg {
                cpg,
                window,
                atomic,
            },
            events,
        ))
    }

    /// Runs `f` with the blocking handle on the calling thread, once no
    /// other thread uses it (a request in progress included): for calls
    /// that ask the daemon nothing (see "Requests" in the [module](super)
    /// docs).
    pub fn with<R>(&self, f: impl FnOnce(&Cpg) -> R) -> R {
        f(&lock(&self.cpg))
    }

    /// Runs `f` with the blocking handle on tokio's blocking pool, once no
    /// other thread uses it, and returns what it returns: the runtime's
    /// worker awaits while the daemon answers (see "Requests" in the
    /// [module](super) docs). A panic in `f` resumes here.
    pub async fn request<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Cpg) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        request(&self.cpg, f).await
    }

    /// Joins `group` ([`Cpg::join`]): a connection that has left a group
    /// cannot join again ([`Error::RejoinAfterLeave`](crate::Error::RejoinAfterLeave),
    /// refused at once); connect a new one. A request made on tokio's
    /// blocking pool.
    pub async fn join(&self, group: &GroupName) -> Result<()> {
        let group = *group;
        self.request(move |c| c.join(&group)).await
    }

    /// Leaves `group` ([`Cpg::leave`]): this connection cannot join a group
    /// again afterwards. A request made on tokio's blocking pool.
    pub async fn leave(&self, group: &GroupName) -> Result<()> {
        let group = *group;
        let window = self.window.clone();
        self.request(move |c| {
            c.leave(&group)?;
            window.reset();
            Ok(())
        })
        .await
    }

    /// The members of `group` ([`Cpg::membership`], a request made on
    /// tokio's blocking pool).
    pub async fn membership(&self, group: &GroupName) -> Result<Vec<Address>> {
        let group = *group;
        self.request(move |c| c.membership(&group)).await
    }

    /// The local node id ([`Cpg::local_nodeid`], a request made on tokio's
    /// blocking pool).
    pub async fn local_nodeid(&self) -> Result<NodeId> {
        self.request(Cpg::local_nodeid).await
    }

    /// How many bytes of this handle's own multicasts may be on their way
    /// back to it (sent, and not yet yielded by its stream) before a send
    /// waits. Each message counts what its event takes in the event ring:
    /// its length rounded up to 4 bytes, plus 192 bytes of libcpg's and
    /// libqb's headers. Other members' messages and membership events do
    /// not count. All clones share the window. (A plain read, no request.)
    ///
    /// By default it is the size of the event ring between corosync and
    /// this connection ([`Cpg::max_atomic_msgsize`] plus 1 KiB, so 1 MiB
    /// with corosync's usual build): the largest window with which
    /// corosync need not hold this connection's own messages in its
    /// out-queue.
    ///
    /// A send that does not fit (unless nothing is on the way) moves the
    /// events corosync has queued into the stream, while the stream holds
    /// less than a window's worth of events (anyone's) or nobody reads it,
    /// and waits until all of its own messages have come back, for a
    /// second at most; then waiting sends go out while they fit. When the
    /// waits see nothing read for about 20 ms, what waits in the stream
    /// stops counting until the stream yields again, so a task may send a
    /// batch and read it back afterwards.
    pub fn send_window(&self) -> usize {
        self.window.limit.load(Ordering::Relaxed)
    }

    /// Sets the [send window](Self::send_window) of this connection (all
    /// its clones), in bytes counted as `send_window` says, for sends from
    /// now on (sends already waiting go out once the window has drained and
    /// they fit in the new one). A plain store, no request.
    ///
    /// Keep the default unless a measurement of your cluster says
    /// otherwise: a larger window can raise or lower throughput depending
    /// on the cluster and the message size (BENCHMARKS.md in the source
    /// repository has the numbers). What a window past the ring costs:
    /// corosync keeps up to `bytes` minus the ring of this connection's
    /// messages in its out-queue, the stream may hold up to `bytes` of
    /// events its reader has yet to take, and the adapter makes a request
    /// to wake corosync (one at a time, from tokio's blocking pool)
    /// whenever the ring runs dry while some of its messages are still in
    /// corosync.
    ///
    /// `0` sends one message at a time (a message always goes out when
    /// nothing else is on the way). `usize::MAX` means no window: only
    /// corosync's own flow control holds a sender back, and a sender that
    /// outruns its reader grows the daemon without bound.
    pub fn set_send_window(&self, bytes: usize) {
        self.window.limit.store(bytes, Ordering::Relaxed);
    }
}
