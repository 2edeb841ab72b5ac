//! What the CPG adapter leaves free while the handle is busy: a daemon
//! that hangs holds up neither the runtime nor sends and streams, and a
//! fragmented send goes out from the blocking pool while the runtime's
//! thread runs on.
//!
//! A stopped daemon (SIGSTOP) makes "busy" certain: nothing that needs its
//! answer can finish until it goes on, so whatever the runtime's only
//! thread does meanwhile ([`Stopped::answer_pings`]) happened while the
//! send, request or stream was waiting.

use std::os::fd::AsRawFd;
use std::sync::Arc;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent};
use corosync_tests::asynctest::{current_thread, join, next, until, Stopped};
use corosync_tests::events::WAIT;
use corosync_tests::{wait_readable, Cluster};

/// Pings the runtime answers while the daemon is stopped.
const PINGS: usize = 100;

#[test]
fn a_hung_daemon_holds_up_neither_the_runtime_nor_its_sends_and_streams() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let pid = node.pid().unwrap() as i32;
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "hung-daemon").await;
            // The stream holds nothing, and its own message waits in the
            // connection's event ring: the stream's next event needs a
            // dispatch, and so the handle.
            while events.buffered() > 0 {
                next(&mut events, WAIT, "an event the stream holds").await;
            }
            cpg.mcast(Guarantee::Agreed, b"before").await.unwrap();
            assert!(
                wait_readable(&cpg.with(|c| c.as_raw_fd()), WAIT),
                "the message never reached the event ring"
            );

            // Stopped, not dead: requests wait for it without a time limit.
            let stopped = Stopped::new(pid);
            // A request made on the blocking pool, as the docs say, holds
            // the handle while it waits.
            let (held, holding) = tokio::sync::oneshot::channel();
            let c = cpg.clone();
            let group = GroupName::new("hung-daemon").unwrap();
            let request = tokio::task::spawn_blocking(move || {
                c.with(|cpg| {
                    held.send(()).unwrap();
                    cpg.membership(&group)
                })
            });
            holding.await.unwrap();
            // A send finds the handle taken and waits for it.
            let c = cpg.clone();
            let send = tokio::spawn(async move { c.mcast(Guarantee::Agreed, b"after").await });
            tokio::task::yield_now().await;
            assert!(!send.is_finished());
            // The stream waits for the handle too, while the runtime's only
            // thread answers pings; only then does the daemon go on. The
            // stream cannot yield before: the request holds the handle
            // until the daemon answers it.
            let stream_yielded = std::sync::atomic::AtomicBool::new(false);
            let ((), first) = tokio::join!(
                async {
                    stopped.answer_pings(PINGS).await;
                    assert!(
                        !stream_yielded.load(std::sync::atomic::Ordering::SeqCst),
                        "the stream dispatched the handle a request held"
                    );
                },
                async {
                    let event = next(&mut events, WAIT, "the message sent before the stop").await;
                    stream_yielded.store(true, std::sync::atomic::Ordering::SeqCst);
                    event
                },
            );
            assert!(
                matches!(&first, Some(Ok(CpgEvent::Message { data, .. })) if &data[..] == b"before"),
                "{first:?}"
            );

            // Once the daemon goes on, all of it completes.
            assert_eq!(request.await.unwrap().unwrap().len(), 1);
            send.await.unwrap().unwrap();
            let message = until(&mut events, WAIT, |e| {
                matches!(e, CpgEvent::Message { .. })
            })
            .await;
            assert!(
                matches!(&message, CpgEvent::Message { data, .. } if &data[..] == b"after"),
                "{message:?}"
            );
        });
    })
    .unwrap();
}

#[test]
fn a_fragmented_send_leaves_the_runtime_thread_free() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let pid = node.pid().unwrap() as i32;
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "fragmented").await;
            let atomic = cpg.with(|c| c.max_atomic_msgsize()).unwrap();
            // 64 MiB: hundreds of fragments.
            let big: Arc<Vec<u8>> = Arc::new((0..64 << 20).map(|i| (i % 251) as u8).collect());
            assert!(big.len() > 8 * atomic);
            // libcpg sends it in fragments, a round trip each; with the
            // daemon stopped, the first of them waits for its answer.
            let stopped = Stopped::new(pid);
            let sending = {
                let (cpg, big) = (cpg.clone(), big.clone());
                tokio::spawn(async move { cpg.mcast(Guarantee::Agreed, &big).await })
            };
            // (The send has started: its task ran first.)
            tokio::task::yield_now().await;
            // A send that held this thread would not let it get here, nor
            // answer pings, until the daemon went on; on the blocking pool
            // it does not.
            stopped.answer_pings(PINGS).await;
            sending.await.unwrap().unwrap();
            let message = until(&mut events, WAIT, |e| matches!(e, CpgEvent::Message { .. })).await;
            assert!(
                matches!(&message, CpgEvent::Message { data, .. } if data[..] == big[..]),
                "the message came back changed"
            );
        });
    })
    .unwrap();
}
