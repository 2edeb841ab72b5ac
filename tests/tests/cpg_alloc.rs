//! Delivering CPG messages allocates nothing on the Rust side, and the retry
//! helper carries multicast through flow control. (A test binary of its
//! own: it installs a counting global allocator.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::{DispatchMode, Error, Retry};
use corosync_tests::events::WAIT;
use corosync_tests::{pump, pump_for, wait_readable, Cluster};

/// Counts allocations made by threads that turned counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; counting touches only a const
// thread-local and an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn delivering_messages_allocates_nothing() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            let group = GroupName::new("no-alloc").unwrap();
            let delivered = Arc::new(AtomicUsize::new(0));
            let checksum = Arc::new(AtomicUsize::new(0));
            let (d, c) = (delivered.clone(), checksum.clone());
            let cpg = Cpg::builder()
                .on_deliver(move |_, m| {
                    d.fetch_add(1, Ordering::Relaxed);
                    c.fetch_add(
                        m.data.iter().map(|&b| b as usize).sum::<usize>(),
                        Ordering::Relaxed,
                    );
                })
                .on_confchg(|_, _| {})
                .on_totem_confchg(|_, _| {})
                .connect()
                .unwrap();
            cpg.join(&group).unwrap();
            // Settle the join's configuration change first.
            assert!(pump(&cpg, || {
                cpg.membership(&group)
                    .map(|m| m.len() == 1)
                    .unwrap_or(false)
            }));

            const N: usize = 2000;
            let payload = vec![3u8; 1024];
            for _ in 0..N {
                Retry::default()
                    .run(|| cpg.mcast(Guarantee::Agreed, &payload))
                    .unwrap();
            }
            wait_readable(&cpg, Duration::from_secs(5));

            // Only the dispatch loop runs while counting.
            ALLOCATIONS.store(0, Ordering::SeqCst);
            COUNTING.with(|c| c.set(true));
            // (The assertion below says how many came by the deadline.)
            let deadline = Instant::now() + WAIT;
            while delivered.load(Ordering::Relaxed) < N && Instant::now() < deadline {
                wait_readable(&cpg, Duration::from_millis(50));
                cpg.dispatch(DispatchMode::All).unwrap();
            }
            COUNTING.with(|c| c.set(false));

            assert_eq!(
                delivered.load(Ordering::Relaxed),
                N,
                "every message delivered"
            );
            assert_eq!(checksum.load(Ordering::Relaxed), N * 1024 * 3);
            assert_eq!(
                ALLOCATIONS.load(Ordering::SeqCst),
                0,
                "allocations while delivering {N} messages"
            );

            // The counter itself works: an allocation while counting is seen.
            COUNTING.with(|c| c.set(true));
            let v = std::hint::black_box(vec![1u8; 10]);
            COUNTING.with(|c| c.set(false));
            drop(v);
            assert!(ALLOCATIONS.load(Ordering::SeqCst) >= 1);
        })
        .unwrap();
}

/// What the flow-control test's sender saw while corosync answered
/// `CS_ERR_TRY_AGAIN`.
#[derive(Default)]
struct Pushback {
    /// How many sends were answered `TryAgain`.
    try_again: usize,
    /// What `flow_control_enabled` said right after each of them.
    states: Vec<bool>,
}

#[test]
fn retry_carries_multicast_through_flow_control() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            const N: usize = 3000;
            const SIZE: usize = 60 * 1024;
            let group = GroupName::new("under-load").unwrap();
            // The sequence number of each message delivered, and whether
            // every one came whole.
            let seqs = Arc::new(std::sync::Mutex::new(Vec::with_capacity(N)));
            let whole = Arc::new(AtomicUsize::new(0));
            let (s, w) = (seqs.clone(), whole.clone());
            let cpg = Cpg::builder()
                .on_deliver(move |_, m| {
                    s.lock()
                        .unwrap()
                        .push(u64::from_le_bytes(m.data[..8].try_into().unwrap()));
                    if m.data.len() == SIZE && m.data[8..].iter().all(|&b| b == 0x5a) {
                        w.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .connect()
                .unwrap();
            cpg.join(&group).unwrap();

            let mut payload = vec![0x5au8; SIZE];
            let mut seen = Pushback::default();
            let policy =
                Retry::new(1000).delays(Duration::from_millis(1), Duration::from_millis(20));
            for i in 0..N {
                payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
                policy
                    .run_with_sleep(
                        || {
                            let r = cpg.mcast(Guarantee::Agreed, &payload);
                            if r == Err(Error::TryAgain) {
                                seen.try_again += 1;
                                seen.states.push(cpg.flow_control_enabled().unwrap());
                            }
                            r
                        },
                        // While waiting, drain our own deliveries.
                        |pause| {
                            wait_readable(&cpg, pause);
                            cpg.dispatch(DispatchMode::All).unwrap();
                        },
                    )
                    .unwrap();
            }
            let delivered = || seqs.lock().unwrap().len();
            assert!(
                pump_for(&cpg, Duration::from_secs(60), || delivered() >= N),
                "delivered {} of {N}",
                delivered()
            );
            // Flow control was really met, and the retries carried every
            // message through it: each delivered once, whole, in send order.
            assert!(
                seen.try_again >= 1,
                "{N} sends of {SIZE} bytes without dispatching never met flow control"
            );
            assert_eq!(
                *seqs.lock().unwrap(),
                (0..N as u64).collect::<Vec<_>>(),
                "each message once, in send order"
            );
            assert_eq!(whole.load(Ordering::Relaxed), N, "every payload whole");
            // libcpg 3.x answers "disabled" even while it refuses sends
            // (cpg_flow_control_state_get sets CPG_FLOW_CONTROL_DISABLED
            // without asking the daemon), so that is what the bindings must
            // pass on; a sender learns of flow control from TryAgain alone.
            assert_eq!(seen.states.len(), seen.try_again);
            assert!(
                seen.states.iter().all(|&on| !on),
                "flow_control_enabled while TryAgain was answered: {:?}",
                seen.states
            );
            assert!(!cpg.flow_control_enabled().unwrap(), "after the drain");
        })
        .unwrap();
}
