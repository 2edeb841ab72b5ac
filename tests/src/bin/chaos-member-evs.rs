//! An EVS member of the fault checker (`scripts/chaos.sh`): one
//! `corosync::evs::Evs` handle in two of the groups `chaos-a`, `chaos-b`,
//! `chaos-c` (by its seed), so that members' groups overlap. It multicasts
//! to one of its groups or to both, and records as `chaos-member` does,
//! with kind `evs`; EVS configuration changes are about nodes, so they are
//! recorded as `ring` lines only (no `conf`).
//!
//! Usage: `chaos-member-evs <name> <unused group hex> <record file>
//! <seed> <pace> <sizes>`; output, `exit` and errors as for
//! `chaos-member`. Messages are at most 128 KiB (the sizes' "fragmented"
//! share is 64 to 128 KiB here).

use std::fs::File;
use std::io::{BufWriter, IoSlice, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cpg::Guarantee;
use corosync::evs::{Evs, EvsGroup};
use corosync::{DispatchMode, Error};
use corosync_tests::chaos::payload::{self, Verdict};
use corosync_tests::chaos::record::Recorder;
use corosync_tests::chaos::{Rng, Traffic};
use corosync_tests::wait_readable;

type Rec = Arc<Mutex<Option<Recorder<BufWriter<File>>>>>;

fn with(rec: &Rec, f: impl FnOnce(&mut Recorder<BufWriter<File>>) -> std::io::Result<()>) {
    if let Some(r) = rec.lock().unwrap().as_mut() {
        f(r).expect("write the record");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, _group, file, seed, pace, sizes] = args.as_slice() else {
        panic!("usage: chaos-member-evs <name> <group hex> <record file> <seed> <pace> <sizes>");
    };
    let traffic = Traffic::parse(pace, sizes).expect("traffic");
    let mut rng = Rng::new(seed.parse().expect("seed"));
    let names = ["chaos-a", "chaos-b", "chaos-c"];
    let first = rng.range(0, 2) as usize;
    let groups = [
        EvsGroup::new(names[first]).expect("group"),
        EvsGroup::new(names[(first + 1) % 3]).expect("group"),
    ];
    let pid = std::process::id();
    let out = BufWriter::new(File::create(file).expect("create the record file"));
    let rec: Rec = Arc::default();
    let own = Arc::new(AtomicU64::new(0));
    let (r1, r2, own1) = (rec.clone(), rec.clone(), own.clone());
    let evs = Evs::builder()
        .on_deliver(move |_, m| {
            with(&r1, |r| {
                let verdict = r.deliver(m.nodeid.get(), m.pid, m.data)?;
                if let (true, Verdict::Ok(seq)) = (m.pid == pid, verdict) {
                    own1.fetch_max(seq, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .on_confchg(move |_, c| with(&r2, |r| r.ring(c.ring_id.seq, c.ring_id.nodeid.get())))
        .connect()
        .expect("evs connect");
    let nodeid = evs.membership().expect("membership").0.get();
    *rec.lock().unwrap() =
        Some(Recorder::new(out, name, "evs", (nodeid, pid), None).expect("write the record"));
    evs.join(&groups).expect("join");
    println!("ready {nodeid} {pid}");
    std::io::stdout().flush().unwrap();

    let fail = |e: Error| -> ! {
        if let Some(r) = rec.lock().unwrap().as_mut() {
            // (The exit status is the report if even this fails.)
            let _ = r.error(&format!("{e:?}"));
        }
        std::process::exit(3)
    };
    let stdin = corosync_tests::lines_of(std::io::stdin());
    let (mut seq, mut last_sent) = (0u64, 0u64);
    let mut next_send = Instant::now();
    let mut ending: Option<Instant> = None;
    loop {
        let wait = next_send
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        if wait_readable(&evs, wait) {
            if let Err(e) = evs.dispatch(DispatchMode::All) {
                fail(e);
            }
        }
        with(&rec, |r| r.flush());
        if ending.is_none() && stdin.try_recv().is_ok_and(|l| l == "exit") {
            ending = Some(Instant::now() + Duration::from_secs(60));
        }
        if let Some(deadline) = ending {
            if own.load(Ordering::Relaxed) >= last_sent {
                with(&rec, |r| r.end());
                break;
            }
            if Instant::now() >= deadline {
                with(&rec, |r| {
                    r.error("own messages did not come back within 60 s")
                });
                std::process::exit(4);
            }
            continue;
        }
        if Instant::now() >= next_send {
            let next = seq + 1;
            let msg = payload::encode(nodeid, pid, next, traffic.message_size(&mut rng, 64 * 1024));
            let to: &[EvsGroup] = match rng.range(0, 2) {
                0 => &groups[..1],
                1 => &groups[1..],
                _ => &groups,
            };
            match evs.mcast_groups(Guarantee::Agreed, to, &[IoSlice::new(&msg)]) {
                Ok(()) => {
                    seq = next;
                    last_sent = next;
                    with(&rec, |r| r.sent(next));
                }
                Err(Error::TryAgain) => {}
                // libqb gave up waiting for a stalled daemon: the message
                // may or may not go out; its number is not used again.
                Err(Error::Interrupt) => seq = next,
                Err(e) => fail(e),
            }
            next_send = Instant::now() + traffic.pause(&mut rng);
        }
    }
    // (Leaving is best effort: the record is complete.)
    let _ = evs.leave(&groups);
    evs.finalize().expect("finalize");
}
