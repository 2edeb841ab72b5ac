//! A daemon stopped with SIGSTOP: what waits for it, and what goes on.
//!
//! The calls that need its answer wait until it goes on (SIGCONT). Other
//! threads' calls that do not need it go on meanwhile, also when they take
//! a library's handle-table lock, unless that very lock is held across the
//! waiting call (see the crate docs, "When the daemon stops answering").
//! The async adapters' connects, requests, shorthands and drops wait on
//! tokio's blocking pool, so the runtime's only thread stays free
//! ([`Stopped::answer_pings`]) and `tokio::time::timeout` bounds them.
//!
//! A stopped daemon makes "waiting" certain: the waiting calls cannot
//! return before SIGCONT, so whatever completes meanwhile did so while
//! they waited.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use corosync::cfg::Cfg;
use corosync::cmap::{Cmap, Map, TrackType, Value};
use corosync::cpg::{Cpg, GroupName, Iteration};
use corosync::quorum::Quorum;
use corosync::tokio::{AsyncCfg, AsyncCmap, AsyncCpg, AsyncQuorum, AsyncVotequorum, CpgEvent};
use corosync::votequorum::{InfoFlags, Votequorum};
use corosync::{NodeId, Reconnect, TrackFlags};
use corosync_tests::asynctest::{current_thread, join, until, Stopped};
use corosync_tests::bounded::{join_within, NO_HANG};
use corosync_tests::cpg_record::{recording_cpg, SharedRecord};
use corosync_tests::events::WAIT;
use corosync_tests::{on_node, pump, Cluster};
use tokio::task::JoinHandle;

/// Pings the runtime answers while the daemon is stopped.
const PINGS: usize = 100;

/// Rounds of connect, join and drop made while another thread's call waits:
/// each takes the lock the waiting call would hold if the tables shared one.
const ROUNDS: usize = 20;

#[test]
fn a_group_iteration_waiting_for_a_stopped_daemon_holds_up_no_cpg_connect_or_drop_elsewhere() {
    let cluster = Cluster::new(2).expect("cluster");
    let (stopped_node, live_node) = (cluster.node(0), cluster.node(1));
    let pid = stopped_node.pid().unwrap() as i32;
    let group = GroupName::new("iterated").unwrap();
    let (connected, wait_connected) = mpsc::channel();
    let (go, wait_go) = mpsc::channel::<()>();
    // On the node to be stopped: a member of `group` that then lists the
    // groups (a request, under the lock of libcpg's iterations).
    let iterating = stopped_node
        .spawn_thread(move || {
            let seen = SharedRecord::default();
            let cpg = recording_cpg(&seen);
            cpg.join(&group).unwrap();
            assert!(pump(&cpg, || !seen.lock().unwrap().confchgs.is_empty()));
            connected.send(()).unwrap();
            wait_go.recv_timeout(WAIT).expect("the go-ahead");
            let mut iter = cpg.iter(Iteration::OneGroup(&group)).unwrap();
            iter.next().map(|entry| entry.unwrap())
        })
        .unwrap();
    wait_connected
        .recv_timeout(WAIT)
        .expect("the member on the node to be stopped");
    let stopped = Stopped::new(pid);
    go.send(()).unwrap();
    // On the other node, CPG connects, joins and finalizes go on.
    let rounds = live_node
        .run_within(NO_HANG, || {
            for round in 0..ROUNDS {
                let cpg = Cpg::new().unwrap();
                cpg.join(&GroupName::new(format!("free-{round}")).unwrap())
                    .unwrap();
                cpg.finalize().unwrap();
            }
            ROUNDS
        })
        .unwrap();
    assert_eq!(
        rounds,
        Some(ROUNDS),
        "CPG connects and drops on node 2 waited for a group iteration on node 1's \
         stopped daemon"
    );
    assert!(
        !iterating.is_finished(),
        "the group iteration did not wait for the stopped daemon"
    );
    drop(stopped);
    let entry = join_within(iterating, NO_HANG, "the group iteration after SIGCONT")
        .expect("the member itself");
    assert_eq!(
        (entry.nodeid, entry.pid),
        (NodeId::new(1), std::process::id())
    );
}

#[test]
fn calls_waiting_for_a_stopped_daemon_hold_up_no_other_service_nor_a_cmap_drop() {
    let cluster = Cluster::new(2).expect("cluster");
    let (stopped_node, live_node) = (cluster.node(0), cluster.node(1));
    let pid = stopped_node.pid().unwrap() as i32;
    // Connected before the stop, dropped during it.
    let (cmap_get, cmap, quorum, votequorum, cfg) = on_node(stopped_node, || {
        (
            Cmap::new().unwrap(),
            Cmap::new().unwrap(),
            Quorum::new().unwrap(),
            Votequorum::new().unwrap(),
            Cfg::new().unwrap(),
        )
    });
    let stopped = Stopped::new(pid);
    // Waiting for the stopped daemon: a CPG connect (under libcpg's lock)
    // and a cmap read (under no lock).
    let connecting = stopped_node.spawn_thread(|| Cpg::new().map(drop)).unwrap();
    let reading = stopped_node
        .spawn_thread(move || {
            cmap_get
                .get("totem.cluster_name")
                .map(|v| v.as_str().is_some())
        })
        .unwrap();
    // Meanwhile another cmap handle of the stopped daemon, and its quorum,
    // votequorum and cfg handles, are finalized: none of them asks the
    // daemon, and no lock they take is held.
    let finalized = stopped_node
        .run_within(NO_HANG, move || {
            [
                cmap.finalize(),
                quorum.finalize(),
                votequorum.finalize(),
                cfg.finalize(),
            ]
        })
        .unwrap();
    assert_eq!(
        finalized,
        Some([Ok(()), Ok(()), Ok(()), Ok(())]),
        "finalizing cmap, quorum, votequorum and cfg handles waited for the stopped daemon \
         or for its waiting calls"
    );
    // And the live node's services go on.
    let live = live_node
        .run_within(NO_HANG, || {
            let quorum = Quorum::new().unwrap();
            let cmap = Cmap::new().unwrap();
            (
                quorum.is_quorate().unwrap(),
                cmap.get("runtime.votequorum.this_node_id").unwrap(),
            )
        })
        .unwrap();
    assert_eq!(
        live,
        Some((true, Value::U32(2))),
        "node 2's quorum and cmap"
    );
    assert!(!connecting.is_finished() && !reading.is_finished());
    drop(stopped);
    join_within(connecting, NO_HANG, "the CPG connect after SIGCONT").unwrap();
    assert_eq!(
        join_within(reading, NO_HANG, "the cmap read after SIGCONT"),
        Ok(true)
    );
}

#[test]
fn async_requests_connects_and_drops_wait_on_the_blocking_pool_not_the_runtime() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let pid = node.pid().unwrap() as i32;
    node.run(|| {
        current_thread().block_on(async {
            let changes = TrackFlags::CHANGES;
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "pooled").await;
            let (dropped, mut dropped_events) = AsyncCpg::connect().await.unwrap();
            join(&dropped, &mut dropped_events, "dropped").await;
            let (quorum, _q) = AsyncQuorum::connect(changes).await.unwrap();
            let (vq, _v) = AsyncVotequorum::connect(changes).await.unwrap();
            let (cmap, _c) = AsyncCmap::connect(Map::Icmap).await.unwrap();
            let (cfg, _f) = AsyncCfg::connect(changes).await.unwrap();

            let stopped = Stopped::new(pid);
            let group = GroupName::new("pooled").unwrap();
            let membership = tokio::spawn({
                let cpg = cpg.clone();
                async move { cpg.request(move |c| c.membership(&group)).await }
            });
            let quorate = tokio::spawn({
                let quorum = quorum.clone();
                async move { quorum.request(Quorum::is_quorate).await }
            });
            let info = tokio::spawn({
                let vq = vq.clone();
                async move { vq.request(|v| v.local_info()).await }
            });
            let value = tokio::spawn({
                let cmap = cmap.clone();
                async move {
                    cmap.request(|c| c.get("runtime.votequorum.this_node_id"))
                        .await
                }
            });
            let nodeid = tokio::spawn({
                let cfg = cfg.clone();
                async move { cfg.request(Cfg::local_nodeid).await }
            });
            let new_cpg = tokio::spawn(AsyncCpg::connect());
            let new_quorum = tokio::spawn(AsyncQuorum::connect(changes));
            let new_vq = tokio::spawn(AsyncVotequorum::connect(changes));
            let new_cmap = tokio::spawn(AsyncCmap::connect(Map::Icmap));
            let new_cfg = tokio::spawn(AsyncCfg::connect(changes));
            // A request bounded by a time-out: it runs out (the daemon
            // cannot answer before SIGCONT), and the request goes on in
            // the pool.
            let bounded = tokio::time::timeout(
                Duration::from_millis(100),
                cpg.request(|c| c.local_nodeid()),
            )
            .await;
            assert!(bounded.is_err(), "{bounded:?}");
            // The last reference to a joined CPG connection: libcpg asks
            // the daemon when it finalizes.
            drop((dropped, dropped_events));
            // Every task spawned above waits for the daemon, while the
            // runtime's only thread answers pings.
            stopped.answer_pings(PINGS).await;

            assert_eq!(membership.await.unwrap().unwrap().len(), 1);
            assert!(quorate.await.unwrap().unwrap());
            assert_eq!(info.await.unwrap().unwrap().nodeid, NodeId::new(1));
            assert_eq!(value.await.unwrap().unwrap(), Value::U32(1));
            assert_eq!(nodeid.await.unwrap().unwrap(), NodeId::new(1));
            let (new_cpg, _) = new_cpg.await.unwrap().unwrap();
            assert_eq!(
                new_cpg.request(|c| c.local_nodeid()).await.unwrap(),
                NodeId::new(1)
            );
            let (new_quorum, _) = new_quorum.await.unwrap().unwrap();
            assert!(new_quorum.request(Quorum::is_quorate).await.unwrap());
            let (new_vq, _) = new_vq.await.unwrap().unwrap();
            let flags = new_vq.request(|v| v.local_info()).await.unwrap().flags;
            assert!(flags.contains(InfoFlags::QUORATE), "{flags:?}");
            let (new_cmap, _) = new_cmap.await.unwrap().unwrap();
            assert!(new_cmap
                .request(|c| c.get("totem.cluster_name"))
                .await
                .is_ok());
            let (new_cfg, _) = new_cfg.await.unwrap().unwrap();
            assert_eq!(
                new_cfg.request(Cfg::local_nodeid).await.unwrap(),
                NodeId::new(1)
            );
            // The dropped connection was finalized: it leaves its group.
            let dropped_group = GroupName::new("dropped").unwrap();
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let members = cpg.request(move |c| c.membership(&dropped_group)).await;
                if members.as_ref().is_ok_and(Vec::is_empty) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the dropped connection is still in its group after {WAIT:?}: {members:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    })
    .unwrap();
}

/// How long a call to a stopped daemon is awaited under
/// `tokio::time::timeout` before it is given up (it cannot return before
/// SIGCONT, so any time-out runs out).
const SHORT: Duration = Duration::from_millis(50);

/// Awaits `call` under `tokio::time::timeout` for [`SHORT`]: the time-out
/// must run out, which it cannot while `call` holds the runtime's thread.
async fn times_out<T>(what: &str, call: impl Future<Output = corosync::Result<T>>) {
    let bounded = tokio::time::timeout(SHORT, call).await;
    if let Ok(result) = bounded {
        panic!(
            "{what} returned while the daemon was stopped: {:?}",
            result.map(drop)
        );
    }
}

/// Spawns `call` and checks, as [`times_out`] does, that awaiting it
/// times out; the task goes on.
async fn spawn_waiting<T: Send + 'static>(
    what: &str,
    call: impl Future<Output = corosync::Result<T>> + Send + 'static,
) -> JoinHandle<corosync::Result<T>> {
    let mut task = tokio::spawn(call);
    let bounded = tokio::time::timeout(SHORT, &mut task).await;
    if let Ok(result) = bounded {
        panic!(
            "{what} returned while the daemon was stopped: {:?}",
            result.map(|r| r.map(drop))
        );
    }
    task
}

#[test]
fn every_async_connect_and_shorthand_times_out_on_a_stopped_daemon_and_completes_after() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let pid = node.pid().unwrap() as i32;
    node.run(|| {
        current_thread().block_on(async {
            let changes = TrackFlags::CHANGES;
            let policy = Reconnect::new();
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "stays").await;
            let (leaver, mut leaver_events) = AsyncCpg::connect().await.unwrap();
            join(&leaver, &mut leaver_events, "leaving").await;
            let (joiner, mut joiner_events) = AsyncCpg::connect().await.unwrap();
            let (quorum, _q) = AsyncQuorum::connect(changes).await.unwrap();
            let (cmap, mut cmap_events) = AsyncCmap::connect(Map::Icmap).await.unwrap();
            let track = TrackType::ADD | TrackType::MODIFY;
            let untracked = cmap.track("test.shorthand.untracked", track).await.unwrap();
            let (cfg, _f) = AsyncCfg::connect(changes).await.unwrap();
            let (stays, leaving, fresh) = (
                GroupName::new("stays").unwrap(),
                GroupName::new("leaving").unwrap(),
                GroupName::new("fresh").unwrap(),
            );

            let stopped = Stopped::new(pid);
            // Each bounded by a time-out that runs out; the calls go on in
            // the blocking pool.
            times_out("AsyncCpg::connect", AsyncCpg::connect()).await;
            times_out("AsyncCpg::reconnecting", AsyncCpg::reconnecting(policy)).await;
            times_out("AsyncQuorum::connect", AsyncQuorum::connect(changes)).await;
            times_out(
                "AsyncQuorum::reconnecting",
                AsyncQuorum::reconnecting(changes, policy),
            )
            .await;
            times_out(
                "AsyncVotequorum::connect",
                AsyncVotequorum::connect(changes),
            )
            .await;
            times_out(
                "AsyncVotequorum::reconnecting",
                AsyncVotequorum::reconnecting(changes, policy),
            )
            .await;
            times_out("AsyncCmap::connect", AsyncCmap::connect(Map::Icmap)).await;
            times_out(
                "AsyncCmap::reconnecting",
                AsyncCmap::reconnecting(Map::Icmap, policy),
            )
            .await;
            times_out("AsyncCfg::connect", AsyncCfg::connect(changes)).await;
            times_out(
                "AsyncCfg::reconnecting",
                AsyncCfg::reconnecting(changes, policy),
            )
            .await;
            times_out("AsyncCpg::membership", cpg.membership(&stays)).await;
            times_out("AsyncCpg::local_nodeid", cpg.local_nodeid()).await;
            times_out("AsyncQuorum::is_quorate", quorum.is_quorate()).await;
            // The same calls, and those that change something, as tasks
            // whose results are checked after SIGCONT.
            let connecting = spawn_waiting("AsyncCpg::connect", AsyncCpg::connect()).await;
            let membership = spawn_waiting("AsyncCpg::membership", {
                let cpg = cpg.clone();
                async move { cpg.membership(&stays).await }
            })
            .await;
            let nodeid = spawn_waiting("AsyncCpg::local_nodeid", {
                let cpg = cpg.clone();
                async move { cpg.local_nodeid().await }
            })
            .await;
            let quorate = spawn_waiting("AsyncQuorum::is_quorate", {
                let quorum = quorum.clone();
                async move { quorum.is_quorate().await }
            })
            .await;
            let joining = spawn_waiting("AsyncCpg::join", {
                let joiner = joiner.clone();
                async move { joiner.join(&fresh).await }
            })
            .await;
            let leaving_task = spawn_waiting("AsyncCpg::leave", {
                let leaver = leaver.clone();
                async move { leaver.leave(&leaving).await }
            })
            .await;
            let tracking = spawn_waiting("AsyncCmap::track", {
                let cmap = cmap.clone();
                async move { cmap.track("test.shorthand.tracked", track).await }
            })
            .await;
            let untracking = spawn_waiting("AsyncCmap::untrack", {
                let cmap = cmap.clone();
                async move { cmap.untrack(untracked).await }
            })
            .await;
            let replying = spawn_waiting("AsyncCfg::reply_to_shutdown", {
                let cfg = cfg.clone();
                async move { cfg.reply_to_shutdown(true).await }
            })
            .await;
            // Every call above waits for the daemon, while the runtime's
            // only thread answers pings.
            stopped.answer_pings(PINGS).await;

            let (new_cpg, _new_events) = connecting.await.unwrap().unwrap();
            assert_eq!(new_cpg.local_nodeid().await, Ok(NodeId::new(1)));
            let members = membership.await.unwrap().unwrap();
            assert_eq!(
                members
                    .iter()
                    .map(|a| (a.nodeid(), a.pid()))
                    .collect::<Vec<_>>(),
                [(NodeId::new(1), std::process::id())]
            );
            assert_eq!(nodeid.await.unwrap(), Ok(NodeId::new(1)));
            assert_eq!(quorate.await.unwrap(), Ok(true));
            assert_eq!(joining.await.unwrap(), Ok(()));
            let joined_change = until(
                &mut joiner_events,
                WAIT,
                |e| matches!(e, CpgEvent::ConfChange { joined, .. } if !joined.is_empty()),
            )
            .await;
            assert!(
                matches!(&joined_change, CpgEvent::ConfChange { group, .. } if **group == fresh),
                "{joined_change:?}"
            );
            assert_eq!(leaving_task.await.unwrap(), Ok(()));
            until(
                &mut leaver_events,
                WAIT,
                |e| matches!(e, CpgEvent::ConfChange { left, .. } if !left.is_empty()),
            )
            .await;
            // (libcfg 3.1.7 reports whether the round trip went through,
            // not corosync's answer, which refuses a reply it did not ask
            // for.)
            assert_eq!(replying.await.unwrap(), Ok(()));
            // The untracked key changes unseen; the tracked one is seen.
            let tracked = tracking.await.unwrap().unwrap();
            assert_eq!(untracking.await.unwrap(), Ok(()));
            cmap.request(|c| {
                c.set("test.shorthand.untracked", &Value::U32(1))?;
                c.set("test.shorthand.tracked", &Value::U32(1))
            })
            .await
            .unwrap();
            let first = until(&mut cmap_events, WAIT, |_| true).await;
            assert_eq!(
                (first.track, &first.key[..]),
                (tracked, &b"test.shorthand.tracked"[..]),
                "{first:?}"
            );
        });
    })
    .unwrap();
}
