//! `dispatch_timeout` of the quorum, votequorum, cmap, cfg and EVS
//! handles (CPG's is in cpg_single.rs), and the async adapters' `Dispatch`
//! trait, on a live one-node cluster: with nothing pending a wait answers
//! `false` and runs no callback; with an event pending it answers `true`
//! once the callback has run. The node lists the callbacks get are
//! compared with lists made by `NodeId::from_raw_slice` and votequorum's
//! `Node::new`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cfg::{Cfg, ShutdownMode};
use corosync::cmap::{Cmap, TrackType, Value};
use corosync::cpg::Guarantee;
use corosync::evs::{Evs, EvsGroup};
use corosync::quorum::Quorum;
use corosync::tokio::Dispatch;
use corosync::votequorum::{Node, NodeState, Votequorum};
use corosync::{Error, NodeId, TrackFlags};
use corosync_tests::bounded::join_within;
use corosync_tests::events::WAIT;
use corosync_tests::{on_node, wait_pending, Cluster};

/// A short wait that nothing ends: the answer is `false`.
const IDLE: Duration = Duration::from_millis(50);

/// `dispatch_some` through the async adapters' trait, as their streams
/// call it.
fn dispatch_some_via_trait<H: Dispatch>(handle: &H, max: usize) -> corosync::Result<usize> {
    handle.dispatch_some(max)
}

#[test]
fn quorum_and_votequorum_waits_answer_whether_they_dispatched() {
    let cluster = Cluster::single().expect("cluster");
    let quorum_seen = Arc::new(Mutex::new(Vec::new()));
    let nodelists = Arc::new(AtomicUsize::new(0));
    let vq_seen = Arc::new(Mutex::new(Vec::new()));
    let (q, vq) = {
        let (qs, nl, vs) = (quorum_seen.clone(), nodelists.clone(), vq_seen.clone());
        on_node(cluster.node(0), move || {
            let q = Quorum::builder()
                .on_quorum(move |_, n| qs.lock().unwrap().push((n.quorate, n.members.to_vec())))
                .on_nodelist(move |_, _| {
                    nl.fetch_add(1, Ordering::SeqCst);
                })
                .connect()
                .unwrap();
            let vq = Votequorum::builder()
                .on_quorum(move |_, n| vs.lock().unwrap().push((n.quorate, n.nodes.to_vec())))
                .connect()
                .unwrap();
            (q, vq)
        })
    };

    // Nothing tracked, nothing pending.
    assert_eq!(q.dispatch_timeout(Duration::ZERO), Ok(false));
    assert_eq!(q.dispatch_timeout(IDLE), Ok(false));
    assert_eq!(vq.dispatch_timeout(IDLE), Ok(false));
    assert!(quorum_seen.lock().unwrap().is_empty() && vq_seen.lock().unwrap().is_empty());

    // CURRENT reports the state now: quorate, node 1 a member.
    q.track_start(TrackFlags::CURRENT).unwrap();
    assert_eq!(q.dispatch_timeout(WAIT), Ok(true));
    while quorum_seen.lock().unwrap().is_empty() {
        assert_eq!(q.dispatch_timeout(WAIT), Ok(true), "no quorum report");
    }
    let one = NodeId::from_raw_slice(&[1]);
    assert_eq!(*quorum_seen.lock().unwrap(), [(true, one.to_vec())]);
    vq.track_start(TrackFlags::CURRENT).unwrap();
    assert_eq!(vq.dispatch_timeout(WAIT), Ok(true));
    assert_eq!(
        *vq_seen.lock().unwrap(),
        [(true, vec![Node::new(NodeId::new(1), NodeState::Member)])]
    );
    // All dispatched: waiting again finds nothing.
    assert_eq!(q.dispatch_timeout(IDLE), Ok(false));
    assert_eq!(vq.dispatch_timeout(IDLE), Ok(false));

    // The Dispatch trait runs what is pending, as dispatch_some does: the
    // node list and the quorum report, one call each.
    q.track_start(TrackFlags::CURRENT).unwrap();
    assert!(wait_pending(&q, 2, WAIT), "two quorum events pending");
    let lists = nodelists.load(Ordering::SeqCst);
    assert_eq!(dispatch_some_via_trait(&q, 1), Ok(1));
    assert_eq!(dispatch_some_via_trait(&q, 8), Ok(1));
    assert_eq!(dispatch_some_via_trait(&q, 8), Ok(0));
    assert_eq!(nodelists.load(Ordering::SeqCst), lists + 1);
    assert_eq!(quorum_seen.lock().unwrap().len(), 2);
    // (Votequorum reports its node list too, which nothing here takes.)
    vq.track_start(TrackFlags::CURRENT).unwrap();
    assert!(wait_pending(&vq, 2, WAIT), "two votequorum events pending");
    assert_eq!(dispatch_some_via_trait(&vq, 8), Ok(2));
    assert_eq!(vq_seen.lock().unwrap().len(), 2);

    // The view is the list itself, not a copy.
    let raw = [3u32, 1, 2];
    let ids = NodeId::from_raw_slice(&raw);
    assert_eq!(ids, [NodeId::new(3), NodeId::new(1), NodeId::new(2)]);
    assert_eq!(ids.as_ptr().cast::<u32>(), raw.as_ptr());
    assert!(NodeId::from_raw_slice(&[]).is_empty());
}

#[test]
fn cmap_cfg_and_evs_waits_answer_whether_they_dispatched() {
    let cluster = Cluster::single().expect("cluster");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = asked.clone();
    let (cmap, setter, voter, asker) = on_node(cluster.node(0), move || {
        (
            Cmap::new().unwrap(),
            Cmap::new().unwrap(),
            Cfg::builder()
                .on_shutdown(move |cfg, mode| {
                    a.lock().unwrap().push(mode);
                    cfg.reply_to_shutdown(false).unwrap();
                })
                .connect()
                .unwrap(),
            Cfg::new().unwrap(),
        )
    });

    // cmap: a tracked key's change.
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = changes.clone();
    let _track = cmap
        .track_add(
            "test.waits.key",
            TrackType::ADD | TrackType::MODIFY,
            move |_, e| {
                c.lock()
                    .unwrap()
                    .push(e.new_value.map(|v| v.to_value().unwrap()))
            },
        )
        .unwrap();
    assert_eq!(cmap.dispatch_timeout(IDLE), Ok(false));
    setter.set_u32("test.waits.key", 7).unwrap();
    assert_eq!(cmap.dispatch_timeout(WAIT), Ok(true));
    assert_eq!(*changes.lock().unwrap(), [Some(Value::U32(7))]);
    // Through the Dispatch trait: one change, one call.
    setter.set_u32("test.waits.key", 8).unwrap();
    assert!(wait_pending(&cmap, 1, WAIT), "a cmap event pending");
    assert_eq!(dispatch_some_via_trait(&cmap, 8), Ok(1));
    assert_eq!(changes.lock().unwrap().len(), 2);
    assert_eq!(cmap.dispatch_timeout(IDLE), Ok(false));

    // cfg: a shutdown request, which the voter's closure refuses while
    // its wait dispatches it (the request waits for that answer).
    voter.track_start(TrackFlags::CHANGES).unwrap();
    assert_eq!(voter.dispatch_timeout(IDLE), Ok(false));
    let request = std::thread::spawn(move || asker.try_shutdown(ShutdownMode::Request));
    assert_eq!(voter.dispatch_timeout(WAIT), Ok(true));
    assert_eq!(*asked.lock().unwrap(), [ShutdownMode::Request]);
    assert_eq!(
        join_within(request, WAIT, "the shutdown request, vetoed"),
        Err(Error::Busy)
    );
    assert!(
        cluster.node(0).is_running(),
        "the refused shutdown happened"
    );

    // EVS: connecting brings the configuration, a multicast a message.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Members(Vec<NodeId>),
        Message(Vec<u8>),
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let evs = on_node(cluster.node(0), move || {
        Evs::builder()
            .on_confchg(move |_, c| s1.lock().unwrap().push(Seen::Members(c.members.to_vec())))
            .on_deliver(move |_, m| s2.lock().unwrap().push(Seen::Message(m.data.to_vec())))
            .connect()
            .unwrap()
    });
    let wait_for = |n: usize| {
        while seen.lock().unwrap().len() < n {
            assert_eq!(
                evs.dispatch_timeout(WAIT),
                Ok(true),
                "{:?}",
                seen.lock().unwrap()
            );
        }
    };
    wait_for(1);
    assert_eq!(*seen.lock().unwrap(), [Seen::Members(vec![NodeId::new(1)])]);
    evs.join(&[EvsGroup::new("waits").unwrap()]).unwrap();
    evs.mcast_joined(Guarantee::Agreed, &[std::io::IoSlice::new(b"hello")])
        .unwrap();
    wait_for(2);
    assert_eq!(seen.lock().unwrap()[1], Seen::Message(b"hello".to_vec()));
    // (Whatever came before the message has been dispatched with it.)
    assert_eq!(evs.dispatch_timeout(IDLE), Ok(false));
    assert_eq!(seen.lock().unwrap().len(), 2);
}
