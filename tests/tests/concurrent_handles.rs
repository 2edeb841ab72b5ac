//! Handles made and dropped on many threads at once. libqb's handle
//! databases, which every corosync client library keeps process-wide, take
//! a free slot without a lock (`qb_hdb_handle_create`), so two threads
//! creating at once could get the same slot and one of them a handle that
//! answers BAD_HANDLE; the bindings serialize those calls.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use corosync::cfg::Cfg;
use corosync::cmap::{Cmap, TrackType};
use corosync::cpg::{Cpg, GroupName, Iteration};
use corosync::quorum::Quorum;
use corosync::votequorum::Votequorum;
use corosync_tests::events::WAIT;
use corosync_tests::{pump, Cluster};

const THREADS: usize = 6;
const ROUNDS: usize = 20;

/// Where the threads meet before each round, so that each round starts
/// with every thread connecting at once.
#[derive(Default)]
struct Gate {
    arrived: AtomicUsize,
    /// Set by a thread that panicked.
    failed: AtomicBool,
}

impl Gate {
    /// Waits until every thread has reached round `round`; panics if
    /// another thread failed instead (or, against a hang, if one is still
    /// missing after [`WAIT`]).
    fn pass(&self, round: usize) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + WAIT;
        while self.arrived.load(Ordering::SeqCst) < (round + 1) * THREADS {
            assert!(!self.failed.load(Ordering::SeqCst), "another thread failed");
            assert!(Instant::now() < deadline, "another thread is stuck");
            std::thread::yield_now();
        }
    }
}

/// Marks its gate failed when the thread holding it panics.
struct FailOnPanic<'a>(&'a Gate);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.failed.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn handles_made_on_many_threads_at_once_all_work() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let gate = Gate::default();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let gate = &gate;
            scope.spawn(move || {
                node.run(move || {
                    let _fail = FailOnPanic(gate);
                    for round in 0..ROUNDS {
                        gate.pass(round);
                        let what = format!("thread {t} round {round}");
                        // Each library's database, and cmap's and cpg's
                        // second ones (track registrations, iterations).
                        let cmap = Cmap::new().unwrap_or_else(|e| panic!("{what}: cmap {e:?}"));
                        let key = format!("concurrent.t{t}");
                        let seen = Arc::new(AtomicBool::new(false));
                        let s = seen.clone();
                        let track = cmap
                            .track_add(&key, TrackType::ADD | TrackType::MODIFY, move |_, _| {
                                s.store(true, Ordering::Relaxed)
                            })
                            .unwrap_or_else(|e| panic!("{what}: track_add {e:?}"));
                        cmap.set_u32(&key, round as u32)
                            .unwrap_or_else(|e| panic!("{what}: set {e:?}"));
                        assert!(
                            pump(&cmap, || seen.load(Ordering::Relaxed)),
                            "{what}: no event"
                        );
                        cmap.track_delete(track.detach())
                            .unwrap_or_else(|e| panic!("{what}: track_delete {e:?}"));

                        let cpg = Cpg::new().unwrap_or_else(|e| panic!("{what}: cpg {e:?}"));
                        // (A new group each round: the last round's leave
                        // may still be on its way.)
                        cpg.join(&GroupName::new(format!("concurrent-{t}-{round}")).unwrap())
                            .unwrap_or_else(|e| panic!("{what}: join {e:?}"));
                        cpg.iter(Iteration::All)
                            .unwrap_or_else(|e| panic!("{what}: iteration {e:?}"))
                            .for_each(drop);
                        cpg.finalize()
                            .unwrap_or_else(|e| panic!("{what}: cpg finalize {e:?}"));
                        Quorum::new()
                            .unwrap_or_else(|e| panic!("{what}: quorum {e:?}"))
                            .is_quorate()
                            .unwrap_or_else(|e| panic!("{what}: quorate {e:?}"));
                        Votequorum::new()
                            .unwrap_or_else(|e| panic!("{what}: votequorum {e:?}"))
                            .info(node.nodeid())
                            .unwrap_or_else(|e| panic!("{what}: votequorum info {e:?}"));
                        Cfg::new()
                            .unwrap_or_else(|e| panic!("{what}: cfg {e:?}"))
                            .local_nodeid()
                            .unwrap_or_else(|e| panic!("{what}: cfg nodeid {e:?}"));
                        cmap.finalize()
                            .unwrap_or_else(|e| panic!("{what}: cmap finalize {e:?}"));
                    }
                })
                .unwrap()
            });
        }
    });
}
