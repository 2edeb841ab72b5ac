//! EVS, the extended virtual synchrony API that corosync dropped in 2.0,
//! rebuilt on CPG.
//!
//! An [`Evs`] handle joins any number of groups (32-byte keys, as `struct
//! evs_group`), multicasts to all the groups it joined or to any list of
//! groups, and receives every message addressed to at least one of its
//! groups, once, with the sender's node id. All EVS messages of all groups
//! travel through one CPG group, so totem gives them one agreed total order,
//! the same on every node, as it did for EVS. Configuration changes are
//! about nodes (from CPG's totem configuration changes).
//!
//! A member of two groups that says hello to both and runs callbacks until
//! its own hello comes back:
//!
//! ```
//! use corosync::evs::{Evs, EvsGroup};
//! use corosync::cpg::Guarantee;
//! use corosync::DispatchMode;
//! use std::io::IoSlice;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//!
//! let done = Arc::new(AtomicBool::new(false));
//! let hello_back = done.clone();
//! let evs = Evs::builder()
//!     .on_deliver(move |_evs, m| {
//!         println!("node {} to {} groups: {:?}", m.nodeid, m.groups.len(), m.data);
//!         if m.pid == std::process::id() {
//!             hello_back.store(true, Ordering::Relaxed);
//!         }
//!     })
//!     .on_confchg(|_evs, c| println!("members {:?}, left {:?}", c.members, c.left))
//!     .connect()?;
//! evs.join(&[EvsGroup::new("chat")?, EvsGroup::new("alerts")?])?;
//! evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(b"hello")])?;
//! while !done.load(Ordering::Relaxed) {
//!     evs.dispatch(DispatchMode::One)?;
//! }
//! # Ok::<(), corosync::Error>(())
//! ```
//!
//! # Guarantees
//!
//! As the EVS manual pages describe: `Agreed` is agreed order; `Fifo` is
//! "in fact the agreed guarantee"; `Unordered` is "unimplemented" in EVS and
//! is delivered in agreed order here (stronger); `Safe` (every processor
//! has the message before any delivers it) was never implemented and CPG
//! does not offer it, so it is [`Error::NotSupported`].
//!
//! # Wire format
//!
//! Each EVS message is one CPG message in the carrier group
//! ([`DEFAULT_CPG_GROUP`] unless [`EvsBuilder::cpg_group`] names another):
//! an 8-byte header (magic `cEVS`, version 1, the number of destination
//! groups), the 32-byte keys of those groups, then the payload.
//! `docs/EVS-ENVELOPE.md` in the repository defines every byte, with
//! examples, and what a receiver does with a message that is not a valid
//! envelope (drops it and counts it in [`Evs::dropped_messages`]).
//!
//! # One handle per process and node
//!
//! corosync lets a process be in a CPG group once, and every EVS handle is
//! a member of the one CPG group that carries EVS: a process can hold one
//! [`Evs`] per corosync daemon it talks to; a second one fails with
//! [`Error::Exist`]. One handle joins any number of EVS groups.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use crate::cpg::{message_len, Cpg, GroupName, Guarantee, MAX_BUFFERS, MAX_MESSAGE_LEN};
use crate::current::{enclosing, with_registered, Kind, Registered};
use crate::{Disconnected, DispatchMode, Error, NodeId, Reconnect, Result, RingId};

pub(crate) mod envelope;

pub use envelope::MAX_GROUPS;

/// The CPG group that carries EVS traffic, unless the builder names another.
pub const DEFAULT_CPG_GROUP: &[u8] = b"corosync-rs:evs";

/// An EVS group: a 32-byte key (`struct evs_group`). Shorter keys are padded
/// with NUL bytes, as C programs that `strcpy` a name into it do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct EvsGroup([u8; 32]);

impl EvsGroup {
    /// The size of a key.
    pub const LEN: usize = 32;

    /// A group from up to 32 bytes (padded with NULs).
    pub fn new(key: impl AsRef<[u8]>) -> Result<EvsGroup> {
        let key = key.as_ref();
        if key.len() > Self::LEN {
            return Err(Error::TooLong {
                what: "EVS group key",
                len: key.len(),
                max: Self::LEN,
            });
        }
        let mut raw = [0u8; 32];
        raw[..key.len()].copy_from_slice(key);
        Ok(EvsGroup(raw))
    }

    /// A group from its 32 raw bytes.
    pub const fn from_raw(raw: [u8; 32]) -> EvsGroup {
        EvsGroup(raw)
    }

    /// The 32 bytes of the key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for EvsGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        write!(f, "EvsGroup(\"{}\")", self.0[..end].escape_ascii())
    }
}

/// A delivered EVS message, borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EvsMessage<'a> {
    /// The sender's node.
    pub nodeid: NodeId,
    /// The sender's process id.
    pub pid: u32,
    /// The groups it was sent to (at least one of them is joined here).
    pub groups: &'a [EvsGroup],
    /// The payload.
    pub data: &'a [u8],
}

/// A change of the processors (nodes) in the configuration, borrowed for the
/// callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EvsConfChange<'a> {
    /// The nodes now in the configuration.
    pub members: &'a [NodeId],
    /// The nodes that left.
    pub left: &'a [NodeId],
    /// The nodes that joined (on the first change: every member).
    pub joined: &'a [NodeId],
    /// The new ring id.
    pub ring_id: RingId,
}

type DeliverFn = Box<dyn FnMut(&Evs, &EvsMessage<'_>) + Send>;
type ConfchgFn = Box<dyn FnMut(&Evs, &EvsConfChange<'_>) + Send>;
type ReconnectFn = Box<dyn FnMut(&Evs, &Disconnected) + Send>;

/// An EVS handle. Finalized on drop. `Send`, not `Sync`.
pub struct Evs {
    // (Its CPG connection's closures find the Evs through the current-
    // dispatch registry: Evs::dispatch registers it around the CPG dispatch.)
    // (First: the connection is finalized before the closures are dropped.)
    cpg: Cpg,
    joined: RefCell<Vec<EvsGroup>>,
    deliver: RefCell<Option<DeliverFn>>,
    confchg: RefCell<Option<ConfchgFn>>,
    reconnect: RefCell<Option<ReconnectFn>>,
    members: RefCell<Vec<NodeId>>,
    ring_id: Cell<RingId>,
    dropped: Cell<u64>,
    context: Cell<usize>,
}

impl Registered for Evs {
    const KIND: Kind = Kind::Evs;
}

/// Builds an [`Evs`] handle.
#[must_use = "a builder does nothing until connect() is called"]
pub struct EvsBuilder {
    deliver: Option<DeliverFn>,
    confchg: Option<ConfchgFn>,
    cpg_group: Vec<u8>,
    policy: Option<Reconnect>,
    reconnect: Option<ReconnectFn>,
}

impl Default for EvsBuilder {
    fn default() -> Self {
        EvsBuilder {
            deliver: None,
            confchg: None,
            cpg_group: DEFAULT_CPG_GROUP.to_vec(),
            policy: None,
            reconnect: None,
        }
    }
}

impl EvsBuilder {
    /// Called for every message sent to at least one joined group.
    pub fn on_deliver(mut self, f: impl FnMut(&Evs, &EvsMessage<'_>) + Send + 'static) -> Self {
        self.deliver = Some(Box::new(f));
        self
    }

    /// Called when nodes join or leave the configuration (and once with the
    /// initial configuration).
    pub fn on_confchg(mut self, f: impl FnMut(&Evs, &EvsConfChange<'_>) + Send + 'static) -> Self {
        self.confchg = Some(Box::new(f));
        self
    }

    /// The CPG group that carries the EVS traffic ([`DEFAULT_CPG_GROUP`]
    /// otherwise): programs that should not see each other's EVS groups
    /// can use different ones.
    pub fn cpg_group(mut self, name: impl AsRef<[u8]>) -> Self {
        self.cpg_group = name.as_ref().to_vec();
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, joins the carrier group again (the EVS groups joined stay
    /// joined), and reports it to [`EvsBuilder::on_reconnect`] before it
    /// returns; the configuration of the new connection follows. A
    /// multicast under way when the daemon dies, or made while it is down,
    /// answers [`Error::Library`] and is not sent again.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Called once per reconnection (see [`EvsBuilder::reconnect`]):
    /// messages and configuration changes of the time between may be
    /// missing.
    pub fn on_reconnect(mut self, f: impl FnMut(&Evs, &Disconnected) + Send + 'static) -> Self {
        self.reconnect = Some(Box::new(f));
        self
    }

    /// Connects to the local corosync and joins the EVS carrier group.
    pub fn connect(self) -> Result<Evs> {
        let group = GroupName::new(&self.cpg_group)?;
        let mut builder = Cpg::builder();
        if let Some(policy) = self.policy {
            builder = builder
                .reconnect(policy)
                .on_reconnect(|cpg, d| with_evs(cpg, |evs| evs.reconnected(d)));
        }
        let cpg = builder
            .deliver_initial_totem_conf(true)
            .on_deliver(|cpg, m| with_evs(cpg, |evs| evs.deliver(m.nodeid, m.pid, m.data)))
            .on_totem_confchg(|cpg, t| with_evs(cpg, |evs| evs.confchg(t.ring_id, t.members)))
            .connect()?;
        cpg.join(&group)?;
        Ok(Evs {
            cpg,
            joined: RefCell::new(Vec::new()),
            deliver: RefCell::new(self.deliver),
            confchg: RefCell::new(self.confchg),
            reconnect: RefCell::new(self.reconnect),
            members: RefCell::new(Vec::new()),
            ring_id: Cell::new(RingId::default()),
            dropped: Cell::new(0),
            context: Cell::new(0),
        })
    }
}

/// Runs `f` with the [`Evs`] whose CPG connection `cpg` called back.
fn with_evs(cpg: &Cpg, f: impl FnOnce(&Evs)) {
    // SAFETY: the reborrow is used only during this callback. The CPG
    // connection of an Evs is private, so it is only dispatched by
    // Evs::dispatch, which registers the Evs around it.
    if let Some(evs) = unsafe { enclosing::<Evs>(frame_key(cpg)) } {
        f(evs);
    }
}

/// What an [`Evs`] is registered under while it dispatches its CPG
/// connection: that connection's descriptor, which stays the same when it
/// reconnects (its C handle does not, and the reconnection is reported
/// inside the same dispatch).
fn frame_key(cpg: &Cpg) -> u64 {
    cpg.as_raw_fd() as u64
}

impl Evs {
    fn deliver(&self, nodeid: NodeId, pid: u32, data: &[u8]) {
        let Some((groups, payload)) = envelope::decode(data) else {
            self.dropped.set(self.dropped.get() + 1);
            return;
        };
        let wanted = {
            let joined = self.joined.borrow();
            groups.iter().any(|g| joined.contains(g))
        };
        if !wanted {
            return;
        }
        let Ok(mut slot) = self.deliver.try_borrow_mut() else {
            return;
        };
        if let Some(f) = slot.as_mut() {
            let message = EvsMessage {
                nodeid,
                pid,
                groups,
                data: payload,
            };
            f(self, &message);
        }
    }

    fn reconnected(&self, d: &Disconnected) {
        let Ok(mut slot) = self.reconnect.try_borrow_mut() else {
            return;
        };
        if let Some(f) = slot.as_mut() {
            f(self, d);
        }
    }

    fn confchg(&self, ring_id: RingId, members: &[NodeId]) {
        let (left, joined) = {
            let previous = self.members.borrow();
            let left: Vec<NodeId> = previous
                .iter()
                .copied()
                .filter(|n| !members.contains(n))
                .collect();
            let joined: Vec<NodeId> = members
                .iter()
                .copied()
                .filter(|n| !previous.contains(n))
                .collect();
            (left, joined)
        };
        *self.members.borrow_mut() = members.to_vec();
        self.ring_id.set(ring_id);
        let Ok(mut slot) = self.confchg.try_borrow_mut() else {
            return;
        };
        if let Some(f) = slot.as_mut() {
            let change = EvsConfChange {
                members,
                left: &left,
                joined: &joined,
                ring_id,
            };
            f(self, &change);
        }
    }
}

impl Evs {
    /// A builder, to set callbacks before connecting.
    pub fn builder() -> EvsBuilder {
        EvsBuilder::default()
    }

    /// Joins `groups` (already joined ones are left as they are). A handle
    /// is in at most [`MAX_GROUPS`] groups, the most one message can be
    /// addressed to; a join that would pass that is
    /// [`Error::InvalidInput`], and joins none of `groups`.
    pub fn join(&self, groups: &[EvsGroup]) -> Result<()> {
        let mut joined = self.joined.borrow_mut();
        let mut new: Vec<EvsGroup> = Vec::new();
        for g in groups {
            if !joined.contains(g) && !new.contains(g) {
                new.push(*g);
            }
        }
        if joined.len() + new.len() > MAX_GROUPS {
            return Err(Error::InvalidInput {
                what: "EVS join",
                reason: "a handle is in at most 128 groups (MAX_GROUPS)",
            });
        }
        joined.extend(new);
        Ok(())
    }

    /// Leaves `groups`; a group not joined is [`Error::NotJoined`] (and
    /// nothing is left).
    pub fn leave(&self, groups: &[EvsGroup]) -> Result<()> {
        let mut joined = self.joined.borrow_mut();
        if groups.iter().any(|g| !joined.contains(g)) {
            return Err(Error::NotJoined);
        }
        joined.retain(|g| !groups.contains(g));
        Ok(())
    }

    /// The groups this handle joined.
    pub fn joined(&self) -> Vec<EvsGroup> {
        self.joined.borrow().clone()
    }

    /// Multicasts the concatenation of `bufs` to every group this handle
    /// joined ([`Error::NotJoined`] when it joined none; at most
    /// [`MAX_GROUPS`]).
    pub fn mcast_joined(&self, guarantee: Guarantee, bufs: &[IoSlice<'_>]) -> Result<()> {
        let joined = self.joined.borrow();
        if joined.is_empty() {
            return Err(Error::NotJoined);
        }
        self.send(guarantee, &joined, bufs)
    }

    /// Multicasts the concatenation of `bufs` to `groups`, which this handle
    /// need not have joined (1 to [`MAX_GROUPS`] groups).
    pub fn mcast_groups(
        &self,
        guarantee: Guarantee,
        groups: &[EvsGroup],
        bufs: &[IoSlice<'_>],
    ) -> Result<()> {
        if groups.is_empty() {
            return Err(Error::InvalidInput {
                what: "EVS multicast",
                reason: "no destination group",
            });
        }
        self.send(guarantee, groups, bufs)
    }

    fn send(&self, guarantee: Guarantee, groups: &[EvsGroup], bufs: &[IoSlice<'_>]) -> Result<()> {
        if guarantee == Guarantee::Safe {
            return Err(Error::NotSupported);
        }
        if groups.len() > MAX_GROUPS {
            return Err(Error::InvalidInput {
                what: "EVS destination groups",
                reason: "a message goes to at most 128 groups (MAX_GROUPS)",
            });
        }
        if bufs.len() > MAX_BUFFERS - 2 {
            return Err(Error::TooManyBuffers {
                count: bufs.len(),
                max: MAX_BUFFERS - 2,
            });
        }
        // The envelope rides in the same CPG message: say what is left for
        // the payload, not what CPG carries.
        let envelope = envelope::HEADER_LEN + groups.len() * EvsGroup::LEN;
        let len = message_len(bufs)?;
        if len > MAX_MESSAGE_LEN - envelope {
            return Err(Error::MessageTooLarge {
                len,
                max: MAX_MESSAGE_LEN - envelope,
            });
        }
        let prefix = envelope::Prefix::new(groups);
        let mut iov = [IoSlice::new(&[]); MAX_BUFFERS];
        iov[..2].copy_from_slice(&prefix.slices());
        iov[2..2 + bufs.len()].copy_from_slice(bufs);
        self.cpg
            .mcast_vectored(Guarantee::Agreed, &iov[..2 + bufs.len()])
    }

    /// The local node id and the nodes of the configuration last reported
    /// (empty before the first configuration change was dispatched).
    pub fn membership(&self) -> Result<(NodeId, Vec<NodeId>)> {
        Ok((self.cpg.local_nodeid()?, self.members.borrow().clone()))
    }

    /// The ring id of the configuration last reported.
    pub fn ring_id(&self) -> RingId {
        self.ring_id.get()
    }

    /// How many messages in the carrier group were not valid EVS envelopes
    /// and were dropped.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped.get()
    }

    /// A value of the program's own, kept with the handle (the EVS API's
    /// `evs_context_set`; closures can carry state too).
    pub fn set_context(&self, context: usize) {
        self.context.set(context);
    }

    /// The value given to [`Evs::set_context`] (0 until then).
    pub fn context(&self) -> usize {
        self.context.get()
    }

    /// Runs the callbacks of pending events, as `mode` says (see
    /// [`Cpg::dispatch`]).
    pub fn dispatch(&self, mode: DispatchMode) -> Result<()> {
        with_registered(self, frame_key(&self.cpg), || self.cpg.dispatch(mode))
    }

    /// Runs the callbacks of at most `max` pending events (see
    /// [`Cpg::dispatch_some`]).
    pub fn dispatch_some(&self, max: usize) -> Result<usize> {
        with_registered(self, frame_key(&self.cpg), || self.cpg.dispatch_some(max))
    }

    /// Waits up to `timeout` for events and runs their callbacks (see
    /// [`Cpg::dispatch_timeout`]).
    pub fn dispatch_timeout(&self, timeout: Duration) -> Result<bool> {
        with_registered(self, frame_key(&self.cpg), || {
            self.cpg.dispatch_timeout(timeout)
        })
    }

    /// Finalizes the handle, returning the library's answer.
    pub fn finalize(self) -> Result<()> {
        self.cpg.finalize()
    }
}

impl fmt::Debug for Evs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evs")
            .field("joined", &self.joined.borrow())
            .finish_non_exhaustive()
    }
}

impl AsRawFd for Evs {
    fn as_raw_fd(&self) -> RawFd {
        self.cpg.as_raw_fd()
    }
}

impl AsFd for Evs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cpg.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_32_byte_keys() {
        let g = EvsGroup::new("chat").unwrap();
        assert_eq!(&g.as_bytes()[..5], b"chat\0");
        assert_eq!(g, EvsGroup::from_raw(*g.as_bytes()));
        assert!(EvsGroup::new([b'x'; 32]).is_ok());
        assert_eq!(
            EvsGroup::new([b'x'; 33]).unwrap_err(),
            Error::TooLong {
                what: "EVS group key",
                len: 33,
                max: 32
            }
        );
        assert_eq!(format!("{g:?}"), "EvsGroup(\"chat\")");
    }

    #[test]
    fn evs_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Evs>();
    }
}
