//! CPG on a three-node cluster: one total order for concurrent senders, and
//! membership changes when nodes fail and return.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corosync::cpg::{Address, Cpg, GroupName, Guarantee, Reason};
use corosync::{DispatchMode, NodeId, Retry};
use corosync_tests::bounded::{join_within, Barrier};
use corosync_tests::cpg_record::{recording_member, Change, Delivery, SharedRecord};
use corosync_tests::events::WAIT;
use corosync_tests::{node_ids, pump, wait_readable, Cluster};

#[test]
fn concurrent_senders_on_three_nodes_see_one_total_order() {
    let cluster = Cluster::new(3).expect("cluster");
    let group = GroupName::new("total-order").unwrap();
    let members: Vec<(Cpg, SharedRecord)> = (0..3)
        .map(|i| recording_member(cluster.node(i), &group))
        .collect();
    // Wait until everyone sees all three members.
    wait_all_joined(&members.iter().collect::<Vec<_>>(), 3);

    const PER_NODE: usize = 500;
    const TOTAL: usize = 3 * PER_NODE;
    // How long the senders may take in all: seconds when they work.
    const SENDING: Duration = Duration::from_secs(300);
    // Each handle moves to a sender thread of its own (a Cpg is Send, not Sync).
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, (cpg, seen))| {
            let start = start.clone();
            std::thread::spawn(move || {
                // All three start sending together.
                start.pass(WAIT, "the three senders' start");
                let mut sent = 0;
                let policy =
                    Retry::new(10_000).delays(Duration::from_millis(1), Duration::from_millis(10));
                // The run fails once nothing new arrives for WAIT.
                let mut progress = (0, Instant::now());
                loop {
                    let delivered = seen.lock().unwrap().messages.len();
                    if delivered == TOTAL {
                        break;
                    }
                    if delivered > progress.0 {
                        progress = (delivered, Instant::now());
                    }
                    assert!(
                        progress.1.elapsed() < WAIT,
                        "node {}: no delivery for {WAIT:?} with {delivered} of {TOTAL} \
                         messages delivered and {sent} of {PER_NODE} sent",
                        i + 1
                    );
                    if sent < PER_NODE {
                        // Varying sizes, some fragmented.
                        let len = 8
                            + (sent * 997 + i * 13) % 3000
                            + if sent % 97 == 0 { 1 << 20 } else { 0 };
                        let mut msg = vec![i as u8; len];
                        msg[..8].copy_from_slice(&((i * 1_000_000 + sent) as u64).to_le_bytes());
                        policy
                            .run_with_sleep(
                                || cpg.mcast(Guarantee::Agreed, &msg),
                                |pause| {
                                    wait_readable(&cpg, pause);
                                    cpg.dispatch(DispatchMode::All).unwrap();
                                },
                            )
                            .unwrap();
                        sent += 1;
                    } else {
                        wait_readable(&cpg, Duration::from_millis(50));
                    }
                    cpg.dispatch(DispatchMode::All).unwrap();
                }
                (cpg, seen)
            })
        })
        .collect();
    // (Each thread fails by itself once nothing new arrives for WAIT; this
    // bound catches a thread that hangs in a call.)
    let members: Vec<(Cpg, SharedRecord)> = threads
        .into_iter()
        .enumerate()
        .map(|(i, t)| join_within(t, SENDING, &format!("the sender on node {}", i + 1)))
        .collect();

    let orders: Vec<Vec<Delivery>> = members
        .iter()
        .map(|(_, s)| std::mem::take(&mut s.lock().unwrap().messages))
        .collect();
    for (i, order) in orders.iter().enumerate() {
        assert_eq!(order.len(), TOTAL, "node {} got every message once", i + 1);
    }
    assert!(orders[0] == orders[1], "nodes 1 and 2 saw different orders");
    assert!(orders[0] == orders[2], "nodes 1 and 3 saw different orders");
    // Each sender's messages are in the order it sent them, from its node.
    for sender in 0..3 {
        let seqs: Vec<u64> = orders[0]
            .iter()
            .filter(|m| m.nodeid == NodeId::new(sender as u32 + 1))
            .map(|m| u64::from_le_bytes(m.data[..8].try_into().unwrap()))
            .collect();
        let want: Vec<u64> = (0..PER_NODE as u64)
            .map(|s| sender as u64 * 1_000_000 + s)
            .collect();
        assert_eq!(seqs, want);
    }
    // The senders really interleaved.
    // Sent one after the other, the three would switch exactly twice;
    // totem batches messages per token rotation, so the number varies.
    let switches = orders[0]
        .windows(2)
        .filter(|w| w[0].nodeid != w[1].nodeid)
        .count();
    assert!(switches > 2, "only {switches} sender switches");
}

/// Waits (up to [`WAIT`] each) until every member's last configuration
/// change has `n` members.
fn wait_all_joined(members: &[&(Cpg, SharedRecord)], n: usize) {
    for (i, (cpg, seen)) in members.iter().enumerate() {
        let last = || seen.lock().unwrap().confchgs.last().cloned();
        assert!(
            pump(cpg, || last().is_some_and(|c| c.members.len() == n)),
            "member {i} of {}: no configuration change with {n} members within {WAIT:?}; \
             the last was {:?}",
            members.len(),
            last()
        );
    }
}

fn last_change(member: &(Cpg, SharedRecord)) -> Change {
    member.1.lock().unwrap().confchgs.last().cloned().unwrap()
}

fn summary(list: &[Address]) -> Vec<(u32, Reason)> {
    let mut v: Vec<(u32, Reason)> = list
        .iter()
        .map(|a| (a.nodeid().get(), a.reason()))
        .collect();
    v.sort_by_key(|(n, _)| *n);
    v
}

#[test]
fn nodes_going_down_and_coming_back_are_reported_with_growing_ring_ids() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let group = GroupName::new("node-events").unwrap();
    let m1 = recording_member(cluster.node(0), &group);
    let m2 = recording_member(cluster.node(1), &group);
    let m3 = recording_member(cluster.node(2), &group);
    wait_all_joined(&[&m1, &m2, &m3], 3);
    // Every member runs in this test process: they differ by node id.
    let pid = std::process::id();
    assert!(last_change(&m1).members.iter().all(|a| a.pid() == pid));

    // Node 3 is killed: NODEDOWN for its member.
    cluster.kill(2).unwrap();
    wait_all_joined(&[&m1, &m2], 2);
    for m in [&m1, &m2] {
        let Change { left, joined, .. } = last_change(m);
        assert!(joined.is_empty());
        assert_eq!(summary(&left), [(3, Reason::NodeDown)]);
        assert_eq!(left[0].pid(), pid);
    }
    drop(m3);

    // It comes back and its process joins again: JOIN.
    cluster.restart(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    let m3 = recording_member(cluster.node(2), &group);
    wait_all_joined(&[&m1, &m2, &m3], 3);
    assert_eq!(summary(&last_change(&m1).joined), [(3, Reason::Join)]);

    // Node 2 is cut off: both sides see the other go down...
    cluster.isolate(1).unwrap();
    wait_all_joined(&[&m1, &m3], 2);
    wait_all_joined(&[&m2], 1);
    assert_eq!(summary(&last_change(&m1).left), [(2, Reason::NodeDown)]);
    assert_eq!(
        summary(&last_change(&m2).left),
        [(1, Reason::NodeDown), (3, Reason::NodeDown)]
    );

    // ...and come back up when it returns: NODEUP.
    cluster.heal(1).unwrap();
    wait_all_joined(&[&m1, &m2, &m3], 3);
    assert_eq!(summary(&last_change(&m1).joined), [(2, Reason::NodeUp)]);
    assert_eq!(summary(&last_change(&m3).joined), [(2, Reason::NodeUp)]);
    assert_eq!(
        summary(&last_change(&m2).joined),
        [(1, Reason::NodeUp), (3, Reason::NodeUp)]
    );

    // Node 1 saw a totem change for each new membership, with growing ring
    // ids, ending with all three nodes.
    let rings = m1.1.lock().unwrap().totem.clone();
    assert!(rings.len() >= 4, "totem changes: {rings:?}");
    for pair in rings.windows(2) {
        assert!(
            pair[1].ring_id.seq > pair[0].ring_id.seq,
            "ring ids must grow: {rings:?}"
        );
    }
    assert_eq!(rings.last().unwrap().members, node_ids(&[1, 2, 3]));
    let sizes: Vec<usize> = rings.iter().map(|r| r.members.len()).collect();
    assert!(
        sizes.contains(&2),
        "the two-node memberships were reported: {sizes:?}"
    );
}
