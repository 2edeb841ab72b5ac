//! The values CPG events and sends carry: delivery guarantees, reasons,
//! member addresses, and the borrowed views the closures get.

use std::fmt;

use corosync_sys as sys;

use super::GroupName;
use crate::{NodeId, RingId};

/// The delivery guarantee of a multicast (`cpg_guarantee_t`).
///
/// corosync 3 delivers every CPG message in agreed order: `Unordered` and
/// `Safe` are accepted but not implemented by the daemon, and `Fifo` is the
/// same as `Agreed` (see cpg.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Guarantee {
    /// `CPG_TYPE_UNORDERED` (delivered as agreed).
    Unordered,
    /// `CPG_TYPE_FIFO` (same as agreed).
    Fifo,
    /// `CPG_TYPE_AGREED`: one total order on every node.
    #[default]
    Agreed,
    /// `CPG_TYPE_SAFE` (delivered as agreed).
    Safe,
}

impl Guarantee {
    /// The `cpg_guarantee_t` value.
    #[inline]
    pub fn as_raw(self) -> sys::cpg_guarantee_t {
        match self {
            Guarantee::Unordered => sys::CPG_TYPE_UNORDERED,
            Guarantee::Fifo => sys::CPG_TYPE_FIFO,
            Guarantee::Agreed => sys::CPG_TYPE_AGREED,
            Guarantee::Safe => sys::CPG_TYPE_SAFE,
        }
    }
}

/// Why a process is in a configuration change list (`cpg_reason_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `CPG_REASON_UNDEFINED` (members of the current membership).
    Undefined,
    /// `CPG_REASON_JOIN`: the process joined the group.
    Join,
    /// `CPG_REASON_LEAVE`: the process left the group.
    Leave,
    /// `CPG_REASON_NODEDOWN`: the process's node left the membership.
    NodeDown,
    /// `CPG_REASON_NODEUP`: the process's node joined the membership.
    NodeUp,
    /// `CPG_REASON_PROCDOWN`: the process ended (or lost its connection)
    /// without leaving.
    ProcDown,
    /// A value these bindings do not know.
    Unknown(u32),
}

impl Reason {
    /// The reason for a raw `cpg_reason_t`.
    pub fn from_raw(raw: u32) -> Reason {
        match raw {
            // (`CPG_REASON_UNDEFINED`, 0, is in cpg.h from corosync 3.0.2.)
            0 => Reason::Undefined,
            sys::CPG_REASON_JOIN => Reason::Join,
            sys::CPG_REASON_LEAVE => Reason::Leave,
            sys::CPG_REASON_NODEDOWN => Reason::NodeDown,
            sys::CPG_REASON_NODEUP => Reason::NodeUp,
            sys::CPG_REASON_PROCDOWN => Reason::ProcDown,
            other => Reason::Unknown(other),
        }
    }

    /// The raw `cpg_reason_t`.
    pub fn as_raw(self) -> u32 {
        match self {
            Reason::Undefined => 0,
            Reason::Join => sys::CPG_REASON_JOIN,
            Reason::Leave => sys::CPG_REASON_LEAVE,
            Reason::NodeDown => sys::CPG_REASON_NODEDOWN,
            Reason::NodeUp => sys::CPG_REASON_NODEUP,
            Reason::ProcDown => sys::CPG_REASON_PROCDOWN,
            Reason::Unknown(raw) => raw,
        }
    }
}

/// A group member: node id, process id and, in configuration changes, why
/// it is listed (`struct cpg_address`).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Address(sys::cpg_address);

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Address {}

impl std::hash::Hash for Address {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Address {
    /// An address from its parts.
    pub fn new(nodeid: NodeId, pid: u32, reason: Reason) -> Address {
        Address(sys::cpg_address {
            nodeid: nodeid.get(),
            pid,
            reason: reason.as_raw(),
        })
    }

    /// The member's node.
    pub fn nodeid(&self) -> NodeId {
        NodeId::new(self.0.nodeid)
    }

    /// The member's process id on its node.
    pub fn pid(&self) -> u32 {
        self.0.pid
    }

    /// Why it is listed.
    pub fn reason(&self) -> Reason {
        Reason::from_raw(self.0.reason)
    }

    /// The C struct.
    pub fn as_raw(&self) -> &sys::cpg_address {
        &self.0
    }

    fn key(&self) -> (u32, u32, u32) {
        (self.0.nodeid, self.0.pid, self.0.reason)
    }

    #[inline]
    pub(super) fn from_raw_slice(raw: &[sys::cpg_address]) -> &[Address] {
        // SAFETY: Address is repr(transparent) over cpg_address.
        unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<Address>(), raw.len()) }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Address")
            .field("nodeid", &self.0.nodeid)
            .field("pid", &self.0.pid)
            .field("reason", &self.reason())
            .finish()
    }
}

/// A delivered message, borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Message<'a> {
    /// The group it was sent to.
    pub group: &'a GroupName,
    /// The sender's node.
    pub nodeid: NodeId,
    /// The sender's process id.
    pub pid: u32,
    /// The payload, exactly as sent.
    pub data: &'a [u8],
}

/// A change of a group's membership, borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConfChange<'a> {
    /// The group.
    pub group: &'a GroupName,
    /// The members after the change.
    pub members: &'a [Address],
    /// The members that left, with the reason.
    pub left: &'a [Address],
    /// The members that joined, with the reason.
    pub joined: &'a [Address],
}

/// A change of the totem membership (the nodes of the cluster), borrowed
/// for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TotemConfChange<'a> {
    /// The new ring id; its sequence number grows with every membership.
    pub ring_id: RingId,
    /// The nodes of the new membership.
    pub members: &'a [NodeId],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_keep_unknown_values() {
        for raw in 0..=5 {
            assert_eq!(Reason::from_raw(raw).as_raw(), raw);
            assert!(!matches!(Reason::from_raw(raw), Reason::Unknown(_)));
        }
        assert_eq!(Reason::from_raw(1), Reason::Join);
        assert_eq!(Reason::from_raw(5), Reason::ProcDown);
        assert_eq!(Reason::from_raw(77), Reason::Unknown(77));
        assert_eq!(Reason::Unknown(77).as_raw(), 77);
    }

    #[test]
    fn guarantees_match_cpg_h() {
        assert_eq!(Guarantee::Unordered.as_raw(), 0);
        assert_eq!(Guarantee::Fifo.as_raw(), 1);
        assert_eq!(Guarantee::Agreed.as_raw(), 2);
        assert_eq!(Guarantee::Safe.as_raw(), 3);
        assert_eq!(Guarantee::default(), Guarantee::Agreed);
    }

    #[test]
    fn addresses_view_the_c_struct() {
        let a = Address::new(NodeId::new(3), 42, Reason::NodeUp);
        assert_eq!(
            (a.nodeid(), a.pid(), a.reason()),
            (NodeId::new(3), 42, Reason::NodeUp)
        );
        assert_eq!(a.as_raw().reason, 4);
        assert_eq!(std::mem::size_of::<Address>(), 12);
    }
}
