//! CPG on a one-node cluster: the whole API against a real daemon.

use std::io::IoSlice;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee, Iteration, Reason, MAX_BUFFERS, MAX_MESSAGE_LEN};
use corosync::{DispatchMode, Error, NodeId, Retry};
use corosync_tests::bounded::{join_within, returns_within, NO_HANG};
use corosync_tests::cpg_record::{recording_cpg, SharedRecord, TotemChange};
use corosync_tests::events::WAIT;
use corosync_tests::{hex, on_node, pump, Cluster, CpgMember};

#[test]
fn join_deliver_order_and_sizes_up_to_beyond_the_atomic_size() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let seen = SharedRecord::default();
        let cpg = recording_cpg(&seen);
        let group = GroupName::new("sizes").unwrap();
        cpg.join(&group).unwrap();
        assert!(pump(&cpg, || !seen.lock().unwrap().confchgs.is_empty()));
        let me = std::process::id();
        {
            let s = seen.lock().unwrap();
            let change = &s.confchgs[0];
            assert_eq!(change.group, group);
            assert_eq!(change.members.len(), 1);
            assert_eq!(
                (change.members[0].nodeid(), change.members[0].pid()),
                (NodeId::new(1), me)
            );
            assert!(change.left.is_empty());
            assert_eq!(change.joined.len(), 1);
            assert_eq!(change.joined[0].reason(), Reason::Join);
        }
        assert_eq!(cpg.local_nodeid().unwrap(), NodeId::new(1));
        let atomic = cpg.max_atomic_msgsize().unwrap();
        assert!(atomic > 1000, "max atomic message size {atomic}");
        assert!(!cpg.flow_control_enabled().unwrap());

        let mut sizes = vec![
            0,
            1,
            2,
            100,
            1000,
            atomic - 1,
            atomic,
            atomic + 1,
            3 * atomic + 17,
        ];
        sizes.push(4 << 20);
        let payload = |i: usize, len: usize| -> Vec<u8> {
            (0..len).map(|j| (i * 31 + j * 7 + j / 251) as u8).collect()
        };
        for (i, &len) in sizes.iter().enumerate() {
            Retry::default()
                .run(|| cpg.mcast(Guarantee::Agreed, &payload(i, len)))
                .unwrap();
        }
        // A vectored message is delivered as one concatenated message.
        let parts: Vec<Vec<u8>> = (0..MAX_BUFFERS).map(|i| vec![i as u8; i % 5]).collect();
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        cpg.mcast_vectored(Guarantee::Fifo, &slices).unwrap();
        // Every guarantee value is accepted (corosync delivers all in
        // agreed order).
        let guarantees = [
            Guarantee::Unordered,
            Guarantee::Fifo,
            Guarantee::Agreed,
            Guarantee::Safe,
        ];
        for (i, g) in guarantees.iter().enumerate() {
            cpg.mcast(*g, &[b'g', i as u8]).unwrap();
        }
        let expected_count = sizes.len() + 1 + guarantees.len();
        assert!(pump(&cpg, || seen.lock().unwrap().messages.len()
            >= expected_count));

        let s = seen.lock().unwrap();
        assert_eq!(
            s.messages.len(),
            expected_count,
            "each message exactly once"
        );
        for (i, &len) in sizes.iter().enumerate() {
            let m = &s.messages[i];
            assert_eq!((m.group, m.nodeid, m.pid), (group, NodeId::new(1), me));
            assert_eq!(m.data.len(), len, "message {i} in order with its size");
            assert!(m.data == payload(i, len), "message {i} bytes");
        }
        assert_eq!(s.messages[sizes.len()].data, parts.concat());
        for i in 0..guarantees.len() {
            assert_eq!(s.messages[sizes.len() + 1 + i].data, [b'g', i as u8]);
        }
    });
}

#[test]
fn bad_input_is_refused_with_clear_errors() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let cpg = Cpg::new().unwrap();
        assert!(matches!(
            GroupName::new([b'a'; 129]),
            Err(Error::TooLong {
                len: 129,
                max: 128,
                ..
            })
        ));
        let group = GroupName::new([b'a'; 128]).unwrap();
        // Sends before a join are refused (corosync would take a small one
        // and drop it), whole, fragmented or from a zero-copy buffer.
        let atomic = cpg.max_atomic_msgsize().unwrap();
        let zcb = cpg.zcb_alloc(16).unwrap();
        assert_eq!(cpg.mcast(Guarantee::Agreed, b"lost"), Err(Error::NotJoined));
        assert_eq!(
            cpg.mcast(Guarantee::Agreed, &vec![0u8; atomic + 1]),
            Err(Error::NotJoined)
        );
        assert_eq!(zcb.mcast(Guarantee::Agreed, 16), Err(Error::NotJoined));
        drop(zcb);
        cpg.join(&group).unwrap();

        let one = [0u8; 1];
        let too_many: Vec<IoSlice<'_>> = (0..=MAX_BUFFERS).map(|_| IoSlice::new(&one)).collect();
        assert_eq!(
            cpg.mcast_vectored(Guarantee::Agreed, &too_many),
            Err(Error::TooManyBuffers { count: 64, max: 63 })
        );
        // More than the library can carry: refused before anything is sent
        // (the same 64 MiB buffer 33 times).
        let big = vec![0u8; 64 << 20];
        let huge: Vec<IoSlice<'_>> = (0..33).map(|_| IoSlice::new(&big)).collect();
        assert_eq!(
            cpg.mcast_vectored(Guarantee::Agreed, &huge),
            Err(Error::MessageTooLarge {
                len: 33 * (64 << 20),
                max: MAX_MESSAGE_LEN
            })
        );
        assert!(matches!(
            cpg.zcb_alloc(atomic + 1),
            Err(Error::MessageTooLarge { .. })
        ));
        // Leaving a group this handle is not in is refused.
        assert_eq!(
            cpg.leave(&GroupName::new("never-joined").unwrap()),
            Err(Error::WrongGroup)
        );
        assert!(pump(&cpg, || cpg.membership(&group).unwrap().len() == 1));
        cpg.leave(&group).unwrap();
        assert_eq!(cpg.joined_group(), None);
        assert_eq!(cpg.mcast(Guarantee::Agreed, b"lost"), Err(Error::NotJoined));
        // Leaving twice is the daemon's error: the group has no such
        // member any more.
        assert_eq!(cpg.leave(&group), Err(Error::NotExist));
    });
}

#[test]
fn membership_iteration_and_zero_copy_buffers() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let names = [
        GroupName::new("alpha").unwrap(),
        GroupName::with_nul("alpha").unwrap(),
        GroupName::new(b"bin\x01\xff\x00ary").unwrap(),
    ];
    // A second process in "alpha" (one process is in a group at most once).
    let mut other = CpgMember::join(node, names[0].as_bytes());
    let other_pid = other.pid();
    on_node(node, || {
        // One connection is in one group at a time: one handle per group.
        let seen = SharedRecord::default();
        let cpg = recording_cpg(&seen);
        let seen_by: Vec<SharedRecord> =
            names[1..].iter().map(|_| SharedRecord::default()).collect();
        let handles: Vec<Cpg> = seen_by.iter().map(recording_cpg).collect();
        cpg.join(&names[0]).unwrap();
        assert_eq!(
            cpg.join(&names[1]),
            Err(Error::Exist),
            "one group per connection"
        );
        assert_eq!(
            handles[0].join(&names[0]),
            Err(Error::Exist),
            "once per process"
        );
        for (h, name) in handles.iter().zip(&names[1..]) {
            h.join(name).unwrap();
            assert_eq!(h.joined_group(), Some(*name));
        }
        // Joins complete when their configuration change is delivered.
        assert!(pump(&cpg, || !seen.lock().unwrap().confchgs.is_empty()));
        for (h, seen) in handles.iter().zip(&seen_by) {
            assert!(pump(h, || !seen.lock().unwrap().confchgs.is_empty()));
        }

        let members = cpg.membership(&names[0]).unwrap();
        assert_eq!(members.len(), 2);
        assert!(members.iter().all(|m| m.nodeid() == NodeId::new(1)));
        let mut pids: Vec<u32> = members.iter().map(|m| m.pid()).collect();
        pids.sort();
        let mut want_pids = vec![std::process::id(), other_pid];
        want_pids.sort();
        assert_eq!(pids, want_pids);
        assert_eq!(
            cpg.membership(&names[1]).unwrap().len(),
            1,
            "NUL-terminated name is its own group"
        );
        assert!(cpg
            .membership(&GroupName::new("nobody").unwrap())
            .unwrap()
            .is_empty());

        let mut groups: Vec<GroupName> = cpg
            .iter(Iteration::NameOnly)
            .unwrap()
            .map(|e| e.unwrap().group)
            .collect();
        groups.sort();
        let mut want = names.to_vec();
        want.sort();
        assert_eq!(groups, want);

        let all: Vec<_> = cpg
            .iter(Iteration::All)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all.len(), 4);
        let one: Vec<_> = cpg
            .iter(Iteration::OneGroup(&names[0]))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(one.len(), 2);
        assert!(one
            .iter()
            .all(|e| e.group == names[0] && e.nodeid == NodeId::new(1)));

        // Dropped early, many times over: each drop finalizes its iteration.
        for _ in 0..200 {
            let mut it = cpg.iter(Iteration::All).unwrap();
            assert!(it.next().is_some());
        }
        let it = cpg.iter(Iteration::All).unwrap();
        it.finalize().unwrap();

        // Zero-copy buffers: filled in place, sent, reused, freed once.
        let mut buf = cpg.zcb_alloc(1000).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        buf[..5].copy_from_slice(b"zero!");
        buf.mcast(Guarantee::Agreed, 5).unwrap();
        buf[..4].copy_from_slice(b"copy");
        buf.mcast(Guarantee::Agreed, 1000).unwrap();
        assert!(matches!(
            buf.mcast(Guarantee::Agreed, 1001),
            Err(Error::MessageTooLarge { .. })
        ));
        buf.free().unwrap();
        let dropped = cpg.zcb_alloc(10).unwrap();
        drop(dropped);
        // Binary names come back with exactly their bytes.
        handles[1]
            .mcast(Guarantee::Agreed, b"to the binary group")
            .unwrap();
        assert!(pump(&handles[1], || !seen_by[1]
            .lock()
            .unwrap()
            .messages
            .is_empty()));
        assert_eq!(
            seen_by[1].lock().unwrap().messages[0].group.as_bytes(),
            b"bin\x01\xff\x00ary"
        );
        assert_eq!(seen_by[1].lock().unwrap().confchgs[0].group, names[2]);
        assert!(pump(&cpg, || seen.lock().unwrap().messages.len() >= 2));
        let s = seen.lock().unwrap();
        assert_eq!(s.messages.len(), 2);
        assert_eq!(s.messages[0].data, b"zero!");
        assert_eq!(&s.messages[1].data[..5], b"copy!");
        assert!(
            s.messages[1].data.len() == 1000 && s.messages[1].data[5..].iter().all(|&b| b == 0)
        );
        assert!(s.messages.iter().all(|m| m.group == names[0]));
    });
    // The other member got the same messages, zero-copy ones included.
    other.expect_line(&format!("msg 1 {} {}", std::process::id(), hex(b"zero!")));
    other.command("exit");
    assert!(other.wait_exit().success());
}

#[test]
fn callbacks_can_use_their_handle_and_panics_come_out_of_dispatch() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let group = GroupName::new("reentrant").unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let cpg = Cpg::builder()
            .on_deliver(move |cpg, m| {
                let text = String::from_utf8_lossy(m.data).into_owned();
                l1.lock().unwrap().push(format!("msg {text}"));
                match text.as_str() {
                    // Multicast from inside a callback.
                    "ping" => cpg.mcast(Guarantee::Agreed, b"pong").unwrap(),
                    // A nested dispatch is refused, not a deadlock.
                    "pong" => {
                        let nested = cpg.dispatch(DispatchMode::All);
                        l1.lock().unwrap().push(format!("nested {nested:?}"));
                    }
                    "leave" => cpg.leave(m.group).unwrap(),
                    "panic" => panic!("callback panicked on purpose"),
                    _ => {}
                }
            })
            .on_confchg(move |cpg, c| {
                // Membership from inside a callback.
                let members = cpg.membership(c.group).unwrap();
                l2.lock()
                    .unwrap()
                    .push(format!("confchg {} {}", c.members.len(), members.len()));
            })
            .connect()
            .unwrap();
        cpg.join(&group).unwrap();
        cpg.mcast(Guarantee::Agreed, b"ping").unwrap();
        let has = |s: &str| log.lock().unwrap().iter().any(|l| l == s);
        let refused = format!("nested {:?}", Err::<(), _>(Error::DispatchInProgress));
        assert!(pump(&cpg, || has(&refused)));
        assert!(has("confchg 1 1"));
        assert!(has("msg pong"));

        cpg.mcast(Guarantee::Agreed, b"panic").unwrap();
        cpg.mcast(Guarantee::Agreed, b"after").unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pump(&cpg, || false);
        }));
        let payload = outcome.expect_err("the panic comes out of dispatch");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"callback panicked on purpose")
        );
        // The handle still works afterwards.
        cpg.mcast(Guarantee::Agreed, b"leave").unwrap();
        assert!(pump(&cpg, || has("msg leave")));
        assert!(pump(&cpg, || log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("confchg"))
            .count()
            >= 2));
        assert!(
            cpg.membership(&group).unwrap().is_empty(),
            "left from inside the callback"
        );
    });
}

#[test]
fn legacy_initialize_and_initial_totem_configuration() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let group = GroupName::new("legacy").unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let legacy = Cpg::builder()
            .legacy_initialize(true)
            .on_deliver(move |_, m| g.lock().unwrap().push(m.data.to_vec()))
            .connect()
            .unwrap();
        legacy.join(&group).unwrap();
        legacy.mcast(Guarantee::Agreed, b"old api").unwrap();
        assert!(pump(&legacy, || !got.lock().unwrap().is_empty()));
        assert_eq!(got.lock().unwrap()[0], b"old api");
        assert!(matches!(
            Cpg::builder()
                .legacy_initialize(true)
                .on_totem_confchg(|_, _| {})
                .connect(),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            Cpg::builder()
                .legacy_initialize(true)
                .deliver_initial_totem_conf(true)
                .connect(),
            Err(Error::InvalidInput { .. })
        ));

        let seen = SharedRecord::default();
        let s = seen.clone();
        let group = GroupName::new("initial-totem").unwrap();
        let cpg = Cpg::builder()
            .deliver_initial_totem_conf(true)
            .on_totem_confchg(move |_, t| {
                s.lock().unwrap().totem.push(TotemChange {
                    ring_id: t.ring_id,
                    members: t.members.to_vec(),
                })
            })
            .connect()
            .unwrap();
        cpg.join(&group).unwrap();
        assert!(pump(&cpg, || !seen.lock().unwrap().totem.is_empty()));
        let TotemChange { ring_id, members } = seen.lock().unwrap().totem[0].clone();
        assert_eq!(members, [NodeId::new(1)]);
        assert!(ring_id.seq > 0);
        legacy.finalize().unwrap();
    });
}

#[test]
fn another_process_joins_leaves_and_dies() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let group = GroupName::new("procs").unwrap();
    let seen = SharedRecord::default();
    let cpg = on_node(node, || recording_cpg(&seen));
    cpg.join(&group).unwrap();
    let changes = |n: usize| {
        let seen = seen.clone();
        move || seen.lock().unwrap().confchgs.len() >= n
    };
    assert!(pump(&cpg, changes(1)));

    // JOIN, then LEAVE.
    let mut member = CpgMember::join(node, group.as_bytes());
    assert!(pump(&cpg, changes(2)));
    member.command("leave");
    member.expect_line("left");
    assert!(pump(&cpg, changes(3)));
    member.command("exit");
    assert!(member.wait_exit().success());

    // JOIN, then killed: PROCDOWN.
    let mut victim = CpgMember::join(node, group.as_bytes());
    assert!(pump(&cpg, changes(4)));
    victim.kill();
    assert!(pump(&cpg, changes(5)));

    let s = seen.lock().unwrap();
    let c = &s.confchgs;
    assert_eq!(c[1].members.len(), 2);
    assert_eq!(
        (
            c[1].joined.len(),
            c[1].joined[0].pid(),
            c[1].joined[0].reason()
        ),
        (1, member.pid(), Reason::Join)
    );
    assert!(c[1].left.is_empty());
    assert_eq!(c[2].members.len(), 1);
    assert_eq!(
        (c[2].left[0].pid(), c[2].left[0].reason()),
        (member.pid(), Reason::Leave)
    );
    assert_eq!(
        (c[3].joined[0].pid(), c[3].joined[0].reason()),
        (victim.pid(), Reason::Join)
    );
    assert_eq!(c[4].members.len(), 1);
    assert_eq!(
        (c[4].left[0].pid(), c[4].left[0].reason()),
        (victim.pid(), Reason::ProcDown)
    );
}

#[test]
fn a_stopped_daemon_gives_errors_not_hangs() {
    let mut cluster = Cluster::single().expect("cluster");
    let group = GroupName::new("gone").unwrap();
    let cpg = on_node(cluster.node(0), || {
        let cpg = Cpg::new().unwrap();
        cpg.join(&group).unwrap();
        cpg
    });
    cluster.stop(0).unwrap();
    // Every call fails at once with CS_ERR_LIBRARY (libqb finds the
    // connection closed); the generous bound only tells that from a hang
    // (Blocking and One would wait forever for an event).
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert_eq!(cpg.mcast(Guarantee::Agreed, b"x"), Err(Error::Library));
        assert_eq!(cpg.membership(&group), Err(Error::Library));
        assert_eq!(cpg.local_nodeid(), Err(Error::Library));
        assert_eq!(cpg.dispatch(DispatchMode::Blocking), Err(Error::Library));
        assert_eq!(cpg.dispatch(DispatchMode::One), Err(Error::Library));
        assert_eq!(cpg.dispatch_some(10), Err(Error::Library));
        assert_eq!(cpg.iter(Iteration::All).err(), Some(Error::Library));
        assert_eq!(cpg.leave(&group), Err(Error::Library));
    });
    // And a new connection is refused: nothing listens on the daemon's
    // socket any more (ECONNREFUSED, which libcpg answers as Library).
    assert_eq!(
        on_node(cluster.node(0), Cpg::new).map(drop),
        Err(Error::Library)
    );
}

/// The first byte of each message seen.
fn first_bytes(seen: &SharedRecord) -> Vec<u8> {
    seen.lock()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.data[0])
        .collect()
}

#[test]
fn all_four_dispatch_modes() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let seen = SharedRecord::default();
        let cpg = recording_cpg(&seen);
        let group = GroupName::new("modes").unwrap();
        cpg.join(&group).unwrap();
        let count = || seen.lock().unwrap().messages.len();
        // Let the join's events arrive, then drain them.
        assert!(pump(&cpg, || !seen.lock().unwrap().confchgs.is_empty()));
        cpg.dispatch(DispatchMode::All).unwrap();

        // Nothing pending: OneNonblocking says so, All returns at once.
        assert_eq!(
            cpg.dispatch(DispatchMode::OneNonblocking),
            Err(Error::TryAgain)
        );
        cpg.dispatch(DispatchMode::All).unwrap();

        for i in 0..3u8 {
            cpg.mcast(Guarantee::Agreed, &[i]).unwrap();
        }
        // One waits for an event and handles exactly one.
        cpg.dispatch(DispatchMode::One).unwrap();
        assert_eq!(count(), 1);
        // OneNonblocking handles one pending event.
        corosync_tests::wait_readable(&cpg, WAIT);
        cpg.dispatch(DispatchMode::OneNonblocking).unwrap();
        assert_eq!(count(), 2);
        // All handles the rest.
        corosync_tests::wait_readable(&cpg, WAIT);
        cpg.dispatch(DispatchMode::All).unwrap();
        assert_eq!(count(), 3);
        assert_eq!(first_bytes(&seen), [0, 1, 2]);
    });
    // Blocking runs callbacks until the connection ends: a second handle in
    // another thread keeps sending until the daemon stops.
    let mut cluster = cluster;
    let seen = SharedRecord::default();
    let cpg = on_node(cluster.node(0), || {
        let cpg = recording_cpg(&seen);
        cpg.join(&GroupName::new("blocking").unwrap()).unwrap();
        cpg.mcast(Guarantee::Agreed, b"before the stop").unwrap();
        cpg
    });
    let dispatcher = std::thread::spawn(move || {
        let result = cpg.dispatch(DispatchMode::Blocking);
        (result, cpg)
    });
    cluster
        .wait_until(
            "Blocking dispatch to run the deliver callback",
            WAIT,
            || {
                Ok(seen
                    .lock()
                    .unwrap()
                    .messages
                    .iter()
                    .any(|m| m.data == b"before the stop"))
            },
        )
        .unwrap();
    cluster.stop(0).unwrap();
    let (result, _cpg) = join_within(
        dispatcher,
        WAIT,
        "the Blocking dispatch after the daemon stopped",
    );
    assert_eq!(
        result,
        Err(Error::Library),
        "Blocking dispatch ends with an error when the daemon goes"
    );
}

#[test]
fn dispatch_some_runs_at_most_so_many_events() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let seen = SharedRecord::default();
        let cpg = recording_cpg(&seen);
        cpg.join(&GroupName::new("some").unwrap()).unwrap();
        assert!(pump(&cpg, || !seen.lock().unwrap().confchgs.is_empty()));
        cpg.dispatch(DispatchMode::All).unwrap();
        assert_eq!(cpg.dispatch_some(5).unwrap(), 0, "nothing pending");

        for i in 0..10u8 {
            cpg.mcast(Guarantee::Agreed, &[i]).unwrap();
        }
        // All ten back in the event queue.
        assert!(corosync_tests::wait_pending(&cpg, 10, WAIT));
        let count = || seen.lock().unwrap().messages.len();
        assert_eq!(cpg.dispatch_some(3).unwrap(), 3);
        assert_eq!(count(), 3);
        assert_eq!(cpg.dispatch_some(0).unwrap(), 0);
        assert_eq!(cpg.dispatch_some(4).unwrap(), 4);
        assert_eq!(count(), 7);
        // Fewer than asked for: that was all.
        assert_eq!(cpg.dispatch_some(100).unwrap(), 3);
        assert_eq!(count(), 10);
        assert_eq!(first_bytes(&seen), (0..10).collect::<Vec<u8>>());
    });
}

#[test]
fn dispatch_timeout_waits_at_most_its_timeout_and_dispatches_what_came() {
    let mut cluster = Cluster::single().expect("cluster");
    let group = GroupName::new("timeout").unwrap();
    let (cpg, seen) = corosync_tests::cpg_record::recording_member(cluster.node(0), &group);
    // The join's configuration change comes through it.
    let mut turns = 0;
    while seen.lock().unwrap().confchgs.is_empty() {
        turns += 1;
        assert!(turns < 100, "no configuration change");
        cpg.dispatch_timeout(Duration::from_millis(300)).unwrap();
    }
    // Nothing pending: it waits, then says it dispatched nothing. (The
    // lower bound is the contract; the upper one only tells a wait from a
    // hang.)
    let started = Instant::now();
    assert_eq!(cpg.dispatch_timeout(Duration::from_millis(200)), Ok(false));
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(cpg.dispatch_timeout(Duration::ZERO), Ok(false));
    // A message sent is dispatched by the next call, with all that came.
    for i in 0..3u8 {
        cpg.mcast(Guarantee::Agreed, &[i]).unwrap();
    }
    assert!(corosync_tests::wait_pending(&cpg, 3, WAIT));
    assert_eq!(cpg.dispatch_timeout(Duration::from_secs(60)), Ok(true));
    assert_eq!(first_bytes(&seen), [0, 1, 2]);
    // Inside a callback of its own handle it is refused, not nested.
    let nested = Arc::new(Mutex::new(None));
    let n2 = nested.clone();
    let inner = on_node(cluster.node(0), move || {
        let cpg = Cpg::builder()
            .on_confchg(move |cpg, _| {
                *n2.lock().unwrap() = Some(cpg.dispatch_timeout(Duration::from_secs(1)));
            })
            .connect()
            .unwrap();
        cpg.join(&GroupName::new("timeout-nested").unwrap())
            .unwrap();
        cpg
    });
    assert!(pump(&inner, || nested.lock().unwrap().is_some()));
    assert_eq!(
        *nested.lock().unwrap(),
        Some(Err(Error::DispatchInProgress))
    );
    // A daemon gone: the descriptor hangs up, and the dispatch says so at
    // once instead of waiting out the timeout.
    cluster.stop(0).unwrap();
    let gone = returns_within(NO_HANG, "dispatch_timeout on a stopped daemon", move || {
        cpg.dispatch_timeout(Duration::from_secs(3600))
    });
    assert_eq!(gone, Err(Error::Library));
}

#[test]
fn a_panic_ends_a_blocking_dispatch() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let got = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let g = got.clone();
        let cpg = Cpg::builder()
            .on_deliver(move |_, m| {
                g.lock().unwrap().push(m.data.to_vec());
                if m.data == b"boom" {
                    panic!("blocking callback panicked");
                }
            })
            .connect()
            .unwrap();
        cpg.join(&GroupName::new("blocking-panic").unwrap())
            .unwrap();
        for m in [&b"fine"[..], b"boom", b"after"] {
            cpg.mcast(Guarantee::Agreed, m).unwrap();
        }
        // Blocking would only return when the connection ends; the panic
        // must end it, right after the event that panicked.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cpg.dispatch(DispatchMode::Blocking)
        }));
        let panic = outcome.expect_err("Blocking dispatch returned instead of resuming the panic");
        assert_eq!(
            panic.downcast_ref::<&str>(),
            Some(&"blocking callback panicked")
        );
        assert_eq!(*got.lock().unwrap(), [b"fine".to_vec(), b"boom".to_vec()]);
        // The event after it is still queued for the next dispatch.
        assert!(pump(&cpg, || got.lock().unwrap().len() == 3));
        assert_eq!(got.lock().unwrap()[2], b"after");
    });
}
