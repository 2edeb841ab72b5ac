//! The tokio adapters on real clusters: one runtime drives CPG, quorum and
//! cmap streams at once; node failures show up on all of them; a stopped
//! daemon ends each stream (votequorum and cfg too) with an error;
//! concurrent tasks share one handle.

use std::collections::HashSet;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosync::cmap::{Map, TrackEventKind, TrackType, Value};
use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{
    AsyncCfg, AsyncCmap, AsyncCpg, AsyncQuorum, AsyncVotequorum, CmapEvent, CpgEvent, CpgEvents,
    QuorumEvent,
};
use corosync::{NodeId, TrackFlags};
use corosync_tests::{Cluster, Node};
use futures_core::Stream;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` in `node`'s network namespace with the current runtime entered,
/// so adapters made there talk to that node's daemon and register with
/// this runtime.
fn on_node<T: Send>(node: &Node, f: impl FnOnce() -> T + Send) -> T {
    let rt = tokio::runtime::Handle::current();
    node.run(move || {
        let _guard = rt.enter();
        f()
    })
    .unwrap()
}

async fn next<S: Stream + ?Sized>(s: &mut Pin<Box<S>>, timeout: Duration) -> Option<S::Item> {
    tokio::time::timeout(timeout, poll_fn(|cx| s.as_mut().poll_next(cx)))
        .await
        .ok()
        .flatten()
}

/// Reads events until `pred` holds for one; panics after `timeout`.
async fn until<S, T, E: std::fmt::Debug>(
    s: &mut Pin<Box<S>>,
    timeout: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> T
where
    S: Stream<Item = Result<T, E>> + ?Sized,
    T: std::fmt::Debug,
{
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(s, left).await {
            Some(Ok(event)) => {
                if pred(&event) {
                    return event;
                }
                seen.push(format!("{event:?}"));
            }
            other => panic!("stream ended or timed out ({other:?}); saw {seen:?}"),
        }
    }
}

#[test]
fn one_runtime_sees_a_node_die_on_three_streams_and_a_stopped_daemon_ends_them() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let group = GroupName::new("async-watch").unwrap();
        let (cpg, cpg_events) = on_node(cluster.node(0), AsyncCpg::connect).unwrap();
        let (_peer, mut peer_events) = on_node(cluster.node(2), || {
            let (p, e) = AsyncCpg::connect().unwrap();
            p.join(&GroupName::new("async-watch").unwrap()).unwrap();
            (p, Box::pin(e))
        });
        let (_quorum, quorum_events) = on_node(cluster.node(0), || {
            AsyncQuorum::connect(TrackFlags::CURRENT | TrackFlags::CHANGES)
        })
        .unwrap();
        let (cmap, cmap_events) =
            on_node(cluster.node(0), || AsyncCmap::connect(Map::Icmap)).unwrap();
        cmap.track(
            "runtime.members.",
            TrackType::ADD | TrackType::MODIFY | TrackType::DELETE | TrackType::PREFIX,
        )
        .unwrap();
        cpg.join(&group).unwrap();
        let (mut cpg_events, mut quorum_events, mut cmap_events) = (
            Box::pin(cpg_events),
            Box::pin(quorum_events),
            Box::pin(cmap_events),
        );
        let long = Duration::from_secs(30);
        until(
            &mut cpg_events,
            long,
            |e| matches!(e, CpgEvent::ConfChange { members, .. } if members.len() == 2),
        )
        .await;
        let first = until(
            &mut quorum_events,
            long,
            |e| matches!(e, QuorumEvent::Quorum { members, .. } if members.len() == 3),
        )
        .await;
        let QuorumEvent::Quorum {
            ring_id: before, ..
        } = first
        else {
            unreachable!()
        };
        // Keep the peer's stream drained while we wait.
        let peer = tokio::spawn(async move {
            while next(&mut peer_events, Duration::from_secs(60))
                .await
                .is_some()
            {}
        });

        // Kill node 3: all three streams report it, polled together.
        tokio::task::block_in_place(|| cluster.kill(2)).unwrap();
        let node3 = NodeId::new(3);
        let (mut cpg_seen, mut quorum_seen, mut cmap_seen) = (false, false, false);
        let deadline = Instant::now() + long;
        while !(cpg_seen && quorum_seen && cmap_seen) {
            assert!(
                Instant::now() < deadline,
                "cpg {cpg_seen} quorum {quorum_seen} cmap {cmap_seen}"
            );
            tokio::select! {
                Some(e) = poll_fn(|cx| cpg_events.as_mut().poll_next(cx)) => {
                    if let CpgEvent::ConfChange { left, .. } = e.unwrap() {
                        cpg_seen |= left.iter().any(|a| a.nodeid() == node3);
                    }
                }
                Some(e) = poll_fn(|cx| quorum_events.as_mut().poll_next(cx)) => {
                    if let QuorumEvent::Quorum { quorate, members, ring_id } = e.unwrap() {
                        // (A new membership: a new, higher ring id.)
                        quorum_seen |= quorate
                            && members == [NodeId::new(1), NodeId::new(2)]
                            && ring_id.seq > before.seq;
                    }
                }
                Some(e) = poll_fn(|cx| cmap_events.as_mut().poll_next(cx)) => {
                    let CmapEvent { kind, key, new_value, old_value, .. } = e.unwrap();
                    cmap_seen |= kind == TrackEventKind::Modify
                        && key == b"runtime.members.3.status"
                        && new_value == Some(Value::string("left"))
                        && old_value == Some(Value::string("joined"));
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }

        // Stop the local daemon: every stream ends with an error within a
        // second, and then ends.
        tokio::task::block_in_place(|| cluster.stop(0)).unwrap();
        let stopped = Instant::now();
        let results = tokio::join!(
            drain(&mut cpg_events),
            drain(&mut quorum_events),
            drain(&mut cmap_events),
        );
        for (name, ended_with_error) in [
            ("cpg", results.0),
            ("quorum", results.1),
            ("cmap", results.2),
        ] {
            assert!(ended_with_error, "{name} stream did not end with an error");
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(1),
            "took {:?}",
            stopped.elapsed()
        );
        // Sending on the dead connection is an error, not a hang.
        let send =
            tokio::time::timeout(Duration::from_secs(5), cpg.mcast(Guarantee::Agreed, b"x")).await;
        assert!(matches!(send, Ok(Err(_))), "{send:?}");
        peer.abort();
    });
}

/// Reads a stream to its end; true when the last item was an error.
/// Checks that `s`, whose daemon has just gone, ends with an error within
/// a second.
async fn ends_with_error_within_a_second<S, T, E>(name: &str, s: &mut Pin<Box<S>>)
where
    S: Stream<Item = Result<T, E>> + ?Sized,
{
    let start = Instant::now();
    assert!(drain(s).await, "{name} stream did not end with an error");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{name} stream took {:?}",
        start.elapsed()
    );
}

async fn drain<S, T, E>(s: &mut Pin<Box<S>>) -> bool
where
    S: Stream<Item = Result<T, E>> + ?Sized,
{
    let mut last_err = false;
    while let Some(item) = next(s, Duration::from_secs(5)).await {
        last_err = item.is_err();
    }
    last_err
}

#[test]
fn many_tasks_multicast_through_one_handle_in_one_order() {
    let cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let group = GroupName::new("async-many").unwrap();
        let (a, a_events) = on_node(cluster.node(0), AsyncCpg::connect).unwrap();
        let (b, b_events) = on_node(cluster.node(1), AsyncCpg::connect).unwrap();
        a.join(&group).unwrap();
        b.join(&group).unwrap();
        let (mut a_events, b_events) = (Box::pin(a_events), Box::pin(b_events));
        until(
            &mut a_events,
            Duration::from_secs(20),
            |e| matches!(e, CpgEvent::ConfChange { members, .. } if members.len() == 2),
        )
        .await;

        const TASKS: u32 = 16;
        const EACH: u32 = 200;
        let total = (TASKS * EACH) as usize;
        let collect = |mut events: Pin<Box<CpgEvents>>| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < total {
                    match next(&mut events, Duration::from_secs(60)).await {
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
fn adapters_refuse_to_start_outside_a_runtime() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let refused = |r: corosync::Result<()>| matches!(r, Err(corosync::Error::NoRuntime));
    assert!(refused(node.run(|| AsyncCpg::connect().map(drop)).unwrap()));
    let changes = TrackFlags::CHANGES;
    assert!(refused(
        node.run(|| AsyncQuorum::connect(changes).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| AsyncVotequorum::connect(changes).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| AsyncCmap::connect(Map::Icmap).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| AsyncCfg::connect(changes).map(drop)).unwrap()
    ));
    // Inside one, tracking flags that would report nothing are refused
    // (the stream would never yield).
    let refused = |r: corosync::Result<()>| matches!(r, Err(corosync::Error::InvalidInput { .. }));
    let rt = current_thread();
    let empty = TrackFlags::empty();
    let in_rt = |f: fn(TrackFlags) -> corosync::Result<()>| {
        let handle = rt.handle().clone();
        node.run(move || {
            let _guard = handle.enter();
            f(empty)
        })
        .unwrap()
    };
    assert!(refused(in_rt(|f| AsyncQuorum::connect(f).map(drop))));
    assert!(refused(in_rt(|f| AsyncVotequorum::connect(f).map(drop))));

    // A runtime without its IO or time driver fails at once, as tokio's
    // own types do, not at the first poll.
    for (io, time, says) in [(false, true, "IO"), (true, false, "timer")] {
        let message = cluster
            .node(0)
            .run(move || {
                let mut builder = tokio::runtime::Builder::new_current_thread();
                if io {
                    builder.enable_io();
                }
                if time {
                    builder.enable_time();
                }
                let rt = builder.build().unwrap();
                let _guard = rt.enter();
                let panic = std::panic::catch_unwind(AsyncCpg::connect)
                    .map(drop)
                    .unwrap_err();
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            })
            .unwrap();
        assert!(
            message.as_deref().is_some_and(|m| m.contains(says)),
            "io {io}, time {time}: {message:?}"
        );
    }
}

/// The leader-election example: leadership follows node failures, and the
/// leader holds its work while its node is not quorate.
#[test]
fn the_leader_example_follows_failures_and_quorum() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let program = corosync_tests::example_binary("leader").unwrap();
    let start = |i: usize| {
        let mut child = cluster
            .node(i)
            .command(program.to_str().unwrap())
            .unwrap()
            .arg("60")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let rx = corosync_tests::lines_of(child.stdout.take().unwrap());
        (child, rx)
    };
    let wait_for = |rx: &std::sync::mpsc::Receiver<String>, text: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.contains(text) {
                    return line;
                }
                seen.push(line);
            }
        }
        panic!("no line with {text:?}; saw {seen:?}");
    };
    let mut nodes: Vec<_> = (0..3).map(start).collect();
    // Everyone agrees node 1 leads once all three joined; node 1 works.
    for (i, (_, rx)) in nodes.iter().enumerate() {
        let line = wait_for(rx, "members: nodes 1 2 3; ");
        assert!(line.contains("leader: node 1 pid"), "{line}");
        if i == 0 {
            wait_for(rx, "leader at work");
        }
    }
    // Node 1 dies: node 2 takes over and works.
    cluster.kill(0).unwrap();
    wait_for(&nodes[1].1, "new leader: node 2");
    wait_for(&nodes[2].1, "new leader: node 2");
    wait_for(&nodes[1].1, "leader at work");
    // Node 3 dies too: node 2 alone is not quorate and holds its work.
    cluster.kill(2).unwrap();
    wait_for(&nodes[1].1, "not quorate: holding work");
    std::thread::sleep(Duration::from_millis(1500));
    let idle: Vec<String> = nodes[1].1.try_iter().collect();
    assert!(
        !idle.iter().any(|l| l.contains("leader at work")),
        "worked without quorum: {idle:?}"
    );
    // Node 3 returns: quorum and work resume.
    cluster.restart(2).unwrap();
    wait_for(&nodes[1].1, "quorate: work resumes");
    wait_for(&nodes[1].1, "leader at work");
    for (child, _) in &mut nodes {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Votequorum and CFG streams: an expected-votes change and a shutdown
/// request arrive as events, and the async answer lets the shutdown go on.
#[test]
fn votequorum_and_cfg_streams() {
    use corosync::cfg::ShutdownMode;
    use corosync::tokio::{AsyncCfg, AsyncVotequorum, CfgEvent, VotequorumEvent};
    let mut cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let (vq, vq_events) = on_node(cluster.node(0), || {
            AsyncVotequorum::connect(TrackFlags::CURRENT | TrackFlags::CHANGES)
        })
        .unwrap();
        let mut vq_events = Box::pin(vq_events);
        // Quorate with both nodes, and the node list with the ring id it
        // belongs to (in either order).
        let (mut quorate, mut listed) = (false, false);
        until(&mut vq_events, Duration::from_secs(20), |e| {
            match e {
                VotequorumEvent::Quorum {
                    quorate: true,
                    nodes,
                } if nodes.len() == 2 => quorate = true,
                VotequorumEvent::NodeList { ring_id, nodes }
                    if nodes.len() == 2
                        && [1, 2].iter().all(|&id| nodes.contains(&NodeId::new(id)))
                        && ring_id.seq > 0 =>
                {
                    listed = true
                }
                _ => {}
            }
            quorate && listed
        })
        .await;
        vq.with(|v| v.set_expected(3)).unwrap();
        until(&mut vq_events, Duration::from_secs(20), |e| {
            matches!(e, VotequorumEvent::ExpectedVotes(3))
        })
        .await;

        // Connecting tracks: corosync asks this connection.
        let (cfg, cfg_events) =
            on_node(cluster.node(1), || AsyncCfg::connect(TrackFlags::CHANGES)).unwrap();
        let mut cfg_events = Box::pin(cfg_events);
        let asker = on_node(cluster.node(1), || corosync::cfg::Cfg::new().unwrap());
        // try_shutdown blocks until the votes are in: run it on a thread.
        let request = std::thread::spawn(move || asker.try_shutdown(ShutdownMode::Request));
        let event = until(&mut cfg_events, Duration::from_secs(20), |_| true).await;
        assert_eq!(event, CfgEvent::Shutdown(ShutdownMode::Request));
        cfg.reply_to_shutdown(true).unwrap();
        assert_eq!(request.join().unwrap(), Ok(()));
        tokio::task::block_in_place(|| cluster.wait_for_exit(1, Duration::from_secs(20))).unwrap();
        // Its daemon gone, the cfg stream ends with an error within a
        // second; so does the votequorum stream when its daemon stops.
        ends_with_error_within_a_second("cfg", &mut cfg_events).await;
        tokio::task::block_in_place(|| cluster.stop(0)).unwrap();
        ends_with_error_within_a_second("votequorum", &mut vq_events).await;
    });
}

/// Joins `group` and reads `events` up to the join's configuration change.
async fn join(cpg: &AsyncCpg, events: &mut Pin<Box<CpgEvents>>, group: &str) {
    cpg.join(&GroupName::new(group).unwrap()).unwrap();
    until(
        events,
        Duration::from_secs(10),
        |e| matches!(e, CpgEvent::ConfChange { joined, .. } if !joined.is_empty()),
    )
    .await;
}

/// How many times corosync logged that it had to hold events for a client
/// in its out-queue.
fn out_queue_episodes(node: &Node) -> usize {
    corosync_tests::out_queue_episodes(&node.log()).len()
}

/// 400 × 64 KiB is 25 MiB, far beyond a client's 1 MiB event ring.
const FLOOD: u64 = 400;
const FLOOD_SIZE: usize = 64 * 1024;

fn stamped(seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; FLOOD_SIZE];
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf
}

fn stamp_of(data: &[u8]) -> u64 {
    u64::from_le_bytes(data[..8].try_into().unwrap())
}

/// Checks one stream item of a stamped flood read back in order: a message
/// must be number `*seq` and `size` bytes long (then `*seq` moves on);
/// other events are passed over; an error or the end fails the test.
fn read_stamped(event: Option<corosync::Result<CpgEvent>>, size: usize, seq: &mut u64) {
    match event {
        Some(Ok(CpgEvent::Message { data, .. })) => {
            assert_eq!(data.len(), size);
            assert_eq!(stamp_of(&data), *seq, "out of order");
            *seq += 1;
        }
        Some(Ok(_)) => {}
        other => panic!("after {seq} messages: {other:?}"),
    }
}

/// Sends `n` flood messages from a blocking handle that reads nothing
/// until corosync has had time to deliver them all, then reads them.
fn burst_without_reading(node: &Node, group: &str, n: u64) {
    node.run(|| {
        use corosync::cpg::Cpg;
        use corosync::{DispatchMode, Error};
        let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let d = delivered.clone();
        let out_of_order = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let o = out_of_order.clone();
        let cpg = Cpg::builder()
            .on_deliver(move |_, m| {
                let n = d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if stamp_of(m.data) != n {
                    o.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .connect()
            .unwrap();
        cpg.join(&GroupName::new(group).unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        for seq in 0..n {
            loop {
                match cpg.mcast(Guarantee::Agreed, &stamped(seq)) {
                    Err(Error::TryAgain) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    other => break other.unwrap(),
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        while delivered.load(std::sync::atomic::Ordering::Relaxed) < n {
            assert!(Instant::now() < deadline, "burst not delivered");
            cpg.dispatch(DispatchMode::One).unwrap();
        }
        assert_eq!(out_of_order.load(std::sync::atomic::Ordering::Relaxed), 0);
    })
    .unwrap();
}

/// Sends the flood from an AsyncCpg (with `window` set, if given) on a
/// current-thread runtime, whose sender never yields while sends succeed,
/// and only then reads it back, checking that it arrives whole and in
/// order.
fn async_flood(node: &Node, group: &str, window: Option<usize>) {
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, events) = AsyncCpg::connect().unwrap();
            let mut events = Box::pin(events);
            join(&cpg, &mut events, group).await;
            if let Some(bytes) = window {
                cpg.set_send_window(bytes);
            }
            // Nothing reads the stream while this task sends: the sends
            // must not wait for a reader.
            let start = Instant::now();
            for seq in 0..FLOOD {
                cpg.mcast(Guarantee::Agreed, &stamped(seq)).await.unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the flood took {:?}",
                start.elapsed()
            );
            let mut seq = 0;
            while seq < FLOOD {
                let event = next(&mut events, Duration::from_secs(30)).await;
                read_stamped(event, FLOOD_SIZE, &mut seq);
            }
        });
    })
    .unwrap();
}

#[test]
fn a_sender_that_outruns_its_stream_does_not_bury_its_event_queue() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);

    // Control: a blocking sender that never dispatches while it sends
    // makes corosync queue events for it (so the log check below can
    // fail).
    let before = out_queue_episodes(node);
    burst_without_reading(node, "outq-control", FLOOD);
    let control = out_queue_episodes(node) - before;
    assert!(
        control > 0,
        "corosync did not queue events for a client that never read them"
    );

    // The same flood from an AsyncCpg on a current-thread runtime, whose
    // sender never yields while sends succeed: the send window keeps the
    // event ring from filling, so corosync never queues.
    let before = out_queue_episodes(node);
    async_flood(node, "outq-async", None);
    let episodes = out_queue_episodes(node) - before;
    assert_eq!(
        episodes, 0,
        "corosync queued events for the async sender {episodes} times (control: {control})"
    );
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
                let (cpg, events) = AsyncCpg::connect().unwrap();
                let mut events = Box::pin(events);
                // Before a join a send is refused, and takes nothing from
                // the window (filled to the last message below).
                assert_eq!(
                    cpg.mcast(Guarantee::Agreed, b"lost").await,
                    Err(Error::NotExist)
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
                    let event = until(&mut events, Duration::from_secs(10), message).await;
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
                let local = cpg.local_nodeid().unwrap();
                match until(&mut events, Duration::from_secs(10), message).await {
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
fn the_send_window_is_the_event_ring() {
    use corosync_tests::event_size;

    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let window = node
        .run(|| runtime().block_on(async { AsyncCpg::connect().map(|(cpg, _)| cpg.send_window()) }))
        .unwrap()
        .unwrap();
    // Corosync's usual build: a 1 MiB ring.
    assert_eq!(window, 1 << 20);
    // As many messages as the window holds fit in the ring: corosync
    // queues none of them.
    let fits = (window / event_size(FLOOD_SIZE)) as u64;
    let before = out_queue_episodes(node);
    burst_without_reading(node, "ring-fits", fits);
    assert_eq!(
        out_queue_episodes(node),
        before,
        "{fits} messages of {FLOOD_SIZE} bytes overflowed the event ring"
    );
    // Two more do not (libqb makes the ring 4 KiB larger than asked, so one
    // more still fits): the window is not much smaller than the ring.
    burst_without_reading(node, "ring-overflows", fits + 2);
    assert!(
        out_queue_episodes(node) > before,
        "{} messages of {FLOOD_SIZE} bytes fit in the event ring",
        fits + 2
    );
}

#[test]
fn concurrent_senders_share_the_window() {
    use corosync_tests::event_size;

    // 200 KiB messages: the window holds 5 and so does the ring; a sixth
    // on the way overflows it.
    const SIZE: usize = 200 * 1024;
    const TASKS: u64 = 16;
    const EACH: u64 = 16;
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    let rt = runtime();
    rt.block_on(async {
        let (cpg, events) = on_node(node, AsyncCpg::connect).unwrap();
        assert_eq!(cpg.send_window() / event_size(SIZE), 5);
        let mut events = Box::pin(events);
        join(&cpg, &mut events, "async-shared-window").await;
        let reader = tokio::spawn(async move {
            let mut last = [None::<u64>; TASKS as usize];
            let mut got = 0;
            while got < TASKS * EACH {
                match next(&mut events, Duration::from_secs(30)).await {
                    Some(Ok(CpgEvent::Message { data, .. })) => {
                        let (task, seq) = (data[0] as usize, stamp_of(&data[8..]));
                        assert_eq!(seq, last[task].map_or(0, |s| s + 1), "task {task}");
                        last[task] = Some(seq);
                        got += 1;
                    }
                    Some(Ok(_)) => {}
                    other => panic!("after {got} messages: {other:?}"),
                }
            }
        });
        let cpg = Arc::new(cpg);
        let senders: Vec<_> = (0..TASKS)
            .map(|t| {
                let cpg = cpg.clone();
                tokio::spawn(async move {
                    let mut msg = vec![t as u8; SIZE];
                    for seq in 0..EACH {
                        msg[8..16].copy_from_slice(&seq.to_le_bytes());
                        cpg.mcast(Guarantee::Agreed, &msg).await.unwrap();
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        reader.await.unwrap();
    });
    let episodes = out_queue_episodes(node) - before;
    assert_eq!(
        episodes, 0,
        "corosync queued events for the handle {episodes} times"
    );
}

/// Sends `COUNT` stamped 1 KiB messages through `cpg` (with `window` set
/// first, if given) while another task reads them back slowly, and
/// returns how far the sender got ahead of the reader, the most the
/// window allows, and the stream.
async fn ahead_of_a_slow_reader(
    cpg: &AsyncCpg,
    mut events: Pin<Box<CpgEvents>>,
    window: Option<usize>,
) -> (u64, u64, Pin<Box<CpgEvents>>) {
    use corosync_tests::event_size;
    use std::sync::atomic::{AtomicU64, Ordering};

    if let Some(bytes) = window {
        cpg.set_send_window(bytes);
    }
    assert_eq!(cpg.send_window(), window.unwrap_or(1 << 20));
    // Everything on its way counts, so the sender can be at most this
    // many messages ahead of the reader (one, if none fits).
    let bound = ((cpg.send_window() / event_size(PACED_SIZE)) as u64).max(1);
    let sent = Arc::new(AtomicU64::new(0));
    let s = sent.clone();
    // A reader slower than the sender (a few µs of work per message)
    // but never idle for long.
    let reader = tokio::spawn(async move {
        let (mut seq, mut ahead) = (0u64, 0u64);
        while seq < PACED_COUNT {
            match next(&mut events, Duration::from_secs(30)).await {
                Some(Ok(CpgEvent::Message { data, .. })) => {
                    assert_eq!(stamp_of(&data), seq, "out of order");
                    seq += 1;
                    ahead = ahead.max(s.load(Ordering::Relaxed).saturating_sub(seq));
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_micros(20) {
                        std::hint::spin_loop();
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("after {seq} messages: {other:?}"),
            }
        }
        (ahead, events)
    });
    let mut buf = vec![0u8; PACED_SIZE];
    for seq in 0..PACED_COUNT {
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let (ahead, events) = reader.await.unwrap();
    (ahead, bound, events)
}

const PACED_SIZE: usize = 1024;
const PACED_COUNT: u64 = 4000;

#[test]
fn a_sender_is_paced_by_the_task_reading_its_stream() {
    let cluster = Cluster::single().expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let (cpg, events) = on_node(cluster.node(0), AsyncCpg::connect).unwrap();
        let mut events = Box::pin(events);
        join(&cpg, &mut events, "async-paced").await;
        let (ahead, bound, events) = ahead_of_a_slow_reader(&cpg, events, None).await;
        assert!(
            ahead <= bound,
            "the sender got {ahead} messages ahead of its reader (window: {bound})"
        );
        // The window was what held the sender back, not its own speed.
        assert!(
            ahead > bound / 2,
            "the sender was only {ahead} messages ahead"
        );

        // Without a stream, nothing waits for a reader: a long batch goes
        // out at full speed.
        drop(events);
        let start = Instant::now();
        let mut buf = vec![0u8; PACED_SIZE];
        for seq in 0..PACED_COUNT {
            buf[..8].copy_from_slice(&seq.to_le_bytes());
            cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{PACED_COUNT} sends without a stream took {:?}",
            start.elapsed()
        );
    });
}

#[test]
fn a_smaller_send_window_paces_closer_and_a_bigger_one_lets_corosync_queue() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    // One thread for sender and reader: the reader cannot be held up
    // while the sender runs on (which after about 20 ms would make the
    // window stop counting what waits in the stream), so the bounds below
    // are exact.
    let rt = current_thread();
    rt.block_on(async {
        let (cpg, events) = on_node(node, AsyncCpg::connect).unwrap();
        let mut events = Box::pin(events);
        join(&cpg, &mut events, "async-window").await;
        // 256 KiB: a quarter of the messages the ring would allow.
        let (ahead, bound, events) = ahead_of_a_slow_reader(&cpg, events, Some(256 << 10)).await;
        assert!(
            ahead <= bound && ahead > bound / 2,
            "a 256 KiB window let the sender get {ahead} messages ahead (at most {bound})"
        );
        // A zero window: one message on the way at a time.
        let (ahead, bound, _events) = ahead_of_a_slow_reader(&cpg, events, Some(0)).await;
        assert_eq!(bound, 1);
        assert!(
            ahead <= 1,
            "with a zero window the sender got {ahead} messages ahead (at most 1)"
        );
    });

    // Past the ring, corosync holds the rest in its out-queue: the flood
    // the default window keeps out of it (see
    // a_sender_that_outruns_its_stream_does_not_bury_its_event_queue) now
    // goes there, and still arrives whole and in order.
    let before = out_queue_episodes(node);
    async_flood(node, "outq-big-window", Some(8 << 20));
    assert!(
        out_queue_episodes(node) > before,
        "with an 8 MiB window corosync never queued events for the sender"
    );
}

/// Long enough that only corosync's idle wait explains it (libqb's main
/// loop waits 50 ms for input when only jobs, such as retrying an
/// out-queue, are pending); a scheduling delay on a busy machine rarely
/// lasts this long.
const IDLE_GAP: Duration = Duration::from_millis(45);

/// Reads the stamped messages `range` from `events` and times each from
/// when it could first have come: after the message before it, and after
/// the sender last ran (`sender`: µs since `start`; on one thread, a
/// sender that goes on sending keeps the reader waiting too). Returns how
/// many took [`IDLE_GAP`] or more, and the longest.
async fn read_timed(
    mut events: Pin<Box<CpgEvents>>,
    range: std::ops::Range<u64>,
    start: Instant,
    sender: Arc<std::sync::atomic::AtomicU64>,
) -> (u32, Duration, Pin<Box<CpgEvents>>) {
    let (mut seq, mut gaps, mut longest) = (range.start, 0, Duration::ZERO);
    let mut last = start.elapsed();
    while seq < range.end {
        let event = next(&mut events, Duration::from_secs(30)).await;
        let now = start.elapsed();
        read_stamped(event, FLOOD_SIZE, &mut seq);
        let ran = Duration::from_micros(sender.load(std::sync::atomic::Ordering::Relaxed));
        let gap = now.saturating_sub(last.max(ran));
        last = now;
        longest = longest.max(gap);
        gaps += u32::from(gap >= IDLE_GAP);
    }
    (gaps, longest, events)
}

#[test]
fn a_window_past_the_ring_keeps_corosync_sending_from_its_out_queue() {
    let _flat_out = TICK_COUNTING.write().unwrap_or_else(|e| e.into_inner());
    use std::sync::atomic::{AtomicU64, Ordering};
    // One node: no network traffic wakes corosync's main loop, so only its
    // clients do.
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    // A 16 MiB window: corosync holds most of it in its out-queue and
    // hands it out a ring (15 messages) at a time.
    const WINDOW: usize = 16 << 20;
    let per_window = (WINDOW / corosync_tests::event_size(FLOOD_SIZE)) as u64;
    let ((gaps, longest), (after_gaps, after_longest)) = node
        .run(|| {
            current_thread().block_on(async {
                let (cpg, events) = AsyncCpg::connect().unwrap();
                let mut events = Box::pin(events);
                join(&cpg, &mut events, "async-outq-idle").await;
                cpg.set_send_window(WINDOW);
                let start = Instant::now();
                // When the latest send returned, in µs since `start`.
                let sent = Arc::new(AtomicU64::new(0));
                let send_all = |range: std::ops::Range<u64>| {
                    let (cpg, sent) = (&cpg, &sent);
                    async move {
                        for seq in range {
                            cpg.mcast(Guarantee::Agreed, &stamped(seq)).await.unwrap();
                            sent.store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                        }
                    }
                };
                // Four windows, read as they come: the sender waits for
                // each to drain.
                let n = 4 * per_window;
                let reader = tokio::spawn(read_timed(events, 0..n, start, sent.clone()));
                send_all(0..n).await;
                let (gaps, longest, events) = reader.await.unwrap();
                // One window sent with nobody reading, then read back: the
                // sender has finished, and only the stream's reading wakes
                // corosync.
                send_all(n..n + per_window).await;
                let (after_gaps, after_longest, _) =
                    read_timed(events, n..n + per_window, start, sent).await;
                ((gaps, longest), (after_gaps, after_longest))
            })
        })
        .unwrap();
    assert!(
        out_queue_episodes(node) > before,
        "corosync never queued events for the sender"
    );
    // Left idle, corosync would wait about 50 ms for each of the
    // out-queue's ring-fulls (some 60, then 17, here); allow two for the
    // machine.
    assert!(
        gaps <= 2,
        "{gaps} messages came {IDLE_GAP:?} or more after they could have \
         (longest {longest:?}): corosync sat on its out-queue"
    );
    assert!(
        after_gaps <= 2,
        "after the sender finished, {after_gaps} messages came {IDLE_GAP:?} or more \
         after the one before (longest {after_longest:?}): corosync sat on its out-queue"
    );
}

#[test]
fn a_send_waiting_for_its_window_leaves_a_flood_in_corosync() {
    use corosync_tests::event_size;

    const SIZE: usize = 1024;
    const FLOOD_COUNT: u64 = 20_000;
    const OWN: u64 = 3000;
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    let mut flooder = None;
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, events) = AsyncCpg::connect().unwrap();
            // A window's worth of events (a waiting send reads no further
            // once the stream holds that much; it reads 64 at a time), and
            // room for a few membership events, which weigh less. (Without
            // the limit, the stream held 19,291 here.)
            let bound = cpg.send_window() / event_size(SIZE) + 2 * 64;
            let mut events = Box::pin(events);
            join(&cpg, &mut events, "async-flood-wait").await;

            // Another process floods the group (20,000 × 1 KiB, about
            // 24 MB of events) while this one multicasts its own messages.
            let mut other = corosync_tests::CpgMember::start(
                node,
                env!("CARGO_BIN_EXE_cpg-member"),
                b"async-flood-wait",
            );
            other.command("quiet");
            other.expect_line("quiet");
            other.command(&format!("flood {FLOOD_COUNT} {SIZE}"));
            flooder = Some(other);

            // A reader that stops for other work (1 ms) every 16 events.
            // While it sleeps, this task's sends wait for their window.
            let me = std::process::id();
            let reader = tokio::spawn(async move {
                let (mut own, mut flood, mut most) = (0u64, 0u64, 0usize);
                while own < OWN || flood < FLOOD_COUNT {
                    match next(&mut events, Duration::from_secs(30)).await {
                        Some(Ok(CpgEvent::Message { pid, data, .. })) => {
                            most = most.max(events.buffered());
                            assert_eq!(data.len(), SIZE);
                            let seq = if pid == me { &mut own } else { &mut flood };
                            assert_eq!(stamp_of(&data), *seq, "out of order");
                            *seq += 1;
                            if (own + flood) % 16 == 0 {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                        Some(Ok(_)) => {}
                        other => panic!("after {own} + {flood} messages: {other:?}"),
                    }
                }
                most
            });
            let mut buf = vec![0u8; SIZE];
            for seq in 0..OWN {
                buf[..8].copy_from_slice(&seq.to_le_bytes());
                cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
            }
            let most = tokio::time::timeout(Duration::from_secs(120), reader)
                .await
                .expect("everything read within 2 minutes")
                .unwrap();
            // The sends' waits moved events into the stream only up to a
            // window's worth; the rest of the flood waited in corosync.
            assert!(
                most <= bound,
                "the stream held {most} events (bound {bound})"
            );
        });
    })
    .unwrap();
    flooder.unwrap().expect_line("flooded");
    // The flood was faster than the reader: corosync held it.
    let episodes = corosync_tests::out_queue_episodes(&node.log());
    let held: u64 = episodes[before..].iter().sum();
    assert!(
        held > FLOOD_COUNT / 2,
        "corosync held only {held} events for the member"
    );
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer; this clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
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
    let before = out_queue_episodes(node);
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, events) = AsyncCpg::connect().unwrap();
            let mut events = Box::pin(events);
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

            // Each poll of the stream does a bounded amount of work, so
            // the task gives the runtime back between batches instead of
            // reading the whole backlog into memory in one go.
            let (mut seq, mut longest, mut polls) = (0u64, Duration::ZERO, 0u64);
            let start = Instant::now();
            while seq < COUNT {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "after {seq} messages"
                );
                let event = tokio::time::timeout(
                    Duration::from_secs(10),
                    poll_fn(|cx| {
                        let t = thread_cpu();
                        let r = events.as_mut().poll_next(cx);
                        longest = longest.max(thread_cpu() - t);
                        polls += 1;
                        r
                    }),
                )
                .await
                .unwrap_or_else(|_| panic!("no event for 10 s after {seq} messages"));
                read_stamped(event, SIZE, &mut seq);
            }
            // (0.3 ms here; 130 ms when a poll read the whole backlog. The
            // bound leaves room for a busy machine: once, in a full test
            // run with builds going on beside it, one poll measured 10.9 ms.)
            assert!(
                longest < Duration::from_millis(40),
                "one poll of the stream ran for {longest:?} of CPU ({polls} polls)"
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

/// Counts the runtime's timer ticks (one per millisecond at most) until
/// aborted: a thread that something blocks counts none.
/// Held for reading by the tests that count a runtime's timer ticks
/// against a bound, and for writing by the test that pushes corosync flat
/// out for seconds: corosync runs at real-time priority, and on a 2-core
/// machine its flood can starve a counting test's thread (seen: 0 and 2
/// ticks while a fragmented send went out), so they do not overlap.
static TICK_COUNTING: std::sync::RwLock<()> = std::sync::RwLock::new(());

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
    let _counting = TICK_COUNTING.read().unwrap_or_else(|e| e.into_inner());
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
            let (cpg, events) = AsyncCpg::connect().unwrap();
            let mut events = Box::pin(events);
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
    let _counting = TICK_COUNTING.read().unwrap_or_else(|e| e.into_inner());
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            current_thread().block_on(async {
                let (cpg, events) = AsyncCpg::connect().unwrap();
                let mut events = Box::pin(events);
                join(&cpg, &mut events, "fragmented").await;
                let atomic = cpg.with(|c| c.max_atomic_msgsize()).unwrap();
                // 64 MiB: long enough (about 100 ms here, 25-35 ticks) that a
                // thread the daemons leave short of CPU still ticks well
                // past the bound below (16 MiB took 27 ms for 5-8 ticks and
                // once gave 2 in a full test run).
                let big: Vec<u8> = (0..64 << 20).map(|i| (i % 251) as u8).collect();
                assert!(big.len() > 8 * atomic);
                let ticks = Arc::new(AtomicU64::new(0));
                let ticking = ticker(&ticks);
                // libcpg sends it in fragments, a round trip each: on the
                // blocking pool, while this thread runs the ticker.
                let before = ticks.load(Relaxed);
                cpg.mcast(Guarantee::Agreed, &big).await.unwrap();
                let during = ticks.load(Relaxed) - before;
                ticking.abort();
                assert!(during >= 3, "{during} ticks while the message went out");
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
