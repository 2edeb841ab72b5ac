//! Async adapters for tokio (cargo feature `tokio`).
//!
//! Each service's adapter is compiled when that service's feature is on
//! too: `AsyncCpg` with `cpg`, `AsyncQuorum` with `quorum`,
//! `AsyncVotequorum` with `votequorum`, `AsyncCmap` with `cmap` and
//! `AsyncCfg` with `cfg` (and corosync 3.1.1 or later, whose libcfg can
//! track shutdown requests). `tokio` itself adds only what they share, so
//! a program built with the features `cpg` and `tokio` links only libcpg.
//!
//! An adapter owns a handle of the blocking API behind a mutex and turns
//! its callbacks into owned events on a stream ([`Events`]; `CpgEvents`
//! for CPG). Await the next event with the stream's `next` method, or use
//! it as any [`Stream`](futures_core::Stream). Adapters are
//! `Clone + Send + Sync`; dropping the last clone of an adapter and its
//! stream finalizes the connection.
//!
//! A service that waits for its partition to be quorate before it starts
//! (the current state comes first, then every change):
//!
//! ```
//! # #[cfg(feature = "quorum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> corosync::Result<()> {
//! use corosync::tokio::{AsyncQuorum, QuorumEvent};
//! use corosync::TrackFlags;
//!
//! let flags = TrackFlags::CURRENT | TrackFlags::CHANGES;
//! let (_quorum, mut events) = AsyncQuorum::connect(flags).await?;
//! while let Some(event) = events.next().await {
//!     if let QuorumEvent::Quorum { quorate, .. } = event? {
//!         println!("quorate: {quorate}");
//!         if quorate {
//!             break;
//!         }
//!     }
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "quorum"))]
//! # fn main() {}
//! ```
//!
//! # Streams and readiness
//!
//! A stream follows the crate's rule for [event loops](crate#event-loops):
//! tokio's reactor is edge-triggered, so when the descriptor turns
//! readable the stream drains the handle with `dispatch_some`, a batch of
//! up to 64 events and more of that batch while a zero-timeout `poll`
//! still sees input; after a full batch it dispatches again without
//! waiting for readiness, once those events are consumed, and 1 ms after
//! any batch that produced events it looks again, readiness or not
//! (corosync often has the next ones by then).
//! Dispatching
//! happens on the task that polls the stream, at most one batch per poll,
//! so a backlog in corosync is read a batch at a time rather than into
//! memory at once. The mutex is never held across an `.await`, and no user
//! code runs while it is held (the callbacks only queue events).
//!
//! Streams are cancellation-safe: an event is queued before it is yielded,
//! so dropping a `next()` future loses nothing. When the daemon goes away
//! a stream yields the events it already read, one `Err` (usually
//! [`Error::Library`](crate::Error::Library)), and then ends. The events
//! are owned copies, as they outlive the dispatch call; a CPG message's
//! bytes come in a pooled buffer (`Payload`). The blocking API keeps its
//! zero-copy delivery.
//!
//! # Runtime
//!
//! The adapters' `async fn`s (`connect` among them) awaited outside a
//! tokio runtime answer [`Error::NoRuntime`](crate::Error::NoRuntime). The
//! runtime needs its IO and time drivers (`enable_all`): adapters register
//! with its reactor and use its timers, and, as with tokio's own types, a
//! connect awaited in a runtime without them panics.
//!
//! # Requests
//!
//! Streams and CPG sends never make a thread wait for another: when the
//! handle is busy on another thread they yield and come back. Every other
//! call that asks the daemon waits for its answer, usually for well under a
//! millisecond; a daemon that has died answers at once with an error, one
//! that hangs without dying (stopped with `SIGSTOP`, say) is waited for as
//! long as it hangs, as libcorosync sets no time limit (see
//! [when the daemon stops answering](crate#when-the-daemon-stops-answering)).
//! Where each call waits:
//!
//! - Every adapter method that asks the daemon is an `async fn` that asks
//!   it from tokio's blocking pool, holding the handle there: `connect`
//!   and `reconnecting`, `request(f)`, and the shorthands (`join`,
//!   `leave`, `membership`, `local_nodeid`, `is_quorate`, `track`,
//!   `untrack`, `reply_to_shutdown`). The runtime's worker awaits and runs
//!   other tasks. Bound the wait with `tokio::time::timeout`; the call
//!   itself goes on in the pool until the daemon answers, also when its
//!   future is dropped.
//! - Plain (not `async`) methods ask the daemon nothing: `send_window`,
//!   `set_send_window`, the streams' `buffered`, and `with(f)`, which runs
//!   `f` on the calling thread once the handle is free. A `with` that
//!   finds a request holding the handle waits for it on that thread, so
//!   keep it for calls that ask the daemon nothing, where no request is
//!   stuck.
//! - Dropping the last clone of an adapter and its stream inside a runtime
//!   finalizes the connection on the blocking pool.
//!
//! A CPG stream or send whose send window is past the event ring
//! (`AsyncCpg::set_send_window`) makes a request of its own now and then,
//! from tokio's blocking pool. While one is on its way it holds the
//! handle (the last reference to it, if the adapter and stream are
//! dropped meanwhile, so the connection is then finalized there), and a
//! runtime being shut down waits for it, as for any blocking task, also
//! if the daemon hangs.
//!
//! # Sends
//!
//! CPG sends wait out `TryAgain` (flow control, membership changes) with
//! an async back-off, and are paced by the task reading their stream: see
//! `AsyncCpg::send_window`. [`retry_async`] gives other calls the same
//! [`Retry`](crate::Retry) policies as the blocking [`Retry::run`](crate::Retry::run).

mod retry;
// (With `tokio` and no service, nothing uses the machinery.)
#[cfg_attr(
    not(any(
        feature = "cpg",
        feature = "quorum",
        feature = "votequorum",
        feature = "cmap",
        feature = "cfg"
    )),
    allow(dead_code, unused_imports, unused_macros)
)]
mod stream;

#[cfg(all(
    feature = "tokio",
    feature = "cfg",
    corosync_has_corosync_cfg_trackstart
))]
mod cfg;
#[cfg(all(feature = "tokio", feature = "cmap"))]
mod cmap;
#[cfg(all(feature = "tokio", feature = "cpg"))]
mod cpg;
#[cfg(all(feature = "tokio", feature = "quorum"))]
mod quorum;
#[cfg(all(feature = "tokio", feature = "votequorum"))]
mod votequorum;

pub use retry::retry_async;
pub use stream::{Dispatch, Events};

#[cfg(all(
    feature = "tokio",
    feature = "cfg",
    corosync_has_corosync_cfg_trackstart
))]
pub use cfg::{AsyncCfg, CfgEvent, CfgEvents};
#[cfg(all(feature = "tokio", feature = "cmap"))]
pub use cmap::{AsyncCmap, CmapEvent, CmapEvents, ReconnectingCmapEvent, ReconnectingCmapEvents};
#[cfg(all(feature = "tokio", feature = "cpg"))]
pub use cpg::{send_policy, AsyncCpg, CpgEvent, CpgEvents, Payload};
#[cfg(all(feature = "tokio", feature = "quorum"))]
pub use quorum::{AsyncQuorum, QuorumEvent, QuorumEvents};
#[cfg(all(feature = "tokio", feature = "votequorum"))]
pub use votequorum::{AsyncVotequorum, VotequorumEvent, VotequorumEvents};
