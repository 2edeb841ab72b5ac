//! A CPG member in a process of its own, driven through stdin, for tests
//! that need a second process in a group (to see it join, leave, or die).
//!
//! Usage: `cpg-member <group as hex>`. It joins the group and prints
//! `ready <nodeid> <pid>`. Then, per line on stdin: `send <hex>` multicasts
//! the bytes, `flood <count> <size>` multicasts `count` messages of `size`
//! bytes that start with their number (u64, little-endian), waiting out
//! flow control, and prints `flooded`, `leave` leaves the group and prints
//! `left`, `quiet` stops printing messages and prints `quiet`, `exit`
//! finalizes and exits. Every delivered message is printed as
//! `msg <nodeid> <pid> <hex>`, except this process's own once it has
//! flooded, and all of them once it is quiet. While it floods it reads the
//! events as they come, so corosync need not hold them for it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::{DispatchMode, Error};
use corosync_tests::{hex, unhex};

fn main() {
    let group = GroupName::new(unhex(&std::env::args().nth(1).expect("group hex")).expect("hex"))
        .expect("name");
    // Set once this process has flooded: its own messages are not printed.
    static FLOODED: AtomicBool = AtomicBool::new(false);
    // Set by `quiet`: no message is printed (a test that does not read
    // this process's output while it multicasts much itself).
    static QUIET: AtomicBool = AtomicBool::new(false);
    let me = std::process::id();
    let cpg = Cpg::builder()
        .on_deliver(move |_, m| {
            if QUIET.load(Ordering::Relaxed) || (m.pid == me && FLOODED.load(Ordering::Relaxed)) {
                return;
            }
            println!("msg {} {} {}", m.nodeid, m.pid, hex(m.data));
            std::io::stdout().flush().unwrap();
        })
        .connect()
        .expect("cpg connect");
    cpg.join(&group).expect("join");
    println!(
        "ready {} {}",
        cpg.local_nodeid().expect("local"),
        std::process::id()
    );
    std::io::stdout().flush().unwrap();

    let rx = corosync_tests::lines_of(std::io::stdin());
    loop {
        corosync_tests::wait_readable(&cpg, std::time::Duration::from_millis(20));
        cpg.dispatch(DispatchMode::All).expect("dispatch");
        match rx.try_recv() {
            Ok(line) => {
                let mut parts = line.splitn(2, ' ');
                match (parts.next(), parts.next()) {
                    (Some("send"), Some(data)) => cpg
                        .mcast(Guarantee::Agreed, &unhex(data).expect("hex"))
                        .expect("mcast"),
                    (Some("flood"), Some(args)) => {
                        let (count, size) = args.split_once(' ').expect("flood <count> <size>");
                        let (count, size): (u64, usize) =
                            (count.parse().expect("count"), size.parse().expect("size"));
                        FLOODED.store(true, Ordering::Relaxed);
                        let mut buf = vec![0u8; size.max(8)];
                        let deadline = Instant::now() + Duration::from_secs(60);
                        for seq in 0..count {
                            buf[..8].copy_from_slice(&seq.to_le_bytes());
                            loop {
                                match cpg.mcast(Guarantee::Agreed, &buf) {
                                    Err(Error::TryAgain) if Instant::now() < deadline => {
                                        corosync_tests::wait_readable(
                                            &cpg,
                                            Duration::from_millis(1),
                                        );
                                    }
                                    other => break other.expect("mcast"),
                                }
                                cpg.dispatch(DispatchMode::All).expect("dispatch");
                            }
                            // Its own messages, as they come back.
                            if corosync_tests::wait_readable(&cpg, Duration::ZERO) {
                                cpg.dispatch(DispatchMode::All).expect("dispatch");
                            }
                        }
                        println!("flooded");
                    }
                    (Some("leave"), _) => {
                        cpg.leave(&group).expect("leave");
                        println!("left");
                    }
                    (Some("quiet"), _) => {
                        QUIET.store(true, Ordering::Relaxed);
                        println!("quiet");
                    }
                    (Some("exit"), _) => {
                        cpg.finalize().expect("finalize");
                        return;
                    }
                    _ => panic!("unknown command {line:?}"),
                }
                std::io::stdout().flush().unwrap();
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => return,
        }
    }
}
