//! A member of the fault checker (`scripts/chaos.sh`) written with the
//! safe API's tokio adapter: one task reads the event stream and records
//! it, another multicasts. Same arguments, output, record and ending as
//! `chaos-member`; its record's kind is `tokio`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent};
use corosync::Error;
use corosync_tests::chaos::payload::{self, Verdict};
use corosync_tests::chaos::record::Recorder;
use corosync_tests::chaos::{Rng, Traffic};
use corosync_tests::unhex;

type Rec = Arc<Mutex<Recorder<BufWriter<File>>>>;

/// Records `e` and exits with status 3.
fn fail(rec: &Rec, e: &Error) -> ! {
    // (The exit status is the report if even this fails.)
    let _ = rec.lock().unwrap().error(&format!("{e:?}"));
    std::process::exit(3)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, group, file, seed, pace, sizes] = args.as_slice() else {
        panic!("usage: chaos-member-tokio <name> <group hex> <record file> <seed> <pace> <sizes>");
    };
    let traffic = Traffic::parse(pace, sizes).expect("traffic");
    let group = GroupName::new(unhex(group).expect("group hex")).expect("group name");
    let mut rng = Rng::new(seed.parse().expect("seed"));
    let pid = std::process::id();
    let (cpg, mut events) = AsyncCpg::connect().await.expect("cpg connect");
    let nodeid = cpg.local_nodeid().await.expect("local node id").get();
    let atomic = cpg
        .with(|c| c.max_atomic_msgsize())
        .expect("max atomic message size");
    let out = BufWriter::new(File::create(file).expect("create the record file"));
    let rec: Rec = Arc::new(Mutex::new(
        Recorder::new(out, name, "tokio", (nodeid, pid), Some(atomic)).expect("write the record"),
    ));
    let own = Arc::new(AtomicU64::new(0));
    let reader = {
        let (rec, own) = (rec.clone(), own.clone());
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let mut r = rec.lock().unwrap();
                let written = match event {
                    Ok(CpgEvent::Message {
                        nodeid: from,
                        pid: from_pid,
                        data,
                        ..
                    }) => r.deliver(from.get(), from_pid, data.as_slice()).map(|v| {
                        if let (true, Verdict::Ok(seq)) = (from_pid == pid, v) {
                            own.fetch_max(seq, Ordering::Relaxed);
                        }
                    }),
                    Ok(CpgEvent::ConfChange { members, .. }) => {
                        let mut m: Vec<_> = members
                            .iter()
                            .map(|a| (a.nodeid().get(), a.pid()))
                            .collect();
                        r.conf(&mut m)
                    }
                    Ok(CpgEvent::TotemConfChange { ring_id, .. }) => {
                        r.ring(ring_id.seq, ring_id.nodeid.get())
                    }
                    Ok(CpgEvent::Reconnected(_)) => {
                        unreachable!("the adapter was made without a reconnect policy")
                    }
                    Err(e) => {
                        drop(r);
                        fail(&rec, &e)
                    }
                };
                written.and_then(|()| r.flush()).expect("write the record");
            }
        })
    };
    cpg.join(&group).await.expect("join");
    println!("ready {nodeid} {pid}");
    std::io::stdout().flush().unwrap();

    let (exit_tx, mut exit_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        for line in corosync_tests::lines_of(std::io::stdin()) {
            if line == "exit" {
                break;
            }
        }
        // (The receiver is gone only if the member already ends.)
        let _ = exit_tx.send(());
    });
    let mut seq = 0;
    let mut last_sent = 0;
    loop {
        let pause = traffic.pause(&mut rng);
        tokio::select! {
            _ = &mut exit_rx => break,
            () = tokio::time::sleep(pause) => {}
        }
        let next = seq + 1;
        let msg = payload::encode(nodeid, pid, next, traffic.message_size(&mut rng, atomic));
        match cpg.mcast(Guarantee::Agreed, &msg).await {
            Ok(()) => {
                seq = next;
                last_sent = next;
                rec.lock().unwrap().sent(next).expect("write the record");
            }
            // libqb gave up waiting for a stalled daemon: the message may
            // or may not go out; its number is not used again.
            Err(Error::Interrupt) => seq = next,
            Err(e) => fail(&rec, &e),
        }
    }
    // Stop sending; wait up to 60 s for the last own message.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while own.load(Ordering::Relaxed) < last_sent {
        if tokio::time::Instant::now() >= deadline {
            // (The exit status is the report if even this fails.)
            let _ = rec
                .lock()
                .unwrap()
                .error("own messages did not come back within 60 s");
            std::process::exit(4);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rec.lock().unwrap().end().expect("write the record");
    reader.abort();
    // (Leaving is best effort: the record is complete.)
    let _ = cpg.leave(&group).await;
}
