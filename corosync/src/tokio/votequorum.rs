//! The votequorum adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, on_pool, request, shared, Events, Shared};
use crate::votequorum::{NodeState, Votequorum};
use crate::{Disconnected, NodeId, Reconnect, Result, RingId, TrackFlags};

impl_dispatch!(Votequorum, reconnects);

/// An owned votequorum event. Non-exhaustive: newer corosync releases add
/// events (`QdeviceExtraInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
        members: Vec<NodeId>,
    },
    /// The expected votes changed.
    ExpectedVotes(u32),
    /// A node's quorum-device extra info, set or cleared (empty); see
    /// `VotequorumBuilder::on_qdevice_extra_info`. Needs a corosync release
    /// after 3.1.10: present when the installed `votequorum.h` declares
    /// `votequorum_model_initialize`.
    #[cfg(corosync_has_votequorum_model_initialize)]
    QdeviceExtraInfo {
        /// The node the extra info belongs to.
        nodeid: NodeId,
        /// The bytes.
        extra_info: Vec<u8>,
    },
    /// The connection was lost and made again, and tracking started again
    /// (only with [`AsyncVotequorum::reconnecting`]): changes of the time
    /// between may be missing. The current state follows.
    Reconnected(Disconnected),
}

/// A votequorum connection for async code; cheap to clone, all clones
/// share it.
#[derive(Clone)]
pub struct AsyncVotequorum {
    vq: Shared<Votequorum>,
}

/// The stream of [`VotequorumEvent`]s of an [`AsyncVotequorum`].
pub type VotequorumEvents = Events<Votequorum, VotequorumEvent>;

impl AsyncVotequorum {
    /// Connects (awaited in a tokio runtime, else [`Error::NoRuntime`](crate::Error::NoRuntime))
    /// and starts tracking with `flags` ([`Votequorum::track_start`]:
    /// flags that report nothing are refused). Every event of the blocking
    /// builder's closures comes, the quorum-device extra info too where
    /// the crate has it (then with `votequorum_model_initialize`). The
    /// requests are made on tokio's blocking pool (see "Requests" in the
    /// [module](super) docs).
    pub async fn connect(flags: TrackFlags) -> Result<(AsyncVotequorum, VotequorumEvents)> {
        on_pool(move || AsyncVotequorum::connect_with(flags, None)).await
    }

    /// Connects as [`AsyncVotequorum::connect`] does, and rides through
    /// restarts of the local daemon: when the connection is lost, the
    /// stream connects again as `policy` says (waiting on the runtime's
    /// timer, never on a thread), starts tracking again (with
    /// [`TrackFlags::CURRENT`] added) and yields
    /// [`VotequorumEvent::Reconnected`], then the current state. When
    /// `policy`'s patience runs out, the stream yields the error and ends.
    pub async fn reconnecting(
        flags: TrackFlags,
        policy: Reconnect,
    ) -> Result<(AsyncVotequorum, VotequorumEvents)> {
        on_pool(move || AsyncVotequorum::connect_with(flags, Some(policy))).await
    }

    fn connect_with(
        flags: TrackFlags,
        policy: Option<Reconnect>,
    ) -> Result<(AsyncVotequorum, VotequorumEvents)> {
        in_runtime()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx.clone());
        let mut builder = Votequorum::builder();
        if let Some(policy) = policy {
            let t0 = tx.clone();
            builder = builder
                .reconnect(policy)
                .stream_driven()
                .on_reconnect(move |_, d| {
                    let _ = t0.send(VotequorumEvent::Reconnected(*d));
                });
        }
        let builder = builder
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
                    members: n.members.to_vec(),
                });
            })
            .on_expected_votes(move |_, n| {
                let _ = t3.send(VotequorumEvent::ExpectedVotes(n.expected_votes));
            });
        #[cfg(corosync_has_votequorum_model_initialize)]
        let builder = builder.on_qdevice_extra_info(move |_, n| {
            let _ = tx.send(VotequorumEvent::QdeviceExtraInfo {
                nodeid: n.nodeid,
                extra_info: n.extra_info.to_vec(),
            });
        });
        let vq = builder.connect()?;
        vq.track_start(flags)?;
        let vq = shared(vq);
        let events = Events::new(vq.clone(), rx)?;
        Ok((AsyncVotequorum { vq }, events))
    }

    /// Runs `f` with the blocking handle on the calling thread, once no
    /// other thread uses it (a request in progress included): for calls
    /// that ask the daemon nothing (see "Requests" in the [module](super)
    /// docs).
    pub fn with<R>(&self, f: impl FnOnce(&Votequorum) -> R) -> R {
        f(&lock(&self.vq))
    }

    /// Runs `f` with the blocking handle on tokio's blocking pool, once no
    /// other thread uses it, and returns what it returns: the runtime's
    /// worker awaits while the daemon answers (see "Requests" in the
    /// [module](super) docs). A panic in `f` resumes here.
    pub async fn request<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Votequorum) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        request(&self.vq, f).await
    }
}
