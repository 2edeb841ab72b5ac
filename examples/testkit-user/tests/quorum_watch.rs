//! `QuorumWatch` on a real three-node corosync cluster: it sees a killed
//! node leave, and quorum lost when a second one goes.

use std::time::Duration;

use corosync::NodeId;
use corosync_testkit::Cluster;
use testkit_user::QuorumWatch;

/// Far longer than corosync needs (a killed node is gone within about
/// 3 s): reaching it means the change never came.
const CHANGE: Duration = Duration::from_secs(60);

fn ids(ids: &[u32]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId::new).collect()
}

#[test]
fn the_watch_sees_a_killed_node_leave_and_quorum_go() {
    let mut cluster = Cluster::new(3).expect("a three-node cluster");
    // Made on node 1 (inside its network namespace), it talks to node 1's
    // daemon from whichever thread uses it.
    let watch = cluster
        .node(0)
        .run(QuorumWatch::start)
        .expect("run on node 1")
        .expect("connect to node 1's quorum service");
    let all = (true, ids(&[1, 2, 3]));
    let seen = watch.wait_for(CHANGE, |view| *view == all).unwrap();
    assert_eq!(seen.as_ref(), Some(&all));

    cluster.kill(2).expect("kill node 3");
    let two = (true, ids(&[1, 2]));
    let seen = watch.wait_for(CHANGE, |view| *view == two).unwrap();
    assert_eq!(seen.as_ref(), Some(&two), "{}", cluster.logs());

    // Node 1 alone has 1 vote of 3: no quorum.
    cluster.kill(1).expect("kill node 2");
    let alone = (false, ids(&[1]));
    let seen = watch.wait_for(CHANGE, |view| *view == alone).unwrap();
    assert_eq!(seen.as_ref(), Some(&alone), "{}", cluster.logs());
}
