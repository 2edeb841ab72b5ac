//! The async side of the CPG benchmark: the throughput loop of
//! `cpg_bench.rs`, through `corosync::tokio::AsyncCpg` on a current-thread
//! tokio runtime (sends await flow control; a task consumes the event
//! stream). Run by `scripts/bench-cpg.sh` next to the blocking one.
//!
//! ```text
//! cpg_bench_async throughput <size> <count> [--multi-thread] [--window <bytes>]
//! ```
//!
//! With `--multi-thread` the runtime has two worker threads (tokio's
//! default flavour), so the sending and the reading task can run at once.
//! `--window` sets the adapter's send window
//! (`AsyncCpg::set_send_window`) instead of the default, the event ring.
//!
//! The result line counts the messages that came back; the program exits
//! with status 1 if that is not every message sent.

use std::time::Instant;

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent};

#[path = "common/bench.rs"]
mod bench;
use bench::{cpu_seconds, is_message, report_throughput, stamp};

async fn run(size: usize, count: u64, window: Option<usize>) -> corosync::Result<()> {
    let (cpg, mut events) = AsyncCpg::connect().await?;
    if let Some(bytes) = window {
        cpg.set_send_window(bytes);
    }
    cpg.join(&GroupName::new(format!("bench-{}", std::process::id()))?)
        .await?;
    // Wait for our own join.
    while let Some(event) = events.next().await {
        if let CpgEvent::ConfChange { joined, .. } = event? {
            if !joined.is_empty() {
                break;
            }
        }
    }
    // Counts what really comes back, checking each message's size and
    // sequence number.
    let consumer = tokio::spawn(async move {
        let mut delivered = 0u64;
        let mut out_of_order = 0u64;
        while delivered < count {
            match events.next().await {
                Some(Ok(CpgEvent::Message { data, .. })) => {
                    if !is_message(&data, size, delivered) {
                        out_of_order += 1;
                    }
                    delivered += 1;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok((delivered, out_of_order))
    });
    let t0 = Instant::now();
    let c0 = cpu_seconds();
    let mut buf = vec![0u8; size];
    for seq in 0..count {
        stamp(&mut buf, seq);
        cpg.mcast(Guarantee::Agreed, &buf).await?;
    }
    let (delivered, out_of_order) = consumer.await.expect("consumer task")?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    report_throughput(
        "rust-async",
        size,
        count,
        delivered,
        secs,
        cpu,
        out_of_order,
    );
    Ok(())
}

fn main() -> corosync::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!(
            "usage: cpg_bench_async throughput <size> <count> [--multi-thread] [--window <bytes>]"
        );
        std::process::exit(2);
    };
    if args.len() < 4 || args[1] != "throughput" {
        usage();
    }
    let size: usize = args[2].parse().unwrap_or_else(|_| usage());
    let count: u64 = args[3].parse().unwrap_or_else(|_| usage());
    let (mut multi, mut window) = (false, None);
    let mut rest = args[4..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--multi-thread" => multi = true,
            "--window" => {
                window = Some(
                    rest.next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    let mut builder = if multi {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = builder.enable_all().build().expect("runtime");
    rt.block_on(run(size, count, window))
}
