//! Handles made and dropped on many threads at once. libqb's handle
//! databases, which every corosync client library keeps process-wide, take
//! a free slot without a lock (`qb_hdb_handle_create`), so two threads
//! creating at once could get the same slot and one of them a handle that
//! answers BAD_HANDLE; the bindings serialize those calls.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cfg::Cfg;
use corosync::cmap::{Cmap, TrackType, Value};
use corosync::cpg::{Cpg, GroupName, Iteration};
use corosync::quorum::Quorum;
use corosync::votequorum::{Info, InfoFlags, Votequorum};
use corosync::NodeId;
use corosync_tests::bounded::{self, join_within, COMMAND_WAIT};
use corosync_tests::events::WAIT;
use corosync_tests::{pump, Cluster};

const THREADS: usize = 6;
const ROUNDS: usize = 20;

/// How long a thread's rounds may take: seconds when they work; the bound
/// only tells that from a hang.
const ALL_ROUNDS: Duration = Duration::from_secs(300);

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

/// What one thread saw in one round.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// The value the cmap track event carried, and the value read back.
    cmap: (Option<Value>, u32),
    /// The local node id as cpg and cfg tell it.
    cpg_nodeid: NodeId,
    cfg_nodeid: NodeId,
    /// Whether a cpg iteration listed this process in the group it joined.
    cpg_listed: bool,
    quorate: bool,
    votequorum: Info,
}

/// The value of the line `name: value` of corosync-quorumtool's output.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name:?} in {text}"))
        .trim()
}

#[test]
fn handles_made_on_many_threads_at_once_all_work() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let gate = Arc::new(Gate::default());
    let nodeid = node.nodeid();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let gate = gate.clone();
            node.spawn_thread(move || rounds(nodeid, &gate, t)).unwrap()
        })
        .collect();
    let seen: Vec<Vec<Seen>> = threads
        .into_iter()
        .enumerate()
        .map(|(t, h)| join_within(h, ALL_ROUNDS, &format!("thread {t}'s rounds")))
        .collect();

    // Each thread's cmap key got each round's value, seen by its event.
    for (t, rounds) in seen.iter().enumerate() {
        for (round, s) in rounds.iter().enumerate() {
            assert_eq!(
                s.cmap,
                (Some(Value::U32(round as u32)), round as u32),
                "thread {t} round {round}"
            );
            assert!(s.cpg_listed, "thread {t} round {round}: not in its group");
        }
    }
    // Everything else is the same for every handle, and what corosync's own
    // tool says.
    let first = seen[0][0].clone();
    for (t, rounds) in seen.iter().enumerate() {
        for (round, s) in rounds.iter().enumerate() {
            let same = Seen {
                cmap: s.cmap.clone(),
                ..first.clone()
            };
            assert_eq!(*s, same, "thread {t} round {round}");
        }
    }
    let out = bounded::output(
        node.command("corosync-quorumtool").unwrap().arg("-s"),
        COMMAND_WAIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tool = String::from_utf8_lossy(&out.stdout);
    let number = |name: &str| -> u32 { field(&tool, name).parse().unwrap() };
    let id = NodeId::new(number("Node ID"));
    assert_eq!((first.cpg_nodeid, first.cfg_nodeid), (id, id), "{tool}");
    assert_eq!(first.quorate, field(&tool, "Quorate") == "Yes", "{tool}");
    let vq = &first.votequorum;
    assert_eq!(vq.nodeid, id);
    assert_eq!(
        (
            vq.node_expected_votes,
            vq.highest_expected,
            vq.total_votes,
            vq.quorum,
            vq.flags.contains(InfoFlags::QUORATE)
        ),
        (
            number("Expected votes"),
            number("Highest expected"),
            number("Total votes"),
            number("Quorum"),
            field(&tool, "Flags")
                .split_whitespace()
                .any(|f| f == "Quorate")
        ),
        "{tool}"
    );
}

/// Thread `t`'s rounds: in each, every library's handle made at once with
/// the other threads', used, and finalized.
fn rounds(nodeid: NodeId, gate: &Gate, t: usize) -> Vec<Seen> {
    let _fail = FailOnPanic(gate);
    let mut seen = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        gate.pass(round);
        let what = format!("thread {t} round {round}");
        // Each library's database, and cmap's and cpg's second ones (track
        // registrations, iterations).
        let cmap = Cmap::new().unwrap_or_else(|e| panic!("{what}: cmap {e:?}"));
        let key = format!("concurrent.t{t}");
        let event = Arc::new(Mutex::new(None));
        let e = event.clone();
        let track = cmap
            .track_add(&key, TrackType::ADD | TrackType::MODIFY, move |_, ev| {
                *e.lock().unwrap() = Some(ev.new_value.map(|v| v.to_value().unwrap()));
            })
            .unwrap_or_else(|e| panic!("{what}: track_add {e:?}"));
        cmap.set_u32(&key, round as u32)
            .unwrap_or_else(|e| panic!("{what}: set {e:?}"));
        assert!(
            pump(&cmap, || event.lock().unwrap().is_some()),
            "{what}: no event"
        );
        cmap.track_delete(track.detach())
            .unwrap_or_else(|e| panic!("{what}: track_delete {e:?}"));
        let read = cmap
            .get_u32(&key)
            .unwrap_or_else(|e| panic!("{what}: get {e:?}"));
        let cmap_seen = (event.lock().unwrap().take().flatten(), read);

        let cpg = Cpg::new().unwrap_or_else(|e| panic!("{what}: cpg {e:?}"));
        // (A new group each round: the last round's leave may still be on
        // its way.)
        let group = GroupName::new(format!("concurrent-{t}-{round}")).unwrap();
        cpg.join(&group)
            .unwrap_or_else(|e| panic!("{what}: join {e:?}"));
        assert!(
            pump(&cpg, || cpg.membership(&group).is_ok_and(|m| m.len() == 1)),
            "{what}: not a member of {group:?}"
        );
        let cpg_nodeid = cpg
            .local_nodeid()
            .unwrap_or_else(|e| panic!("{what}: cpg nodeid {e:?}"));
        let me = (group, cpg_nodeid, std::process::id());
        let cpg_listed = cpg
            .iter(Iteration::All)
            .unwrap_or_else(|e| panic!("{what}: iteration {e:?}"))
            .map(|entry| entry.unwrap_or_else(|e| panic!("{what}: iteration next {e:?}")))
            .any(|entry| (entry.group, entry.nodeid, entry.pid) == me);
        cpg.finalize()
            .unwrap_or_else(|e| panic!("{what}: cpg finalize {e:?}"));
        let quorate = Quorum::new()
            .unwrap_or_else(|e| panic!("{what}: quorum {e:?}"))
            .is_quorate()
            .unwrap_or_else(|e| panic!("{what}: quorate {e:?}"));
        let votequorum = Votequorum::new()
            .unwrap_or_else(|e| panic!("{what}: votequorum {e:?}"))
            .info(nodeid)
            .unwrap_or_else(|e| panic!("{what}: votequorum info {e:?}"));
        let cfg_nodeid = Cfg::new()
            .unwrap_or_else(|e| panic!("{what}: cfg {e:?}"))
            .local_nodeid()
            .unwrap_or_else(|e| panic!("{what}: cfg nodeid {e:?}"));
        cmap.finalize()
            .unwrap_or_else(|e| panic!("{what}: cmap finalize {e:?}"));
        seen.push(Seen {
            cmap: cmap_seen,
            cpg_nodeid,
            cfg_nodeid,
            cpg_listed,
            quorate,
            votequorum,
        });
    }
    seen
}
