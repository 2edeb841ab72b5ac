//! The vote quorum service (libvotequorum): votes, expected votes, per-node
//! state, and the quorum device (qdevice) interface.
//!
//! ```
//! use corosync::votequorum::Votequorum;
//! use corosync::{DispatchMode, TrackFlags};
//!
//! let vq = Votequorum::builder()
//!     .on_quorum(|_vq, n| println!("quorate: {}, nodes: {:?}", n.quorate, n.nodes))
//!     .on_expected_votes(|_vq, n| println!("expected votes now {}", n.expected_votes))
//!     .connect()?;
//! let info = vq.local_info()?;
//! println!("node {} has {} of {} votes, quorum {}", info.nodeid, info.node_votes, info.total_votes, info.quorum);
//! // The current state comes at once, then every change: a service keeps
//! // dispatching; this program stops after the current state.
//! vq.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)?;
//! vq.dispatch(DispatchMode::One)?;
//! vq.track_stop()?;
//! # Ok::<(), corosync::Error>(())
//! ```
//!
//! # Newer corosync
//!
//! The quorum device's extra info (bytes a quorum device publishes for its
//! node, which every node keeps and reports) comes with corosync releases
//! after 3.1.10 (on its main branch; libvotequorum 8.1). Each part is
//! compiled in when the installed `votequorum.h` declares its function,
//! and left out otherwise (see [supported
//! versions](crate#supported-corosync-versions)):
//!
//! | item | needs | cfg flag |
//! | --- | --- | --- |
//! | `VotequorumBuilder::on_qdevice_extra_info`, `QdeviceExtraInfoNotification` | `votequorum_model_initialize` | `corosync_has_votequorum_model_initialize` |
//! | `Votequorum::qdevice_extra_info` | `votequorum_get_qdevice_extra_info` | `corosync_has_votequorum_get_qdevice_extra_info` |
//! | `Votequorum::set_qdevice_extra_info` | `votequorum_set_qdevice_extra_info` | `corosync_has_votequorum_set_qdevice_extra_info` |
//! | `MAX_QDEVICE_EXTRA_INFO_LEN` | either of the last two | either of the last two |
//!
//! [`InfoFlags::QDEVICE_HAS_EXTRA_INFO`] is always there; only those
//! releases set it.

use std::cell::Cell;
use std::ffi::CString;
use std::fmt;

use corosync_sys as sys;

use crate::c_args::slice_arg;
use crate::cell::CallbackCell;
use crate::current::{Kind, Registered};
use crate::error::check;
use crate::handle::{callback, Connection, Dispatch};
use crate::reconnect::{ReconnectFn, RideOptions, Rider, Rides, Slot};
use crate::{Disconnected, Error, NodeId, Reconnect, Result, RingId, TrackFlags};

/// The longest qdevice name, in bytes (`VOTEQUORUM_QDEVICE_MAX_NAME_LEN` - 1:
/// corosync keeps it NUL-terminated in 255 bytes).
pub const MAX_QDEVICE_NAME_LEN: usize = sys::VOTEQUORUM_QDEVICE_MAX_NAME_LEN as usize - 1;

/// The node id that stands for "this node" in [`Votequorum::info`],
/// [`Votequorum::set_votes`] and `Votequorum::qdevice_extra_info`
/// (`VOTEQUORUM_QDEVICE_NODEID`, 0).
pub const LOCAL_NODE: NodeId = NodeId::new(sys::VOTEQUORUM_QDEVICE_NODEID);

/// The most bytes of extra info a quorum device can set for its node
/// (`VOTEQUORUM_QDEVICE_EXTRA_NODEINFO_MAXSIZE`).
#[cfg(any(
    corosync_has_votequorum_get_qdevice_extra_info,
    corosync_has_votequorum_set_qdevice_extra_info
))]
pub const MAX_QDEVICE_EXTRA_INFO_LEN: usize = EXTRA_INFO_MAX;

// (A literal: bindings generated from headers without extra info lack the
// C constant, and the pure checks below are tested in every build.)
const EXTRA_INFO_MAX: usize = 4096;

bitflags::bitflags! {
    /// The flags of [`Info`] (`VOTEQUORUM_INFO_*`). Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct InfoFlags: u32 {
        /// `two_node` is configured.
        const TWO_NODE = sys::VOTEQUORUM_INFO_TWONODE;
        /// The cluster is quorate.
        const QUORATE = sys::VOTEQUORUM_INFO_QUORATE;
        /// `wait_for_all` is configured.
        const WAIT_FOR_ALL = sys::VOTEQUORUM_INFO_WAIT_FOR_ALL;
        /// `last_man_standing` is configured.
        const LAST_MAN_STANDING = sys::VOTEQUORUM_INFO_LAST_MAN_STANDING;
        /// `auto_tie_breaker` is configured.
        const AUTO_TIE_BREAKER = sys::VOTEQUORUM_INFO_AUTO_TIE_BREAKER;
        /// `allow_downscale` is configured.
        const ALLOW_DOWNSCALE = sys::VOTEQUORUM_INFO_ALLOW_DOWNSCALE;
        /// A quorum device is registered on the node.
        const QDEVICE_REGISTERED = sys::VOTEQUORUM_INFO_QDEVICE_REGISTERED;
        /// The node's quorum device is alive (it polls in time).
        const QDEVICE_ALIVE = sys::VOTEQUORUM_INFO_QDEVICE_ALIVE;
        /// The node's quorum device casts its vote.
        const QDEVICE_CAST_VOTE = sys::VOTEQUORUM_INFO_QDEVICE_CAST_VOTE;
        /// Master-wins mode of the quorum device is on.
        const QDEVICE_MASTER_WINS = sys::VOTEQUORUM_INFO_QDEVICE_MASTER_WINS;
        /// The node has quorum-device extra info
        /// (`VOTEQUORUM_INFO_QDEVICE_HAS_EXTRA_INFO`; set only by corosync
        /// releases after 3.1.10).
        const QDEVICE_HAS_EXTRA_INFO = 1024;
        const _ = !0;
    }
}

/// A node's state in votequorum (`VOTEQUORUM_NODESTATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeState {
    /// A member of the current membership.
    Member,
    /// Not in the membership.
    Dead,
    /// Leaving the cluster.
    Leaving,
    /// A value these bindings do not know.
    Unknown(u32),
}

impl NodeState {
    /// The state for a raw value.
    pub fn from_raw(raw: u32) -> NodeState {
        match raw {
            sys::VOTEQUORUM_NODESTATE_MEMBER => NodeState::Member,
            sys::VOTEQUORUM_NODESTATE_DEAD => NodeState::Dead,
            sys::VOTEQUORUM_NODESTATE_LEAVING => NodeState::Leaving,
            other => NodeState::Unknown(other),
        }
    }

    /// The raw value.
    pub fn as_raw(self) -> u32 {
        match self {
            NodeState::Member => sys::VOTEQUORUM_NODESTATE_MEMBER,
            NodeState::Dead => sys::VOTEQUORUM_NODESTATE_DEAD,
            NodeState::Leaving => sys::VOTEQUORUM_NODESTATE_LEAVING,
            NodeState::Unknown(raw) => raw,
        }
    }
}

/// What [`Votequorum::info`] reports about a node and the cluster
/// (`struct votequorum_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// The node.
    pub nodeid: NodeId,
    /// Its state.
    pub node_state: NodeState,
    /// Its votes.
    pub node_votes: u32,
    /// The expected votes it has.
    pub node_expected_votes: u32,
    /// The highest expected votes of the members.
    pub highest_expected: u32,
    /// The votes of the members (and of a quorum device that casts its vote).
    pub total_votes: u32,
    /// The votes needed for quorum.
    pub quorum: u32,
    /// Configuration and state flags.
    pub flags: InfoFlags,
    /// The quorum device's votes.
    pub qdevice_votes: u32,
    /// The quorum device's name (empty when none is registered).
    pub qdevice_name: Vec<u8>,
}

/// A node and its state in a quorum notification (`votequorum_node_t`).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Node(sys::votequorum_node_t);

impl Node {
    /// A node entry from its parts.
    pub fn new(nodeid: NodeId, state: NodeState) -> Node {
        Node(sys::votequorum_node_t {
            nodeid: nodeid.get(),
            state: state.as_raw(),
        })
    }

    /// The node.
    pub fn nodeid(&self) -> NodeId {
        NodeId::new(self.0.nodeid)
    }

    /// Its state.
    pub fn state(&self) -> NodeState {
        NodeState::from_raw(self.0.state)
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        (self.0.nodeid, self.0.state) == (other.0.nodeid, other.0.state)
    }
}

impl Eq for Node {}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:?}", self.0.nodeid, self.state())
    }
}

/// A quorum notification: quorate or not, and every node's state. Borrowed
/// for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct QuorumStatusNotification<'a> {
    /// Whether the cluster is quorate.
    pub quorate: bool,
    /// The nodes votequorum knows and their states.
    pub nodes: &'a [Node],
}

/// A node-list notification: the membership votequorum works with.
/// Borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MembershipNotification<'a> {
    /// The membership's ring id (what [`Votequorum::qdevice_poll`] needs).
    pub ring_id: RingId,
    /// The members.
    pub members: &'a [NodeId],
}

/// An expected-votes notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpectedVotesNotification {
    /// The new expected votes.
    pub expected_votes: u32,
}

/// A node's quorum-device extra info, as set by the quorum device on that
/// node; empty when it was cleared (an empty set, or the device
/// unregistered). Borrowed for the callback's duration.
#[cfg(corosync_has_votequorum_model_initialize)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QdeviceExtraInfoNotification<'a> {
    /// The node the extra info belongs to.
    pub nodeid: NodeId,
    /// The bytes (at most 4096).
    pub extra_info: &'a [u8],
}

/// The most entries a node list can hold (`PROCESSOR_COUNT_MAX`): counts
/// from the daemon above it are clamped rather than trusted.
const MAX_LIST: usize = 384;

type QuorumFn = Box<dyn FnMut(&Votequorum, &QuorumStatusNotification<'_>) + Send>;
type NodeListFn = Box<dyn FnMut(&Votequorum, &MembershipNotification<'_>) + Send>;
type ExpectedFn = Box<dyn FnMut(&Votequorum, &ExpectedVotesNotification) + Send>;
#[cfg(corosync_has_votequorum_model_initialize)]
type ExtraInfoFn = Box<dyn FnMut(&Votequorum, &QdeviceExtraInfoNotification<'_>) + Send>;

pub(crate) struct Callbacks {
    quorum: Option<QuorumFn>,
    nodelist: Option<NodeListFn>,
    expected: Option<ExpectedFn>,
    #[cfg(corosync_has_votequorum_model_initialize)]
    extra_info: Option<ExtraInfoFn>,
    reconnect: Option<ReconnectFn<Votequorum>>,
}

/// An event copied after a closure panicked, for the next dispatch.
pub(crate) enum Held {
    Quorum {
        quorate: bool,
        nodes: Vec<Node>,
    },
    NodeList {
        ring_id: RingId,
        members: Vec<NodeId>,
    },
    Expected(ExpectedVotesNotification),
    #[cfg(corosync_has_votequorum_model_initialize)]
    ExtraInfo {
        nodeid: NodeId,
        extra_info: Vec<u8>,
    },
    Reconnected(Disconnected),
}

/// Which callbacks a connection registers with libvotequorum, and so which
/// initialize it uses: kept to make the connection again the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Model {
    quorum: bool,
    expected: bool,
    nodelist: bool,
    /// `votequorum_model_initialize` with the extra-info callback.
    #[cfg(corosync_has_votequorum_model_initialize)]
    extra_info: bool,
}

/// Makes a libvotequorum connection with the callbacks `model` names.
fn open(model: Model) -> Result<Connection<VotequorumLib>> {
    #[cfg(corosync_has_votequorum_model_initialize)]
    if model.extra_info {
        let data = sys::votequorum_model_v1_data_t {
            model: sys::VOTEQUORUM_MODEL_V1,
            votequorum_quorum_notify_fn: model.quorum.then_some(quorum_trampoline as _),
            votequorum_expectedvotes_notify_fn: model.expected.then_some(expected_trampoline as _),
            votequorum_nodelist_notify_fn: model.nodelist.then_some(nodelist_trampoline as _),
            votequorum_qdevice_extra_info_fn: Some(extra_info_trampoline),
        };
        // SAFETY: valid pointers; the model struct is a
        // votequorum_model_v1_data_t naming model v1, which libvotequorum
        // copies.
        return Connection::<VotequorumLib>::open(|raw| unsafe {
            sys::votequorum_model_initialize(raw, &data)
        });
    }
    let mut callbacks = sys::votequorum_callbacks_t {
        votequorum_quorum_notify_fn: model.quorum.then_some(quorum_trampoline as _),
        votequorum_expectedvotes_notify_fn: model.expected.then_some(expected_trampoline as _),
        votequorum_nodelist_notify_fn: model.nodelist.then_some(nodelist_trampoline as _),
    };
    // SAFETY: valid pointers; libvotequorum copies the callbacks.
    Connection::<VotequorumLib>::open(|raw| unsafe {
        sys::votequorum_initialize(raw, &mut callbacks)
    })
}

crate::handle::library!(
    /// libvotequorum.
    VotequorumLib,
    "Votequorum",
    sys::votequorum_fd_get,
    sys::votequorum_dispatch,
    sys::votequorum_finalize
);

/// A connection to the votequorum service. Finalized on drop.
///
/// `Send` but not `Sync`: libvotequorum does not serialize concurrent
/// requests on one connection. `dispatch`, `dispatch_some`,
/// `dispatch_timeout`, `finalize` and the descriptor (`AsFd`) are the same
/// for every service (see [Conventions](crate#conventions)).
pub struct Votequorum {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Slot<VotequorumLib>,
    cell: CallbackCell<Callbacks, Held>,
    /// How the connection was made, to make it again.
    model: Model,
    /// The flags of the tracking started, until it is stopped.
    tracking: Cell<Option<TrackFlags>>,
    /// Whether and how it reconnects.
    rider: Rider,
}

/// Builds a [`Votequorum`] connection with its callbacks.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct VotequorumBuilder {
    quorum: Option<QuorumFn>,
    nodelist: Option<NodeListFn>,
    expected: Option<ExpectedFn>,
    #[cfg(corosync_has_votequorum_model_initialize)]
    extra_info: Option<ExtraInfoFn>,
    ride: RideOptions<Votequorum>,
}

impl VotequorumBuilder {
    /// Called with the quorate state and the nodes' states while tracking.
    pub fn on_quorum(
        mut self,
        f: impl FnMut(&Votequorum, &QuorumStatusNotification<'_>) + Send + 'static,
    ) -> Self {
        self.quorum = Some(Box::new(f));
        self
    }

    /// Called with the membership and its ring id while tracking.
    pub fn on_nodelist(
        mut self,
        f: impl FnMut(&Votequorum, &MembershipNotification<'_>) + Send + 'static,
    ) -> Self {
        self.nodelist = Some(Box::new(f));
        self
    }

    /// Called when the expected votes change, while tracking.
    pub fn on_expected_votes(
        mut self,
        f: impl FnMut(&Votequorum, &ExpectedVotesNotification) + Send + 'static,
    ) -> Self {
        self.expected = Some(Box::new(f));
        self
    }

    /// Called while tracking with a node's quorum-device extra info each
    /// time a quorum device sets or clears it
    /// (`Votequorum::set_qdevice_extra_info` on that node, or the device
    /// unregistering), and, after [`Votequorum::track_start`] with
    /// [`TrackFlags::CURRENT`] or [`TrackFlags::CHANGES`], once for each
    /// node that has some, after the quorum state.
    ///
    /// With it, [`VotequorumBuilder::connect`] uses
    /// `votequorum_model_initialize`. Needs a corosync release after
    /// 3.1.10: present when the installed `votequorum.h` declares that
    /// function.
    #[cfg(corosync_has_votequorum_model_initialize)]
    pub fn on_qdevice_extra_info(
        mut self,
        f: impl FnMut(&Votequorum, &QdeviceExtraInfoNotification<'_>) + Send + 'static,
    ) -> Self {
        self.extra_info = Some(Box::new(f));
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, with the same callbacks (and so the same initialize), starts
    /// tracking again if it was (with [`TrackFlags::CURRENT`] added, so the
    /// state now is reported), and reports it to
    /// [`VotequorumBuilder::on_reconnect`] before it returns. A quorum
    /// device registration is not made again: register it from
    /// `on_reconnect`.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.ride.policy(policy);
        self
    }

    /// Called once per reconnection (see [`VotequorumBuilder::reconnect`]),
    /// before the events of the new connection: changes of the time
    /// between may be missing.
    pub fn on_reconnect(
        mut self,
        f: impl FnMut(&Votequorum, &Disconnected) + Send + 'static,
    ) -> Self {
        self.ride.on_reconnect(Box::new(f));
        self
    }

    /// Reconnects from an async stream, not from `dispatch`.
    #[cfg(feature = "tokio")]
    pub(crate) fn stream_driven(mut self) -> Self {
        self.ride.stream_driven();
        self
    }

    /// Connects to the local corosync daemon.
    pub fn connect(self) -> Result<Votequorum> {
        let model = Model {
            quorum: self.quorum.is_some(),
            expected: self.expected.is_some(),
            nodelist: self.nodelist.is_some(),
            #[cfg(corosync_has_votequorum_model_initialize)]
            extra_info: self.extra_info.is_some(),
        };
        let conn = Slot::new(open(model)?, self.ride.reconnects())?;
        let (rider, reconnect) = self.ride.into_parts();
        Ok(Votequorum {
            conn,
            cell: CallbackCell::new(Callbacks {
                quorum: self.quorum,
                nodelist: self.nodelist,
                expected: self.expected,
                #[cfg(corosync_has_votequorum_model_initialize)]
                extra_info: self.extra_info,
                reconnect,
            }),
            model,
            tracking: Cell::new(None),
            rider,
        })
    }
}

/// A qdevice name as C wants it: 1 to 254 bytes, no NUL.
fn qdevice_name(name: &str) -> Result<CString> {
    if name.is_empty() {
        return Err(Error::InvalidInput {
            what: "qdevice name",
            reason: "it is empty",
        });
    }
    if name.len() > MAX_QDEVICE_NAME_LEN {
        return Err(Error::TooLong {
            what: "qdevice name",
            len: name.len(),
            max: MAX_QDEVICE_NAME_LEN,
        });
    }
    CString::new(name).map_err(|e| Error::InteriorNul {
        what: "qdevice name",
        position: e.nul_position(),
    })
}

/// Extra info as C takes it: its length, when within corosync's limit.
#[cfg_attr(not(corosync_has_votequorum_set_qdevice_extra_info), allow(dead_code))]
fn extra_info_len(extra_info: &[u8]) -> Result<u32> {
    if extra_info.len() > EXTRA_INFO_MAX {
        return Err(Error::TooLong {
            what: "qdevice extra info",
            len: extra_info.len(),
            max: EXTRA_INFO_MAX,
        });
    }
    // (At most 4096: it fits.)
    Ok(extra_info.len() as u32)
}

/// How many bytes of a received extra-info buffer to keep: the length
/// corosync gave, never more than the buffer holds.
#[cfg_attr(
    not(any(
        corosync_has_votequorum_get_qdevice_extra_info,
        corosync_has_votequorum_model_initialize
    )),
    allow(dead_code)
)]
fn extra_info_received(len: u32) -> usize {
    (len as usize).min(EXTRA_INFO_MAX)
}

impl Votequorum {
    /// A builder, to set callbacks before connecting.
    pub fn builder() -> VotequorumBuilder {
        VotequorumBuilder::default()
    }

    /// A connection with no callbacks.
    pub fn new() -> Result<Votequorum> {
        Votequorum::builder().connect()
    }

    fn raw(&self) -> sys::votequorum_handle_t {
        self.conn.raw()
    }

    /// The handle the C library uses, for calls the safe API does not cover.
    pub fn as_raw(&self) -> sys::votequorum_handle_t {
        self.raw()
    }

    /// What votequorum knows about `nodeid` ([`LOCAL_NODE`] for this node)
    /// and the cluster. An unknown node is [`Error::NotExist`].
    pub fn info(&self, nodeid: NodeId) -> Result<Info> {
        // SAFETY: an all-zero votequorum_info is valid.
        let mut raw: sys::votequorum_info = unsafe { std::mem::zeroed() };
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { sys::votequorum_getinfo(self.raw(), nodeid.get(), &mut raw) })?;
        let name: Vec<u8> = raw
            .qdevice_name
            .iter()
            .map(|&c| c as u8)
            .take_while(|&b| b != 0)
            .collect();
        Ok(Info {
            nodeid: NodeId::new(raw.node_id),
            node_state: NodeState::from_raw(raw.node_state),
            node_votes: raw.node_votes,
            node_expected_votes: raw.node_expected_votes,
            highest_expected: raw.highest_expected,
            total_votes: raw.total_votes,
            quorum: raw.quorum,
            flags: InfoFlags::from_bits_retain(raw.flags),
            qdevice_votes: raw.qdevice_votes,
            qdevice_name: name,
        })
    }

    /// [`Votequorum::info`] of this node.
    pub fn local_info(&self) -> Result<Info> {
        self.info(LOCAL_NODE)
    }

    /// Sets the expected votes of the cluster (every node follows).
    pub fn set_expected(&self, expected_votes: u32) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::votequorum_setexpected(self.raw(), expected_votes) })
    }

    /// Sets the votes of `nodeid` ([`LOCAL_NODE`] for this node).
    ///
    /// For `votequorum_setvotes` itself node id 0 means the quorum device,
    /// not this node (only `votequorum_getinfo` reads it as this node), so
    /// [`LOCAL_NODE`] is turned into this node's id first; the quorum
    /// device's votes have [`Votequorum::set_qdevice_votes`].
    pub fn set_votes(&self, nodeid: NodeId, votes: u32) -> Result<()> {
        let nodeid = if nodeid == LOCAL_NODE {
            self.local_info()?.nodeid
        } else {
            nodeid
        };
        // SAFETY: live handle.
        check(unsafe { sys::votequorum_setvotes(self.raw(), nodeid.get(), votes) })
    }

    /// Sets the votes of the quorum device, on every node
    /// (`votequorum_setvotes` with node id 0). As with node votes, corosync
    /// refuses a number that would leave the cluster without quorum.
    pub fn set_qdevice_votes(&self, votes: u32) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe {
            sys::votequorum_setvotes(self.raw(), sys::VOTEQUORUM_QDEVICE_NODEID, votes)
        })
    }

    /// Starts tracking: the callbacks run from [`Votequorum::dispatch`]
    /// with the current state ([`TrackFlags::CURRENT`]) and on changes.
    /// Flags with none of `CURRENT`, `CHANGES` and `CHANGES_ONLY` are
    /// [`Error::InvalidInput`]: nothing would come.
    pub fn track_start(&self, flags: TrackFlags) -> Result<()> {
        flags.check_reports()?;
        // SAFETY: live handle. (The C context argument is not used: closures
        // carry state.)
        check(unsafe { sys::votequorum_trackstart(self.raw(), 0, flags.as_raw().into()) })?;
        self.tracking.set(Some(flags));
        Ok(())
    }

    /// Stops tracking.
    pub fn track_stop(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::votequorum_trackstop(self.raw()) })?;
        self.tracking.set(None);
        Ok(())
    }

    /// Registers this connection as the node's quorum device `name`.
    pub fn qdevice_register(&self, name: &str) -> Result<()> {
        let name = qdevice_name(name)?;
        // SAFETY: live handle, NUL-terminated name within corosync's limit.
        check(unsafe { sys::votequorum_qdevice_register(self.raw(), name.as_ptr()) })
    }

    /// Unregisters the quorum device `name`.
    pub fn qdevice_unregister(&self, name: &str) -> Result<()> {
        let name = qdevice_name(name)?;
        // SAFETY: as in qdevice_register.
        check(unsafe { sys::votequorum_qdevice_unregister(self.raw(), name.as_ptr()) })
    }

    /// Renames the quorum device.
    pub fn qdevice_update(&self, old_name: &str, new_name: &str) -> Result<()> {
        let (old, new) = (qdevice_name(old_name)?, qdevice_name(new_name)?);
        // SAFETY: as in qdevice_register.
        check(unsafe { sys::votequorum_qdevice_update(self.raw(), old.as_ptr(), new.as_ptr()) })
    }

    /// Tells votequorum the quorum device is alive and whether it casts its
    /// vote, for the membership `ring_id` (from a node-list notification).
    /// A stale ring id is refused by corosync.
    pub fn qdevice_poll(&self, name: &str, cast_vote: bool, ring_id: RingId) -> Result<()> {
        let name = qdevice_name(name)?;
        let ring = sys::votequorum_ring_id_t {
            nodeid: ring_id.nodeid.get(),
            seq: ring_id.seq,
        };
        // SAFETY: as in qdevice_register.
        check(unsafe {
            sys::votequorum_qdevice_poll(self.raw(), name.as_ptr(), cast_vote.into(), ring)
        })
    }

    /// Turns the quorum device's master-wins mode on or off.
    pub fn qdevice_master_wins(&self, name: &str, allow: bool) -> Result<()> {
        let name = qdevice_name(name)?;
        // SAFETY: as in qdevice_register.
        check(unsafe {
            sys::votequorum_qdevice_master_wins(self.raw(), name.as_ptr(), allow.into())
        })
    }

    /// The quorum-device extra info of `nodeid` ([`LOCAL_NODE`] for this
    /// node): the bytes its quorum device last set, empty when none. An
    /// unknown node is [`Error::NotExist`]; [`Error::Access`] when corosync
    /// has turned quorum-device operations off (a configuration error).
    ///
    /// Asks [`Votequorum::info`] first, and the extra info only when that
    /// reports [`InfoFlags::QDEVICE_HAS_EXTRA_INFO`]. Needs a corosync
    /// release after 3.1.10: present when the installed `votequorum.h`
    /// declares `votequorum_get_qdevice_extra_info`.
    #[cfg(corosync_has_votequorum_get_qdevice_extra_info)]
    pub fn qdevice_extra_info(&self, nodeid: NodeId) -> Result<Vec<u8>> {
        // libvotequorum copies as many bytes as the answer's length field
        // says, and corosync leaves that field unset when it refuses
        // (unknown node, operations off): ask only for a node that exists
        // and has extra info. (corosync turning operations off between the
        // two calls is left: a configuration error at that very moment.)
        let info = self.info(nodeid)?;
        if !info.flags.contains(InfoFlags::QDEVICE_HAS_EXTRA_INFO) {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; EXTRA_INFO_MAX];
        let mut len: u32 = 0;
        // SAFETY: live handle; valid out-pointers, the buffer of the size
        // the header asks for (corosync stores and sends at most that).
        check(unsafe {
            sys::votequorum_get_qdevice_extra_info(
                self.raw(),
                info.nodeid.get(),
                &mut len,
                buf.as_mut_ptr().cast(),
            )
        })?;
        buf.truncate(extra_info_received(len));
        Ok(buf)
    }

    /// Sets this node's quorum-device extra info, which every node keeps
    /// and reports to the closures of
    /// `VotequorumBuilder::on_qdevice_extra_info`; empty clears it. Meant
    /// for the quorum device itself (corosync's manual: the first 4 bytes
    /// are a magic number naming the device type and data format).
    ///
    /// At most [`MAX_QDEVICE_EXTRA_INFO_LEN`] bytes, else
    /// [`Error::TooLong`] before anything is sent. corosync answers
    /// [`Error::NotExist`] when no quorum device is registered on this
    /// node ([`Votequorum::qdevice_register`], by any connection), and
    /// [`Error::Access`] when it has turned quorum-device operations off;
    /// unregistering the device clears the extra info. Needs a corosync
    /// release after 3.1.10: present when the installed `votequorum.h`
    /// declares `votequorum_set_qdevice_extra_info`.
    #[cfg(corosync_has_votequorum_set_qdevice_extra_info)]
    pub fn set_qdevice_extra_info(&self, extra_info: &[u8]) -> Result<()> {
        let len = extra_info_len(extra_info)?;
        // libvotequorum takes null as "no extra info".
        let ptr = if extra_info.is_empty() {
            std::ptr::null()
        } else {
            extra_info.as_ptr().cast()
        };
        // SAFETY: live handle; `len` bytes at `ptr` (null when none),
        // within corosync's limit; libvotequorum copies them.
        check(unsafe { sys::votequorum_set_qdevice_extra_info(self.raw(), len, ptr) })
    }
}

impl Rides for Votequorum {
    fn slot(&self) -> &Slot<VotequorumLib> {
        &self.conn
    }

    fn rider(&self) -> &Rider {
        &self.rider
    }

    /// Starts tracking on the new connection if this handle tracked.
    fn reopen(&self) -> Result<()> {
        let conn = open(self.model)?;
        if let Some(flags) = self.tracking.get() {
            let flags = flags | TrackFlags::CURRENT;
            // SAFETY: live handle. (On failure `conn` is finalized when
            // dropped.)
            check(unsafe { sys::votequorum_trackstart(conn.raw(), 0, flags.as_raw().into()) })?;
        }
        // SAFETY: inside the dispatch guard (the callers), outside any
        // callback or C call on this handle: no reference to the old
        // connection is alive.
        drop(unsafe { self.conn.replace(conn) }?);
        Ok(())
    }

    fn reconnect_fn(cb: &mut Callbacks) -> Option<&mut ReconnectFn<Votequorum>> {
        cb.reconnect.as_mut()
    }

    fn held(d: Disconnected) -> Held {
        Held::Reconnected(d)
    }
}

impl Registered for Votequorum {
    const KIND: Kind = Kind::Votequorum;
}

impl Dispatch for Votequorum {
    type Lib = VotequorumLib;
    type Callbacks = Callbacks;
    type Held = Held;

    fn connection(&self) -> &Connection<VotequorumLib> {
        self.conn.get()
    }

    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        self.recover_from(rc)
    }

    fn cell(&self) -> &CallbackCell<Callbacks, Held> {
        &self.cell
    }

    fn deliver_held(&self, cb: &mut Callbacks, event: Held) {
        match event {
            Held::Quorum { quorate, nodes } => on_quorum(
                self,
                cb,
                &QuorumStatusNotification {
                    quorate,
                    nodes: &nodes,
                },
            ),
            Held::NodeList { ring_id, members } => on_nodelist(
                self,
                cb,
                &MembershipNotification {
                    ring_id,
                    members: &members,
                },
            ),
            Held::Expected(n) => on_expected(self, cb, &n),
            #[cfg(corosync_has_votequorum_model_initialize)]
            Held::ExtraInfo { nodeid, extra_info } => on_extra_info(
                self,
                cb,
                &QdeviceExtraInfoNotification {
                    nodeid,
                    extra_info: &extra_info,
                },
            ),
            Held::Reconnected(d) => self.tell(cb, &d),
        }
    }
}

crate::handle::impl_handle!(Votequorum;);

fn on_quorum(vq: &Votequorum, cb: &mut Callbacks, n: &QuorumStatusNotification<'_>) {
    if let Some(f) = cb.quorum.as_mut() {
        f(vq, n);
    }
}

fn on_nodelist(vq: &Votequorum, cb: &mut Callbacks, n: &MembershipNotification<'_>) {
    if let Some(f) = cb.nodelist.as_mut() {
        f(vq, n);
    }
}

fn on_expected(vq: &Votequorum, cb: &mut Callbacks, n: &ExpectedVotesNotification) {
    if let Some(f) = cb.expected.as_mut() {
        f(vq, n);
    }
}

#[cfg(corosync_has_votequorum_model_initialize)]
fn on_extra_info(vq: &Votequorum, cb: &mut Callbacks, n: &QdeviceExtraInfoNotification<'_>) {
    if let Some(f) = cb.extra_info.as_mut() {
        f(vq, n);
    }
}

unsafe extern "C" fn quorum_trampoline(
    handle: sys::votequorum_handle_t,
    _context: u64,
    quorate: u32,
    entries: u32,
    nodes: *mut sys::votequorum_node_t,
) {
    // SAFETY: called from votequorum_dispatch with `entries` nodes at
    // `nodes`, valid for the call.
    let raw = unsafe { slice_arg(nodes.cast_const(), (entries as usize).min(MAX_LIST)) };
    // SAFETY: Node is repr(transparent) over votequorum_node_t.
    let nodes = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<Node>(), raw.len()) };
    let n = QuorumStatusNotification {
        quorate: quorate != 0,
        nodes,
    };
    // SAFETY: a libvotequorum callback.
    unsafe {
        callback::<Votequorum>(
            handle,
            |vq, cb| on_quorum(vq, cb, &n),
            || {
                Some(Held::Quorum {
                    quorate: n.quorate,
                    nodes: nodes.to_vec(),
                })
            },
        )
    }
}

unsafe extern "C" fn nodelist_trampoline(
    handle: sys::votequorum_handle_t,
    _context: u64,
    ring_id: sys::votequorum_ring_id_t,
    entries: u32,
    nodes: *mut u32,
) {
    // SAFETY: called from votequorum_dispatch with `entries` node ids at
    // `nodes`, valid for the call.
    let members = unsafe { slice_arg(nodes.cast_const(), (entries as usize).min(MAX_LIST)) };
    let n = MembershipNotification {
        ring_id: RingId::new(NodeId::new(ring_id.nodeid), ring_id.seq),
        members: NodeId::from_raw_slice(members),
    };
    // SAFETY: a libvotequorum callback.
    unsafe {
        callback::<Votequorum>(
            handle,
            |vq, cb| on_nodelist(vq, cb, &n),
            || {
                Some(Held::NodeList {
                    ring_id: n.ring_id,
                    members: n.members.to_vec(),
                })
            },
        )
    }
}

unsafe extern "C" fn expected_trampoline(
    handle: sys::votequorum_handle_t,
    _context: u64,
    expected_votes: u32,
) {
    let n = ExpectedVotesNotification { expected_votes };
    // SAFETY: called from votequorum_dispatch.
    unsafe {
        callback::<Votequorum>(
            handle,
            |vq, cb| on_expected(vq, cb, &n),
            || Some(Held::Expected(n)),
        )
    }
}

#[cfg(corosync_has_votequorum_model_initialize)]
unsafe extern "C" fn extra_info_trampoline(
    handle: sys::votequorum_handle_t,
    _context: u64,
    nodeid: u32,
    ei_size: u32,
    extra_info: *mut std::ffi::c_void,
) {
    // SAFETY: called from votequorum_dispatch with `ei_size` bytes at
    // `extra_info` (corosync sends at most 4096), valid for the call.
    let extra_info = unsafe {
        slice_arg(
            extra_info.cast_const().cast::<u8>(),
            extra_info_received(ei_size),
        )
    };
    let n = QdeviceExtraInfoNotification {
        nodeid: NodeId::new(nodeid),
        extra_info,
    };
    // SAFETY: a libvotequorum callback.
    unsafe {
        callback::<Votequorum>(
            handle,
            |vq, cb| on_extra_info(vq, cb, &n),
            || {
                Some(Held::ExtraInfo {
                    nodeid: n.nodeid,
                    extra_info: n.extra_info.to_vec(),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qdevice_names_are_checked() {
        assert!(qdevice_name("qdev").is_ok());
        assert!(qdevice_name(&"q".repeat(254)).is_ok());
        assert_eq!(
            qdevice_name(&"q".repeat(255)).unwrap_err(),
            Error::TooLong {
                what: "qdevice name",
                len: 255,
                max: 254
            }
        );
        assert!(matches!(qdevice_name(""), Err(Error::InvalidInput { .. })));
        assert_eq!(
            qdevice_name("a\0b").unwrap_err(),
            Error::InteriorNul {
                what: "qdevice name",
                position: 1
            }
        );
    }

    #[test]
    fn states_and_flags_keep_unknown_values() {
        for raw in 1..=3 {
            assert_eq!(NodeState::from_raw(raw).as_raw(), raw);
        }
        assert_eq!(NodeState::from_raw(9), NodeState::Unknown(9));
        let flags = InfoFlags::from_bits_retain(2 | 1 << 20);
        assert!(flags.contains(InfoFlags::QUORATE));
        assert_eq!(flags.bits(), 2 | 1 << 20);
        assert_eq!(InfoFlags::QDEVICE_MASTER_WINS.bits(), 512);
        assert_eq!(InfoFlags::QDEVICE_HAS_EXTRA_INFO.bits(), 1024);
    }

    #[test]
    fn extra_info_longer_than_corosync_takes_is_refused() {
        assert_eq!(extra_info_len(&[]), Ok(0));
        assert_eq!(extra_info_len(b"QDEV"), Ok(4));
        assert_eq!(extra_info_len(&[7; 4096]), Ok(4096));
        assert_eq!(
            extra_info_len(&[7; 4097]).unwrap_err(),
            Error::TooLong {
                what: "qdevice extra info",
                len: 4097,
                max: 4096
            }
        );
    }

    #[test]
    fn received_extra_info_is_kept_within_the_buffer() {
        assert_eq!(extra_info_received(0), 0);
        assert_eq!(extra_info_received(17), 17);
        assert_eq!(extra_info_received(4096), 4096);
        assert_eq!(extra_info_received(4097), 4096);
        assert_eq!(extra_info_received(u32::MAX), 4096);
    }

    /// The literals match the headers that have extra info.
    #[test]
    #[cfg(corosync_has_votequorum_get_qdevice_extra_info)]
    fn extra_info_constants_match_votequorum_h() {
        assert_eq!(
            MAX_QDEVICE_EXTRA_INFO_LEN,
            sys::VOTEQUORUM_QDEVICE_EXTRA_NODEINFO_MAXSIZE as usize
        );
        assert_eq!(
            InfoFlags::QDEVICE_HAS_EXTRA_INFO.bits(),
            sys::VOTEQUORUM_INFO_QDEVICE_HAS_EXTRA_INFO
        );
    }

    #[test]
    fn votequorum_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Votequorum>();
        assert_send::<VotequorumBuilder>();
    }
}
