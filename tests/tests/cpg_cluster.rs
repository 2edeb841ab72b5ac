//! CPG on a three-node cluster: one total order for concurrent senders, and
//! membership changes when nodes fail and return.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cpg::{Address, Cpg, GroupName, Guarantee, Reason};
use corosync::{DispatchMode, NodeId, Retry, RingId};
use corosync_tests::events::dispatch_until;
use corosync_tests::{wait_readable, Cluster};

#[derive(Default)]
struct Seen {
    messages: Vec<(NodeId, Vec<u8>)>,
    confchgs: Vec<(Vec<Address>, Vec<Address>, Vec<Address>)>,
    rings: Vec<(RingId, Vec<NodeId>)>,
}

type Shared = Arc<Mutex<Seen>>;

fn member(cluster: &Cluster, index: usize, group: GroupName) -> (Cpg, Shared) {
    let seen = Shared::default();
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let cpg = cluster
        .node(index)
        .run(move || {
            let cpg = Cpg::builder()
                .on_deliver(move |_, m| {
                    a.lock().unwrap().messages.push((m.nodeid, m.data.to_vec()))
                })
                .on_confchg(move |_, ch| {
                    b.lock().unwrap().confchgs.push((
                        ch.members.to_vec(),
                        ch.left.to_vec(),
                        ch.joined.to_vec(),
                    ))
                })
                .on_totem_confchg(move |_, t| {
                    c.lock()
                        .unwrap()
                        .rings
                        .push((t.ring_id, t.members.to_vec()))
                })
                .connect()
                .unwrap();
            cpg.join(&group).unwrap();
            cpg
        })
        .unwrap();
    (cpg, seen)
}

fn pump_until(cpg: &Cpg, secs: u64, done: impl FnMut() -> bool) -> bool {
    dispatch_until(
        cpg,
        Duration::from_secs(secs),
        || cpg.dispatch(DispatchMode::All),
        done,
    )
    .unwrap()
}

#[test]
fn concurrent_senders_on_three_nodes_see_one_total_order() {
    let cluster = Cluster::new(3).expect("cluster");
    let group = GroupName::new("total-order").unwrap();
    let members: Vec<(Cpg, Shared)> = (0..3).map(|i| member(&cluster, i, group)).collect();
    // Wait until everyone sees all three members.
    for (cpg, seen) in &members {
        assert!(pump_until(cpg, 20, || seen
            .lock()
            .unwrap()
            .confchgs
            .last()
            .is_some_and(|c| c.0.len() == 3)));
    }

    const PER_NODE: usize = 500;
    const TOTAL: usize = 3 * PER_NODE;
    // Each handle moves to a sender thread of its own (a Cpg is Send, not Sync).
    let start = std::sync::Barrier::new(3);
    let members: Vec<(Cpg, Shared)> = std::thread::scope(|scope| {
        let threads: Vec<_> = members
            .into_iter()
            .enumerate()
            .map(|(i, (cpg, seen))| {
                let start = &start;
                scope.spawn(move || {
                    // All three start sending together.
                    start.wait();
                    let mut sent = 0;
                    let policy = Retry::new(10_000)
                        .delays(Duration::from_millis(1), Duration::from_millis(10));
                    while seen.lock().unwrap().messages.len() < TOTAL {
                        if sent < PER_NODE {
                            // Varying sizes, some fragmented.
                            let len = 8
                                + (sent * 997 + i * 13) % 3000
                                + if sent % 97 == 0 { 1 << 20 } else { 0 };
                            let mut msg = vec![i as u8; len];
                            msg[..8]
                                .copy_from_slice(&((i * 1_000_000 + sent) as u64).to_le_bytes());
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
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let orders: Vec<Vec<(NodeId, Vec<u8>)>> = members
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
            .filter(|(node, _)| *node == NodeId::new(sender as u32 + 1))
            .map(|(_, m)| u64::from_le_bytes(m[..8].try_into().unwrap()))
            .collect();
        let want: Vec<u64> = (0..PER_NODE as u64)
            .map(|s| sender as u64 * 1_000_000 + s)
            .collect();
        assert_eq!(seqs, want);
    }
    // The senders really interleaved.
    // Sent one after the other, the three would switch exactly twice;
    // totem batches messages per token rotation, so the number varies.
    let switches = orders[0].windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(switches > 2, "only {switches} sender switches");
}

fn wait_all_joined(members: &[&(Cpg, Shared)], n: usize) {
    for (cpg, seen) in members {
        assert!(
            pump_until(cpg, 30, || seen
                .lock()
                .unwrap()
                .confchgs
                .last()
                .is_some_and(|c| c.0.len() == n)),
            "a member never saw {n} members"
        );
    }
}

fn last_change(member: &(Cpg, Shared)) -> (Vec<Address>, Vec<Address>, Vec<Address>) {
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
    let m1 = member(&cluster, 0, group);
    let m2 = member(&cluster, 1, group);
    let m3 = member(&cluster, 2, group);
    wait_all_joined(&[&m1, &m2, &m3], 3);
    // Every member runs in this test process: they differ by node id.
    let pid = std::process::id();
    assert!(last_change(&m1).0.iter().all(|a| a.pid() == pid));

    // Node 3 is killed: NODEDOWN for its member.
    cluster.kill(2).unwrap();
    wait_all_joined(&[&m1, &m2], 2);
    for m in [&m1, &m2] {
        let (_, left, joined) = last_change(m);
        assert!(joined.is_empty());
        assert_eq!(summary(&left), [(3, Reason::NodeDown)]);
        assert_eq!(left[0].pid(), pid);
    }
    drop(m3);

    // It comes back and its process joins again: JOIN.
    cluster.restart(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    let m3 = member(&cluster, 2, group);
    wait_all_joined(&[&m1, &m2, &m3], 3);
    assert_eq!(summary(&last_change(&m1).2), [(3, Reason::Join)]);

    // Node 2 is cut off: both sides see the other go down...
    cluster.isolate(1).unwrap();
    wait_all_joined(&[&m1, &m3], 2);
    wait_all_joined(&[&m2], 1);
    assert_eq!(summary(&last_change(&m1).1), [(2, Reason::NodeDown)]);
    assert_eq!(
        summary(&last_change(&m2).1),
        [(1, Reason::NodeDown), (3, Reason::NodeDown)]
    );

    // ...and come back up when it returns: NODEUP.
    cluster.heal(1).unwrap();
    wait_all_joined(&[&m1, &m2, &m3], 3);
    assert_eq!(summary(&last_change(&m1).2), [(2, Reason::NodeUp)]);
    assert_eq!(summary(&last_change(&m3).2), [(2, Reason::NodeUp)]);
    assert_eq!(
        summary(&last_change(&m2).2),
        [(1, Reason::NodeUp), (3, Reason::NodeUp)]
    );

    // Node 1 saw a totem change for each new membership, with growing ring
    // ids, ending with all three nodes.
    let rings = m1.1.lock().unwrap().rings.clone();
    assert!(rings.len() >= 4, "totem changes: {rings:?}");
    for pair in rings.windows(2) {
        assert!(
            pair[1].0.seq > pair[0].0.seq,
            "ring ids must grow: {rings:?}"
        );
    }
    let (_, last_members) = rings.last().unwrap();
    assert_eq!(last_members, &[1, 2, 3].map(NodeId::new));
    let sizes: Vec<usize> = rings.iter().map(|(_, m)| m.len()).collect();
    assert!(
        sizes.contains(&2),
        "the two-node memberships were reported: {sizes:?}"
    );
}
