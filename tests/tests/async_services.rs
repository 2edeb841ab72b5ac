//! The tokio adapters of every service on real clusters: one runtime
//! drives CPG, quorum and cmap streams at once; node failures show up on
//! all of them; a stopped daemon ends each stream (votequorum and cfg too)
//! with an error; adapters refuse to start outside a runtime; the leader
//! example follows failures and quorum.

use std::time::{Duration, Instant};

use corosync::cmap::{Map, TrackEventKind, TrackType, Value};
use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{
    AsyncCfg, AsyncCmap, AsyncCpg, AsyncQuorum, AsyncVotequorum, CmapEvent, CpgEvent, QuorumEvent,
};
use corosync::{Error, NodeId, TrackFlags};
use corosync_tests::asynctest::{
    current_thread, ends_with_error, on_node_async, on_node_in_runtime, runtime, until,
};
use corosync_tests::bounded::{join_within, wait_child, NO_HANG};
use corosync_tests::events::WAIT;
use corosync_tests::Cluster;

#[test]
fn one_runtime_sees_a_node_die_on_three_streams_and_a_stopped_daemon_ends_them() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let group = GroupName::new("async-watch").unwrap();
        let (cpg, mut cpg_events) = on_node_async(cluster.node(0), AsyncCpg::connect)
            .await
            .unwrap();
        let (_peer, mut peer_events) = on_node_async(cluster.node(2), || async {
            let (p, e) = AsyncCpg::connect().await.unwrap();
            p.join(&GroupName::new("async-watch").unwrap())
                .await
                .unwrap();
            (p, e)
        })
        .await;
        let (_quorum, mut quorum_events) = on_node_async(cluster.node(0), || {
            AsyncQuorum::connect(TrackFlags::CURRENT | TrackFlags::CHANGES)
        })
        .await
        .unwrap();
        let (cmap, mut cmap_events) =
            on_node_async(cluster.node(0), || AsyncCmap::connect(Map::Icmap))
                .await
                .unwrap();
        cmap.track(
            "runtime.members.",
            TrackType::ADD | TrackType::MODIFY | TrackType::DELETE | TrackType::PREFIX,
        )
        .await
        .unwrap();
        cpg.join(&group).await.unwrap();
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
        // Keep the peer's stream drained until it is killed.
        let peer = tokio::spawn(async move { while peer_events.next().await.is_some() {} });

        // Kill node 3: all three streams report it, polled together.
        tokio::task::block_in_place(|| cluster.kill(2)).unwrap();
        let node3 = NodeId::new(3);
        let (mut cpg_seen, mut quorum_seen, mut cmap_seen) = (false, false, false);
        let deadline = tokio::time::Instant::now() + long;
        while !(cpg_seen && quorum_seen && cmap_seen) {
            tokio::select! {
                Some(e) = cpg_events.next() => {
                    if let CpgEvent::ConfChange { left, .. } = e.unwrap() {
                        cpg_seen |= left.iter().any(|a| a.nodeid() == node3);
                    }
                }
                Some(e) = quorum_events.next() => {
                    if let QuorumEvent::Quorum { quorate, members, ring_id } = e.unwrap() {
                        // (A new membership: a new, higher ring id.)
                        quorum_seen |= quorate
                            && members == [NodeId::new(1), NodeId::new(2)]
                            && ring_id.seq > before.seq;
                    }
                }
                Some(e) = cmap_events.next() => {
                    let CmapEvent { kind, key, new_value, old_value, .. } = e.unwrap();
                    cmap_seen |= kind == TrackEventKind::Modify
                        && key == b"runtime.members.3.status"
                        && new_value == Some(Value::string("left"))
                        && old_value == Some(Value::string("joined"));
                }
                _ = tokio::time::sleep_until(deadline) => panic!(
                    "node 3's death not seen within {long:?}: cpg {cpg_seen} quorum {quorum_seen} \
                     cmap {cmap_seen}"
                ),
            }
        }

        // Stop the local daemon: every stream, polled together, ends with
        // an error.
        tokio::task::block_in_place(|| cluster.stop(0)).unwrap();
        let errors = tokio::join!(
            ends_with_error(&mut cpg_events, WAIT, "cpg"),
            ends_with_error(&mut quorum_events, WAIT, "quorum"),
            ends_with_error(&mut cmap_events, WAIT, "cmap"),
        );
        assert_eq!(
            errors,
            (Error::Library, Error::Library, Error::Library),
            "how the cpg, quorum and cmap streams ended"
        );
        // Sending on the dead connection is an error, not a hang.
        let send =
            tokio::time::timeout(Duration::from_secs(5), cpg.mcast(Guarantee::Agreed, b"x")).await;
        assert!(matches!(send, Ok(Err(_))), "{send:?}");
        peer.abort();
    });
}

#[test]
fn adapters_refuse_to_start_outside_a_runtime() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let refused = |r: corosync::Result<()>| matches!(r, Err(corosync::Error::NoRuntime));
    // (Polled by no runtime, each refuses at its first poll.)
    assert!(refused(
        node.run(|| outside_runtime(AsyncCpg::connect()).map(drop))
            .unwrap()
    ));
    let changes = TrackFlags::CHANGES;
    assert!(refused(
        node.run(|| outside_runtime(AsyncQuorum::connect(changes)).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| outside_runtime(AsyncVotequorum::connect(changes)).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| outside_runtime(AsyncCmap::connect(Map::Icmap)).map(drop))
            .unwrap()
    ));
    assert!(refused(
        node.run(|| outside_runtime(AsyncCfg::connect(changes)).map(drop))
            .unwrap()
    ));
    // Inside one, tracking flags that would report nothing are refused
    // (the stream would never yield).
    let refused = |r: corosync::Result<()>| matches!(r, Err(corosync::Error::InvalidInput { .. }));
    let empty = TrackFlags::empty();
    let in_rt =
        |connect: fn(TrackFlags) -> corosync::Result<()>| node.run(move || connect(empty)).unwrap();
    assert!(refused(in_rt(|f| current_thread()
        .block_on(AsyncQuorum::connect(f))
        .map(drop))));
    assert!(refused(in_rt(|f| current_thread()
        .block_on(AsyncVotequorum::connect(f))
        .map(drop))));
    assert!(refused(in_rt(|f| current_thread()
        .block_on(AsyncCfg::connect(f))
        .map(drop))));

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
                let panic = std::panic::catch_unwind(|| rt.block_on(AsyncCpg::connect()))
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

/// Polls `future` once, with no runtime around it, and returns its output;
/// panics if it is not ready then.
fn outside_runtime<F: std::future::Future>(future: F) -> F::Output {
    struct Unused;
    impl std::task::Wake for Unused {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unused));
    let mut cx = std::task::Context::from_waker(&waker);
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("waited outside a runtime"),
    }
}

/// Starts the `leader` example on `node` for `seconds`, with a channel of
/// the lines it prints.
fn start_leader(
    node: &corosync_tests::Node,
    program: &std::path::Path,
    seconds: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = node
        .command(program.to_str().unwrap())
        .unwrap()
        .arg(seconds)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = corosync_tests::lines_of(child.stdout.take().unwrap());
    (child, rx)
}

/// The first line with `text` the leader example printed within [`WAIT`],
/// and the lines before it.
fn lines_to(rx: &std::sync::mpsc::Receiver<String>, text: &str) -> (String, Vec<String>) {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(text) => return (line, seen),
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line with {text:?}; saw {seen:?}");
}

/// The leader-election example: leadership follows node failures, and the
/// leader holds its work while its node is not quorate.
#[test]
fn the_leader_example_follows_failures_and_quorum() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let program = corosync_tests::example_binary("leader").unwrap();
    let start = |i: usize| start_leader(cluster.node(i), &program, "60");
    let wait_for = |rx: &std::sync::mpsc::Receiver<String>, text: &str| lines_to(rx, text).0;
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
    for (i, (child, _)) in nodes.iter_mut().enumerate() {
        // (It may have ended with its node; its status says nothing here.)
        let _ = child.kill();
        wait_child(
            child,
            NO_HANG,
            &format!("the leader example on node {} after SIGKILL", i + 1),
        );
    }
}

/// The leader-election example rides through a restart of the leader's
/// own daemon: while it is gone the leader holds its work and the others
/// elect node 2; once it is back, its connections reconnect (each told
/// once), it leads again and works only once quorate.
#[test]
fn the_leader_example_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let program = corosync_tests::example_binary("leader").unwrap();
    let start = |i: usize| start_leader(cluster.node(i), &program, "90");
    let mut nodes: Vec<_> = (0..3).map(start).collect();
    for (i, (_, rx)) in nodes.iter().enumerate() {
        let (line, _) = lines_to(rx, "members: nodes 1 2 3; ");
        assert!(line.contains("leader: node 1 pid"), "{line}");
        if i == 0 {
            lines_to(rx, "leader at work");
        }
    }
    // Node 1's daemon dies: its leader holds its work, the others elect
    // node 2.
    cluster.kill(0).unwrap();
    lines_to(&nodes[0].1, "not quorate: holding work");
    lines_to(&nodes[1].1, "new leader: node 2");
    lines_to(&nodes[2].1, "new leader: node 2");
    // It comes back: both connections reconnect, node 1 leads again, and
    // works only once quorate.
    cluster.restart(0).unwrap();
    // Its lines until it works with both connections back.
    let mut after: Vec<String> = Vec::new();
    let told = |after: &[String], what: &str| after.iter().filter(|l| l.starts_with(what)).count();
    while !(told(&after, "cpg: reconnected") == 1
        && told(&after, "quorum: reconnected") == 1
        && after.last().is_some_and(|l| l.contains("leader at work")))
    {
        let (line, seen) = lines_to(&nodes[0].1, "");
        after.extend(seen);
        after.push(line);
    }
    let resumed = after
        .iter()
        .position(|l| l.contains("quorate: work resumes"))
        .unwrap_or_else(|| panic!("worked without quorum coming back: {after:?}"));
    assert!(
        !after[..resumed]
            .iter()
            .any(|l| l.contains("leader at work")),
        "worked before quorum came back: {after:?}"
    );
    assert!(
        after
            .iter()
            .any(|l| l.contains("members: nodes 1 2 3; ") && l.contains("(me)")),
        "{after:?}"
    );
    for rx in [&nodes[1].1, &nodes[2].1] {
        let (line, _) = lines_to(rx, "members: nodes 1 2 3; new leader: node 1");
        assert!(!line.contains("(me)"), "{line}");
    }
    // Still running, and told once per connection.
    let (child, rx) = &mut nodes[0];
    assert!(
        child.try_wait().unwrap().is_none(),
        "the example on node 1 exited"
    );
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        !rest.iter().any(|l| l.contains("reconnected")),
        "told again: {rest:?}"
    );
    for (i, (child, _)) in nodes.iter_mut().enumerate() {
        child.kill().unwrap();
        wait_child(
            child,
            NO_HANG,
            &format!("the leader example on node {} after SIGKILL", i + 1),
        );
    }
}

/// Votequorum and CFG streams: an expected-votes change and a shutdown
/// request arrive as events, and the async answer lets the shutdown go on.
#[test]
fn votequorum_and_cfg_streams() {
    use corosync::cfg::ShutdownMode;
    use corosync::tokio::{CfgEvent, VotequorumEvent};
    let mut cluster = Cluster::new(2).expect("cluster");
    let rt = runtime();
    rt.block_on(async {
        let (vq, mut vq_events) = on_node_async(cluster.node(0), || {
            AsyncVotequorum::connect(TrackFlags::CURRENT | TrackFlags::CHANGES)
        })
        .await
        .unwrap();
        // Quorate with both nodes, and the node list with the ring id it
        // belongs to (in either order).
        let (mut quorate, mut listed) = (false, false);
        until(&mut vq_events, Duration::from_secs(20), |e| {
            match e {
                VotequorumEvent::Quorum {
                    quorate: true,
                    nodes,
                } if nodes.len() == 2 => quorate = true,
                VotequorumEvent::NodeList { ring_id, members }
                    if members.len() == 2
                        && [1, 2].iter().all(|&id| members.contains(&NodeId::new(id)))
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
        let (cfg, mut cfg_events) =
            on_node_async(cluster.node(1), || AsyncCfg::connect(TrackFlags::CHANGES))
                .await
                .unwrap();
        let asker = on_node_in_runtime(cluster.node(1), || corosync::cfg::Cfg::new().unwrap());
        // try_shutdown blocks until the votes are in: run it on a thread.
        let request = std::thread::spawn(move || asker.try_shutdown(ShutdownMode::Request));
        let event = until(&mut cfg_events, Duration::from_secs(20), |_| true).await;
        assert_eq!(event, CfgEvent::Shutdown(ShutdownMode::Request));
        cfg.reply_to_shutdown(true).await.unwrap();
        assert_eq!(
            join_within(request, WAIT, "the shutdown request, let through"),
            Ok(())
        );
        tokio::task::block_in_place(|| cluster.wait_for_exit(1, Duration::from_secs(20))).unwrap();
        // Its daemon gone, the cfg stream ends with an error; so does the
        // votequorum stream when its daemon stops.
        assert_eq!(
            ends_with_error(&mut cfg_events, WAIT, "cfg").await,
            Error::Library
        );
        tokio::task::block_in_place(|| cluster.stop(0)).unwrap();
        assert_eq!(
            ends_with_error(&mut vq_events, WAIT, "votequorum").await,
            Error::Library
        );
    });
}
