//! Methods every handle has (`as_raw`, `dispatch_some`, `track_stop`,
//! `finalize`) and small accessors, each checked for what it does on a
//! live one-node cluster: the raw handle answers the C library directly as
//! the safe call does, `dispatch_some` counts the callbacks it ran,
//! `finalize` ends the connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corosync::cfg::Cfg;
use corosync::cmap::{Cmap, TrackType, Value};
use corosync::cpg::{Cpg, GroupName};
use corosync::evs::{Evs, EvsGroup};
use corosync::quorum::Quorum;
use corosync::votequorum::Votequorum;
use corosync::{sys, Error, NodeId, RingId, TrackFlags};
use corosync_tests::events::{pump, WAIT};
use corosync_tests::{on_node, wait_pending, Cluster};

/// Runs `dispatch_some(max)` until `n` events have been counted by the
/// callbacks (`seen`), checking each return value against what the
/// callbacks saw in that call.
fn dispatch_some_until(
    dispatch_some: impl Fn(usize) -> corosync::Result<usize>,
    fd: &impl std::os::fd::AsRawFd,
    seen: &AtomicUsize,
    n: usize,
) {
    let deadline = std::time::Instant::now() + WAIT;
    while seen.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{n} events within {WAIT:?}"
        );
        corosync_tests::wait_readable(fd, std::time::Duration::from_millis(100));
        let before = seen.load(Ordering::SeqCst);
        let ran = dispatch_some(1).unwrap();
        assert!(ran <= 1);
        assert_eq!(
            seen.load(Ordering::SeqCst) - before,
            ran,
            "counted what it ran"
        );
    }
}

#[test]
fn quorum_votequorum_and_cfg_raw_handles_dispatch_some_track_stop_and_finalize() {
    let cluster = Cluster::single().expect("cluster");
    let quorum_calls = Arc::new(AtomicUsize::new(0));
    let vq_calls = Arc::new(AtomicUsize::new(0));
    let (q, vq, cfg) = {
        let (qc, vc) = (quorum_calls.clone(), vq_calls.clone());
        on_node(cluster.node(0), move || {
            // (Every kind of event is counted, so that what dispatch_some
            // ran can be compared with what the closures saw.)
            let qc2 = qc.clone();
            let q = Quorum::builder()
                .on_quorum(move |_, _| {
                    qc.fetch_add(1, Ordering::SeqCst);
                })
                .on_nodelist(move |_, _| {
                    qc2.fetch_add(1, Ordering::SeqCst);
                })
                .connect()
                .unwrap();
            let (vc2, vc3) = (vc.clone(), vc.clone());
            let vq = Votequorum::builder()
                .on_quorum(move |_, _| {
                    vc.fetch_add(1, Ordering::SeqCst);
                })
                .on_nodelist(move |_, _| {
                    vc2.fetch_add(1, Ordering::SeqCst);
                })
                .on_expected_votes(move |_, _| {
                    vc3.fetch_add(1, Ordering::SeqCst);
                })
                .connect()
                .unwrap();
            (q, vq, Cfg::new().unwrap())
        })
    };

    // The raw handles answer the C libraries as the safe calls do.
    let mut quorate = -1;
    // SAFETY: a live handle owned by `q`, a valid out-pointer.
    let rc = unsafe { sys::quorum_getquorate(q.as_raw(), &mut quorate) };
    assert_eq!(rc, sys::CS_OK);
    assert_eq!(quorate != 0, q.is_quorate().unwrap());
    let mut local = 0;
    // SAFETY: a live handle owned by `cfg`, a valid out-pointer.
    let rc = unsafe { sys::corosync_cfg_local_get(cfg.as_raw(), &mut local) };
    assert_eq!(rc, sys::CS_OK);
    assert_eq!(NodeId::new(local), cfg.local_nodeid().unwrap());
    // SAFETY: an all-zero votequorum_info is valid.
    let mut info: sys::votequorum_info = unsafe { std::mem::zeroed() };
    // SAFETY: a live handle owned by `vq`, a valid out-pointer.
    let rc = unsafe { sys::votequorum_getinfo(vq.as_raw(), 0, &mut info) };
    assert_eq!(rc, sys::CS_OK);
    assert_eq!(info.total_votes, vq.local_info().unwrap().total_votes);

    // Nothing pending: dispatch_some runs nothing.
    assert_eq!(q.dispatch_some(8), Ok(0));
    assert_eq!(vq.dispatch_some(8), Ok(0));
    assert_eq!(cfg.dispatch_some(8), Ok(0));
    // The CURRENT reports (quorum: node list, then quorum), run one at a
    // time and counted.
    q.track_start(TrackFlags::CURRENT).unwrap();
    vq.track_start(TrackFlags::CURRENT).unwrap();
    dispatch_some_until(|n| q.dispatch_some(n), &q, &quorum_calls, 2);
    dispatch_some_until(|n| vq.dispatch_some(n), &vq, &vq_calls, 1);

    // track_stop is accepted after tracking and by cfg, which tracks
    // shutdown requests.
    q.track_start(TrackFlags::CHANGES).unwrap();
    assert_eq!(q.track_stop(), Ok(()));
    vq.track_start(TrackFlags::CHANGES).unwrap();
    assert_eq!(vq.track_stop(), Ok(()));
    cfg.track_start(TrackFlags::CURRENT).unwrap();
    assert_eq!(cfg.track_stop(), Ok(()));

    // finalize ends the connection: the raw handle is no longer valid.
    let (q_raw, vq_raw, cfg_raw) = (q.as_raw(), vq.as_raw(), cfg.as_raw());
    assert_eq!(q.finalize(), Ok(()));
    assert_eq!(vq.finalize(), Ok(()));
    assert_eq!(cfg.finalize(), Ok(()));
    let mut quorate = 0;
    // SAFETY: libquorum looks the stale handle up in its table and refuses
    // it; no memory of ours is involved.
    let rc = unsafe { sys::quorum_getquorate(q_raw, &mut quorate) };
    assert_eq!(Error::from_code(rc), Error::BadHandle);
    // SAFETY: as above.
    let rc = unsafe { sys::votequorum_getinfo(vq_raw, 0, &mut info) };
    assert_eq!(Error::from_code(rc), Error::BadHandle);
    // SAFETY: as above.
    let rc = unsafe { sys::corosync_cfg_local_get(cfg_raw, &mut local) };
    assert_eq!(Error::from_code(rc), Error::BadHandle);
}

#[test]
fn cpg_raw_handle_and_cmap_track_guards_and_values() {
    let cluster = Cluster::single().expect("cluster");
    let (cpg, cmap, setter) = on_node(cluster.node(0), || {
        (
            Cpg::new().unwrap(),
            Cmap::new().unwrap(),
            Cmap::new().unwrap(),
        )
    });
    let mut nodeid = 0;
    // SAFETY: a live handle owned by `cpg`, a valid out-pointer.
    let rc = unsafe { sys::cpg_local_get(cpg.as_raw(), &mut nodeid) };
    assert_eq!(rc, sys::CS_OK);
    assert_eq!(NodeId::new(nodeid), cpg.local_nodeid().unwrap());

    // A track guard's id is the one its events carry; delete ends it.
    let ids = Arc::new(Mutex::new(Vec::new()));
    let ids2 = ids.clone();
    let track = cmap
        .track_add(
            "test.methods",
            TrackType::MODIFY | TrackType::ADD,
            move |_, ev| ids2.lock().unwrap().push(ev.track),
        )
        .unwrap();
    setter.set_u32("test.methods", 1).unwrap();
    assert!(wait_pending(&cmap, 1, WAIT));
    assert!(pump(&cmap, || !ids.lock().unwrap().is_empty()));
    assert_eq!(*ids.lock().unwrap(), [track.id()]);
    let id = track.id();
    assert_eq!(track.delete(), Ok(()));
    assert_eq!(
        cmap.track_delete(id),
        Err(Error::UnknownTrack),
        "already gone"
    );

    // Value::as_bytes gives the bytes of strings and binaries only.
    setter.set_string("test.methods.s", "text").unwrap();
    setter.set_binary("test.methods.b", &[0, 1, 0]).unwrap();
    assert_eq!(
        cmap.get("test.methods.s").unwrap().as_bytes(),
        Some(&b"text"[..])
    );
    assert_eq!(
        cmap.get("test.methods.b").unwrap().as_bytes(),
        Some(&[0u8, 1, 0][..])
    );
    assert_eq!(cmap.get("test.methods").unwrap(), Value::U32(1));
    assert_eq!(Value::U32(1).as_bytes(), None);
}

#[test]
fn evs_ring_id_context_dispatch_some_and_finalize() {
    let cluster = Cluster::single().expect("cluster");
    let rings = Arc::new(Mutex::new(Vec::<RingId>::new()));
    let messages = Arc::new(AtomicUsize::new(0));
    let (r2, m2) = (rings.clone(), messages.clone());
    let evs = on_node(cluster.node(0), move || {
        Evs::builder()
            .on_confchg(move |_, c| r2.lock().unwrap().push(c.ring_id))
            .on_deliver(move |_, _| {
                m2.fetch_add(1, Ordering::SeqCst);
            })
            .cpg_group("handle-methods")
            .connect()
            .unwrap()
    });
    assert_eq!(evs.context(), 0);
    evs.set_context(0xfeed);
    assert_eq!(evs.context(), 0xfeed);
    assert!(pump(&evs, || !rings.lock().unwrap().is_empty()));
    // ring_id is the ring of the configuration last reported.
    assert_eq!(Some(evs.ring_id()), rings.lock().unwrap().last().copied());
    assert!(evs.ring_id().seq > 0);
    // dispatch_some counts what it delivered, one at a time.
    let group = EvsGroup::new("m").unwrap();
    evs.join(&[group]).unwrap();
    for i in 0..3u8 {
        evs.mcast_joined(
            corosync::cpg::Guarantee::Agreed,
            &[std::io::IoSlice::new(&[i])],
        )
        .unwrap();
    }
    dispatch_some_until(|n| evs.dispatch_some(n), &evs, &messages, 3);
    assert_eq!(evs.context(), 0xfeed, "kept across dispatches");
    // finalize ends the membership in the carrier group: another handle
    // sees the group empty.
    let watcher = on_node(cluster.node(0), Cpg::new).unwrap();
    let carrier = GroupName::new("handle-methods").unwrap();
    assert_eq!(watcher.membership(&carrier).unwrap().len(), 1);
    assert_eq!(evs.finalize(), Ok(()));
    let deadline = std::time::Instant::now() + WAIT;
    while !watcher.membership(&carrier).unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "still a member");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
