//! A CPG connection joins once: corosync 3.1.7 never forgets that a
//! connection left its group and answers its next join `CS_ERR_BUSY` (or
//! `CS_ERR_EXIST` for the same group), which libcpg repeats without end.
//! The bindings refuse such a join at once with `Error::RejoinAfterLeave`;
//! a new connection joins as usual, and EVS, which keeps its one CPG group
//! joined, joins its own groups again freely.

use std::io::IoSlice;
use std::sync::{Arc, Mutex};

use corosync::cpg::{Cpg, GroupName, Guarantee, Reason};
use corosync::evs::{Evs, EvsGroup};
use corosync::tokio::{AsyncCpg, CpgEvent};
use corosync::Error;
use corosync_tests::asynctest::{current_thread, join, until};
use corosync_tests::bounded::NO_HANG;
use corosync_tests::cpg_record::{recording_cpg, SharedRecord};
use corosync_tests::events::WAIT;
use corosync_tests::{on_node, pump, Cluster};

#[test]
fn a_join_after_a_leave_on_the_same_connection_is_refused_at_once() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let (first, second) = (
        GroupName::new("rejoin-first").unwrap(),
        GroupName::new("rejoin-second").unwrap(),
    );
    // Joins `first` and leaves it (both configuration changes seen), then
    // tries both groups again on the same connection. On a thread of its
    // own, so that a join that hangs fails the test instead of holding it.
    let results = node
        .run_within(NO_HANG, move || {
            let seen = SharedRecord::default();
            let cpg = recording_cpg(&seen);
            cpg.join(&first).unwrap();
            assert!(pump(&cpg, || seen.lock().unwrap().confchgs.len() == 1));
            cpg.leave(&first).unwrap();
            assert!(pump(&cpg, || seen.lock().unwrap().confchgs.len() == 2));
            let left = &seen.lock().unwrap().confchgs[1].left;
            assert!(
                left.len() == 1 && left[0].reason() == Reason::Leave,
                "{left:?}"
            );
            (cpg.join(&second), cpg.join(&first), cpg.joined_group())
        })
        .unwrap()
        .expect("joins after a leave: no answer; they hang");
    assert_eq!(
        results,
        (
            Err(Error::RejoinAfterLeave),
            Err(Error::RejoinAfterLeave),
            None
        )
    );
    assert_eq!(Error::RejoinAfterLeave.code(), None);

    // A new connection of the same process joins the other group, and its
    // message comes back.
    on_node(node, || {
        let seen = SharedRecord::default();
        let cpg = recording_cpg(&seen);
        cpg.join(&second).unwrap();
        cpg.mcast(Guarantee::Agreed, b"again").unwrap();
        assert!(pump(&cpg, || seen
            .lock()
            .unwrap()
            .messages
            .iter()
            .any(|m| m.data == b"again")));
        assert_eq!(cpg.joined_group(), Some(second));
    });
}

#[test]
fn a_join_right_after_a_leave_is_refused_before_the_leave_is_delivered() {
    let cluster = Cluster::single().expect("cluster");
    let group = GroupName::new("rejoin-early").unwrap();
    let result = cluster
        .node(0)
        .run_within(NO_HANG, move || {
            let cpg = Cpg::new().unwrap();
            cpg.join(&group).unwrap();
            cpg.leave(&group).unwrap();
            cpg.join(&group)
        })
        .unwrap()
        .expect("a join right after a leave: no answer; it hangs");
    assert_eq!(result, Err(Error::RejoinAfterLeave));
}

#[test]
fn the_async_adapter_refuses_a_join_after_a_leave_and_a_new_one_joins() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "rejoin-async").await;
            let group = GroupName::new("rejoin-async").unwrap();
            cpg.leave(&group).await.unwrap();
            until(
                &mut events,
                WAIT,
                |e| matches!(e, CpgEvent::ConfChange { left, .. } if !left.is_empty()),
            )
            .await;
            assert_eq!(cpg.join(&group).await, Err(Error::RejoinAfterLeave));
            let other = GroupName::new("rejoin-async-other").unwrap();
            // Through the blocking pool too.
            assert_eq!(
                cpg.request(move |c| c.join(&other)).await,
                Err(Error::RejoinAfterLeave)
            );
            drop((cpg, events));

            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "rejoin-async").await;
            cpg.mcast(Guarantee::Agreed, b"back").await.unwrap();
            let message = until(&mut events, WAIT, |e| matches!(e, CpgEvent::Message { .. })).await;
            assert!(
                matches!(&message, CpgEvent::Message { data, .. } if &data[..] == b"back"),
                "{message:?}"
            );
        });
    })
    .unwrap();
}

#[test]
fn evs_joins_a_group_again_after_leaving_it() {
    let cluster = Cluster::single().expect("cluster");
    on_node(cluster.node(0), || {
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let sink = got.clone();
        let evs = Evs::builder()
            .on_deliver(move |_, m| sink.lock().unwrap().push(m.data.to_vec()))
            .connect()
            .unwrap();
        let group = EvsGroup::new("evs-rejoin").unwrap();
        evs.join(&[group]).unwrap();
        evs.leave(&[group]).unwrap();
        assert!(evs.joined().is_empty());
        evs.join(&[group]).unwrap();
        assert_eq!(evs.joined(), vec![group]);
        evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(b"in")])
            .unwrap();
        assert!(pump(&evs, || !got.lock().unwrap().is_empty()));
        assert_eq!(*got.lock().unwrap(), vec![b"in".to_vec()]);
    });
}
