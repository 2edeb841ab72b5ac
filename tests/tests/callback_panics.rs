//! A closure that panics loses no event: the C library may already have
//! taken the next events from its queue (`CS_DISPATCH_ALL` goes on inside
//! C), so the bindings keep them and the next dispatch delivers them, in
//! order, before anything new. Each test makes sure every event is queued
//! before the dispatch that panics, so that the C library does hand them
//! over in that dispatch.

use std::io::IoSlice;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cmap::{Cmap, TrackType};
use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::evs::{Evs, EvsGroup};
use corosync::DispatchMode;
use corosync_tests::events::{pump, WAIT};
use corosync_tests::{wait_pending, Cluster};

type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

/// Runs `dispatch` and says whether it panicked with `"boom"`.
fn panics(dispatch: impl FnOnce() -> corosync::Result<()>) -> bool {
    match catch_unwind(AssertUnwindSafe(dispatch)) {
        Err(payload) => payload.downcast_ref::<&str>() == Some(&"boom"),
        Ok(result) => panic!("no panic came out of dispatch: {result:?}"),
    }
}

/// Waits until `cpg` (dispatched with All) has seen `n` messages.
fn drain_until(cpg: &Cpg, seen: &Seen, n: usize) {
    let done = pump(cpg, || seen.lock().unwrap().len() >= n);
    assert!(done, "{n} messages within {WAIT:?}");
}

/// A closure that records each payload and panics on `"one"`.
fn recording(seen: &Seen) -> impl FnMut(&[u8]) + Send + 'static {
    let seen = seen.clone();
    move |data| {
        seen.lock().unwrap().push(data.to_vec());
        if data == b"one" {
            panic!("boom");
        }
    }
}

/// A CPG handle in a group of its own, made on the node `run` runs on.
/// Totem orders all groups' messages in one sequence, so once a message it
/// sends after others is back, the others are in their receivers' rings.
struct Barrier {
    cpg: Cpg,
    seen: Seen,
}

impl Barrier {
    fn new() -> Barrier {
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let cpg = Cpg::builder()
            .on_deliver(move |_, m| record.lock().unwrap().push(m.data.to_vec()))
            .connect()
            .unwrap();
        cpg.join(&GroupName::new("panics-barrier").unwrap())
            .unwrap();
        Barrier { cpg, seen }
    }

    /// Returns once every message sent before this call is delivered.
    fn pass(&self) {
        let n = self.seen.lock().unwrap().len() + 1;
        self.cpg.mcast(Guarantee::Agreed, b"barrier").unwrap();
        drain_until(&self.cpg, &self.seen, n);
    }
}

#[test]
fn a_cpg_closure_that_panics_loses_none_of_the_messages_after_it() {
    let cluster = Cluster::single().expect("cluster");
    let group = GroupName::new("panics").unwrap();
    let seen: Seen = Arc::default();
    let mut record = recording(&seen);
    let (receiver, barrier) = cluster
        .node(0)
        .run(move || {
            let receiver = Cpg::builder()
                .on_deliver(move |_, m| record(m.data))
                .connect()
                .unwrap();
            (receiver, Barrier::new())
        })
        .unwrap();
    receiver.join(&group).unwrap();
    // (A process is in a group once, so the receiver sends to itself.)
    for m in [&b"one"[..], b"two", b"three", b"four"] {
        receiver.mcast(Guarantee::Agreed, m).unwrap();
    }
    barrier.pass();
    assert!(wait_pending(&receiver, 4, WAIT), "four events queued");

    assert!(panics(|| receiver.dispatch(DispatchMode::All)));
    assert_eq!(*seen.lock().unwrap(), [b"one".to_vec()]);
    // The held messages come first, one at a time with OneNonblocking (a
    // message lost would make it answer TryAgain: nothing is pending in
    // libcpg, which handed all four over)...
    assert_eq!(receiver.dispatch(DispatchMode::OneNonblocking), Ok(()));
    assert_eq!(seen.lock().unwrap().len(), 2);
    // ...and without waiting on the descriptor, which libcpg has drained.
    assert_eq!(receiver.dispatch_timeout(Duration::ZERO), Ok(true));
    let want: Vec<Vec<u8>> = [&b"one"[..], b"two", b"three", b"four"]
        .iter()
        .map(|m| m.to_vec())
        .collect();
    assert_eq!(*seen.lock().unwrap(), want);
    // Then new messages as usual.
    receiver.mcast(Guarantee::Agreed, b"five").unwrap();
    drain_until(&receiver, &seen, 5);
    assert_eq!(seen.lock().unwrap()[4], b"five");
}

#[test]
fn a_cmap_track_closure_that_panics_runs_once_for_every_change() {
    let cluster = Cluster::single().expect("cluster");
    let (tracker, setter) = cluster
        .node(0)
        .run(|| (Cmap::new().unwrap(), Cmap::new().unwrap()))
        .unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let _track = tracker
        .track_add(
            "test.panics.",
            TrackType::ADD | TrackType::MODIFY | TrackType::PREFIX,
            move |_, ev| {
                record.lock().unwrap().push(ev.key.to_vec());
                if ev.key == b"test.panics.a" {
                    panic!("boom");
                }
            },
        )
        .unwrap();
    // corosync sends the notification before it answers the set.
    for key in ["test.panics.a", "test.panics.b", "test.panics.c"] {
        setter.set_u32(key, 1).unwrap();
    }
    assert!(wait_pending(&tracker, 3, WAIT), "three events queued");

    assert!(panics(|| tracker.dispatch(DispatchMode::All)));
    assert_eq!(seen.lock().unwrap().len(), 1);
    tracker.dispatch(DispatchMode::All).unwrap();
    let keys: Vec<Vec<u8>> = ["test.panics.a", "test.panics.b", "test.panics.c"]
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .collect();
    assert_eq!(*seen.lock().unwrap(), keys, "once per change, in order");
}

#[test]
fn an_evs_closure_that_panics_loses_none_of_the_messages_after_it() {
    let cluster = Cluster::single().expect("cluster");
    let group = EvsGroup::new("panics").unwrap();
    let seen: Seen = Arc::default();
    let mut record = recording(&seen);
    let (evs, barrier) = cluster
        .node(0)
        .run(move || {
            let evs = Evs::builder()
                .on_deliver(move |_, m| record(m.data))
                .connect()
                .unwrap();
            (evs, Barrier::new())
        })
        .unwrap();
    evs.join(&[group]).unwrap();
    // Let the carrier group's join events through first.
    evs.dispatch(DispatchMode::All).unwrap();
    for m in [&b"one"[..], b"two", b"three"] {
        evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(m)])
            .unwrap();
    }
    barrier.pass();
    assert!(wait_pending(&evs, 3, WAIT), "three events queued");

    assert!(panics(|| evs.dispatch(DispatchMode::All)));
    assert_eq!(seen.lock().unwrap().len(), 1);
    evs.dispatch(DispatchMode::All).unwrap();
    let want: Vec<Vec<u8>> = [&b"one"[..], b"two", b"three"]
        .iter()
        .map(|m| m.to_vec())
        .collect();
    assert_eq!(*seen.lock().unwrap(), want);
}
