//! What a handle does when its daemon goes away under it: a fragmented CPG
//! sender gets `Library` promptly (not libcpg's garbage codes or TRY_AGAIN
//! for ever), in the blocking and the async path, and a cmap registration
//! whose delete the library refused keeps its closure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosync::cmap::{Cmap, TrackType};
use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::tokio::AsyncCpg;
use corosync::{Error, Retry};
use corosync_tests::asynctest::on_node_async;
use corosync_tests::bounded::join_within;
use corosync_tests::events::WAIT;
use corosync_tests::Cluster;

/// How long a send that was already inside libcpg when the daemon died may
/// take to say `Library`: libqb waits for a reply in slices of 2 s
/// (`QB_IPC_MAX_WAIT_MS`) and checks the connection between them, and
/// libcpg retries a full ring for up to a second; a little is added for the
/// kill and the thread wake-ups.
const IN_FLIGHT: Duration = Duration::from_secs(4);

/// How long a send made after the daemon died may take: the bindings see
/// the hung-up descriptor before calling libcpg.
const PROMPT: Duration = Duration::from_secs(1);

/// What a fragmented sender saw: how many messages went out, its first
/// error and when it came, and the next send's error and how long it took.
struct Outcome {
    sent: usize,
    error: Error,
    at: Instant,
    next: Error,
    next_took: Duration,
}

/// Reads some of the sender's own messages, so that flow control lifts.
/// Once the daemon is gone this read fails too, with `Library`; the send
/// after it, which the test is about, reports the same.
fn drain(cpg: &Cpg) {
    match cpg.dispatch_some(64) {
        Ok(_) | Err(Error::Library) => {}
        Err(e) => panic!("reading the sender's own messages: {e:?}"),
    }
}

#[test]
fn a_fragmented_sender_gets_library_promptly_when_its_daemon_is_killed() {
    let mut cluster = Cluster::single().expect("cluster");
    let cpg = cluster.node(0).run(Cpg::new).unwrap().unwrap();
    cpg.join(&GroupName::new("fragments").unwrap()).unwrap();
    let big = vec![7u8; cpg.max_atomic_msgsize().unwrap() * 2 + 1];
    let (started_tx, started) = mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        loop {
            // As a program would: retry while corosync says TRY_AGAIN,
            // reading its own messages meanwhile.
            let result = Retry::new(30)
                .run_with_sleep(|| cpg.mcast(Guarantee::Agreed, &big), |_| drain(&cpg));
            if let Err(error) = result {
                let at = Instant::now();
                let next = cpg.mcast(Guarantee::Agreed, &big).unwrap_err();
                return Outcome {
                    sent,
                    error,
                    at,
                    next,
                    next_took: at.elapsed(),
                };
            }
            sent += 1;
            if sent == 3 {
                started_tx.send(()).unwrap();
            }
            drain(&cpg);
        }
    });
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("sending");
    cluster.kill(0).unwrap();
    let killed = Instant::now();
    let outcome = join_within(
        sender,
        WAIT,
        "the fragmented sender after its daemon was killed",
    );
    assert!(outcome.sent >= 3);
    assert_eq!(outcome.error, Error::Library);
    assert!(!outcome.error.is_retryable());
    let after = outcome.at.saturating_duration_since(killed);
    assert!(after < IN_FLIGHT, "Library came {after:?} after the kill");
    assert_eq!(outcome.next, Error::Library);
    assert!(
        outcome.next_took < PROMPT,
        "the next send took {:?}",
        outcome.next_took
    );
}

#[test]
fn an_async_fragmented_send_gets_library_when_the_daemon_is_gone() {
    let mut cluster = Cluster::single().expect("cluster");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = cluster.node(0);
    let (cpg, _events) = runtime
        .block_on(on_node_async(node, AsyncCpg::connect))
        .unwrap();
    runtime
        .block_on(cpg.join(&GroupName::new("fragments").unwrap()))
        .unwrap();
    let big = vec![7u8; cpg.with(|c| c.max_atomic_msgsize()).unwrap() * 2 + 1];
    runtime
        .block_on(cpg.mcast(Guarantee::Agreed, &big))
        .unwrap();
    cluster.kill(0).unwrap();
    // (Killed between sends: nothing is in flight inside libcpg.)
    let killed = Instant::now();
    let sends = async {
        loop {
            if let Err(e) = cpg.mcast(Guarantee::Agreed, &big).await {
                return e;
            }
        }
    };
    let result = runtime
        .block_on(async { tokio::time::timeout(WAIT, sends).await })
        .unwrap_or_else(|_| panic!("async sends after the kill: no error within {WAIT:?}"));
    assert_eq!(result, Error::Library);
    assert!(
        killed.elapsed() < PROMPT,
        "Library came {:?} after the kill",
        killed.elapsed()
    );
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_cmap_track_delete_the_library_refuses_keeps_the_closure_until_finalize() {
    let mut cluster = Cluster::single().expect("cluster");
    let cmap = cluster.node(0).run(Cmap::new).unwrap().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let id = cmap
        .track_add("test.gone", TrackType::MODIFY, move |_, _| {
            // (Only to move the flag into the closure, which owns it.)
            let _ = &flag;
        })
        .unwrap()
        .detach();
    cluster.stop(0).unwrap();
    // libcmap cannot reach the daemon: it keeps the registration and its
    // user data, and so do the bindings.
    // (Library, libcmap's answer; not UnknownTrack, the bindings' own
    // refusal of an id they do not hold.)
    assert_eq!(cmap.track_delete(id), Err(Error::Library));
    assert!(!dropped.load(Ordering::SeqCst), "closure kept");
    // Still a registration of this handle: a second try reaches libcmap.
    assert_eq!(cmap.track_delete(id), Err(Error::Library));
    drop(cmap);
    assert!(dropped.load(Ordering::SeqCst), "freed with the handle");
}
