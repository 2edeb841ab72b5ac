//! EVS on a real three-node cluster: handles with overlapping group sets
//! (in this process and in processes of their own), each getting exactly
//! the messages for its groups, once, in one total order.

use std::collections::HashSet;
use std::io::IoSlice;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::evs::{Evs, EvsGroup, DEFAULT_CPG_GROUP};
use corosync::{DispatchMode, Error, NodeId, Retry};
use corosync_tests::bounded::{join_within, returns_within, Barrier, NO_HANG};
use corosync_tests::events::WAIT;
use corosync_tests::process::Process;
use corosync_tests::{
    hex, on_node, pump, pump_for, unhex, wait_readable, Cluster, CpgMember, Node,
};

fn group(name: &str) -> EvsGroup {
    EvsGroup::new(name).unwrap()
}

/// What an in-process handle saw.
#[derive(Default)]
struct Seen {
    payloads: Vec<Vec<u8>>,
    /// (first payload byte, sender node id, sender pid) of each message.
    senders: HashSet<(u8, u32, u32)>,
    confchgs: Vec<(Vec<NodeId>, Vec<NodeId>)>,
}

type Shared = Arc<Mutex<Seen>>;

fn handle(node: &Node, groups: &[&str]) -> (Evs, Shared) {
    let seen = Shared::default();
    let (a, b) = (seen.clone(), seen.clone());
    let groups: Vec<EvsGroup> = groups.iter().map(|g| group(g)).collect();
    let evs = node
        .run(move || {
            let evs = Evs::builder()
                .on_deliver(move |_, m| {
                    let mut seen = a.lock().unwrap();
                    seen.payloads.push(m.data.to_vec());
                    if let Some(&first) = m.data.first() {
                        seen.senders.insert((first, m.nodeid.get(), m.pid));
                    }
                })
                .on_confchg(move |_, c| {
                    b.lock()
                        .unwrap()
                        .confchgs
                        .push((c.members.to_vec(), c.left.to_vec()))
                })
                .connect()
                .unwrap();
            evs.join(&groups).unwrap();
            evs
        })
        .unwrap();
    (evs, seen)
}

/// An `evs-member` process.
struct Member {
    process: Process,
    /// Its pid, as it reported it.
    pid: u32,
    /// (first payload byte, sender node id, sender pid) of each message.
    senders: HashSet<(u8, u32, u32)>,
}

impl Member {
    fn start(node: &Node, groups: &str) -> Member {
        let mut process = Process::start(node, env!("CARGO_BIN_EXE_evs-member"), [groups]);
        let ready = process.expect("ready", WAIT);
        // "ready <nodeid> <pid>"
        let pid = match ready.split(' ').collect::<Vec<_>>()[..] {
            ["ready", _, pid] => pid.parse().unwrap(),
            _ => panic!("{ready}"),
        };
        Member {
            process,
            pid,
            senders: HashSet::new(),
        }
    }

    fn say(&mut self, line: &str) {
        self.process.say(line);
    }

    /// Collects delivered payloads until `n` arrived; the other lines go to
    /// `other`. Fails if they have not within 60 s (or the output ends).
    fn payloads(&mut self, n: usize, other: &mut Vec<String>) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.process.next_line(left) else {
                panic!(
                    "evs-member {} printed {} of {n} payloads within 60 s",
                    self.pid,
                    got.len()
                );
            };
            // "msg <nodeid> <pid> <hex>"
            match line.split(' ').collect::<Vec<_>>()[..] {
                ["msg", nodeid, pid, data] => {
                    let data = unhex(data).unwrap();
                    if let Some(&first) = data.first() {
                        let sender = (first, nodeid.parse().unwrap(), pid.parse().unwrap());
                        self.senders.insert(sender);
                    }
                    got.push(data);
                }
                _ => other.push(line),
            }
        }
        got
    }
}

fn payload(sender: u8, seq: u32) -> Vec<u8> {
    let mut p = vec![sender];
    p.extend_from_slice(&seq.to_le_bytes());
    p
}

/// The messages two handles both got must be in the same order in both.
fn same_relative_order(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let (sa, sb): (HashSet<_>, HashSet<_>) = (a.iter().collect(), b.iter().collect());
    let ca: Vec<_> = a.iter().filter(|m| sb.contains(m)).collect();
    let cb: Vec<_> = b.iter().filter(|m| sa.contains(m)).collect();
    ca == cb
}

#[test]
fn handles_get_exactly_their_groups_messages_in_one_order() {
    let mut cluster = Cluster::new(3).expect("cluster");
    // Groups per handle: in this process one handle per node, and one more
    // handle per node in a process of its own.
    let (e1, s1) = handle(cluster.node(0), &["A"]);
    let (e2, s2) = handle(cluster.node(1), &["A", "B"]);
    let (e3, s3) = handle(cluster.node(2), &["B", "C"]);
    let mut p1 = Member::start(cluster.node(0), "C");
    let mut p2 = Member::start(cluster.node(1), "A,C");
    let mut p3 = Member::start(cluster.node(2), "B");
    let carrier = corosync::cpg::GroupName::new(DEFAULT_CPG_GROUP).unwrap();
    let observer = cluster
        .node(0)
        .run(corosync::cpg::Cpg::new)
        .unwrap()
        .unwrap();
    assert!(
        pump(&e1, || observer
            .membership(&carrier)
            .expect("membership")
            .len()
            == 6),
        "six EVS handles in the carrier group: {:?}",
        observer.membership(&carrier)
    );
    // A second handle in this process on the same node is refused.
    assert!(matches!(
        cluster.node(0).run(|| Evs::builder().connect()).unwrap(),
        Err(Error::Exist)
    ));

    // Who gets what: a message goes to every handle with a destination group.
    let sets: [&[&str]; 6] = [
        &["A"],
        &["A", "B"],
        &["B", "C"],
        &["C"],
        &["A", "C"],
        &["B"],
    ];
    const N: u32 = 300;
    // How long the three senders may take in all: seconds when they work.
    const SENDING: Duration = Duration::from_secs(300);
    // Senders: e1 → {A}, e2 → {A,B}, e3 → {B,C} (mcast_joined, concurrent),
    // e1 → {C} (mcast_groups, not joined), p1 → {C}.
    let mut plan: Vec<(Vec<u8>, Vec<&str>)> = Vec::new();
    for seq in 0..N {
        plan.push((payload(1, seq), vec!["A"]));
        plan.push((payload(2, seq), vec!["A", "B"]));
        plan.push((payload(3, seq), vec!["B", "C"]));
    }
    for seq in 0..20 {
        plan.push((payload(11, seq), vec!["C"]));
        plan.push((payload(4, seq), vec!["C"]));
    }
    let expected: Vec<HashSet<Vec<u8>>> = sets
        .iter()
        .map(|set| {
            plan.iter()
                .filter(|(_, to)| to.iter().any(|g| set.contains(g)))
                .map(|(p, _)| p.clone())
                .collect()
        })
        .collect();

    for seq in 0..20 {
        p1.say(&format!("send {}", hex(&payload(4, seq))));
    }
    let handles = vec![(e1, s1, 1u8), (e2, s2, 2), (e3, s3, 3)];
    let start = Arc::new(Barrier::new(3));
    let expected_counts: Vec<usize> = expected.iter().map(HashSet::len).collect();
    let threads: Vec<_> = handles
        .into_iter()
        .map(|(evs, seen, me)| {
            let (start, want) = (start.clone(), expected_counts[me as usize - 1]);
            std::thread::spawn(move || {
                start.pass(WAIT, "the three senders' start");
                let policy =
                    Retry::new(10_000).delays(Duration::from_millis(1), Duration::from_millis(10));
                let send = |data: &[u8], to: Option<&[EvsGroup]>| {
                    policy
                        .run_with_sleep(
                            || match to {
                                None => evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(data)]),
                                Some(to) => {
                                    evs.mcast_groups(Guarantee::Agreed, to, &[IoSlice::new(data)])
                                }
                            },
                            |pause| {
                                wait_readable(&evs, pause);
                                evs.dispatch(DispatchMode::All).unwrap();
                            },
                        )
                        .unwrap()
                };
                for seq in 0..N {
                    send(&payload(me, seq), None);
                    if me == 1 && seq < 20 {
                        send(&payload(11, seq), Some(&[group("C")]));
                    }
                    evs.dispatch(DispatchMode::All).unwrap();
                }
                let ok = pump_for(&evs, Duration::from_secs(60), || {
                    seen.lock().unwrap().payloads.len() >= want
                });
                assert!(
                    ok,
                    "handle {me} got {} of {want}",
                    seen.lock().unwrap().payloads.len()
                );
                (evs, seen, me)
            })
        })
        .collect();
    // (Each thread fails by itself if its messages do not come within 60 s;
    // this bound catches a thread that hangs in a call.)
    let handles: Vec<(Evs, Shared, u8)> = threads
        .into_iter()
        .enumerate()
        .map(|(i, t)| join_within(t, SENDING, &format!("the sender of handle {}", i + 1)))
        .collect();
    let mut other = Vec::new();
    let mut got: Vec<Vec<Vec<u8>>> = handles
        .iter()
        .map(|(_, s, _)| s.lock().unwrap().payloads.clone())
        .collect();
    for (i, p) in [&mut p1, &mut p2, &mut p3].into_iter().enumerate() {
        got.push(p.payloads(expected_counts[3 + i], &mut other));
    }
    for (i, list) in got.iter().enumerate() {
        let as_set: HashSet<Vec<u8>> = list.iter().cloned().collect();
        assert_eq!(
            as_set.len(),
            list.len(),
            "handle {i}: a message arrived twice"
        );
        assert!(
            as_set == expected[i],
            "handle {i} (groups {:?}) got {} messages, expected {}",
            sets[i],
            list.len(),
            expected[i].len()
        );
    }
    // Every message names its sender: this process's handles on nodes 1-3
    // (1 and 11 both from node 1's), and p1 on node 1.
    let me = std::process::id();
    let id = |i: usize| cluster.node(i).nodeid().get();
    let mut senders = HashSet::new();
    for (_, seen, _) in &handles {
        senders.extend(seen.lock().unwrap().senders.iter().copied());
    }
    for p in [&p1, &p2, &p3] {
        senders.extend(p.senders.iter().copied());
    }
    let want = HashSet::from([
        (1, id(0), me),
        (11, id(0), me),
        (2, id(1), me),
        (3, id(2), me),
        (4, id(0), p1.pid),
    ]);
    assert_eq!(senders, want);
    for i in 0..got.len() {
        for j in i + 1..got.len() {
            assert!(
                same_relative_order(&got[i], &got[j]),
                "handles {i} and {j} disagree on the order"
            );
        }
    }

    // Leaving a group stops its messages: e2 leaves B, e3 sends to B only.
    let (e2, s2) = (&handles[1].0, &handles[1].1);
    let (e3, s3) = (&handles[2].0, &handles[2].1);
    e2.leave(&[group("B")]).unwrap();
    assert_eq!(e2.joined(), [group("A")]);
    assert_eq!(e2.leave(&[group("B")]), Err(Error::NotJoined));
    let before2 = s2.lock().unwrap().payloads.len();
    let before3 = s3.lock().unwrap().payloads.len();
    for seq in 0..10 {
        e3.mcast_groups(
            Guarantee::Agreed,
            &[group("B")],
            &[IoSlice::new(&payload(5, seq))],
        )
        .unwrap();
    }
    assert!(
        pump(e3, || s3.lock().unwrap().payloads.len() >= before3 + 10),
        "e3 never got its ten messages to B"
    );
    assert_eq!(p3.payloads(10, &mut other).len(), 10, "p3 (B) got them");
    // Then one to A, which e2 is still in: it comes after the ten in the
    // one total order, so when e2 has it, e2 has had its chance at them.
    e3.mcast_groups(
        Guarantee::Agreed,
        &[group("A")],
        &[IoSlice::new(&payload(7, 0))],
    )
    .unwrap();
    assert!(
        pump(e2, || s2.lock().unwrap().payloads.len() > before2),
        "e2 never got e3's message to A"
    );
    assert_eq!(
        s2.lock().unwrap().payloads[before2..],
        [payload(7, 0)],
        "e2 left B and got none of them"
    );
    let before2 = before2 + 1;

    // Guarantees: SAFE is not supported; the others are agreed order.
    assert_eq!(
        e2.mcast_joined(Guarantee::Safe, &[IoSlice::new(b"x")]),
        Err(Error::NotSupported)
    );
    for (i, g) in [Guarantee::Unordered, Guarantee::Fifo, Guarantee::Agreed]
        .into_iter()
        .enumerate()
    {
        e2.mcast_joined(g, &[IoSlice::new(&payload(6, i as u32))])
            .unwrap();
    }
    assert!(
        pump(e2, || s2.lock().unwrap().payloads.len() >= before2 + 3),
        "e2 never got its three messages, one per guarantee"
    );
    let tail: Vec<Vec<u8>> = s2.lock().unwrap().payloads[before2..].to_vec();
    assert_eq!(tail, (0..3).map(|i| payload(6, i)).collect::<Vec<_>>());

    // Something that is not an envelope, from a plain CPG member of the
    // carrier group, is dropped and counted, never delivered.
    let mut raw = CpgMember::join(cluster.node(0), DEFAULT_CPG_GROUP);
    let e1 = &handles[0].0;
    // e1 (in A) gets e2's three messages first.
    assert!(
        pump(e1, || {
            handles[0]
                .1
                .lock()
                .unwrap()
                .payloads
                .contains(&payload(6, 2))
        }),
        "e1 never got e2's last message to A"
    );
    let dropped = e1.dropped_messages();
    let s1_len = handles[0].1.lock().unwrap().payloads.len();
    for junk in ["", "63455653", "6345565301000100", "ffffffffffffffffffff"] {
        raw.command(&format!("send {junk}"));
    }
    assert!(
        pump(e1, || e1.dropped_messages() >= dropped + 4),
        "e1 dropped {} of the 4 non-envelopes",
        e1.dropped_messages() - dropped
    );
    assert_eq!(handles[0].1.lock().unwrap().payloads.len(), s1_len);
    drop(raw);

    // A node kill: everyone left sees node 3 leave.
    cluster.kill(2).unwrap();
    for (evs, seen) in [
        (&handles[0].0, &handles[0].1),
        (&handles[1].0, &handles[1].1),
    ] {
        assert!(
            pump(evs, || {
                seen.lock()
                    .unwrap()
                    .confchgs
                    .last()
                    .is_some_and(|(_, left)| left == &[NodeId::new(3)])
            }),
            "no configuration change with node 3 gone: {:?}",
            seen.lock().unwrap().confchgs
        );
        let (me, members) = evs.membership().unwrap();
        assert!(members.contains(&me) && !members.contains(&NodeId::new(3)));
    }
    for (name, p) in [("p1", &mut p1), ("p2", &mut p2)] {
        let conf = p.process.expect("left 3", WAIT);
        assert_eq!(conf, "conf 1,2 left 3", "{name} saw {:?}", p.process.seen());
    }
    // p3's daemon is gone: its dispatch fails and it says so and exits;
    // the others exit when told.
    let gone = p3.process.expect("dispatch error", WAIT);
    assert_eq!(gone, format!("dispatch error {:?}", Error::Library), "p3");
    p1.say("exit");
    p2.say("exit");
    for (name, p) in [("p1", p1), ("p2", p2), ("p3", p3)] {
        let (status, lines) = p.process.finish(WAIT);
        assert_eq!(
            status.code(),
            Some(0),
            "{name} exited with {status}: {lines:?}"
        );
    }
}

#[test]
fn the_chat_example_talks_across_nodes_and_groups() {
    let cluster = Cluster::new(2).expect("cluster");
    let chat = corosync_tests::example_binary("evs_chat").unwrap();
    let chat = chat.to_str().unwrap();
    let carrier = GroupName::new(DEFAULT_CPG_GROUP).unwrap();
    let observer = on_node(cluster.node(0), Cpg::new).expect("cpg connect");
    let chatters = || observer.membership(&carrier).expect("membership").len();
    // Each step waits for the event that shows the last one took effect.
    let mut alice = Process::start(cluster.node(0), chat, ["lobby"]);
    alice.expect("* node 1 in lobby", WAIT);
    alice.expect("* members: 1 2", WAIT);
    let mut bob = Process::start(cluster.node(1), chat, ["lobby,ops"]);
    bob.expect("* node 2 in lobby,ops", WAIT);
    bob.expect("* members: 1 2", WAIT);
    // EVS configuration changes are about nodes, so they do not show bob's
    // process joining: node 1's daemon listing both chats in the carrier
    // group does, and what alice sends from then on comes after bob's join.
    assert!(
        pump(&observer, || chatters() == 2),
        "node 1 never saw both chats in the carrier group: {:?}",
        observer.membership(&carrier)
    );

    alice.say("hello lobby");
    bob.expect("[node 1 to lobby] hello lobby", WAIT);
    alice.say("/to ops ops only");
    bob.expect("[node 1 to ops] ops only", WAIT);
    bob.say("/leave lobby");
    bob.expect("* left lobby", WAIT);
    bob.say("/leave nowhere");
    bob.expect("* cannot leave nowhere", WAIT);
    bob.say("hi from ops");
    bob.expect("[node 2 to ops] hi from ops", WAIT);
    // Sent after bob's message was delivered, so later in the one order:
    // when alice has her own, she has had her chance at bob's.
    alice.say("back in lobby");
    alice.expect("[node 1 to lobby] back in lobby", WAIT);
    alice.say("/join ops");
    alice.expect("* joined ops", WAIT);
    alice.say("/to ops after join");
    alice.expect("[node 1 to ops] after join", WAIT);
    // Later than "back in lobby" in the one order: bob has had his chance.
    bob.expect("[node 1 to ops] after join", WAIT);

    alice.say("/quit");
    bob.say("/quit");
    let (a_status, a) = alice.finish(WAIT);
    let (b_status, b) = bob.finish(WAIT);
    assert_eq!(a_status.code(), Some(0), "alice: {a_status}: {a:?}");
    assert_eq!(b_status.code(), Some(0), "bob: {b_status}: {b:?}");
    // Both have left the carrier group.
    assert!(
        pump(&observer, || chatters() == 0),
        "the chats still in the carrier group: {:?}",
        observer.membership(&carrier)
    );
    let lines = |of: &[String], text: &str| of.iter().filter(|l| l.contains(text)).count();
    for (who, of, text) in [
        ("bob", &b, "hello lobby"),
        ("bob", &b, "ops only"),
        ("bob", &b, "hi from ops"),
        ("bob", &b, "after join"),
        ("alice", &a, "back in lobby"),
        ("alice", &a, "after join"),
    ] {
        assert_eq!(lines(of, text), 1, "{who} got {text:?} once: {of:?}");
    }
    assert_eq!(lines(&a, "ops only"), 0, "alice was not in ops yet: {a:?}");
    assert_eq!(
        lines(&a, "hi from ops"),
        0,
        "bob sent to ops, alice was in lobby only: {a:?}"
    );
    assert_eq!(lines(&b, "back in lobby"), 0, "bob left lobby: {b:?}");
}

#[test]
fn bad_input_is_refused_before_anything_is_sent_and_a_stopped_daemon_answers_errors() {
    use corosync::cpg::{MAX_BUFFERS, MAX_MESSAGE_LEN};
    use corosync::evs::MAX_GROUPS;

    let mut cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidInput { .. }));
    // A carrier group name CPG cannot take.
    let long = node
        .run(|| Evs::builder().cpg_group([b'c'; 129]).connect().map(drop))
        .unwrap();
    assert!(
        matches!(
            long,
            Err(Error::TooLong {
                len: 129,
                max: 128,
                ..
            })
        ),
        "{long:?}"
    );

    let (evs, seen) = handle(node, &[]);
    let x = [IoSlice::new(b"x")];
    // Nowhere to send to.
    assert_eq!(
        evs.mcast_joined(Guarantee::Agreed, &x),
        Err(Error::NotJoined)
    );
    assert!(invalid(evs.mcast_groups(Guarantee::Agreed, &[], &x)));
    // More groups than an envelope holds, in one message or joined.
    let many: Vec<EvsGroup> = (0..=MAX_GROUPS).map(|i| group(&format!("g{i}"))).collect();
    assert!(invalid(evs.mcast_groups(Guarantee::Agreed, &many, &x)));
    evs.join(&many[..MAX_GROUPS - 1]).unwrap();
    assert!(invalid(evs.join(&many[MAX_GROUPS - 1..])));
    assert_eq!(
        evs.joined().len(),
        MAX_GROUPS - 1,
        "a refused join joins none"
    );
    evs.join(&many[MAX_GROUPS - 1..MAX_GROUPS]).unwrap();
    evs.leave(&many[1..MAX_GROUPS]).unwrap();
    assert_eq!(evs.joined(), [many[0]]);
    // More buffers than fit beside the envelope's two.
    let bufs = vec![IoSlice::new(b"x"); MAX_BUFFERS - 1];
    assert_eq!(
        evs.mcast_joined(Guarantee::Agreed, &bufs),
        Err(Error::TooManyBuffers {
            count: MAX_BUFFERS - 1,
            max: MAX_BUFFERS - 2
        })
    );
    // Too large once the envelope is added: the limit named is what is
    // left for the payload (the same 64 MiB buffer, 32 times in part).
    let big = vec![0u8; 64 << 20];
    let len = MAX_MESSAGE_LEN - 10;
    let mut huge: Vec<IoSlice<'_>> = (0..31).map(|_| IoSlice::new(&big)).collect();
    huge.push(IoSlice::new(&big[..len - 31 * big.len()]));
    assert_eq!(
        evs.mcast_joined(Guarantee::Agreed, &huge),
        Err(Error::MessageTooLarge {
            len,
            max: MAX_MESSAGE_LEN - 8 - EvsGroup::LEN
        })
    );
    // Safe delivery does not exist on CPG.
    assert_eq!(
        evs.mcast_joined(Guarantee::Safe, &x),
        Err(Error::NotSupported)
    );
    // None of that was sent: the two good messages are all that come (one
    // sender's messages arrive in the order sent, so anything sent before
    // or between them would be in between).
    for good in [b"good", b"last"] {
        evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(good)])
            .unwrap();
    }
    assert!(pump(&evs, || seen.lock().unwrap().payloads.len() >= 2));
    assert_eq!(
        seen.lock().unwrap().payloads,
        [b"good".to_vec(), b"last".to_vec()]
    );
    assert_eq!(evs.dropped_messages(), 0);

    cluster.stop(0).unwrap();
    // Every call fails at once; the generous bound only tells that from a
    // hang.
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert_eq!(
            evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(b"gone")]),
            Err(Error::Library)
        );
        assert_eq!(evs.membership(), Err(Error::Library));
        assert_eq!(evs.dispatch(DispatchMode::All), Err(Error::Library));
    });
}
