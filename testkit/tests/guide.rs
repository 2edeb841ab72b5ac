//! A three-node cluster: the others see a killed node leave, and come back.
use corosync::quorum::Quorum;
use corosync::NodeId;
use corosync_testkit::Cluster;

#[test]
fn the_others_see_a_killed_node_leave_and_come_back() {
    // Three daemons, each in its own network namespace. `new` returns once
    // every node sees all three in its membership and is quorate.
    let mut cluster = Cluster::new(3).expect("a three-node cluster");

    // Client code runs "on" a node: a thread inside its network namespace,
    // where corosync's client libraries reach that node's daemon.
    let quorate = cluster
        .node(0)
        .run(|| Quorum::new().and_then(|quorum| quorum.is_quorate()))
        .expect("run on node 1")
        .expect("ask node 1's quorum service");
    assert!(quorate);

    cluster.kill(2).expect("kill node 3");
    // Waits until nodes 1 and 2 (indexes 0 and 1) see exactly each other
    // and are quorate (2 votes of 3); past the deadline, the error shows
    // every daemon's log.
    cluster
        .wait_for_membership(&[0, 1])
        .expect("nodes 1 and 2 without node 3");
    let (quorate, members) = cluster.node(0).quorum_view().expect("node 1's view");
    assert!(quorate);
    assert_eq!(members, [NodeId::new(1), NodeId::new(2)]);

    cluster.restart(2).expect("restart node 3");
    cluster
        .wait_for_membership(&[0, 1, 2])
        .expect("node 3 back in the membership");
    // Dropping the cluster stops its daemons and removes its namespaces
    // and files, also when an assertion above has failed.
}
