//! Node ids and ring ids.

use std::fmt;

/// A corosync node id (`nodeid` in corosync.conf's nodelist).
///
/// It has the layout of the `uint32_t` the C API uses, so node lists from
/// callbacks are lent out as `&[NodeId]` without copying.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(u32);

impl NodeId {
    /// The node id with this numeric value.
    #[inline]
    pub const fn new(raw: u32) -> Self {
        NodeId(raw)
    }

    /// The numeric value.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl NodeId {
    /// Views a C node list as node ids.
    #[inline]
    pub fn from_raw_slice(raw: &[u32]) -> &[NodeId] {
        // SAFETY: NodeId is repr(transparent) over u32, so the slices have
        // the same layout, length and lifetime.
        unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<NodeId>(), raw.len()) }
    }
}

impl From<u32> for NodeId {
    fn from(raw: u32) -> Self {
        NodeId(raw)
    }
}

impl From<NodeId> for u32 {
    fn from(id: NodeId) -> u32 {
        id.0
    }
}

impl fmt::Display for NodeId {
    /// Decimal, as corosync prints node ids (`CS_PRI_NODE_ID`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A totem ring id: the node that formed the membership and a sequence number
/// that grows with every new membership.
///
/// Ordered by sequence number first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RingId {
    /// The sequence number of the membership.
    pub seq: u64,
    /// The node that formed the membership (the ring's representative).
    pub nodeid: NodeId,
}

impl RingId {
    /// A ring id from its parts.
    pub const fn new(nodeid: NodeId, seq: u64) -> Self {
        RingId { seq, nodeid }
    }
}

impl PartialOrd for RingId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RingId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.seq, self.nodeid).cmp(&(other.seq, other.nodeid))
    }
}

impl fmt::Display for RingId {
    /// `nodeid.seq` in hexadecimal, as corosync prints ring ids
    /// (`CS_PRI_RING_ID`), e.g. `1.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}", self.nodeid.0, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_like_corosync() {
        assert_eq!(NodeId::new(3).to_string(), "3");
        assert_eq!(RingId::new(NodeId::new(1), 0x1c).to_string(), "1.1c");
        assert_eq!(RingId::new(NodeId::new(0x1a), 5).to_string(), "1a.5");
    }

    #[test]
    fn ring_ids_order_by_sequence() {
        let a = RingId::new(NodeId::new(9), 4);
        let b = RingId::new(NodeId::new(1), 8);
        assert!(a < b);
        assert_eq!(u32::from(NodeId::from(7)), 7);
    }
}
