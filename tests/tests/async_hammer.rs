//! The `Send + Sync` CPG adapter used from many tasks of a multi-thread
//! runtime at once: sends, membership queries, joins and leaves of other
//! groups, clones made and dropped, and connections that come, send and go,
//! while one task polls the stream. The outcomes are checked here;
//! `scripts/tsan.sh` runs this file under ThreadSanitizer for data races.

use std::collections::HashMap;
use std::sync::Arc;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent, CpgEvents};
use corosync::{Error, NodeId};
use corosync_tests::asynctest::{join, next, until};
use corosync_tests::events::WAIT;
use corosync_tests::Cluster;

/// Tasks that multicast through the shared handle, and how many each.
const SENDERS: u8 = 8;
const EACH: u32 = 150;
/// Tasks that join, query and leave a group of their own, on a connection
/// of their own.
const SIDE_GROUPS: u8 = 6;
/// Tasks that open a connection of their own, send through it to a group
/// of their own and drop it.
const VISITORS: u8 = 4;
const VISITOR_EACH: u32 = 20;
/// The first tag of a visitor's messages (senders use 0 to SENDERS - 1).
const VISITOR_TAG: u8 = 100;
/// The tag of the message sent once every task has finished.
const LAST_TAG: u8 = 200;

/// A message: tag (who sent it), sequence number, then filler to a size
/// that varies with the number.
fn message(tag: u8, seq: u32) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&seq.to_le_bytes());
    m.resize(16 + (seq as usize % 5) * 300, tag);
    m
}

/// Tag and sequence number of a [`message`], checking its filler.
fn parse(data: &[u8]) -> (u8, u32) {
    let (tag, seq) = (data[0], u32::from_le_bytes(data[1..5].try_into().unwrap()));
    assert_eq!(
        data,
        &message(tag, seq)[..],
        "message {tag}/{seq} arrived whole"
    );
    (tag, seq)
}

/// A multi-thread runtime of four workers (more than the cores, so that
/// tasks are moved between threads), made on the calling thread so that
/// its threads share that thread's network namespace.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn many_tasks_use_one_cpg_connection_and_others_at_once() {
    let cluster = Cluster::single().expect("cluster");
    let pid = std::process::id();
    let main_group = GroupName::new("hammer").unwrap();
    cluster
        .node(0)
        .run(|| {
            runtime().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
                join(&cpg, &mut events, "hammer").await;
                let me = cpg.local_nodeid().await.unwrap();

                // One task polls the stream from here on: every message of
                // the main group, and the side groups' changes.
                let reader = tokio::spawn(read_all(events));

                let mut tasks = Vec::new();
                for tag in 0..SENDERS {
                    let (cpg, group) = (cpg.clone(), main_group);
                    tasks.push(tokio::spawn(async move {
                        for seq in 0..EACH {
                            cpg.mcast(Guarantee::Agreed, &message(tag, seq))
                                .await
                                .unwrap();
                            if seq % 10 == 0 {
                                let members = cpg.membership(&group).await.unwrap();
                                assert!(
                                    members.iter().any(|a| a.nodeid() == me && a.pid() == pid),
                                    "the main group's members {members:?} include this process"
                                );
                            }
                            if seq % 25 == 0 {
                                // A clone made and dropped on this worker.
                                let clone = cpg.clone();
                                assert_eq!(clone.local_nodeid().await.unwrap(), me);
                            }
                        }
                    }));
                }
                for i in 0..SIDE_GROUPS {
                    tasks.push(tokio::spawn(side_group(i, me, pid)));
                    // A connection joins one group at a time: a second
                    // join on the shared one is refused, while it sends.
                    let cpg = cpg.clone();
                    tasks.push(tokio::spawn(async move {
                        let other = GroupName::new(format!("hammer-not-{i}")).unwrap();
                        assert_eq!(cpg.join(&other).await, Err(Error::Exist), "a second join");
                    }));
                }
                for v in 0..VISITORS {
                    tasks.push(tokio::spawn(visit(VISITOR_TAG + v)));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                // Sent after every other message and join: the last the
                // reader needs.
                cpg.mcast(Guarantee::Agreed, &message(LAST_TAG, 0))
                    .await
                    .unwrap();
                let by_tag = reader.await.unwrap();

                // Every message once, each sender's in the order it sent
                // them, and nothing else.
                assert_eq!(by_tag.len(), usize::from(SENDERS), "senders");
                for tag in 0..SENDERS {
                    assert_eq!(
                        by_tag.get(&tag).cloned().unwrap_or_default(),
                        (0..EACH).collect::<Vec<_>>(),
                        "the messages of sender {tag}, in order"
                    );
                }
                // The connection still works after all of that.
                cpg.leave(&main_group).await.unwrap();
                drop(cpg);
            })
        })
        .expect("run on node 0");
}

/// Reads `events` up to the message tagged [`LAST_TAG`]: returns each
/// other sender's sequence numbers in arrival order.
async fn read_all(mut events: CpgEvents) -> HashMap<u8, Vec<u32>> {
    let mut by_tag: HashMap<u8, Vec<u32>> = HashMap::new();
    loop {
        match next(&mut events, WAIT, "the next message of the hammer").await {
            Some(Ok(CpgEvent::Message { group, data, .. })) => {
                assert_eq!(group.as_bytes(), b"hammer");
                let (tag, seq) = parse(&data);
                if tag == LAST_TAG {
                    break;
                }
                by_tag.entry(tag).or_default().push(seq);
            }
            Some(Ok(_)) => {}
            other => panic!("the hammer's stream: {other:?}"),
        }
    }
    by_tag
}

/// A connection of its own, shared by two tasks: one joins group
/// `hammer-side-<i>`, asks for its members and leaves it, while the other
/// polls the stream for the join's change; then both halves are dropped on
/// different tasks.
async fn side_group(i: u8, nodeid: NodeId, pid: u32) {
    let group = GroupName::new(format!("hammer-side-{i}")).unwrap();
    let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
    let poller = tokio::spawn(async move {
        until(&mut events, WAIT, |e| {
            matches!(e, CpgEvent::ConfChange { group: g, joined, .. }
                if **g == group && joined.iter().any(|a| a.nodeid() == nodeid && a.pid() == pid))
        })
        .await;
        events
    });
    cpg.join(&group).await.unwrap();
    let events = poller.await.unwrap();
    let members = cpg.membership(&group).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|a| (a.nodeid(), a.pid()))
            .collect::<Vec<_>>(),
        [(nodeid, pid)],
        "the members of {group} once this connection's join has come"
    );
    cpg.leave(&group).await.unwrap();
    let dropper = tokio::spawn(async move { drop(events) });
    drop(cpg);
    dropper.await.unwrap();
}

/// A connection of its own: joins a group of its own (a process is a
/// member of a group once), sends its messages from another task, reads
/// them back, and is dropped (handle and stream).
async fn visit(tag: u8) {
    let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
    join(&cpg, &mut events, &format!("hammer-visit-{tag}")).await;
    let cpg = Arc::new(cpg);
    let sender = {
        let cpg = cpg.clone();
        tokio::spawn(async move {
            for seq in 0..VISITOR_EACH {
                cpg.mcast(Guarantee::Agreed, &message(tag, seq))
                    .await
                    .unwrap();
            }
        })
    };
    let mut seen = 0;
    while seen < VISITOR_EACH {
        match next(&mut events, WAIT, "a visitor's own message").await {
            Some(Ok(CpgEvent::Message { data, .. })) => {
                if parse(&data).0 == tag {
                    assert_eq!(parse(&data).1, seen, "visitor {tag}'s messages in order");
                    seen += 1;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("visitor {tag}'s stream: {other:?}"),
        }
    }
    sender.await.unwrap();
    drop(events);
    drop(cpg);
}
