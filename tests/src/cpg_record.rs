//! A CPG handle that records everything its callbacks see, for tests that
//! check deliveries and configuration changes after the fact.

use std::sync::{Arc, Mutex};

use corosync::cpg::{Address, ConfChange, Cpg, GroupName};
use corosync::{NodeId, RingId};

use crate::Node;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The group it was sent to.
    pub group: GroupName,
    /// The sender's node.
    pub nodeid: NodeId,
    /// The sender's process.
    pub pid: u32,
    /// The payload.
    pub data: Vec<u8>,
}

/// One configuration change of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The group.
    pub group: GroupName,
    /// Its members after the change.
    pub members: Vec<Address>,
    /// Who left, with why.
    pub left: Vec<Address>,
    /// Who joined, with why.
    pub joined: Vec<Address>,
}

/// One totem configuration change (a new ring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotemChange {
    /// The new ring's id.
    pub ring_id: RingId,
    /// The nodes in it.
    pub members: Vec<NodeId>,
}

/// What a recording handle's callbacks saw, each list in the order of the
/// callbacks.
#[derive(Debug, Default)]
pub struct CpgRecord {
    /// Every delivered message.
    pub messages: Vec<Delivery>,
    /// Every configuration change.
    pub confchgs: Vec<Change>,
    /// Every totem configuration change.
    pub totem: Vec<TotemChange>,
}

/// A [`CpgRecord`] shared between a handle's callbacks and the test.
pub type SharedRecord = Arc<Mutex<CpgRecord>>;

/// A CPG handle connected to the daemon of the calling thread's namespace
/// (run it on a node), whose callbacks append to `record`. It has joined no
/// group.
pub fn recording_cpg(record: &SharedRecord) -> Cpg {
    let (a, b, c) = (record.clone(), record.clone(), record.clone());
    Cpg::builder()
        .on_deliver(move |_, m| {
            a.lock().unwrap().messages.push(Delivery {
                group: *m.group,
                nodeid: m.nodeid,
                pid: m.pid,
                data: m.data.to_vec(),
            })
        })
        .on_confchg(move |_, ch: &ConfChange<'_>| {
            b.lock().unwrap().confchgs.push(Change {
                group: *ch.group,
                members: ch.members.to_vec(),
                left: ch.left.to_vec(),
                joined: ch.joined.to_vec(),
            })
        })
        .on_totem_confchg(move |_, t| {
            c.lock().unwrap().totem.push(TotemChange {
                ring_id: t.ring_id,
                members: t.members.to_vec(),
            })
        })
        .connect()
        .expect("cpg connect")
}

/// A recording handle on `node`, joined to `group`, and its record.
pub fn recording_member(node: &Node, group: &GroupName) -> (Cpg, SharedRecord) {
    let record = SharedRecord::default();
    let cpg = crate::on_node(node, || {
        let cpg = recording_cpg(&record);
        cpg.join(group).expect("cpg join");
        cpg
    });
    (cpg, record)
}
