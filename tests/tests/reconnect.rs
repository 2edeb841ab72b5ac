//! Riding through a restart of the member's own daemon, for every service:
//! on a 3-node cluster, node 1's corosync is SIGKILLed and started again
//! while its clients (blocking and tokio) send, track and dispatch. Each
//! client gets its calls answered again, has what it had set up back (a
//! CPG or EVS group, quorum, votequorum and cfg tracking, cmap tracks), is
//! told exactly once, and sees events of the new connection; sends that
//! were waiting when the daemon died fail with `Library` instead of
//! hanging. Handles without a policy still fail for good.

use std::future::Future;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corosync::cfg::{Cfg, ShutdownMode};
use corosync::cmap::{Cmap, Map, TrackType};
use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::evs::{Evs, EvsGroup};
use corosync::quorum::Quorum;
use corosync::tokio::{
    AsyncCfg, AsyncCmap, AsyncCpg, AsyncQuorum, AsyncVotequorum, CfgEvent, CpgEvent, QuorumEvent,
    ReconnectingCmapEvent, VotequorumEvent,
};
use corosync::votequorum::{NodeState, Votequorum};
use corosync::{Error, NodeId, Reconnect, Retry, TrackFlags};
use corosync_tests::asynctest::current_thread;
use corosync_tests::bounded::join_within;
use corosync_tests::events::WAIT;
use corosync_tests::{Cluster, Node};

/// What a client reports to the test.
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
    /// The client reconnected (its tries).
    Reconnected(u32),
    /// Quorate or not.
    Quorate(bool),
    /// Votequorum's view: quorate or not, and the nodes in state member.
    Votes { quorate: bool, members: Vec<NodeId> },
    /// A tracked cmap key changed.
    Key(String),
    /// A shutdown request reached the client (it refused it).
    Shutdown,
    /// What a call the test asked for ([`Cmd`]) answered.
    Answer(String),
    /// The client has set up what it tracks.
    Ready,
    /// A call failed with this error.
    Failed(String),
}

/// What the test tells a client.
enum Cmd {
    /// Make a request of the service and report the answer.
    Call,
    /// Delete a track (cmap).
    Untrack,
    /// Stop and return the reconnection count.
    Stop,
}

/// A client on a thread in a node's namespace: it reports [`Ev`]s and
/// takes [`Cmd`]s; it returns how many times it was told of a
/// reconnection.
struct Client {
    cmds: Sender<Cmd>,
    events: Receiver<Ev>,
    thread: JoinHandle<u32>,
}

impl Client {
    /// Reads the events until `pred` holds for one (see [`wait_for`]).
    fn wait_for(&self, what: &str, pred: impl FnMut(&Ev) -> bool) -> Vec<Ev> {
        wait_for(&self.events, what, pred)
    }

    /// Asks for a request of the service; its answer.
    fn call(&self, what: &str) -> String {
        self.cmds.send(Cmd::Call).unwrap();
        match self.wait_for(what, |ev| matches!(ev, Ev::Answer(_))).pop() {
            Some(Ev::Answer(answer)) => answer,
            other => unreachable!("{other:?}"),
        }
    }

    /// Stops it; its reconnection count, after checking that it was told
    /// of no other reconnection since the events read last.
    fn finish(self, what: &str) -> u32 {
        self.cmds.send(Cmd::Stop).unwrap();
        let count = join_within(self.thread, WAIT, what);
        let rest: Vec<Ev> = self.events.try_iter().collect();
        assert!(
            !rest.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: told more than once: {rest:?}"
        );
        count
    }
}

/// Runs `body` on a thread of `node` with the events' sender and the
/// commands' receiver: the one way every client here starts.
fn client(
    node: &Node,
    body: impl FnOnce(Sender<Ev>, Receiver<Cmd>) -> u32 + Send + 'static,
) -> Client {
    let (tx, events) = channel();
    let (cmds, rx) = channel();
    let thread = node.spawn_thread(move || body(tx, rx)).unwrap();
    Client {
        cmds,
        events,
        thread,
    }
}

/// A client whose body is a future, run in a current-thread runtime.
fn tokio_client<F: Future<Output = u32>>(
    node: &Node,
    body: impl FnOnce(Sender<Ev>, Receiver<Cmd>) -> F + Send + 'static,
) -> Client {
    client(node, |tx, cmds| current_thread().block_on(body(tx, cmds)))
}

/// The loop of a blocking client: dispatches (up to 50 ms at a time)
/// until told to stop, handing other commands to `on_cmd`. A failed
/// dispatch is reported as [`Ev::Failed`], and it goes on.
fn pump(
    tx: &Sender<Ev>,
    cmds: &Receiver<Cmd>,
    mut dispatch: impl FnMut(Duration) -> corosync::Result<bool>,
    mut on_cmd: impl FnMut(Cmd),
) {
    loop {
        match cmds.try_recv() {
            Ok(Cmd::Stop) => return,
            Ok(cmd) => on_cmd(cmd),
            Err(_) => {}
        }
        if let Err(e) = dispatch(Duration::from_millis(50)) {
            let _ = tx.send(Ev::Failed(format!("dispatch: {e:?}")));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The commands a tokio client has received since it last looked; `None`
/// once told to stop.
fn commands(cmds: &Receiver<Cmd>) -> Option<Vec<Cmd>> {
    let mut got = Vec::new();
    for cmd in cmds.try_iter() {
        if let Cmd::Stop = cmd {
            return None;
        }
        got.push(cmd);
    }
    Some(got)
}

/// The policy of every client here: quick tries, patience for a restart.
fn policy() -> Reconnect {
    Reconnect::new()
        .delays(Duration::from_millis(20), Duration::from_millis(200))
        .patience(Duration::from_secs(60))
}

/// A policy whose patience is shorter than a restart: a blocking dispatch
/// gives up (the client sees `Library` from it and from its sends
/// meanwhile) and the next dispatch tries again.
fn impatient() -> Reconnect {
    policy().patience(Duration::from_millis(500))
}

/// A counter of reconnections, shared by a client and its closures.
#[derive(Clone, Default)]
struct Count(Arc<AtomicU32>);

impl Count {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

fn ids(list: &[corosync::cpg::Address]) -> Vec<(NodeId, u32)> {
    list.iter().map(|a| (a.nodeid(), a.pid())).collect()
}

/// `tick <epoch> <seq>`, padded with spaces to `len` bytes.
fn tick(epoch: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut data = format!("tick {epoch} {seq}").into_bytes();
    if data.len() < len {
        data.resize(len, b' ');
    }
    data
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

/// Waits for one reconnection of each client, then for `after` of each;
/// no second reconnection comes between.
fn each_reconnects(clients: &[(&Client, &str)], after: &str, mut pred: impl FnMut(&Ev) -> bool) {
    for (c, what) in clients {
        c.wait_for(&format!("the {what} reconnection"), |ev| {
            matches!(ev, Ev::Reconnected(_))
        });
        let seen = c.wait_for(&format!("{what}: {after}"), &mut pred);
        assert!(
            !seen.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: told twice: {seen:?}"
        );
    }
}

/// The pid of this test process (every member here runs in it).
fn me() -> u32 {
    std::process::id()
}

/// A blocking CPG member on `node`, in `group`; with `policy`, it rides
/// through daemon restarts. It sends a tick every 50 ms while `sending`
/// (failures while its daemon is gone are reported as [`Ev::Failed`] and
/// it goes on).
fn blocking_member(node: &Node, group: &str, policy: Option<Reconnect>, sending: bool) -> Client {
    let group = GroupName::new(group).unwrap();
    client(node, move |tx, cmds| {
        let count = Count::default();
        let (t1, t2, t3, c3) = (tx.clone(), tx.clone(), tx.clone(), count.clone());
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
                c3.bump();
                let _ = t3.send(Ev::Reconnected(d.attempts));
            });
        }
        let cpg = builder.connect().unwrap();
        cpg.join(&group).unwrap();
        let mut seq = 0;
        let mut next_send = Instant::now();
        pump(
            &tx,
            &cmds,
            |wait| {
                let dispatched = cpg.dispatch_timeout(wait);
                if sending && Instant::now() >= next_send {
                    next_send = Instant::now() + Duration::from_millis(50);
                    sent(
                        &tx,
                        cpg.mcast(Guarantee::Agreed, &tick(count.get(), seq, 0)),
                        &mut seq,
                    );
                }
                dispatched
            },
            |_| {},
        );
        count.get()
    })
}

/// The member on node 1 and a peer on node 2 in one group; node 1's daemon
/// is killed and started again; the member's tick after it reaches both,
/// nothing fails after it, and the member (`what`) is told once.
fn ride_through(cluster: &mut Cluster, member: Client, peer: Client, what: &str) {
    let (n1, n2) = (cluster.node(0).nodeid(), cluster.node(1).nodeid());
    let both = |ev: &Ev| matches!(ev, Ev::Members { members, .. } if members.len() == 2);
    member.wait_for("the member's view of both", both);
    peer.wait_for("the peer's view of both", both);
    // The member's ticks reach the peer before the restart.
    peer.wait_for(
        "a tick of the member",
        |ev| matches!(ev, Ev::Tick(n, p, 0, _) if *n == n1 && *p == me()),
    );

    cluster.kill(0).unwrap();
    peer.wait_for(
        "the member leaving",
        |ev| matches!(ev, Ev::Members { left, .. } if left.contains(&(n1, me()))),
    );
    cluster.restart(0).unwrap();

    // Told once; back in the group with the peer; the peer sees it join.
    let seen = member.wait_for("the reconnection", |ev| matches!(ev, Ev::Reconnected(_)));
    assert!(
        seen.iter().any(|ev| matches!(ev, Ev::Failed(_))),
        "no call failed while the daemon was gone: {seen:?}"
    );
    member.wait_for("the member back with the peer", |ev| {
        matches!(ev, Ev::Members { members, .. }
            if members.contains(&(n1, me())) && members.contains(&(n2, me())))
    });
    peer.wait_for(
        "the member joining again",
        |ev| matches!(ev, Ev::Members { joined, .. } if joined.contains(&(n1, me()))),
    );
    // Its ticks sent after the reconnection reach the peer and itself.
    peer.wait_for(
        "a tick sent after the reconnection",
        |ev| matches!(ev, Ev::Tick(n, p, 1, _) if *n == n1 && *p == me()),
    );
    let after = member.wait_for(
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
    member.wait_for(
        "a tick of the peer",
        |ev| matches!(ev, Ev::Tick(n, _, _, _) if *n == n2),
    );
    // Nothing failed since, and it was told once.
    let rest: Vec<Ev> = member.events.try_iter().collect();
    assert!(
        !rest.iter().any(|ev| matches!(ev, Ev::Failed(_))),
        "{rest:?}"
    );
    assert_eq!(member.finish(what), 1, "reconnections");
    assert_eq!(peer.finish("the peer"), 0);
}

/// With a patience shorter than the restart ([`impatient`]).
#[test]
fn a_blocking_member_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let member = blocking_member(cluster.node(0), "ride", Some(impatient()), true);
    let peer = blocking_member(cluster.node(1), "ride", None, true);
    ride_through(&mut cluster, member, peer, "the member");
}

/// Handles of every service without a policy: after the restart their
/// dispatch and their calls answer `Library`, for good.
#[test]
fn handles_without_a_policy_still_fail_for_good() {
    let mut cluster = Cluster::new(1).expect("cluster");
    let handles = cluster
        .node(0)
        .run(|| -> corosync::Result<_> {
            let evs = Evs::builder().connect()?;
            evs.join(&[EvsGroup::new("no-policy")?])?;
            Ok((
                Cpg::new()?,
                Quorum::new()?,
                Votequorum::new()?,
                Cfg::new()?,
                Cmap::new()?,
                evs,
            ))
        })
        .unwrap()
        .unwrap();
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    // (In the node's namespace, where a reconnection could reach the new
    // daemon.)
    cluster
        .node(0)
        .run(move || {
            let (cpg, quorum, vq, cfg, cmap, evs) = handles;
            let all = corosync::DispatchMode::All;
            for (what, answer) in [
                ("cpg dispatch", cpg.dispatch(all)),
                ("quorum dispatch", quorum.dispatch(all)),
                ("votequorum dispatch", vq.dispatch(all)),
                ("cfg dispatch", cfg.dispatch(all)),
                ("cmap dispatch", cmap.dispatch(all)),
                ("evs dispatch", evs.dispatch(all)),
                ("cpg call", cpg.local_nodeid().map(drop)),
                ("quorum call", quorum.is_quorate().map(drop)),
                ("votequorum call", vq.local_info().map(drop)),
                ("cfg call", cfg.local_nodeid().map(drop)),
                ("cmap call", cmap.get("totem.cluster_name").map(drop)),
                ("evs call", evs.membership().map(drop)),
            ] {
                assert_eq!(answer, Err(Error::Library), "{what}");
            }
            // (Again: nothing reconnected meanwhile.)
            assert_eq!(cpg.dispatch(all), Err(Error::Library));
            assert_eq!(cmap.dispatch(all), Err(Error::Library));
        })
        .unwrap();
}

/// A tokio member: [`AsyncCpg::reconnecting`] on `node`, sending a tick
/// every 50 ms.
fn async_member(node: &Node, group: &str, policy: Reconnect) -> Client {
    let group = GroupName::new(group).unwrap();
    tokio_client(node, move |tx, cmds| async move {
        let (cpg, mut stream) = AsyncCpg::reconnecting(policy).await.unwrap();
        cpg.join(&group).await.unwrap();
        let mut reconnections = 0;
        let mut seq = 0;
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        while commands(&cmds).is_some() {
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
                    sent(&tx, cpg.mcast(Guarantee::Agreed, &tick(reconnections, seq, 0)).await, &mut seq);
                }
            }
        }
        reconnections
    })
}

#[test]
fn a_tokio_member_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let member = async_member(cluster.node(0), "ride-async", policy());
    let peer = blocking_member(cluster.node(1), "ride-async", None, true);
    ride_through(&mut cluster, member, peer, "the tokio member");
}

/// Quorum tracking, blocking and tokio, starts again after a restart and
/// reports the state: each is told once and sees its partition quorate
/// with all three nodes again.
#[test]
fn quorum_tracking_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let report = |tx: &Sender<Ev>, quorate: bool, members: usize| {
        if members == 3 || !quorate {
            let _ = tx.send(Ev::Quorate(quorate));
        }
    };
    let blocking = client(cluster.node(0), move |tx, cmds| {
        let count = Count::default();
        let (t1, t2, c2) = (tx.clone(), tx.clone(), count.clone());
        let quorum = Quorum::builder()
            .on_quorum(move |_, n| report(&t1, n.quorate, n.members.len()))
            .reconnect(policy())
            .on_reconnect(move |_, d| {
                c2.bump();
                let _ = t2.send(Ev::Reconnected(d.attempts));
            })
            .connect()
            .unwrap();
        quorum.track_start(TrackFlags::CHANGES).unwrap();
        pump(&tx, &cmds, |wait| quorum.dispatch_timeout(wait), |_| {});
        count.get()
    });
    let tokio = tokio_client(cluster.node(0), move |tx, cmds| async move {
        let flags = TrackFlags::CURRENT | TrackFlags::CHANGES;
        let (_quorum, mut events) = AsyncQuorum::reconnecting(flags, policy()).await.unwrap();
        let mut count = 0;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        while commands(&cmds).is_some() {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(QuorumEvent::Quorum { quorate, members, .. })) => {
                        report(&tx, quorate, members.len());
                    }
                    Some(Ok(QuorumEvent::Reconnected(d))) => {
                        count += 1;
                        let _ = tx.send(Ev::Reconnected(d.attempts));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("the stream failed: {e:?}"),
                    None => panic!("the stream ended"),
                },
                _ = poll.tick() => {}
            }
        }
        count
    });
    let clients = [(&blocking, "blocking"), (&tokio, "tokio")];
    for (c, what) in clients {
        c.wait_for(&format!("the {what} quorate state"), |ev| {
            *ev == Ev::Quorate(true)
        });
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    each_reconnects(&clients, "quorate with three nodes", |ev| {
        *ev == Ev::Quorate(true)
    });
    assert_eq!(blocking.finish("the blocking quorum client"), 1);
    assert_eq!(tokio.finish("the tokio quorum client"), 1);
}

/// Votequorum's view of a quorum notification.
fn votes(quorate: bool, nodes: impl IntoIterator<Item = (NodeId, NodeState)>) -> Ev {
    let mut members: Vec<NodeId> = nodes
        .into_iter()
        .filter(|(_, state)| *state == NodeState::Member)
        .map(|(n, _)| n)
        .collect();
    members.sort();
    Ev::Votes { quorate, members }
}

/// Votequorum tracking, blocking and tokio: after the restart each is told
/// once, gets the state of the new connection (all three nodes), its calls
/// answer, and a quorum change after the reconnection (node 3 killed)
/// reaches it.
#[test]
fn votequorum_tracking_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let mut nodes: Vec<NodeId> = cluster.nodes().iter().map(Node::nodeid).collect();
    nodes.sort();
    let (local, third) = (cluster.node(0).nodeid(), cluster.node(2).nodeid());
    let blocking = client(cluster.node(0), move |tx, cmds| {
        let count = Count::default();
        let (t1, t2, c2) = (tx.clone(), tx.clone(), count.clone());
        let vq = Votequorum::builder()
            .on_quorum(move |_, n| {
                let _ = t1.send(votes(
                    n.quorate,
                    n.nodes.iter().map(|s| (s.nodeid(), s.state())),
                ));
            })
            .reconnect(policy())
            .on_reconnect(move |_, d| {
                c2.bump();
                let _ = t2.send(Ev::Reconnected(d.attempts));
            })
            .connect()
            .unwrap();
        vq.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)
            .unwrap();
        pump(
            &tx,
            &cmds,
            |wait| vq.dispatch_timeout(wait),
            |_| {
                let answer = vq.local_info().map(|i| i.nodeid);
                let _ = tx.send(Ev::Answer(format!("{answer:?}")));
            },
        );
        count.get()
    });
    let tokio = tokio_client(cluster.node(0), move |tx, cmds| async move {
        let flags = TrackFlags::CURRENT | TrackFlags::CHANGES;
        let (vq, mut events) = AsyncVotequorum::reconnecting(flags, policy())
            .await
            .unwrap();
        let mut count = 0;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        while let Some(cmds) = commands(&cmds) {
            for _ in cmds {
                let answer = vq.with(|v| v.local_info().map(|i| i.nodeid));
                let _ = tx.send(Ev::Answer(format!("{answer:?}")));
            }
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(VotequorumEvent::Quorum { quorate, nodes })) => {
                        let _ = tx.send(votes(quorate, nodes));
                    }
                    Some(Ok(VotequorumEvent::Reconnected(d))) => {
                        count += 1;
                        let _ = tx.send(Ev::Reconnected(d.attempts));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("the stream failed: {e:?}"),
                    None => panic!("the stream ended"),
                },
                _ = poll.tick() => {}
            }
        }
        count
    });
    let all = Ev::Votes {
        quorate: true,
        members: nodes.clone(),
    };
    let clients = [(&blocking, "blocking"), (&tokio, "tokio")];
    for (c, what) in clients {
        c.wait_for(&format!("{what}: all three nodes"), |ev| *ev == all);
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    each_reconnects(&clients, "all three nodes again", |ev| *ev == all);
    for (c, what) in clients {
        assert_eq!(c.call(what), format!("Ok({local:?})"), "{what}");
    }
    // A change after the reconnection reaches both.
    cluster.kill(2).unwrap();
    nodes.retain(|n| *n != third);
    let two = Ev::Votes {
        quorate: true,
        members: nodes,
    };
    for (c, what) in clients {
        let seen = c.wait_for(&format!("{what}: node 3 gone"), |ev| *ev == two);
        assert!(
            !seen.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: {seen:?}"
        );
    }
    assert_eq!(blocking.finish("the blocking votequorum client"), 1);
    assert_eq!(tokio.finish("the tokio votequorum client"), 1);
}

/// Asks node 1's corosync to shut down (a request that tracking clients
/// may refuse): what it answered.
fn ask_shutdown(cluster: &Cluster) -> corosync::Result<()> {
    cluster
        .node(0)
        .run(|| Cfg::new()?.try_shutdown(ShutdownMode::Request))
        .unwrap()
}

/// Cfg tracking, blocking and tokio: a client that refuses shutdowns keeps
/// the daemon up before the restart and, tracking again on its new
/// connection, after it too (without it, corosync would shut down).
#[test]
fn cfg_tracking_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let blocking = client(cluster.node(0), move |tx, cmds| {
        let count = Count::default();
        let (t1, t2, c2) = (tx.clone(), tx.clone(), count.clone());
        let cfg = Cfg::builder()
            .on_shutdown(move |cfg, _| {
                let _ = t1.send(Ev::Shutdown);
                cfg.reply_to_shutdown(false).unwrap();
            })
            .reconnect(policy())
            .on_reconnect(move |_, d| {
                c2.bump();
                let _ = t2.send(Ev::Reconnected(d.attempts));
            })
            .connect()
            .unwrap();
        cfg.track_start(TrackFlags::CHANGES).unwrap();
        let _ = tx.send(Ev::Ready);
        pump(
            &tx,
            &cmds,
            |wait| cfg.dispatch_timeout(wait),
            |_| {
                let _ = tx.send(Ev::Answer(format!("{:?}", cfg.local_nodeid())));
            },
        );
        count.get()
    });
    let tokio = tokio_client(cluster.node(0), move |tx, cmds| async move {
        let (cfg, mut events) = AsyncCfg::reconnecting(TrackFlags::CHANGES, policy())
            .await
            .unwrap();
        let _ = tx.send(Ev::Ready);
        let mut count = 0;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        while let Some(cmds) = commands(&cmds) {
            for _ in cmds {
                let answer = cfg.with(|c| c.local_nodeid());
                let _ = tx.send(Ev::Answer(format!("{answer:?}")));
            }
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(CfgEvent::Shutdown(_))) => {
                        let _ = tx.send(Ev::Shutdown);
                        cfg.reply_to_shutdown(false).await.unwrap();
                    }
                    Some(Ok(CfgEvent::Reconnected(d))) => {
                        count += 1;
                        let _ = tx.send(Ev::Reconnected(d.attempts));
                    }
                    Some(Err(e)) => panic!("the stream failed: {e:?}"),
                    None => panic!("the stream ended"),
                },
                _ = poll.tick() => {}
            }
        }
        count
    });
    let clients = [(&blocking, "blocking"), (&tokio, "tokio")];
    for (c, what) in clients {
        c.wait_for(&format!("{what}: tracking"), |ev| *ev == Ev::Ready);
    }
    assert_eq!(ask_shutdown(&cluster), Err(Error::Busy), "refused before");
    for (c, what) in clients {
        c.wait_for(&format!("{what}: the request"), |ev| *ev == Ev::Shutdown);
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    for (c, what) in clients {
        c.wait_for(&format!("the {what} reconnection"), |ev| {
            matches!(ev, Ev::Reconnected(_))
        });
        let me = cluster.node(0).nodeid();
        assert_eq!(c.call(what), format!("Ok({me:?})"), "{what}");
    }
    assert_eq!(ask_shutdown(&cluster), Err(Error::Busy), "refused after");
    for (c, what) in clients {
        let seen = c.wait_for(&format!("{what}: the request after"), |ev| {
            *ev == Ev::Shutdown
        });
        assert!(
            !seen.iter().any(|ev| matches!(ev, Ev::Reconnected(_))),
            "{what}: {seen:?}"
        );
    }
    assert_eq!(blocking.finish("the blocking cfg client"), 1);
    assert_eq!(tokio.finish("the tokio cfg client"), 1);
}

/// Sets a cmap key on node 1 (through a connection of its own).
fn set_key(cluster: &Cluster, key: &'static str, value: u32) {
    cluster
        .node(0)
        .run(move || Cmap::new()?.set_u32(key, value))
        .unwrap()
        .unwrap();
}

/// Cmap tracks, blocking and tokio: each tracks the prefix `ride.a.` and
/// the key `ride.b`. After the restart both tracks fire again under the
/// ids the client holds, its calls answer, and deleting the `ride.b` track
/// by its id stops its events.
#[test]
fn cmap_tracks_ride_through_a_restart_of_their_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let key = |k: &[u8]| Ev::Key(String::from_utf8_lossy(k).into_owned());
    let blocking = client(cluster.node(0), move |tx, cmds| {
        let count = Count::default();
        let (t0, c0) = (tx.clone(), count.clone());
        let cmap = Cmap::builder()
            .map(Map::Icmap)
            .reconnect(policy())
            .on_reconnect(move |_, d| {
                c0.bump();
                let _ = t0.send(Ev::Reconnected(d.attempts));
            })
            .connect()
            .unwrap();
        let (t1, t2) = (tx.clone(), tx.clone());
        let both = TrackType::ADD | TrackType::MODIFY;
        let a = cmap
            .track_add("ride.a.", both | TrackType::PREFIX, move |_, ev| {
                let _ = t1.send(key(ev.key));
            })
            .unwrap()
            .detach();
        let b = cmap
            .track_add("ride.b", both, move |_, ev| {
                let _ = t2.send(key(ev.key));
            })
            .unwrap()
            .detach();
        assert_ne!(a, b);
        let _ = tx.send(Ev::Ready);
        pump(
            &tx,
            &cmds,
            |wait| cmap.dispatch_timeout(wait),
            |cmd| {
                let answer = match cmd {
                    Cmd::Untrack => format!("{:?}", cmap.track_delete(b)),
                    _ => format!("{:?}", cmap.get_string("totem.cluster_name").map(drop)),
                };
                let _ = tx.send(Ev::Answer(answer));
            },
        );
        count.get()
    });
    let tokio = tokio_client(cluster.node(0), move |tx, cmds| async move {
        let (cmap, mut events) = AsyncCmap::reconnecting(Map::Icmap, policy()).await.unwrap();
        let both = TrackType::ADD | TrackType::MODIFY;
        cmap.track("ride.a.", both | TrackType::PREFIX)
            .await
            .unwrap();
        let b = cmap.track("ride.b", both).await.unwrap();
        let _ = tx.send(Ev::Ready);
        let mut count = 0;
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        while let Some(cmds) = commands(&cmds) {
            for cmd in cmds {
                let answer = match cmd {
                    Cmd::Untrack => format!("{:?}", cmap.untrack(b).await),
                    _ => format!(
                        "{:?}",
                        cmap.with(|c| c.get_string("totem.cluster_name").map(drop))
                    ),
                };
                let _ = tx.send(Ev::Answer(answer));
            }
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ReconnectingCmapEvent::Change(change))) => {
                        let _ = tx.send(key(&change.key));
                    }
                    Some(Ok(ReconnectingCmapEvent::Reconnected(d))) => {
                        count += 1;
                        let _ = tx.send(Ev::Reconnected(d.attempts));
                    }
                    Some(Err(e)) => panic!("the stream failed: {e:?}"),
                    None => panic!("the stream ended"),
                },
                _ = poll.tick() => {}
            }
        }
        count
    });
    let clients = [(&blocking, "blocking"), (&tokio, "tokio")];
    let (a, b) = (key(b"ride.a.x"), key(b"ride.b"));
    for (c, what) in clients {
        c.wait_for(&format!("{what}: tracking"), |ev| *ev == Ev::Ready);
    }
    set_key(&cluster, "ride.a.x", 1);
    set_key(&cluster, "ride.b", 1);
    for (c, what) in clients {
        c.wait_for(&format!("{what}: ride.a.x"), |ev| *ev == a);
        c.wait_for(&format!("{what}: ride.b"), |ev| *ev == b);
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    for (c, what) in clients {
        c.wait_for(&format!("the {what} reconnection"), |ev| {
            matches!(ev, Ev::Reconnected(_))
        });
        assert_eq!(c.call(what), "Ok(())", "{what}: a call");
    }
    // Both tracks fire again on the new connection.
    set_key(&cluster, "ride.a.x", 2);
    set_key(&cluster, "ride.b", 2);
    for (c, what) in clients {
        c.wait_for(&format!("{what}: ride.a.x after"), |ev| *ev == a);
        c.wait_for(&format!("{what}: ride.b after"), |ev| *ev == b);
    }
    // The id held since before the restart deletes the track made again.
    for (c, what) in clients {
        c.cmds.send(Cmd::Untrack).unwrap();
        let seen = c.wait_for(&format!("{what}: the untrack"), |ev| {
            matches!(ev, Ev::Answer(_))
        });
        assert_eq!(seen.last(), Some(&Ev::Answer("Ok(())".into())), "{what}");
    }
    set_key(&cluster, "ride.b", 3);
    set_key(&cluster, "ride.a.x", 3);
    for (c, what) in clients {
        let seen = c.wait_for(&format!("{what}: ride.a.x at last"), |ev| *ev == a);
        assert!(
            !seen
                .iter()
                .any(|ev| *ev == b || matches!(ev, Ev::Reconnected(_))),
            "{what}: {seen:?}"
        );
    }
    assert_eq!(blocking.finish("the blocking cmap client"), 1);
    assert_eq!(tokio.finish("the tokio cmap client"), 1);
}

/// Counts a tick as sent, or tells the test why not. `TryAgain` is not a
/// failure: corosync answers it while the restarted node's ring forms, and
/// the same tick goes again at the next turn.
fn sent(tx: &Sender<Ev>, result: corosync::Result<()>, seq: &mut u64) {
    match result {
        Ok(()) => *seq += 1,
        Err(Error::TryAgain) => {}
        Err(e) => {
            let _ = tx.send(Ev::Failed(format!("mcast: {e:?}")));
        }
    }
}

/// An EVS member on `node` in group `chat`, sending a tick to its groups
/// every 50 ms; with `policy`, it rides through daemon restarts.
fn evs_member(node: &Node, policy: Option<Reconnect>) -> Client {
    client(node, move |tx, cmds| {
        let count = Count::default();
        let (t1, t2, c2) = (tx.clone(), tx.clone(), count.clone());
        let chat = EvsGroup::new("chat").unwrap();
        let mut builder = Evs::builder().on_deliver(move |_, m| {
            if let Some((epoch, seq)) = parse_tick(m.data) {
                let _ = t1.send(Ev::Tick(m.nodeid, m.pid, epoch, seq));
            }
        });
        if let Some(policy) = policy {
            builder = builder.reconnect(policy).on_reconnect(move |evs, d| {
                // The EVS groups stay joined.
                assert_eq!(evs.joined(), vec![chat]);
                c2.bump();
                let _ = t2.send(Ev::Reconnected(d.attempts));
            });
        }
        let evs = builder.connect().unwrap();
        evs.join(&[chat]).unwrap();
        let mut seq = 0;
        let mut next_send = Instant::now();
        pump(
            &tx,
            &cmds,
            |wait| {
                let dispatched = evs.dispatch_timeout(wait);
                if Instant::now() >= next_send {
                    next_send = Instant::now() + Duration::from_millis(50);
                    let data = tick(count.get(), seq, 0);
                    sent(
                        &tx,
                        evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(&data)]),
                        &mut seq,
                    );
                }
                dispatched
            },
            |_| {},
        );
        count.get()
    })
}

/// An EVS member rides through the restart (with a patience shorter than
/// it, [`impatient`]): told once, its messages after it reach a peer on
/// another node, and the peer's reach it.
#[test]
fn an_evs_member_rides_through_a_restart_of_its_daemon() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let (n1, n2) = (cluster.node(0).nodeid(), cluster.node(1).nodeid());
    let member = evs_member(cluster.node(0), Some(impatient()));
    let peer = evs_member(cluster.node(1), None);
    peer.wait_for(
        "a tick of the member",
        |ev| matches!(ev, Ev::Tick(n, _, 0, _) if *n == n1),
    );
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    let seen = member.wait_for("the reconnection", |ev| matches!(ev, Ev::Reconnected(_)));
    assert!(
        seen.iter().any(|ev| matches!(ev, Ev::Failed(_))),
        "no call failed while the daemon was gone: {seen:?}"
    );
    peer.wait_for(
        "a tick sent after the reconnection",
        |ev| matches!(ev, Ev::Tick(n, _, 1, _) if *n == n1),
    );
    let after = member.wait_for(
        "a tick of the peer after",
        |ev| matches!(ev, Ev::Tick(n, _, _, _) if *n == n2),
    );
    assert!(
        !after
            .iter()
            .any(|ev| matches!(ev, Ev::Failed(_) | Ev::Reconnected(_))),
        "after the reconnection: {after:?}"
    );
    assert_eq!(member.finish("the EVS member"), 1, "reconnections");
    assert_eq!(peer.finish("the EVS peer"), 0);
}

/// How a failed send is reported: `Library`, or the error in full.
fn failure(e: Error) -> Ev {
    if e == Error::Library {
        Ev::Failed("Library".into())
    } else {
        Ev::Failed(format!("{e:?}"))
    }
}

/// A blocking CPG member on `node` in `group` that sends 64 KiB messages
/// without pause, each through [`Retry`] (waiting out flow control), and
/// dispatches between them; it rides through daemon restarts.
fn blocking_flooder(node: &Node, group: &str) -> Client {
    let group = GroupName::new(group).unwrap();
    client(node, move |tx, cmds| {
        let count = Count::default();
        let (t0, c0) = (tx.clone(), count.clone());
        let cpg = Cpg::builder()
            .reconnect(policy())
            .on_reconnect(move |_, d| {
                c0.bump();
                let _ = t0.send(Ev::Reconnected(d.attempts));
            })
            .connect()
            .unwrap();
        cpg.join(&group).unwrap();
        let retry = Retry::new(1000).delays(Duration::from_millis(1), Duration::from_millis(5));
        let mut seq = 0;
        while !matches!(cmds.try_recv(), Ok(Cmd::Stop)) {
            if let Err(e) = cpg.dispatch_some(64) {
                let _ = tx.send(Ev::Failed(format!("dispatch: {e:?}")));
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let data = tick(count.get(), seq, 64 * 1024);
            match retry.run(|| cpg.mcast(Guarantee::Agreed, &data)) {
                Ok(()) => seq += 1,
                // (Flow control outlasted the retries on a loaded machine:
                // not the daemon's death; the same message goes again.)
                Err(Error::TryAgain) => {}
                Err(e) => {
                    let _ = tx.send(failure(e));
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        count.get()
    })
}

/// Sends under way when the daemon dies: two tasks of a tokio member send
/// 64 KiB messages without pause, so that sends are always under way,
/// most of them waiting for the send window or out flow control, and a
/// blocking member does the same through [`Retry`]. When the daemon dies
/// every send ends, those that fail with `Library` (none hangs, none
/// answers another error; the tokio member, whose sends do not wait for
/// its stream to reconnect, sees some), and after the reconnection sends
/// go through again and reach a peer.
#[test]
fn sends_waiting_when_the_daemon_dies_fail_with_library_and_go_on_after() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let n1 = cluster.node(0).nodeid();
    let peer = blocking_member(cluster.node(1), "flood", None, false);
    let blocking_peer = blocking_member(cluster.node(1), "flood-blocking", None, false);
    let blocking = blocking_flooder(cluster.node(0), "flood-blocking");
    let group = GroupName::new("flood").unwrap();
    let member = tokio_client(cluster.node(0), move |tx, cmds| async move {
        let (cpg, mut stream) = AsyncCpg::reconnecting(policy()).await.unwrap();
        cpg.join(&group).await.unwrap();
        let epoch = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..2u64)
            .map(|task| {
                let (cpg, epoch, stop, tx) = (cpg.clone(), epoch.clone(), stop.clone(), tx.clone());
                tokio::spawn(async move {
                    let mut seq = task << 32;
                    while !stop.load(Ordering::SeqCst) {
                        let data = tick(epoch.load(Ordering::SeqCst), seq, 64 * 1024);
                        let sent = tokio::time::timeout(WAIT, cpg.mcast(Guarantee::Agreed, &data))
                            .await
                            .expect("a send still waits after 30 s");
                        match sent {
                            Ok(()) => seq += 1,
                            Err(e) => {
                                let _ = tx.send(failure(e));
                                // (Not a busy loop while the daemon is gone.)
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        while commands(&cmds).is_some() {
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(CpgEvent::Reconnected(d))) => {
                        epoch.fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send(Ev::Reconnected(d.attempts));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("the stream failed: {e:?}"),
                    None => panic!("the stream ended"),
                },
                _ = poll.tick() => {}
            }
        }
        stop.store(true, Ordering::SeqCst);
        for sender in senders {
            sender.await.expect("a sender task");
        }
        epoch.load(Ordering::SeqCst)
    });
    let flooders = [
        (&member, &peer, "tokio"),
        (&blocking, &blocking_peer, "blocking"),
    ];
    for (_, peer, what) in flooders {
        peer.wait_for(
            &format!("a message of the {what} member"),
            |ev| matches!(ev, Ev::Tick(n, _, 0, _) if *n == n1),
        );
    }
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    for (member, peer, what) in flooders {
        let seen = member.wait_for(&format!("the {what} reconnection"), |ev| {
            matches!(ev, Ev::Reconnected(_))
        });
        let failed: Vec<&Ev> = seen
            .iter()
            .filter(|ev| matches!(ev, Ev::Failed(_)))
            .collect();
        if what == "tokio" {
            assert!(!failed.is_empty(), "no send failed: {seen:?}");
        }
        assert!(
            failed.iter().all(|ev| **ev == Ev::Failed("Library".into())),
            "{what}: {failed:?}"
        );
        peer.wait_for(
            &format!("a message the {what} member sent after the reconnection"),
            |ev| matches!(ev, Ev::Tick(n, _, 1, _) if *n == n1),
        );
    }
    assert_eq!(blocking.finish("the blocking flooder"), 1, "reconnections");
    blocking_peer.finish("the blocking flooder's peer");
    assert_eq!(member.finish("the flooding member"), 1, "reconnections");
    peer.finish("the peer");
}
