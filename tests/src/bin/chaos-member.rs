//! A member of the fault checker (`scripts/chaos.sh`), written with the
//! safe API's blocking handle.
//!
//! Usage: `chaos-member <name> <group hex> <record file> <seed> <pace>
//! <sizes>` (the last two as `chaos::Traffic::parse` reads them). It joins
//! the group, prints `ready <nodeid> <pid>`, and multicasts a message of
//! `Traffic::message_size` after each `Traffic::pause` (skipping a beat on
//! `TRY_AGAIN`), recording every event to the file (see `chaos::record`).
//! On `exit` on stdin it stops sending, waits (up to 60 s) for its own
//! last message to come back, records `end`, and leaves. `Interrupt` from
//! a send (libqb gave up waiting for a stalled daemon) is not recorded as
//! sent and its sequence number is not used again; on any other error from
//! corosync it records `error` and exits with status 3.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::{DispatchMode, Error};
use corosync_tests::chaos::payload::{self, Verdict};
use corosync_tests::chaos::record::Recorder;
use corosync_tests::chaos::{Rng, Traffic};
use corosync_tests::{unhex, wait_readable};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, group, file, seed, pace, sizes] = args.as_slice() else {
        panic!("usage: chaos-member <name> <group hex> <record file> <seed> <pace> <sizes>");
    };
    let traffic = Traffic::parse(pace, sizes).expect("traffic");
    let group = GroupName::new(unhex(group).expect("group hex")).expect("group name");
    let mut rng = Rng::new(seed.parse().expect("seed"));
    let pid = std::process::id();
    let out = BufWriter::new(File::create(file).expect("create the record file"));
    // The node id is known once connected; the recorder starts after.
    let slot: Arc<Mutex<Option<Recorder<BufWriter<File>>>>> = Arc::default();
    let own = Arc::new(AtomicU64::new(0));
    let (s1, s2, s3, own1) = (slot.clone(), slot.clone(), slot.clone(), own.clone());
    let write =
        |slot: &Arc<Mutex<Option<Recorder<BufWriter<File>>>>>,
         f: &mut dyn FnMut(&mut Recorder<BufWriter<File>>) -> std::io::Result<()>| {
            if let Some(rec) = slot.lock().unwrap().as_mut() {
                f(rec).expect("write the record");
            }
        };
    let cpg = Cpg::builder()
        .on_deliver(move |_, m| {
            write(&s1, &mut |rec| {
                let verdict = rec.deliver(m.nodeid.get(), m.pid, m.data)?;
                if let (true, Verdict::Ok(seq)) = (m.pid == pid, verdict) {
                    own1.fetch_max(seq, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .on_confchg(move |_, ch| {
            let mut members: Vec<_> = ch
                .members
                .iter()
                .map(|a| (a.nodeid().get(), a.pid()))
                .collect();
            write(&s2, &mut |rec| rec.conf(&mut members))
        })
        .on_totem_confchg(move |_, t| {
            write(&s3, &mut |rec| {
                rec.ring(t.ring_id.seq, t.ring_id.nodeid.get())
            })
        })
        .deliver_initial_totem_conf(true)
        .connect()
        .expect("cpg connect");
    let nodeid = cpg.local_nodeid().expect("local node id").get();
    let atomic = cpg.max_atomic_msgsize().expect("max atomic message size");
    *slot.lock().unwrap() = Some(
        Recorder::new(out, name, "rust", (nodeid, pid), Some(atomic)).expect("write the record"),
    );
    cpg.join(&group).expect("join");
    println!("ready {nodeid} {pid}");
    std::io::stdout().flush().unwrap();

    let fail = |e: Error| -> ! {
        if let Some(rec) = slot.lock().unwrap().as_mut() {
            // (The exit status is the report if even this fails.)
            let _ = rec.error(&format!("{e:?}"));
        }
        std::process::exit(3)
    };
    let stdin = corosync_tests::lines_of(std::io::stdin());
    let seq = Cell::new(0u64);
    let mut last_sent = 0;
    let mut next_send = Instant::now();
    let mut ending: Option<Instant> = None;
    loop {
        let wait = next_send
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        if wait_readable(&cpg, wait) {
            if let Err(e) = cpg.dispatch(DispatchMode::All) {
                fail(e);
            }
        }
        write(&slot, &mut |rec| rec.flush());
        if ending.is_none() && stdin.try_recv().is_ok_and(|l| l == "exit") {
            ending = Some(Instant::now() + Duration::from_secs(60));
        }
        if let Some(deadline) = ending {
            if own.load(Ordering::Relaxed) >= last_sent {
                write(&slot, &mut |rec| rec.end());
                break;
            }
            if Instant::now() >= deadline {
                write(&slot, &mut |rec| {
                    rec.error("own messages did not come back within 60 s")
                });
                std::process::exit(4);
            }
            continue;
        }
        if Instant::now() >= next_send {
            let next = seq.get() + 1;
            let msg = payload::encode(nodeid, pid, next, traffic.message_size(&mut rng, atomic));
            match cpg.mcast(Guarantee::Agreed, &msg) {
                Ok(()) => {
                    seq.set(next);
                    last_sent = next;
                    write(&slot, &mut |rec| rec.sent(next));
                }
                Err(Error::TryAgain) => {}
                // libqb gave up waiting for a stalled daemon: the message
                // may or may not go out; its number is not used again.
                Err(Error::Interrupt) => seq.set(next),
                Err(e) => fail(e),
            }
            next_send = Instant::now() + traffic.pause(&mut rng);
        }
    }
    // (Leaving is best effort: the record is complete.)
    let _ = cpg.leave(&group);
    cpg.finalize().expect("finalize");
}
