//! What quorum tracking reports first, as `Quorum::track_start` documents
//! it: with `CURRENT` or `CHANGES`, the node list, then the quorum state,
//! both queued before `track_start` returns.

use std::sync::{Arc, Mutex};

use corosync::quorum::Quorum;
use corosync::{NodeId, RingId, TrackFlags};
use corosync_tests::{pump, Cluster, Node};

/// One notification, in the order the callbacks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    NodeList {
        ring_id: RingId,
        members: Vec<NodeId>,
        joined: Vec<NodeId>,
        left: Vec<NodeId>,
    },
    Quorum {
        quorate: bool,
        ring_id: RingId,
        members: Vec<NodeId>,
    },
}

/// A quorum handle on `node` that records both callbacks in one list.
fn recorder(node: &Node) -> (Quorum, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    let quorum = node
        .run(move || {
            Quorum::builder()
                .on_nodelist(move |_, n| {
                    a.lock().unwrap().push(Seen::NodeList {
                        ring_id: n.ring_id,
                        members: n.members.to_vec(),
                        joined: n.joined.to_vec(),
                        left: n.left.to_vec(),
                    })
                })
                .on_quorum(move |_, n| {
                    b.lock().unwrap().push(Seen::Quorum {
                        quorate: n.quorate,
                        ring_id: n.ring_id,
                        members: n.members.to_vec(),
                    })
                })
                .connect()
                .expect("quorum connect")
        })
        .expect("run on node 0");
    (quorum, seen)
}

#[test]
fn tracking_reports_the_node_list_first_then_the_quorum_state() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let me = vec![node.nodeid()];
    for flags in [TrackFlags::CURRENT, TrackFlags::CHANGES] {
        let (quorum, seen) = recorder(node);
        quorum.track_start(flags).expect("track_start");
        assert!(
            pump(&quorum, || seen.lock().unwrap().len() >= 2),
            "with {flags:?}: the first two notifications never came; saw {:?}",
            seen.lock().unwrap()
        );
        // Both were queued before track_start returned: nothing follows
        // them on a cluster that does not change.
        assert_eq!(quorum.dispatch_some(16), Ok(0), "with {flags:?}");
        let seen = seen.lock().unwrap().clone();
        let Some(Seen::Quorum { ring_id, .. }) = seen.get(1) else {
            panic!("with {flags:?}: the quorum state did not come second: {seen:?}");
        };
        let ring_id = *ring_id;
        assert_eq!(
            seen,
            [
                Seen::NodeList {
                    ring_id,
                    members: me.clone(),
                    joined: vec![],
                    left: vec![],
                },
                Seen::Quorum {
                    quorate: true,
                    ring_id,
                    members: me.clone(),
                },
            ],
            "with {flags:?}"
        );
        quorum.finalize().expect("finalize");
    }
}
