//! Handles driven from an edge-triggered poll loop, as mio drives them:
//! each descriptor is registered with epoll in `EPOLLET` mode and the only
//! thing that makes the loop dispatch a handle is epoll reporting it
//! readable. Nothing dispatches on a timeout, so an event whose wake-up got
//! lost would stay unread and the test would fail. The loops follow the
//! rule in the crate docs ("Event loops"): on readiness, `dispatch(All)`
//! (or `dispatch_some(n)` again and again while it returns `n`).

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cfg::{Cfg, ShutdownMode};
use corosync::cmap::{Cmap, TrackType, Value};
use corosync::cpg::{Cpg, GroupName};
use corosync::quorum::Quorum;
use corosync::votequorum::{NodeState, Votequorum};
use corosync::{DispatchMode, Error, NodeId, TrackFlags};
use corosync_tests::bounded::{join_within, NO_HANG};
use corosync_tests::{out_queue_episodes, Cluster, CpgMember};

/// An epoll instance whose descriptors are all edge-triggered.
struct EdgeLoop {
    epoll: OwnedFd,
}

impl EdgeLoop {
    fn new() -> EdgeLoop {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(
            fd >= 0,
            "epoll_create1: {}",
            std::io::Error::last_os_error()
        );
        EdgeLoop {
            // SAFETY: a fresh descriptor that nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }

    /// Watches `fd` for input, edge-triggered, reporting it as `token`.
    fn add(&self, fd: &impl AsFd, token: u64) {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; `event` is a valid epoll_event.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_fd().as_raw_fd(),
                &mut event,
            )
        };
        assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    }

    /// The tokens of the descriptors that became ready within `timeout`
    /// (empty if none did).
    fn wait(&self, timeout: Duration) -> Vec<u64> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        loop {
            // SAFETY: the buffer holds `events.len()` entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as i32,
                    ms,
                )
            };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            assert!(n >= 0, "epoll_wait: {}", std::io::Error::last_os_error());
            return events[..n as usize].iter().map(|e| e.u64).collect();
        }
    }
}

/// The u64 a flooded message starts with (`cpg-member flood`).
fn seq_of(data: &[u8]) -> u64 {
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&data[..8]);
    u64::from_le_bytes(seq)
}

#[test]
fn cpg_messages_all_reach_an_edge_triggered_loop_that_falls_behind() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let group = b"edge-loop";
    let mut member = CpgMember::join(node, group);
    let flooder = member.pid();

    // Counts the flooder's messages and those that came out of order.
    let delivered = Arc::new(AtomicU64::new(0));
    let out_of_order = Arc::new(AtomicU64::new(0));
    let members = Arc::new(AtomicUsize::new(0));
    let (d, o, m) = (delivered.clone(), out_of_order.clone(), members.clone());
    let cpg = node
        .run(move || {
            let cpg = Cpg::builder()
                .on_deliver(move |_, msg| {
                    if msg.pid != flooder {
                        return;
                    }
                    let n = d.load(Ordering::Relaxed);
                    if seq_of(msg.data) != n {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    d.store(n + 1, Ordering::Relaxed);
                })
                .on_confchg(move |_, c| m.store(c.members.len(), Ordering::Relaxed))
                .connect()
                .unwrap();
            cpg.join(&GroupName::new(group).unwrap()).unwrap();
            cpg
        })
        .unwrap();

    let ep = EdgeLoop::new();
    ep.add(&cpg, 7);
    // The join's configuration change, through the loop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while members.load(Ordering::Relaxed) != 2 {
        assert!(Instant::now() < deadline, "no confchg with both members");
        if ep.wait(Duration::from_secs(1)) == [7] {
            cpg.dispatch(DispatchMode::All).unwrap();
        }
    }

    const N: u64 = 20_000;
    let queued_before: u64 = out_queue_episodes(&node.log()).iter().sum();
    // Each round floods N messages of 1 KiB; the loop stops reading three
    // times for 200 ms, so the 1 MiB event ring fills and corosync holds
    // the rest (and their wake-ups) for later.
    for bounded in [false, true] {
        delivered.store(0, Ordering::Relaxed);
        member.command(&format!("flood {N} 1024"));
        let mut pauses = [1_000, 5_000, 12_000].into_iter().peekable();
        while delivered.load(Ordering::Relaxed) < N {
            let ready = ep.wait(Duration::from_secs(10));
            assert_eq!(
                ready,
                [7],
                "no readiness for 10 s with {} of {N} messages delivered (dispatch_some: {bounded})",
                delivered.load(Ordering::Relaxed)
            );
            if pauses
                .next_if(|&at| delivered.load(Ordering::Relaxed) >= at)
                .is_some()
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            if bounded {
                // The bounded form: come back at once while a batch is full
                // (the flood is finite, so a full batch cannot repeat forever).
                while cpg.dispatch_some(16).unwrap() == 16 {}
            } else {
                cpg.dispatch(DispatchMode::All).unwrap();
            }
        }
        member.expect_line("flooded");
        assert_eq!(delivered.load(Ordering::Relaxed), N);
        assert_eq!(out_of_order.load(Ordering::Relaxed), 0);
    }
    // The hard case happened: corosync had to queue events for the loop.
    let queued: u64 = out_queue_episodes(&node.log()).iter().sum::<u64>() - queued_before;
    assert!(
        queued > 0,
        "corosync never queued events for the reader; the test did not fall behind"
    );
}

/// What the handles of the second test saw.
#[derive(Default)]
struct Seen {
    counter: Vec<u64>,
    quorum: Vec<(bool, Vec<NodeId>)>,
    vq_dead: Vec<NodeId>,
    member3: Vec<Vec<u8>>,
    shutdown: Vec<ShutdownMode>,
}

#[test]
fn quorum_votequorum_cmap_and_cfg_handles_share_one_edge_triggered_loop() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (s1, s2, s3, s4, s5) = (
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
        seen.clone(),
    );
    let (quorum, vq, cmap, cfg, writer) = cluster
        .node(0)
        .run(move || {
            let quorum = Quorum::builder()
                .on_quorum(move |_, n| {
                    let mut members = n.members.to_vec();
                    members.sort();
                    s1.lock().unwrap().quorum.push((n.quorate, members));
                })
                .connect()
                .unwrap();
            quorum.track_start(TrackFlags::CHANGES).unwrap();
            let vq = Votequorum::builder()
                .on_quorum(move |_, n| {
                    let mut seen = s2.lock().unwrap();
                    for node in n.nodes {
                        if node.state() == NodeState::Dead && !seen.vq_dead.contains(&node.nodeid())
                        {
                            seen.vq_dead.push(node.nodeid());
                        }
                    }
                })
                .connect()
                .unwrap();
            vq.track_start(TrackFlags::CHANGES).unwrap();
            let cmap = Cmap::new().unwrap();
            // (Detached: the registrations last as long as the handle.)
            cmap.track_add(
                "edge.counter",
                TrackType::ADD | TrackType::MODIFY,
                move |_, e| {
                    if let Some(Value::U64(v)) = e.new_value.map(|v| v.to_value().unwrap()) {
                        s3.lock().unwrap().counter.push(v);
                    }
                },
            )
            .unwrap()
            .detach();
            cmap.track_add(
                "runtime.members.3.status",
                TrackType::ADD | TrackType::MODIFY,
                move |_, e| {
                    if let Some(Value::String(v)) = e.new_value.map(|v| v.to_value().unwrap()) {
                        s4.lock().unwrap().member3.push(v);
                    }
                },
            )
            .unwrap()
            .detach();
            let cfg = Cfg::builder()
                .on_shutdown(move |cfg, mode| {
                    s5.lock().unwrap().shutdown.push(mode);
                    cfg.reply_to_shutdown(true).unwrap();
                })
                .connect()
                .unwrap();
            // corosync asks only the clients that track.
            cfg.track_start(TrackFlags::CHANGES).unwrap();
            (quorum, vq, cmap, cfg, Cmap::new().unwrap())
        })
        .unwrap();

    let ep = EdgeLoop::new();
    ep.add(&quorum, 0);
    ep.add(&vq, 1);
    ep.add(&cmap, 2);
    ep.add(&cfg, 3);
    // How each handle's dispatch failed, if it did (their daemon went away).
    let failed = RefCell::new([None, None, None, None]);
    let none_failed = || *failed.borrow() == [None, None, None, None];
    // Dispatches the handle behind `token`, noting a failure.
    let dispatch = |token: u64| {
        let result = match token {
            0 => quorum.dispatch(DispatchMode::All),
            1 => vq.dispatch(DispatchMode::All),
            2 => cmap.dispatch(DispatchMode::All),
            _ => cfg.dispatch(DispatchMode::All),
        };
        if let Err(e) = result {
            failed.borrow_mut()[token as usize] = Some(e);
        }
    };
    // Dispatches what the loop reports ready until `done` holds.
    let turn = |what: &str, timeout: Duration, done: &dyn Fn(&Seen) -> bool| {
        let deadline = Instant::now() + timeout;
        while !done(&seen.lock().unwrap()) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{what}: not seen within {timeout:?}");
            for token in ep.wait(left) {
                dispatch(token);
            }
        }
    };

    // 5,000 changes made while nobody reads: every one arrives, in order.
    writer.set_u64("edge.counter", 0).unwrap();
    for _ in 0..5_000 {
        writer.inc("edge.counter").unwrap();
    }
    turn("5,001 counter events", Duration::from_secs(30), &|s| {
        s.counter.len() >= 5_001
    });
    assert_eq!(
        seen.lock().unwrap().counter,
        (0..=5_000).collect::<Vec<_>>()
    );
    assert!(none_failed(), "{:?}", failed.borrow());

    // A node dies: quorum, votequorum and cmap each report it.
    cluster.kill(2).unwrap();
    let two = vec![NodeId::new(1), NodeId::new(2)];
    turn("node 3's death", Duration::from_secs(30), &|s| {
        s.quorum.contains(&(true, two.clone()))
            && s.vq_dead.contains(&NodeId::new(3))
            && s.member3.iter().any(|v| v == b"left")
    });
    assert!(none_failed(), "{:?}", failed.borrow());

    // A shutdown request reaches the cfg handle, which agrees; then every
    // handle's descriptor reports the closed connection and its dispatch
    // fails.
    let asker = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    let ask = std::thread::spawn(move || asker.try_shutdown(ShutdownMode::Request));
    turn("the shutdown request", Duration::from_secs(30), &|s| {
        s.shutdown == [ShutdownMode::Request]
    });
    join_within(ask, NO_HANG, "the shutdown request's answer").unwrap();
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
    // The closed connections are reported at once; the generous bound only
    // tells that from a wake-up that never comes.
    let deadline = Instant::now() + NO_HANG;
    while failed.borrow().iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "handles whose dispatch failed after the daemon exited: {:?}",
            failed.borrow()
        );
        for token in ep.wait(left) {
            dispatch(token);
        }
    }
    // Each with CS_ERR_LIBRARY: libqb found the connection closed.
    let library = Some(Error::Library);
    assert_eq!(
        *failed.borrow(),
        [library.clone(), library.clone(), library.clone(), library]
    );
}
