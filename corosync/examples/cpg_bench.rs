//! The Rust side of the CPG benchmark: the same loops as the plain C program
//! tests/c/cpg_bench.c, through the safe API. Run both side by side with
//! `scripts/bench-cpg.sh` (see BENCHMARKS.md).
//!
//! ```text
//! cpg_bench throughput <size> <count>
//! cpg_bench throughput-drain <size> <count>
//! cpg_bench throughput-window <size> <count> [<window bytes>]
//! cpg_bench latency <size> <count>
//! ```
//!
//! `throughput` sends until corosync says TRY_AGAIN and only then reads
//! what came back, as the C program does. `throughput-drain` also reads
//! whenever the descriptor is readable between sends, as a program with
//! an event loop would. `throughput-window` paces itself as
//! `corosync::tokio::AsyncCpg` does: it sends while its own messages on the
//! way fit in the event ring, then reads until all have come back; a
//! fourth argument sets another window (BENCHMARKS.md lists windows past
//! the ring, which let corosync queue the rest). The async benchmark is
//! compared with all three.
//!
//! A throughput line counts the messages that came back (each checked for
//! its size and sequence number); the program exits with status 1 if that
//! is not every message sent.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::{DispatchMode, Error};

#[path = "common/bench.rs"]
mod bench;
use bench::{cpu_seconds, is_message, report_throughput, stamp};

/// Waits up to `ms` milliseconds for `fd` to be readable; says whether it
/// is.
fn poll(fd: i32, ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("", String::as_str);
    if !(args.len() == 4 || args.len() == 5 && mode == "throughput-window") {
        eprintln!(
            "usage: cpg_bench throughput|throughput-drain|throughput-window|latency <size> <count>\n       \
             cpg_bench throughput-window <size> <count> <window bytes>"
        );
        std::process::exit(2);
    }
    let size: usize = args[2].parse().expect("size");
    let count: u64 = args[3].parse().expect("count");
    let mut buf = vec![0u8; size];

    let delivered = Arc::new(AtomicU64::new(0));
    let out_of_order = Arc::new(AtomicU64::new(0));
    let joined = Arc::new(AtomicBool::new(false));
    let (d, o, j) = (delivered.clone(), out_of_order.clone(), joined.clone());
    let cpg = Cpg::builder()
        .on_deliver(move |_, m| {
            let n = d.load(Ordering::Relaxed);
            if !is_message(m.data, size, n) {
                o.fetch_add(1, Ordering::Relaxed);
            }
            d.store(n + 1, Ordering::Relaxed);
        })
        .on_confchg(move |_, c| {
            if !c.joined.is_empty() {
                j.store(true, Ordering::Relaxed);
            }
        })
        .connect()?;
    let group = GroupName::new(format!("bench-{}", std::process::id()))?;
    cpg.join(&group)?;
    let fd = cpg.as_raw_fd();
    while !joined.load(Ordering::Relaxed) {
        poll(fd, 100);
        cpg.dispatch(DispatchMode::All)?;
    }

    let throughput = match mode {
        "throughput" => Some("rust"),
        "throughput-drain" => Some("rust-drain"),
        "throughput-window" => Some("rust-window"),
        _ => None,
    };
    if let Some(name) = throughput {
        let mut sent = 0u64;
        let t0 = Instant::now();
        let c0 = cpu_seconds();
        if mode == "throughput-window" {
            let ring = match args.get(4) {
                Some(bytes) => bytes.parse().expect("window bytes"),
                // The adapter's estimates: the ring is the atomic size plus
                // libcpg's 1 KiB of headers; an event is the payload rounded
                // up to 4 bytes plus 192 bytes of headers.
                None => cpg.max_atomic_msgsize()? + 1024,
            };
            let per = size.next_multiple_of(4) + 192;
            while sent < count {
                let ahead = (sent - delivered.load(Ordering::Relaxed)) as usize * per;
                if ahead > 0 && ahead + per > ring {
                    let deadline = Instant::now() + std::time::Duration::from_secs(60);
                    while delivered.load(Ordering::Relaxed) < sent {
                        if Instant::now() > deadline {
                            eprintln!("cpg_bench: messages not delivered within 60 s");
                            std::process::exit(1);
                        }
                        poll(fd, 1);
                        cpg.dispatch(DispatchMode::All)?;
                    }
                }
                stamp(&mut buf, sent);
                match cpg.mcast(Guarantee::Agreed, &buf) {
                    Ok(()) => sent += 1,
                    Err(Error::TryAgain) => {
                        poll(fd, 1);
                        cpg.dispatch(DispatchMode::All)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            while delivered.load(Ordering::Relaxed) < count {
                poll(fd, 100);
                cpg.dispatch(DispatchMode::All)?;
            }
        } else {
            let drain = mode == "throughput-drain";
            while delivered.load(Ordering::Relaxed) < count {
                let mut blocked = false;
                while sent < count {
                    stamp(&mut buf, sent);
                    match cpg.mcast(Guarantee::Agreed, &buf) {
                        Ok(()) => {
                            sent += 1;
                            if drain && poll(fd, 0) {
                                cpg.dispatch(DispatchMode::All)?;
                            }
                        }
                        Err(Error::TryAgain) => {
                            blocked = true;
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                // Flow control lifts without an event on our descriptor, so
                // a blocked sender waits 1 ms at most before trying again.
                if blocked {
                    poll(fd, 1);
                } else if sent == count {
                    poll(fd, 100);
                }
                cpg.dispatch(DispatchMode::All)?;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        report_throughput(
            name,
            size,
            sent,
            delivered.load(Ordering::Relaxed),
            secs,
            cpu,
            out_of_order.load(Ordering::Relaxed),
        );
    } else {
        let mut rtt = Vec::with_capacity(count as usize);
        for i in 0..count {
            let start = Instant::now();
            stamp(&mut buf, delivered.load(Ordering::Relaxed));
            loop {
                match cpg.mcast(Guarantee::Agreed, &buf) {
                    Err(Error::TryAgain) => cpg.dispatch(DispatchMode::All)?,
                    other => break other?,
                }
            }
            while delivered.load(Ordering::Relaxed) <= i {
                cpg.dispatch(DispatchMode::One)?;
            }
            rtt.push(start.elapsed().as_secs_f64() * 1e6);
        }
        rtt.sort_by(f64::total_cmp);
        let mean = rtt.iter().sum::<f64>() / count as f64;
        println!(
            "impl=rust mode=latency size={size} count={count} mean_us={mean:.2} p50_us={:.2} p99_us={:.2} out_of_order={}",
            rtt[count as usize / 2],
            rtt[(count as f64 * 0.99) as usize],
            out_of_order.load(Ordering::Relaxed)
        );
    }
    cpg.finalize()
}
