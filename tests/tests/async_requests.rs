//! The tokio adapters' plain calls and helpers, each checked for what it
//! did on live daemons: `AsyncCpg::leave`, `AsyncQuorum::is_quorate` and
//! `with`, `AsyncCmap::with` and `untrack`, a stream's `buffered`,
//! `retry_async` with its `send_policy`, and a message's
//! `Payload::as_slice`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corosync::cmap::{Cmap, Map, TrackEventKind, TrackId, TrackType, Value};
use corosync::cpg::{Address, Cpg, GroupName, Guarantee, Reason};
use corosync::quorum::{Quorum, QuorumType};
use corosync::tokio::{
    retry_async, send_policy, AsyncCmap, AsyncCpg, AsyncQuorum, CmapEvent, CpgEvent, Payload,
    QuorumEvent,
};
use corosync::{Error, NodeId, Retry, TrackFlags};
use corosync_tests::asynctest::{current_thread, join, next, on_node_async, runtime, until};
use corosync_tests::bounded::slowed;
use corosync_tests::events::WAIT;
use corosync_tests::{pump_for, Cluster};

#[test]
fn leaving_a_group_is_seen_by_the_others_and_ends_the_senders_sends() {
    // Two nodes: corosync takes one member per process and node.
    let cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let group = GroupName::new("async-leave").unwrap();
        let (leaver, mut leaver_events) = on_node_async(cluster.node(0), AsyncCpg::connect)
            .await
            .unwrap();
        let (stayer, mut stayer_events) = on_node_async(cluster.node(1), AsyncCpg::connect)
            .await
            .unwrap();
        join(&leaver, &mut leaver_events, "async-leave").await;
        join(&stayer, &mut stayer_events, "async-leave").await;
        let both =
            |e: &CpgEvent| matches!(e, CpgEvent::ConfChange { members, .. } if members.len() == 2);
        until(&mut leaver_events, WAIT, both).await;
        let ids = |list: &[Address]| -> Vec<(NodeId, u32)> {
            list.iter().map(|a| (a.nodeid(), a.pid())).collect()
        };
        let pid = std::process::id();

        // Another group's name is refused, and changes nothing: a message
        // still reaches both members.
        let other = GroupName::new("async-leave-other").unwrap();
        assert_eq!(leaver.leave(&other).await, Err(Error::WrongGroup));
        leaver
            .mcast(Guarantee::Agreed, b"still here")
            .await
            .unwrap();
        let message = |e: &CpgEvent| matches!(e, CpgEvent::Message { .. });
        for events in [&mut leaver_events, &mut stayer_events] {
            let got = until(events, WAIT, message).await;
            assert!(
                matches!(&got, CpgEvent::Message { data, .. } if data.as_slice() == b"still here"),
                "{got:?}"
            );
        }

        leaver.leave(&group).await.unwrap();
        // The other member sees it leave, for that reason.
        let change = until(
            &mut stayer_events,
            WAIT,
            |e| matches!(e, CpgEvent::ConfChange { left, .. } if !left.is_empty()),
        )
        .await;
        let CpgEvent::ConfChange {
            members,
            left,
            joined,
            ..
        } = change
        else {
            unreachable!()
        };
        assert_eq!(ids(&members), [(NodeId::new(2), pid)]);
        assert_eq!(ids(&left), [(NodeId::new(1), pid)]);
        assert_eq!(left[0].reason(), Reason::Leave);
        assert!(joined.is_empty());
        assert_eq!(
            ids(&stayer.membership(&group).await.unwrap()),
            [(NodeId::new(2), pid)]
        );
        // The leaver is in no group: its sends are refused, and it no
        // longer knows the group.
        assert_eq!(
            leaver.mcast(Guarantee::Agreed, b"gone").await,
            Err(Error::NotJoined)
        );
        assert_eq!(leaver.with(Cpg::joined_group), None);
    });
}

#[test]
fn the_quorum_adapter_answers_whether_the_partition_is_quorate() {
    let mut cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let (quorum, mut events) = on_node_async(cluster.node(0), || {
            AsyncQuorum::connect(TrackFlags::CURRENT | TrackFlags::CHANGES)
        }).await
        .unwrap();
        until(
            &mut events,
            WAIT,
            |e| matches!(e, QuorumEvent::Quorum { quorate: true, members, .. } if members.len() == 2),
        )
        .await;
        assert_eq!(quorum.is_quorate().await, Ok(true));
        // `with` lends the blocking handle and gives back what the
        // closure returns.
        assert_eq!(quorum.with(Quorum::is_quorate), Ok(true));
        assert_eq!(quorum.with(|q| q.quorum_type()), QuorumType::SET);

        // Two expected votes and one node left: not quorate.
        tokio::task::block_in_place(|| cluster.kill(1)).unwrap();
        until(&mut events, WAIT, |e| {
            matches!(e, QuorumEvent::Quorum { quorate: false, members, .. }
                if *members == [NodeId::new(1)])
        })
        .await;
        assert_eq!(quorum.is_quorate().await, Ok(false));
        assert_eq!(quorum.with(Quorum::is_quorate), Ok(false));
    });
}

#[test]
fn cmap_registrations_end_with_untrack_and_the_stream_holds_what_it_read() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let (cmap, mut events) = AsyncCmap::connect(Map::Icmap).await.unwrap();
                let changes = TrackType::ADD | TrackType::MODIFY | TrackType::DELETE;
                let prefix = cmap
                    .track("test.async.", changes | TrackType::PREFIX)
                    .await
                    .unwrap();
                let key = cmap.track("test.async.key", changes).await.unwrap();
                // Outside the prefix, so that only its own registration
                // reports it: once its change with value `n` comes, so
                // have those of every set before.
                let fence = cmap.track("test.fence", changes).await.unwrap();
                // Reads every event up to the fence's, whose value is `n`.
                async fn up_to_fence(
                    events: &mut corosync::tokio::CmapEvents,
                    n: u32,
                ) -> Vec<CmapEvent> {
                    let mut seen = Vec::new();
                    loop {
                        let event = next(events, WAIT, "a change up to the fence's")
                            .await
                            .expect("the stream ended")
                            .unwrap();
                        let last =
                            event.key == b"test.fence" && event.new_value == Some(Value::U32(n));
                        seen.push(event);
                        if last {
                            return seen;
                        }
                    }
                }
                // The events as (registration, kind, key, value), in a
                // fixed order (corosync tells registrations in any order).
                type Change = (TrackId, TrackEventKind, Vec<u8>, Option<Value>);
                let sorted = |mut changes: Vec<Change>| {
                    changes.sort_by_key(|c| format!("{c:?}"));
                    changes
                };
                let summary = |seen: &[CmapEvent]| {
                    sorted(
                        seen.iter()
                            .map(|e| (e.track, e.kind, e.key.clone(), e.new_value.clone()))
                            .collect(),
                    )
                };

                // `with` lends the blocking handle: what is set through it
                // is read back, and reported by each registration that
                // covers the key.
                cmap.with(|c| c.set_u32("test.async.key", 1)).unwrap();
                assert_eq!(cmap.with(|c| c.get_u32("test.async.key")), Ok(1));
                cmap.with(|c| c.set_u32("test.fence", 1)).unwrap();
                let seen = up_to_fence(&mut events, 1).await;
                let add = TrackEventKind::Add;
                let want = sorted(vec![
                    (prefix, add, b"test.async.key".to_vec(), Some(Value::U32(1))),
                    (key, add, b"test.async.key".to_vec(), Some(Value::U32(1))),
                    (fence, add, b"test.fence".to_vec(), Some(Value::U32(1))),
                ]);
                assert_eq!(summary(&seen), want);

                // Untracked, the prefix reports nothing more; the others do.
                cmap.untrack(prefix).await.unwrap();
                assert_eq!(cmap.untrack(prefix).await, Err(Error::UnknownTrack));
                cmap.with(|c| c.set_u32("test.async.key", 2)).unwrap();
                cmap.with(|c| c.set_u32("test.fence", 2)).unwrap();
                let modify = TrackEventKind::Modify;
                let want = sorted(vec![
                    (key, modify, b"test.async.key".to_vec(), Some(Value::U32(2))),
                    (fence, modify, b"test.fence".to_vec(), Some(Value::U32(2))),
                ]);
                assert_eq!(summary(&up_to_fence(&mut events, 2).await), want);

                // corosync queues a change's events before it answers the
                // set: after ten sets, the stream's first read takes all
                // ten, yields one and holds the rest.
                cmap.track("test.async.many.", TrackType::ADD | TrackType::PREFIX)
                    .await
                    .unwrap();
                for i in 0..10u32 {
                    cmap.with(|c| c.set_u32(format!("test.async.many.{i}"), i))
                        .unwrap();
                }
                assert_eq!(events.buffered(), 0);
                for i in 0..10u32 {
                    let event = next(&mut events, WAIT, "a change of test.async.many.")
                        .await
                        .expect("the stream ended")
                        .unwrap();
                    assert_eq!(event.new_value, Some(Value::U32(i)));
                    assert_eq!(events.buffered(), 9 - i as usize, "after change {i}");
                }
            });
        })
        .unwrap();
}

#[test]
fn retry_async_waits_out_try_again_and_lets_the_runtime_run_meanwhile() {
    let cluster = Cluster::single().expect("cluster");
    // The sends' policy: every millisecond, up to 50,000 times (about a
    // minute), as its documentation says.
    let every_ms = Retry::new(50_000).delays(Duration::from_millis(1), Duration::from_millis(1));
    assert_eq!(send_policy(), every_ms);
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let cmap = Cmap::new().unwrap();
                cmap.set_u32("test.retry.key", 42).unwrap();
                // A call that answers TryAgain twice, then asks corosync:
                // three calls, and corosync's answer.
                let ran_meanwhile = Arc::new(AtomicBool::new(false));
                let r = ran_meanwhile.clone();
                // On this one thread, the task runs only while the retry
                // awaits its back-off.
                tokio::spawn(async move { r.store(true, Ordering::SeqCst) });
                let mut calls = 0;
                let answer = retry_async(every_ms, || {
                    calls += 1;
                    if calls == 1 {
                        assert!(!ran_meanwhile.load(Ordering::SeqCst));
                    }
                    if calls < 3 {
                        Err(Error::TryAgain)
                    } else {
                        cmap.get_u32("test.retry.key")
                    }
                })
                .await;
                assert_eq!(answer, Ok(42));
                assert_eq!(calls, 3);
                assert!(
                    ran_meanwhile.load(Ordering::SeqCst),
                    "the back-off held the runtime's thread"
                );
                // The policy's attempts bound the calls; the last TryAgain
                // is the answer.
                let mut calls = 0;
                let answer: corosync::Result<()> = retry_async(Retry::new(4), || {
                    calls += 1;
                    Err(Error::TryAgain)
                })
                .await;
                assert_eq!((answer, calls), (Err(Error::TryAgain), 4));
                // Any other answer ends it at once.
                let mut calls = 0;
                let answer = retry_async(every_ms, || {
                    calls += 1;
                    cmap.get_u32("test.no.such.key")
                })
                .await;
                assert_eq!((answer, calls), (Err(Error::NotExist), 1));
            });
        })
        .unwrap();
}

#[test]
fn retry_async_with_send_policy_carries_a_blocking_flood_through_flow_control() {
    const COUNT: usize = 3000;
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let delivered = Arc::new(AtomicUsize::new(0));
                let out_of_order = Arc::new(AtomicUsize::new(0));
                let (d, o) = (delivered.clone(), out_of_order.clone());
                let cpg = Cpg::builder()
                    .on_deliver(move |_, m| {
                        let n = d.fetch_add(1, Ordering::Relaxed);
                        if u64::from_le_bytes(m.data[..8].try_into().unwrap()) != n as u64 {
                            o.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .connect()
                    .unwrap();
                cpg.join(&GroupName::new("async-retry").unwrap()).unwrap();
                // Faster than corosync takes it: it answers TryAgain.
                let mut payload = vec![0u8; 60 * 1024];
                let mut try_again = 0;
                for seq in 0..COUNT {
                    payload[..8].copy_from_slice(&(seq as u64).to_le_bytes());
                    retry_async(send_policy(), || {
                        let r = cpg.mcast(Guarantee::Agreed, &payload);
                        try_again += usize::from(r == Err(Error::TryAgain));
                        r
                    })
                    .await
                    .unwrap();
                }
                assert!(try_again > 0, "corosync never answered TryAgain");
                assert!(
                    // (A bound on this process's own reading: scaled
                    // under valgrind.)
                    pump_for(&cpg, slowed(Duration::from_secs(60)), || delivered
                        .load(Ordering::Relaxed)
                        == COUNT),
                    "{} of {COUNT} delivered",
                    delivered.load(Ordering::Relaxed)
                );
                assert_eq!(out_of_order.load(Ordering::Relaxed), 0);
            });
        })
        .unwrap();
}

/// `Payload::as_slice` is the message's bytes, as `Deref` and `into_vec`
/// give them.
#[test]
fn a_payload_is_the_message_bytes() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
                join(&cpg, &mut events, "async-payload").await;
                let sent: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
                cpg.mcast(Guarantee::Agreed, &sent).await.unwrap();
                let got = until(&mut events, WAIT, |e| matches!(e, CpgEvent::Message { .. })).await;
                let CpgEvent::Message { data, .. } = got else {
                    unreachable!()
                };
                let data: Payload = data;
                assert_eq!(data.as_slice(), &sent[..]);
                assert_eq!(data.as_slice(), &data[..]);
                assert_eq!(data.into_vec(), sent);
            });
        })
        .unwrap();
}
