//! The quorum adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, on_pool, request, shared, Events, Shared};
use crate::quorum::Quorum;
use crate::{Disconnected, NodeId, Reconnect, Result, RingId, TrackFlags};

impl_dispatch!(Quorum, reconnects);

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
    /// The connection was lost and made again, and tracking started again
    /// (only with [`AsyncQuorum::reconnecting`]): changes of the time
    /// between may be missing. The current state follows.
    Reconnected(Disconnected),
}

/// A quorum connection for async code; cheap to clone, all clones share
/// it.
#[derive(Clone)]
pub struct AsyncQuorum {
    quorum: Shared<Quorum>,
}

/// The stream of [`QuorumEvent`]s of an [`AsyncQuorum`].
pub type QuorumEvents = Events<Quorum, QuorumEvent>;

impl AsyncQuorum {
    /// Connects (awaited in a tokio runtime, else [`Error::NoRuntime`](crate::Error::NoRuntime))
    /// and starts tracking with `flags` ([`Quorum::track_start`]: flags
    /// that report nothing are refused). The requests are made on tokio's
    /// blocking pool (see "Requests" in the [module](super) docs).
    pub async fn connect(flags: TrackFlags) -> Result<(AsyncQuorum, QuorumEvents)> {
        on_pool(move || AsyncQuorum::connect_with(flags, None)).await
    }

    /// Connects as [`AsyncQuorum::connect`] does, and rides through
    /// restarts of the local daemon: when the connection is lost, the
    /// stream connects again as `policy` says (waiting on the runtime's
    /// timer, never on a thread), starts tracking again (with
    /// [`TrackFlags::CURRENT`] added) and yields
    /// [`QuorumEvent::Reconnected`], then the current state. When
    /// `policy`'s patience runs out, the stream yields the error and ends.
    pub async fn reconnecting(
        flags: TrackFlags,
        policy: Reconnect,
    ) -> Result<(AsyncQuorum, QuorumEvents)> {
        on_pool(move || AsyncQuorum::connect_with(flags, Some(policy))).await
    }

    fn connect_with(
        flags: TrackFlags,
        policy: Option<Reconnect>,
    ) -> Result<(AsyncQuorum, QuorumEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let t1 = tx.clone();
        let mut builder = Quorum::builder();
        if let Some(policy) = policy {
            let t0 = tx.clone();
            builder = builder
                .reconnect(policy)
                .stream_driven()
                .on_reconnect(move |_, d| {
                    let _ = t0.send(QuorumEvent::Reconnected(*d));
                });
        }
        let mut builder = builder.on_quorum(move |_, n| {
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

    /// Runs `f` with the blocking handle on the calling thread, once no
    /// other thread uses it (a request in progress included): for calls
    /// that ask the daemon nothing (see "Requests" in the [module](super)
    /// docs).
    pub fn with<R>(&self, f: impl FnOnce(&Quorum) -> R) -> R {
        f(&lock(&self.quorum))
    }

    /// Runs `f` with the blocking handle on tokio's blocking pool, once no
    /// other thread uses it, and returns what it returns: the runtime's
    /// worker awaits while the daemon answers (see "Requests" in the
    /// [module](super) docs). A panic in `f` resumes here.
    pub async fn request<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Quorum) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        request(&self.quorum, f).await
    }

    /// Whether the partition is quorate now ([`Quorum::is_quorate`], a
    /// request made on tokio's blocking pool).
    pub async fn is_quorate(&self) -> Result<bool> {
        self.request(Quorum::is_quorate).await
    }
}
