//! What the CPG adapter leaves free while the handle is busy: a daemon
//! that hangs holds up neither the runtime nor sends and streams, and a
//! fragmented send goes out from the blocking pool while the runtime's
//! thread runs on.

use std::sync::Arc;
use std::time::Duration;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent};
use corosync_tests::asynctest::{current_thread, join, next, until};
use corosync_tests::Cluster;

/// Counts the runtime's timer ticks (one per millisecond at most) until
/// aborted: a thread that something blocks counts none.
fn ticker(runtime_ticks: &Arc<std::sync::atomic::AtomicU64>) -> tokio::task::JoinHandle<()> {
    let ticks = runtime_ticks.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })
}

#[test]
fn a_hung_daemon_holds_up_neither_the_runtime_nor_its_sends_and_streams() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let pid = node.pid().unwrap() as i32;
    /// Lets the stopped daemon go on, also if the test fails first.
    struct Resume(i32);
    impl Drop for Resume {
        fn drop(&mut self) {
            // SAFETY: a signal to the daemon this test started.
            unsafe { libc::kill(self.0, libc::SIGCONT) };
        }
    }
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().unwrap();
            join(&cpg, &mut events, "hung-daemon").await;
            // (The totem configuration may still come.)
            while next(&mut events, Duration::from_millis(200))
                .await
                .is_some()
            {}
            let ticks = Arc::new(AtomicU64::new(0));
            let ticking = ticker(&ticks);

            // Stopped, not dead: requests wait for it without a time limit.
            // SAFETY: a signal to the daemon this test started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let resume = Resume(pid);
            // Should the adapter block the thread after all, this lets the
            // test fail instead of hanging.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(3));
                drop(Resume(pid));
            });
            // A request made on the blocking pool, as the docs say, holds
            // the handle while it waits.
            let c = cpg.clone();
            let group = GroupName::new("hung-daemon").unwrap();
            let request = tokio::task::spawn_blocking(move || c.membership(&group));
            tokio::time::sleep(Duration::from_millis(50)).await;
            // A send and the stream find the handle taken and wait for it
            // without holding the runtime's only thread.
            let c = cpg.clone();
            let send = tokio::spawn(async move { c.mcast(Guarantee::Agreed, b"after").await });
            let before = ticks.load(Relaxed);
            let got = next(&mut events, Duration::from_millis(500)).await;
            let during = ticks.load(Relaxed) - before;
            assert!(got.is_none(), "{got:?}");
            assert!(
                during >= 100,
                "the runtime's thread ran {during} timer ticks in 500 ms"
            );
            assert!(!send.is_finished() && !request.is_finished());

            // Once the daemon goes on, all of it completes.
            drop(resume);
            assert_eq!(request.await.unwrap().unwrap().len(), 1);
            send.await.unwrap().unwrap();
            let message = until(&mut events, Duration::from_secs(10), |e| {
                matches!(e, CpgEvent::Message { .. })
            })
            .await;
            assert!(
                matches!(&message, CpgEvent::Message { data, .. } if &data[..] == b"after"),
                "{message:?}"
            );
            ticking.abort();
        });
    })
    .unwrap();
}

#[test]
fn a_fragmented_send_leaves_the_runtime_thread_free() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().unwrap();
                join(&cpg, &mut events, "fragmented").await;
                // Another connection, served by this runtime's only thread.
                let (other, mut other_events) = AsyncCpg::connect().unwrap();
                join(&other, &mut other_events, "fragmented-other").await;
                let atomic = cpg.with(|c| c.max_atomic_msgsize()).unwrap();
                // 64 MiB: hundreds of fragments.
                let big: Arc<Vec<u8>> = Arc::new((0..64 << 20).map(|i| (i % 251) as u8).collect());
                assert!(big.len() > 8 * atomic);
                // libcpg sends it in fragments, a round trip each: on the
                // blocking pool...
                let sending = {
                    let (cpg, big) = (cpg.clone(), big.clone());
                    tokio::spawn(async move { cpg.mcast(Guarantee::Agreed, &big).await })
                };
                // ...so that, once it has started, this thread goes on: the
                // other connection sends a message and reads it back, again
                // and again, until the big send has returned.
                tokio::task::yield_now().await;
                let mut round_trips = 0u64;
                while !sending.is_finished() {
                    other
                        .mcast(Guarantee::Agreed, &round_trips.to_le_bytes())
                        .await
                        .unwrap();
                    let back = until(&mut other_events, Duration::from_secs(30), |e| {
                        matches!(e, CpgEvent::Message { .. })
                    })
                    .await;
                    assert!(
                        matches!(&back, CpgEvent::Message { data, .. }
                            if data[..] == round_trips.to_le_bytes()),
                        "{back:?}"
                    );
                    round_trips += 1;
                    tokio::task::yield_now().await;
                }
                sending.await.unwrap().unwrap();
                // A send that held this thread would have allowed none; one
                // that gave it back only now and then, one or two (the last
                // may have begun just as the big send returned).
                assert!(
                    round_trips >= 3,
                    "{round_trips} round trips of the other connection while the fragments went out"
                );
                let message = until(&mut events, Duration::from_secs(30), |e| {
                    matches!(e, CpgEvent::Message { .. })
                })
                .await;
                assert!(
                    matches!(&message, CpgEvent::Message { data, .. } if data[..] == big[..]),
                    "the message came back changed"
                );
            });
        })
        .unwrap();
}
