//! The CPG adapter's stream and sends: many tasks multicast through one
//! handle in one order, vectored sends arrive whole and bad ones are
//! refused before any wait, and a backlog in corosync is read a batch at a
//! time.

use std::collections::HashSet;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent, CpgEvents};
use corosync_tests::asynctest::{
    current_thread, join, next, on_node_async, read_stamped, runtime, until,
};
use corosync_tests::events::WAIT;
use corosync_tests::Cluster;
use futures_core::Stream;

#[test]
fn many_tasks_multicast_through_one_handle_in_one_order() {
    let cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let group = GroupName::new("async-many").unwrap();
        let (a, mut a_events) = on_node_async(cluster.node(0), AsyncCpg::connect)
            .await
            .unwrap();
        let (b, b_events) = on_node_async(cluster.node(1), AsyncCpg::connect)
            .await
            .unwrap();
        a.join(&group).await.unwrap();
        b.join(&group).await.unwrap();
        until(
            &mut a_events,
            WAIT,
            |e| matches!(e, CpgEvent::ConfChange { members, .. } if members.len() == 2),
        )
        .await;

        const TASKS: u32 = 16;
        const EACH: u32 = 200;
        let total = (TASKS * EACH) as usize;
        let collect = |mut events: CpgEvents| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < total {
                    match next(&mut events, WAIT, "the next message").await {
                        Some(Ok(CpgEvent::Message { data, .. })) => got.push(data),
                        Some(Ok(_)) => {}
                        other => panic!("stream: {other:?}"),
                    }
                }
                got
            })
        };
        let (on_a, on_b) = (collect(a_events), collect(b_events));
        let a = Arc::new(a);
        let senders: Vec<_> = (0..TASKS)
            .map(|t| {
                let a = a.clone();
                tokio::spawn(async move {
                    for i in 0..EACH {
                        let mut msg = t.to_le_bytes().to_vec();
                        msg.extend_from_slice(&i.to_le_bytes());
                        msg.resize(64 + (i as usize % 7) * 100, b'.');
                        a.mcast(Guarantee::Agreed, &msg).await.unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let (got_a, got_b) = (on_a.await.unwrap(), on_b.await.unwrap());
        assert_eq!(got_a.len(), total);
        assert!(got_a == got_b, "the two members saw different orders");
        let unique: HashSet<&[u8]> = got_a.iter().map(|m| &m[..]).collect();
        assert_eq!(unique.len(), total, "every message once");
        // Each task's messages in the order it sent them.
        for t in 0..TASKS {
            let seq: Vec<u32> = got_a
                .iter()
                .filter(|m| m[..4] == t.to_le_bytes())
                .map(|m| u32::from_le_bytes(m[4..8].try_into().unwrap()))
                .collect();
            assert_eq!(seq, (0..EACH).collect::<Vec<_>>());
        }
        drop(b);
    });
}

#[test]
fn vectored_sends_arrive_whole_and_bad_ones_are_refused_before_any_wait() {
    use corosync::cpg::{MAX_BUFFERS, MAX_MESSAGE_LEN};
    use corosync::Error;
    use corosync_tests::event_size;
    use std::future::Future;
    use std::io::IoSlice;
    use std::task::Poll;

    /// What `f` gives when polled once (then it is dropped).
    async fn first_poll<F: Future>(f: F) -> Poll<F::Output> {
        let mut f = std::pin::pin!(f);
        poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await
    }

    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
                // Before a join a send is refused, and takes nothing from
                // the window (filled to the last message below).
                assert_eq!(
                    cpg.mcast(Guarantee::Agreed, b"lost").await,
                    Err(Error::NotJoined)
                );
                join(&cpg, &mut events, "vectored").await;
                // Fill the send window with messages nobody reads yet.
                let big = vec![7u8; 200 * 1024];
                let fits = cpg.send_window() / event_size(big.len());
                for _ in 0..fits {
                    cpg.mcast(Guarantee::Agreed, &big).await.unwrap();
                }
                // Polled once, one more such send now waits for the window
                // (dropping it gives its place back)...
                let first = first_poll(cpg.mcast(Guarantee::Agreed, &big)).await;
                assert!(first.is_pending(), "{first:?}");
                // ...while bad ones are refused on the first poll.
                let many = vec![IoSlice::new(b"x"); MAX_BUFFERS + 1];
                let first = first_poll(cpg.mcast_vectored(Guarantee::Agreed, &many)).await;
                assert!(
                    matches!(
                        first,
                        Poll::Ready(Err(Error::TooManyBuffers { count, max: MAX_BUFFERS }))
                            if count == MAX_BUFFERS + 1
                    ),
                    "{first:?}"
                );
                // 40 views of one 64 MiB buffer (never touched, so never
                // backed by memory) add up to 2.5 GiB.
                let chunk = vec![0u8; 64 << 20];
                let huge = vec![IoSlice::new(&chunk); 40];
                let first = first_poll(cpg.mcast_vectored(Guarantee::Agreed, &huge)).await;
                assert!(
                    matches!(
                        first,
                        Poll::Ready(Err(Error::MessageTooLarge { len, max: MAX_MESSAGE_LEN }))
                            if len == 40 << 26
                    ),
                    "{first:?}"
                );
                let message = |e: &CpgEvent| matches!(e, CpgEvent::Message { .. });
                for _ in 0..fits {
                    let event = until(&mut events, WAIT, message).await;
                    assert!(matches!(event, CpgEvent::Message { data, .. } if data == big));
                }
                // The parts of a vectored message arrive as one message.
                let parts = [
                    IoSlice::new(b"head-"),
                    IoSlice::new(b""),
                    IoSlice::new(b"body-"),
                    IoSlice::new(b"tail"),
                ];
                cpg.mcast_vectored(Guarantee::Agreed, &parts).await.unwrap();
                let local = cpg.local_nodeid().await.unwrap();
                match until(&mut events, WAIT, message).await {
                    CpgEvent::Message {
                        nodeid, pid, data, ..
                    } => {
                        assert_eq!((nodeid, pid), (local, std::process::id()));
                        assert_eq!(data, b"head-body-tail");
                    }
                    other => panic!("{other:?}"),
                }
            })
        })
        .unwrap();
}

#[test]
fn a_backlog_in_corosync_is_read_a_little_at_a_time() {
    // 60,000 × 1 KiB: about 70 MB that corosync holds for a member that
    // does not read, and refills the member's event ring from as fast as
    // the member empties it.
    const SIZE: usize = 1024;
    const COUNT: u64 = 60_000;
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = corosync_tests::out_queue_episodes(&node.log()).len();
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "async-backlog").await;

            // Another process floods the group while this task does not
            // poll its stream.
            let mut sender = corosync_tests::CpgMember::start(
                node,
                env!("CARGO_BIN_EXE_cpg-member"),
                b"async-backlog",
            );
            sender.command(&format!("flood {COUNT} {SIZE}"));
            sender.expect_line("flooded");

            // Each poll of the stream moves at most one batch of 64 events
            // out of corosync, so the task gives the runtime back between
            // batches instead of reading the whole backlog into memory in
            // one go.
            let (mut seq, mut most, mut polls) = (0u64, 0usize, 0u64);
            while seq < COUNT {
                let event = tokio::time::timeout(
                    WAIT,
                    poll_fn(|cx| {
                        let held = events.buffered();
                        let r = Pin::new(&mut events).poll_next(cx);
                        // What this poll read: what the stream holds now,
                        // and what it yielded, beyond what it held before.
                        let read =
                            (events.buffered() + usize::from(r.is_ready())).saturating_sub(held);
                        most = most.max(read);
                        polls += 1;
                        r
                    }),
                )
                .await
                .unwrap_or_else(|_| panic!("no event for {WAIT:?} after {seq} messages"));
                read_stamped(event, SIZE, &mut seq);
            }
            // Full batches, and never more.
            assert_eq!(
                most, 64,
                "the most events one poll read from corosync ({polls} polls)"
            );
        });
    })
    .unwrap();
    // The backlog was real: corosync had to hold most of the flood for the
    // member (the flooder read its own copies as they came).
    let episodes = corosync_tests::out_queue_episodes(&node.log());
    assert!(
        episodes[before..].iter().any(|&sent| sent > COUNT / 2),
        "corosync held no backlog for the member: {:?}",
        &episodes[before..]
    );
}
