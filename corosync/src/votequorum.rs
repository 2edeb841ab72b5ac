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

use std::ffi::CString;
use std::fmt;

use corosync_sys as sys;

use crate::c_args::slice_arg;
use crate::cell::CallbackCell;
use crate::current::{Kind, Registered};
use crate::error::check;
use crate::handle::{callback, Connection, Dispatch};
use crate::{Error, NodeId, Result, RingId, TrackFlags};

/// The longest qdevice name, in bytes (`VOTEQUORUM_QDEVICE_MAX_NAME_LEN` - 1:
/// corosync keeps it NUL-terminated in 255 bytes).
pub const MAX_QDEVICE_NAME_LEN: usize = sys::VOTEQUORUM_QDEVICE_MAX_NAME_LEN as usize - 1;

/// The node id that stands for "this node" in [`Votequorum::info`] and
/// [`Votequorum::set_votes`] (`VOTEQUORUM_QDEVICE_NODEID`, 0).
pub const LOCAL_NODE: NodeId = NodeId::new(sys::VOTEQUORUM_QDEVICE_NODEID);

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

/// The most entries a node list can hold (`PROCESSOR_COUNT_MAX`): counts
/// from the daemon above it are clamped rather than trusted.
const MAX_LIST: usize = 384;

type QuorumFn = Box<dyn FnMut(&Votequorum, &QuorumStatusNotification<'_>) + Send>;
type NodeListFn = Box<dyn FnMut(&Votequorum, &MembershipNotification<'_>) + Send>;
type ExpectedFn = Box<dyn FnMut(&Votequorum, &ExpectedVotesNotification) + Send>;

pub(crate) struct Callbacks {
    quorum: Option<QuorumFn>,
    nodelist: Option<NodeListFn>,
    expected: Option<ExpectedFn>,
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
    conn: Connection<VotequorumLib>,
    cell: CallbackCell<Callbacks, Held>,
}

/// Builds a [`Votequorum`] connection with its callbacks.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct VotequorumBuilder {
    quorum: Option<QuorumFn>,
    nodelist: Option<NodeListFn>,
    expected: Option<ExpectedFn>,
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

    /// Connects to the local corosync daemon.
    pub fn connect(self) -> Result<Votequorum> {
        let mut callbacks = sys::votequorum_callbacks_t {
            votequorum_quorum_notify_fn: self.quorum.as_ref().map(|_| quorum_trampoline as _),
            votequorum_expectedvotes_notify_fn: self
                .expected
                .as_ref()
                .map(|_| expected_trampoline as _),
            votequorum_nodelist_notify_fn: self.nodelist.as_ref().map(|_| nodelist_trampoline as _),
        };
        // SAFETY: valid pointers; libvotequorum copies the callbacks.
        let conn = Connection::<VotequorumLib>::open(|raw| unsafe {
            sys::votequorum_initialize(raw, &mut callbacks)
        })?;
        Ok(Votequorum {
            conn,
            cell: CallbackCell::new(Callbacks {
                quorum: self.quorum,
                nodelist: self.nodelist,
                expected: self.expected,
            }),
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
        check(unsafe { sys::votequorum_trackstart(self.raw(), 0, flags.as_raw().into()) })
    }

    /// Stops tracking.
    pub fn track_stop(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::votequorum_trackstop(self.raw()) })
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
}

impl Registered for Votequorum {
    const KIND: Kind = Kind::Votequorum;
}

impl Dispatch for Votequorum {
    type Lib = VotequorumLib;
    type Callbacks = Callbacks;
    type Held = Held;

    fn connection(&self) -> &Connection<VotequorumLib> {
        &self.conn
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
    }

    #[test]
    fn votequorum_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Votequorum>();
    }
}
