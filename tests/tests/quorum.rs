//! Quorum and votequorum on a real three-node cluster: losing and regaining
//! quorum, votes and expected votes, and the qdevice interface.

use std::sync::{Arc, Mutex};

use corosync::quorum::{Quorum, QuorumType};
use corosync::votequorum::{InfoFlags, NodeState, Votequorum, LOCAL_NODE};
use corosync::{DispatchMode, Error, NodeId, RingId, TrackFlags};
use corosync_tests::bounded::{returns_within, NO_HANG};
use corosync_tests::events::WAIT;
use corosync_tests::{node_ids, pump, Cluster, Node};

/// A node-list change: ring id, members, joined, left.
type NodeListChange = (RingId, Vec<NodeId>, Vec<NodeId>, Vec<NodeId>);

#[derive(Default, Debug)]
struct QuorumSeen {
    /// (quorate, ring id, members)
    quorum: Vec<(bool, RingId, Vec<NodeId>)>,
    /// (ring id, members, joined, left)
    nodelist: Vec<NodeListChange>,
}

fn tracker(node: &Node, legacy: bool) -> (Quorum, Arc<Mutex<QuorumSeen>>) {
    let seen = Arc::new(Mutex::new(QuorumSeen::default()));
    let (a, b) = (seen.clone(), seen.clone());
    let quorum = node
        .run(move || {
            let mut builder = Quorum::builder()
                .legacy_initialize(legacy)
                .on_quorum(move |_, n| {
                    let mut members = n.members.to_vec();
                    members.sort();
                    a.lock()
                        .unwrap()
                        .quorum
                        .push((n.quorate, n.ring_id, members))
                });
            if !legacy {
                builder = builder.on_nodelist(move |_, n| {
                    let sorted = |l: &[NodeId]| {
                        let mut v = l.to_vec();
                        v.sort();
                        v
                    };
                    b.lock().unwrap().nodelist.push((
                        n.ring_id,
                        sorted(n.members),
                        sorted(n.joined),
                        sorted(n.left),
                    ))
                });
            }
            let q = builder.connect().unwrap();
            q.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)
                .unwrap();
            q
        })
        .unwrap();
    (quorum, seen)
}

fn wait_quorum(q: &Quorum, seen: &Mutex<QuorumSeen>, quorate: bool, members: &[u32]) {
    let want = node_ids(members);
    let ok = pump(q, || {
        seen.lock()
            .unwrap()
            .quorum
            .last()
            .is_some_and(|(qu, _, m)| *qu == quorate && *m == want)
    });
    assert!(
        ok,
        "never saw quorate={quorate} members={members:?}: {:?}",
        seen.lock().unwrap().quorum
    );
}

#[test]
fn losing_and_regaining_quorum_is_reported_on_every_surviving_node() {
    let mut cluster = Cluster::new(3).expect("cluster");
    for node in cluster.nodes() {
        let (quorate, kind) = node
            .run(|| {
                let q = Quorum::new().unwrap();
                (q.is_quorate().unwrap(), q.quorum_type())
            })
            .unwrap();
        assert!(quorate);
        assert_eq!(kind, QuorumType::SET);
    }
    let (q1, s1) = tracker(cluster.node(0), false);
    let (q2, s2) = tracker(cluster.node(1), false);
    let (legacy, sl) = tracker(cluster.node(0), true);
    wait_quorum(&q1, &s1, true, &[1, 2, 3]);
    wait_quorum(&q2, &s2, true, &[1, 2, 3]);
    wait_quorum(&legacy, &sl, true, &[1, 2, 3]);

    // One node down: still quorate (2 of 3 votes).
    cluster.kill(2).unwrap();
    wait_quorum(&q1, &s1, true, &[1, 2]);
    wait_quorum(&q2, &s2, true, &[1, 2]);
    wait_quorum(&legacy, &sl, true, &[1, 2]);
    // votequorum keeps the dead node's last expected votes, while the
    // highest expected votes are the members': lowering them to 2 on the
    // survivors makes the two differ for node 3.
    let vq1 = cluster.node(0).run(Votequorum::new).unwrap().unwrap();
    vq1.set_expected(2).unwrap();
    cluster
        .wait_until("expected votes 2 on node 1", WAIT, || {
            Ok(vq1.local_info()?.node_expected_votes == 2)
        })
        .unwrap();
    let dead = vq1.info(NodeId::new(3)).unwrap();
    assert_eq!(dead.node_state, NodeState::Dead);
    assert_eq!(
        (
            dead.node_expected_votes,
            dead.highest_expected,
            dead.total_votes
        ),
        (3, 2, 2)
    );
    vq1.set_expected(3).unwrap();
    drop(vq1);
    // Two down: node 1 alone is not quorate.
    cluster.kill(1).unwrap();
    wait_quorum(&q1, &s1, false, &[1]);
    wait_quorum(&legacy, &sl, false, &[1]);
    assert!(!q1.is_quorate().unwrap());
    // They come back: quorate again.
    cluster.restart(1).unwrap();
    wait_quorum(&q1, &s1, true, &[1, 2]);
    cluster.restart(2).unwrap();
    wait_quorum(&q1, &s1, true, &[1, 2, 3]);
    wait_quorum(&legacy, &sl, true, &[1, 2, 3]);
    assert!(q1.is_quorate().unwrap());

    let seen = s1.lock().unwrap();
    // Ring ids grow with every membership.
    for pair in seen.quorum.windows(2) {
        assert!(
            pair[1].1 > pair[0].1,
            "ring ids must grow: {:?}",
            seen.quorum
        );
    }
    // The node-list callback names exactly who joined and left.
    let changes: Vec<(Vec<NodeId>, Vec<NodeId>, Vec<NodeId>)> = seen
        .nodelist
        .iter()
        .map(|(_, m, j, l)| (m.clone(), j.clone(), l.clone()))
        .collect();
    let expected = [
        (node_ids(&[1, 2]), node_ids(&[]), node_ids(&[3])),
        (node_ids(&[1]), node_ids(&[]), node_ids(&[2])),
        (node_ids(&[1, 2]), node_ids(&[2]), node_ids(&[])),
        (node_ids(&[1, 2, 3]), node_ids(&[3]), node_ids(&[])),
    ];
    for want in &expected {
        assert!(
            changes.contains(want),
            "missing node-list change {want:?} in {changes:?}"
        );
    }
    let ring_ids: Vec<RingId> = seen.nodelist.iter().map(|(r, ..)| *r).collect();
    assert!(ring_ids.windows(2).all(|w| w[1] > w[0]), "{ring_ids:?}");
    // The old API reports the sequence number only.
    assert!(sl
        .lock()
        .unwrap()
        .quorum
        .iter()
        .all(|(_, r, _)| r.nodeid == NodeId::new(0) && r.seq > 0));
    drop(q2);
}

#[derive(Default)]
struct VqSeen {
    expected: Vec<u32>,
    quorum: Vec<(bool, Vec<(NodeId, NodeState)>)>,
    rings: Vec<RingId>,
}

fn vq_tracker(node: &Node) -> (Votequorum, Arc<Mutex<VqSeen>>) {
    let seen = Arc::new(Mutex::new(VqSeen::default()));
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let vq = node
        .run(move || {
            let vq = Votequorum::builder()
                .on_expected_votes(move |_, n| a.lock().unwrap().expected.push(n.expected_votes))
                .on_quorum(move |_, n| {
                    let nodes = n.nodes.iter().map(|s| (s.nodeid(), s.state())).collect();
                    b.lock().unwrap().quorum.push((n.quorate, nodes))
                })
                .on_nodelist(move |_, n| c.lock().unwrap().rings.push(n.ring_id))
                .connect()
                .unwrap();
            vq.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)
                .unwrap();
            vq
        })
        .unwrap();
    (vq, seen)
}

#[test]
fn votequorum_info_votes_expected_votes_and_qdevice() {
    let cluster = Cluster::new(3).expect("cluster");
    let trackers: Vec<_> = cluster.nodes().iter().map(vq_tracker).collect();
    for (vq, seen) in &trackers {
        assert!(pump(vq, || seen
            .lock()
            .unwrap()
            .quorum
            .last()
            .is_some_and(|(q, n)| *q && n.len() == 3)));
    }
    let (vq1, seen1) = &trackers[0];

    // getinfo matches the configuration on every node, for every node.
    for (i, (vq, _)) in trackers.iter().enumerate() {
        let local = vq.local_info().unwrap();
        assert_eq!(local.nodeid, NodeId::new(i as u32 + 1));
        for id in 1..=3 {
            let info = vq.info(NodeId::new(id)).unwrap();
            assert_eq!(info.nodeid, NodeId::new(id));
            assert_eq!(info.node_state, NodeState::Member);
            assert_eq!((info.node_votes, info.node_expected_votes), (1, 3));
            assert_eq!(
                (info.highest_expected, info.total_votes, info.quorum),
                (3, 3, 2)
            );
            assert!(info.flags.contains(InfoFlags::QUORATE));
            assert!(!info
                .flags
                .intersects(InfoFlags::TWO_NODE | InfoFlags::WAIT_FOR_ALL));
            assert!(info.qdevice_name.is_empty());
        }
    }
    assert_eq!(vq1.info(NodeId::new(99)), Err(Error::NotExist));

    // Raising expected votes raises quorum, on every node.
    vq1.set_expected(5).unwrap();
    for (vq, seen) in &trackers {
        assert!(
            pump(vq, || seen.lock().unwrap().expected.contains(&5)),
            "expected-votes callback"
        );
        let info = vq.local_info().unwrap();
        assert_eq!((info.node_expected_votes, info.quorum), (5, 3));
        assert!(
            info.flags.contains(InfoFlags::QUORATE),
            "3 votes of 5 still make quorum"
        );
    }
    vq1.set_expected(3).unwrap();
    assert!(pump(vq1, || seen1.lock().unwrap().expected.last() == Some(&3)));

    // Votes of another node, set from node 1.
    vq1.set_votes(NodeId::new(2), 2).unwrap();
    let ok = pump(vq1, || {
        vq1.info(NodeId::new(2))
            .map(|i| i.node_votes == 2)
            .unwrap_or(false)
    });
    assert!(ok);
    // Seen on node 3 too, once the change has gone round.
    let vq3 = &trackers[2].0;
    assert!(pump(vq3, || vq3
        .info(NodeId::new(2))
        .map(|i| i.node_votes == 2)
        .unwrap_or(false)));
    assert_eq!(vq3.local_info().unwrap().total_votes, 4);
    vq1.set_votes(NodeId::new(2), 1).unwrap();

    // A quorum device on node 1: registered, polled, master-wins, renamed,
    // unregistered.
    let name = "rust-qdevice";
    vq1.qdevice_register(name).unwrap();
    let flags = || vq1.local_info().unwrap().flags;
    assert!(pump(vq1, || flags().contains(InfoFlags::QDEVICE_REGISTERED)));
    assert_eq!(vq1.local_info().unwrap().qdevice_name, name.as_bytes());
    let ring = *seen1
        .lock()
        .unwrap()
        .rings
        .last()
        .expect("a node-list notification with the ring id");
    vq1.qdevice_poll(name, true, ring).unwrap();
    assert!(pump(vq1, || flags().contains(
        InfoFlags::QDEVICE_ALIVE | InfoFlags::QDEVICE_CAST_VOTE
    )));
    // A stale ring id is refused.
    let stale = RingId::new(ring.nodeid, ring.seq.wrapping_sub(1));
    assert_eq!(
        vq1.qdevice_poll(name, true, stale),
        Err(Error::MessageError)
    );
    vq1.qdevice_master_wins(name, true).unwrap();
    assert!(pump(vq1, || flags().contains(InfoFlags::QDEVICE_MASTER_WINS)));
    vq1.qdevice_update(name, "renamed-qdevice").unwrap();
    assert!(pump(vq1, || vq1.local_info().unwrap().qdevice_name
        == b"renamed-qdevice"));
    assert_eq!(
        vq1.qdevice_unregister(name),
        Err(Error::InvalidParam),
        "the old name is gone"
    );
    vq1.qdevice_unregister("renamed-qdevice").unwrap();
    assert!(pump(vq1, || !flags().contains(InfoFlags::QDEVICE_REGISTERED)));

    // Names the C library would refuse or overflow are refused first.
    assert!(matches!(
        vq1.qdevice_register(&"x".repeat(255)),
        Err(Error::TooLong { .. })
    ));
    assert!(matches!(
        vq1.qdevice_register(""),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        vq1.qdevice_register("a\0b"),
        Err(Error::InteriorNul { .. })
    ));
    // LOCAL_NODE is node 0, which getinfo maps to this node.
    assert_eq!(LOCAL_NODE, NodeId::new(0));
}

#[test]
fn a_quorum_device_vote_is_reported_and_counted() {
    // Three nodes and a device with one vote: 4 expected, quorum 3.
    let cluster = Cluster::builder(3)
        .quorum_option("device {")
        .quorum_option("  votes: 1")
        .quorum_option("  model: net")
        .quorum_option("}")
        .start()
        .expect("cluster");
    let (vq1, seen1) = vq_tracker(cluster.node(0));
    let (vq2, _) = vq_tracker(cluster.node(1));
    let counts = |vq: &Votequorum, id: u32| {
        let i = vq.info(NodeId::new(id)).unwrap();
        (
            i.qdevice_votes,
            i.node_expected_votes,
            i.total_votes,
            i.quorum,
        )
    };
    assert!(
        pump(&vq1, || counts(&vq1, 1) == (1, 4, 3, 3)),
        "{:?}",
        counts(&vq1, 1)
    );

    // Registered and voting on node 1: its vote counts there, and node 2
    // sees node 1 with the device's vote.
    let name = "voting-qdevice";
    vq1.qdevice_register(name).unwrap();
    assert!(pump(&vq1, || !seen1.lock().unwrap().rings.is_empty()));
    let ring = *seen1.lock().unwrap().rings.last().unwrap();
    vq1.qdevice_poll(name, true, ring).unwrap();
    assert!(
        pump(&vq1, || counts(&vq1, 1) == (1, 4, 4, 3)),
        "{:?}",
        counts(&vq1, 1)
    );
    assert!(pump(&vq2, || {
        let i = vq2.info(NodeId::new(1)).unwrap();
        i.total_votes == 4 && i.flags.contains(InfoFlags::QDEVICE_CAST_VOTE)
    }));
    // Withdrawn: back to the nodes' three votes.
    vq1.qdevice_poll(name, false, ring).unwrap();
    assert!(
        pump(&vq1, || counts(&vq1, 1) == (1, 4, 3, 3)),
        "{:?}",
        counts(&vq1, 1)
    );
    vq1.qdevice_unregister(name).unwrap();

    // LOCAL_NODE in set_votes is this node (for the C call, node id 0 is
    // the device): node 1's votes change, the device's do not.
    vq1.set_votes(LOCAL_NODE, 2).unwrap();
    assert!(pump(&vq2, || {
        let i = vq2.info(NodeId::new(1)).unwrap();
        (i.node_votes, i.qdevice_votes) == (2, 1)
    }));
    assert_eq!(vq1.local_info().unwrap().node_votes, 2);
    vq1.set_votes(LOCAL_NODE, 1).unwrap();
    assert!(pump(&vq2, || vq2.info(NodeId::new(1)).unwrap().node_votes == 1));
    // The device's votes are set apart, on every node.
    vq1.set_qdevice_votes(2).unwrap();
    assert!(pump(&vq2, || {
        let i = vq2.info(NodeId::new(2)).unwrap();
        (i.node_votes, i.qdevice_votes) == (1, 2)
    }));
    vq1.set_qdevice_votes(1).unwrap();
    assert!(pump(&vq2, || vq2
        .info(NodeId::new(2))
        .unwrap()
        .qdevice_votes
        == 1));
    assert_eq!(vq1.local_info().unwrap().node_votes, 1);
}

#[test]
fn requests_that_could_never_work_are_refused_before_the_daemon() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let refused = |r: corosync::Result<()>| matches!(r, Err(Error::InvalidInput { .. }));
    let calls = Arc::new(Mutex::new((0, 0)));
    let (a, b) = (calls.clone(), calls.clone());
    let (q, vq) = node
        .run(move || {
            let q = Quorum::builder()
                .on_quorum(move |_, _| a.lock().unwrap().0 += 1)
                .connect()
                .unwrap();
            let vq = Votequorum::builder()
                .on_quorum(move |_, _| b.lock().unwrap().1 += 1)
                .connect()
                .unwrap();
            (q, vq)
        })
        .unwrap();
    // Tracking flags without CURRENT, CHANGES or CHANGES_ONLY: the daemon
    // would say yes and never call back.
    for flags in [TrackFlags::empty(), TrackFlags::from_raw(0x80)] {
        assert!(refused(q.track_start(flags)), "{flags:?}");
        assert!(refused(vq.track_start(flags)), "{flags:?}");
    }
    // The handles still work: CURRENT alone reports once.
    q.track_start(TrackFlags::CURRENT).unwrap();
    vq.track_start(TrackFlags::CURRENT).unwrap();
    assert!(pump(&q, || calls.lock().unwrap().0 == 1));
    assert!(pump(&vq, || calls.lock().unwrap().1 == 1));
    // libquorum's legacy initialization has no node-list callback.
    let legacy = node
        .run(|| {
            Quorum::builder()
                .legacy_initialize(true)
                .on_nodelist(|_, _| {})
                .connect()
                .map(drop)
        })
        .unwrap();
    assert_eq!(legacy, Err(Error::NotSupported));
}

#[test]
fn calls_on_a_stopped_daemon_return_errors() {
    let mut cluster = Cluster::single().expect("cluster");
    let (q, vq) = cluster
        .node(0)
        .run(|| (Quorum::new().unwrap(), Votequorum::new().unwrap()))
        .unwrap();
    cluster.stop(0).unwrap();
    // Every call fails at once with CS_ERR_LIBRARY (libqb finds the
    // connection closed); the generous bound only tells that from a hang
    // (Blocking and One would wait forever for an event).
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert_eq!(q.is_quorate(), Err(Error::Library));
        assert_eq!(q.track_start(TrackFlags::CHANGES), Err(Error::Library));
        assert_eq!(q.dispatch(DispatchMode::Blocking), Err(Error::Library));
        assert_eq!(vq.local_info(), Err(Error::Library));
        assert_eq!(vq.set_expected(2), Err(Error::Library));
        assert_eq!(vq.qdevice_register("gone"), Err(Error::Library));
        assert_eq!(vq.dispatch(DispatchMode::One), Err(Error::Library));
    });
    // New connections are refused: nothing listens any more.
    let new = cluster
        .node(0)
        .run(|| (Quorum::new().map(drop), Votequorum::new().map(drop)));
    assert_eq!(new.unwrap(), (Err(Error::Library), Err(Error::Library)));
}
