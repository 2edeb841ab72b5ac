//! Riding through a restart of the member's own daemon: a CPG member
//! (blocking, then tokio) that sends and receives while its node's
//! corosync is SIGKILLed and started again gets its calls answered again,
//! is back in its group, is told once, and its messages after the
//! reconnection are delivered; quorum tracking starts again too.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::quorum::Quorum;
use corosync::tokio::{AsyncCpg, AsyncQuorum, CpgEvent, QuorumEvent};
use corosync::{Error, NodeId, Reconnect, TrackFlags};
use corosync_tests::asynctest::current_thread;
use corosync_tests::bounded::join_within;
use corosync_tests::events::WAIT;
use corosync_tests::{Cluster, Node};

/// What a member reports to the test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    /// A configuration change: the members (node, pid), and who joined and
    /// left.
    Members {
        members: Vec<(NodeId, u32)>,
        joined: Vec<(NodeId, u32)>,
        left: Vec<(NodeId, u32)>,
    },
    /// A delivered tick: sender node, pid, the sender's reconnection count
    /// when it sent it, its sequence number.
    Tick(NodeId, u32, u32, u64),
    /// The member reconnected (its tries).
    Reconnected(u32),
    /// Quorate or not.
    Quorate(bool),
    /// A call failed with this error.
    Failed(String),
}

fn ids(list: &[corosync::cpg::Address]) -> Vec<(NodeId, u32)> {
    list.iter().map(|a| (a.nodeid(), a.pid())).collect()
}

/// `tick <epoch> <seq>`.
fn tick(epoch: u32, seq: u64) -> Vec<u8> {
    format!("tick {epoch} {seq}").into_bytes()
}

fn parse_tick(data: &[u8]) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut words = text.strip_prefix("tick ")?.split(' ');
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// Reads `rx` until `pred` holds for an event, returning it and what came
/// before; panics naming `what` when none comes within [`WAIT`].
fn wait_for(rx: &Receiver<Ev>, what: &str, mut pred: impl FnMut(&Ev) -> bool) -> Vec<Ev> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                let hit = pred(&ev);
                seen.push(ev);
                if hit {
                    return seen;
                }
            }
            Err(e) => {
                // (The last events are enough to see what went on.)
                let last = &seen[seen.len().saturating_sub(20)..];
                panic!("no {what} ({e:?}); the last events: {last:?}")
            }
        }
    }
}

/// A blocking CPG member on `node`, in `group`, dispatching on its own
/// thread; with `policy`, it rides through daemon restarts. It sends a tick
/// every 50 ms while `sending` (failures while its daemon is gone are
/// reported as [`Ev::Failed`] and it goes on).
struct Member {
    stop: Sender<()>,
    events: Receiver<Ev>,
    thread: std::thread::JoinHandle<u32>,
}

fn blocking_member(node: &Node, group: &str, policy: Option<Reconnect>, sending: bool) -> Member {
    let (tx, events) = channel();
    let (stop, stopped) = channel::<()>();
    let group = GroupName::new(group).unwrap();
    let thread = node
        .spawn_thread(move || {
            let reconnections = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
            let (t1, t2, t3) = (tx.clone(), tx.clone(), tx.clone());
            let r1 = reconnections.clone();
            let mut builder = Cpg::builder()
                .on_confchg(move |_, c| {
                    let _ = t1.send(Ev::Members {
                        members: ids(c.members),
                        joined: ids(c.joined),
                        left: ids(c.left),
                    });
                })
                .on_deliver(move |_, m| {
                    if let Some((epoch, seq)) = parse_tick(m.data) {
                        let _ = t2.send(Ev::Tick(m.nodeid, m.pid, epoch, seq));
                    }
                });
            if let Some(policy) = policy {
                builder = builder.reconnect(policy).on_reconnect(move |cpg, d| {
                    assert!(d.reconnected_at >= d.since);
                    // The group is joined again before this runs.
                    assert_eq!(cpg.joined_group(), Some(group));
                    r1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = t3.send(Ev::Reconnected(d.attempts));
                });
            }
            let cpg = builder.connect().unwrap();
            cpg.join(&group).unwrap();
            let mut seq = 0;
            let mut next_send = Instant::now();
            while stopped.try_recv().is_err() {
                if let Err(e) = cpg.dispatch_timeout(Duration::from_millis(50)) {
                    let _ = tx.send(Ev::Failed(format!("dispatch: {e:?}")));
                    std::thread::sleep(Duration::from_millis(50));
                }
                if sending && Instant::now() >= next_send {
                    next_send = Instant::now() + Duration::from_millis(50);
                    let epoch = reconnections.load(std::sync::atomic::Ordering::SeqCst);
                    match cpg.mcast(Guarantee::Agreed, &tick(epoch, seq)) {
                        Ok(()) => seq += 1,
                        Err(e) => {
                            let _ = tx.send(Ev::Failed(format!("mcast: {e:?}")));
                        }
                    }
                }
            }
            reconnections.load(std::sync::atomic::Ordering::SeqCst)
        })
        .unwrap();
    Member {
        stop,
        events,
        thread,
    }
}

impl Member {
    /// Stops it; its reconnection count.
    fn finish(self, what: &str) -> u32 {
        self.stop.send(()).unwrap();
        join_within(self.thread, WAIT, what)
    }
}

/// The pid of this test process (every member here runs in it).
fn me() -> u32 {
    std::process::id()
}

/// The member on node 1 and a peer on node 2 in one group; node 1's daemon
/// is killed and started again; the member's tick after it reaches both.
fn ride_through(cluster: &mut Cluster, member: &Member, peer: &Member) {
    let (n1, n2) = (cluster.node(0).nodeid(), cluster.node(1).nodeid());
    let both = |ev: &Ev| matches!(ev, Ev::Members { members, .. } if members.len() == 2);
    wait_for(&member.events, "the member's view of both", both);
    wait_for(&peer.events, "the peer's view of both", both);
    // The member's ticks reach the peer before the restart.
    wait_for(
        &peer.events,
        "a tick of the member",
        |ev| matches!(ev, Ev::Tick(n, p, 0, _) if *n == n1 && *p == me()),
    );

    cluster.kill(0).unwrap();
    wait_for(
        &peer.events,
        "the member leaving",
        |ev| matches!(ev, Ev::Members { left, .. } if left.contains(&(n1, me()))),
    );
    cluster.restart(0).unwrap();

    // Told once; back in the group with the peer; the peer sees it join.
    let seen = wait_for(&member.events, "the reconnection", |ev| {
        matches!(ev, Ev::Reconnected(_))
    });
    assert!(
        seen.iter().any(|ev| matches!(ev, Ev::Failed(_))),
        "no call failed while the daemon was gone: {seen:?}"
    );
    wait_for(&member.events, "the member back with the peer", |ev| {
        matches!(ev, Ev::Members { members, .. }
            if members.contains(&(n1, me())) && members.contains(&(n2, me())))
    });
    wait_for(
        &peer.events,
        "the member joining again",
        |ev| matches!(ev, Ev::Members { joined, .. } if joined.contains(&(n1, me()))),
    );
    // Its ticks sent after the reconnection reach the peer and itself.
    wait_for(
        &peer.events,
        "a tick sent after the reconnection",
        |ev| matches!(ev, Ev::Tick(n, p, 1, _) if *n == n1 && *p == me()),
    );
    let after = wait_for(
        &member.events,
        "its own tick after the reconnection",
        |ev| matches!(ev, Ev::Tick(n, p, 1, _) if *n == n1 && *p == me()),
    );
    assert!(
        !after
            .iter()
            .any(|ev| matches!(ev, Ev::Failed(_) | Ev::Reconnected(_))),
        "after the reconnection: {after:?}"
    );
    // The peer's ticks reach the member again.
    wait_for(
        &member.events,
        "a tick of the peer",
        |ev| matches!(ev, Ev::Tick(n, _, _, _) if *n == n2),
    );
}

/// With a patience shorter than the restart, dispatch gives up (the
/// member sees `Library` from it and from its sends meanwhile) and the
/// next dispatch tries again.
#[test]
fn a_blocking_member_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let policy = Reconnect::new()
        .delays(Duration::from_millis(20), Duration::from_millis(200))
        .patience(Duration::from_millis(500));
    let member = blocking_member(cluster.node(0), "ride", Some(policy), true);
    let peer = blocking_member(cluster.node(1), "ride", None, true);
    ride_through(&mut cluster, &member, &peer);
    let rest: Vec<Ev> = member.events.try_iter().collect();
    assert!(
        !rest
            .iter()
            .any(|ev| matches!(ev, Ev::Reconnected(_) | Ev::Failed(_))),
        "{rest:?}"
    );
    assert_eq!(member.finish("the member"), 1, "reconnections");
    assert_eq!(peer.finish("the peer"), 0);
}

#[test]
fn a_member_without_a_policy_still_fails_for_good() {
    let mut cluster = Cluster::new(1).expect("cluster");
    let cpg = cluster.node(0).run(Cpg::new).unwrap().unwrap();
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    assert_eq!(
        cpg.dispatch(corosync::DispatchMode::All),
        Err(Error::Library)
    );
    assert_eq!(cpg.local_nodeid(), Err(Error::Library));
}

/// A tokio member: [`AsyncCpg::reconnecting`] in a current-thread runtime
/// on a thread of `node`'s namespace, sending a tick every 50 ms.
fn async_member(node: &Node, group: &str, policy: Reconnect) -> Member {
    let (tx, events) = channel();
    let (stop, stopped) = channel::<()>();
    let group = GroupName::new(group).unwrap();
    let thread = node
        .spawn_thread(move || {
            current_thread().block_on(async move {
                let (cpg, mut stream) = AsyncCpg::reconnecting(policy).await.unwrap();
                cpg.join(&group).await.unwrap();
                let mut reconnections = 0;
                let mut seq = 0;
                let mut ticks = tokio::time::interval(Duration::from_millis(50));
                while stopped.try_recv().is_err() {
                    tokio::select! {
                        ev = stream.next() => match ev {
                            Some(Ok(CpgEvent::ConfChange { members, joined, left, .. })) => {
                                let _ = tx.send(Ev::Members {
                                    members: ids(&members),
                                    joined: ids(&joined),
                                    left: ids(&left),
                                });
                            }
                            Some(Ok(CpgEvent::Message { nodeid, pid, data, .. })) => {
                                if let Some((epoch, seq)) = parse_tick(&data) {
                                    let _ = tx.send(Ev::Tick(nodeid, pid, epoch, seq));
                                }
                            }
                            Some(Ok(CpgEvent::Reconnected(d))) => {
                                reconnections += 1;
                                assert_eq!(cpg.with(|c| c.joined_group()), Some(group));
                                let _ = tx.send(Ev::Reconnected(d.attempts));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => panic!("the stream failed: {e:?}"),
                            None => panic!("the stream ended"),
                        },
                        _ = ticks.tick() => {
                            match cpg.mcast(Guarantee::Agreed, &tick(reconnections, seq)).await {
                                Ok(()) => seq += 1,
                                Err(e) => {
                                    let _ = tx.send(Ev::Failed(format!("mcast: {e:?}")));
                                }
                            }
                        }
                    }
                }
                reconnections
            })
        })
        .unwrap();
    Member {
        stop,
        events,
        thread,
    }
}

#[test]
fn a_tokio_member_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let policy = Reconnect::new()
        .delays(Duration::from_millis(20), Duration::from_millis(200))
        .patience(Duration::from_secs(60));
    let member = async_member(cluster.node(0), "ride-async", policy);
    let peer = blocking_member(cluster.node(1), "ride-async", None, true);
    ride_through(&mut cluster, &member, &peer);
    let rest: Vec<Ev> = member.events.try_iter().collect();
    assert!(
        !rest
            .iter()
            .any(|ev| matches!(ev, Ev::Reconnected(_) | Ev::Failed(_))),
        "{rest:?}"
    );
    assert_eq!(member.finish("the tokio member"), 1, "reconnections");
    assert_eq!(peer.finish("the peer"), 0);
}

/// Quorum tracking, blocking and tokio, starts again after a restart and
/// reports the state: each is told once and sees its partition quorate
/// with all three nodes again.
#[test]
fn quorum_tracking_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let policy = Reconnect::new()
        .delays(Duration::from_millis(20), Duration::from_millis(200))
        .patience(Duration::from_secs(60));
    let (tx, blocking) = channel();
    let (stop_blocking, stopped) = channel::<()>();
    let blocking_thread = cluster
        .node(0)
        .spawn_thread(move || {
            let (t1, t2) = (tx.clone(), tx.clone());
            let quorum = Quorum::builder()
                .on_quorum(move |_, n| {
                    if n.members.len() == 3 || !n.quorate {
                        let _ = t1.send(Ev::Quorate(n.quorate));
                    }
                })
                .reconnect(policy)
                .on_reconnect(move |_, d| {
                    let _ = t2.send(Ev::Reconnected(d.attempts));
                })
                .connect()
                .unwrap();
            quorum.track_start(TrackFlags::CHANGES).unwrap();
            while stopped.try_recv().is_err() {
                if let Err(e) = quorum.dispatch_timeout(Duration::from_millis(50)) {
                    let _ = tx.send(Ev::Failed(format!("dispatch: {e:?}")));
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .unwrap();
    let (tx, tokio_events) = channel();
    let (stop_tokio, stopped) = channel::<()>();
    let tokio_thread = cluster
        .node(0)
        .spawn_thread(move || {
            current_thread().block_on(async move {
                let (_quorum, mut events) =
                    AsyncQuorum::reconnecting(TrackFlags::CURRENT | TrackFlags::CHANGES, policy)
                        .await
                        .unwrap();
                let mut poll = tokio::time::interval(Duration::from_millis(50));
                while stopped.try_recv().is_err() {
                    tokio::select! {
                        ev = events.next() => match ev {
                            Some(Ok(QuorumEvent::Quorum { quorate, members, .. })) => {
                                if members.len() == 3 || !quorate {
                                    let _ = tx.send(Ev::Quorate(quorate));
                                }
                            }
                            Some(Ok(QuorumEvent::Reconnected(d))) => {
                                let _ = tx.send(Ev::Reconnected(d.attempts));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => panic!("the stream failed: {e:?}"),
                            None => panic!("the stream ended"),
                        },
                        _ = poll.tick() => {}
                    }
                }
            })
        })
        .unwrap();
    for (rx, what) in [(&blocking, "blocking"), (&tokio_events, "tokio")] {
        wait_for(rx, &format!("the {what} quorate state"), |ev| {
            *ev == Ev::Quorate(true)
        });
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    for (rx, what) in [(&blocking, "blocking"), (&tokio_events, "tokio")] {
        wait_for(rx, &format!("the {what} reconnection"), |ev| {
            matches!(ev, Ev::Reconnected(_))
        });
        let after = wait_for(rx, &format!("{what}: quorate with three nodes"), |ev| {
            *ev == Ev::Quorate(true)
        });
        assert!(
            !after.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: {after:?}"
        );
    }
    stop_blocking.send(()).unwrap();
    stop_tokio.send(()).unwrap();
    join_within(blocking_thread, WAIT, "the blocking quorum thread");
    join_within(tokio_thread, WAIT, "the tokio quorum thread");
    for (rx, what) in [(&blocking, "blocking"), (&tokio_events, "tokio")] {
        let rest: Vec<Ev> = rx.try_iter().collect();
        assert!(
            !rest.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: told more than once: {rest:?}"
        );
    }
}
