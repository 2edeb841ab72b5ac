//! The votequorum adapter.

use ::tokio::sync::mpsc;

use super::stream::{impl_dispatch, in_runtime, lock, shared, Events, Shared};
use crate::votequorum::{NodeState, Votequorum};
use crate::{NodeId, Result, RingId, TrackFlags};

impl_dispatch!(Votequorum);

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
        members: Vec<NodeId>,
    },
    /// The expected votes changed.
    ExpectedVotes(u32),
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
    /// Connects (inside a tokio runtime, else [`Error::NoRuntime`](crate::Error::NoRuntime))
    /// and starts tracking with `flags` ([`Votequorum::track_start`]:
    /// flags that report nothing are refused).
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
                    members: n.members.to_vec(),
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
    /// other thread uses it (see "Requests" in the [module](super) docs).
    pub fn with<R>(&self, f: impl FnOnce(&Votequorum) -> R) -> R {
        f(&lock(&self.vq))
    }
}
