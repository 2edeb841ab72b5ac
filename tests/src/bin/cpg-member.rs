//! A CPG member in a process of its own, driven through stdin, for tests
//! that need a second process in a group (to see it join, leave, or die).
//!
//! Usage: `cpg-member <group as hex>`. It joins the group and prints
//! `ready <nodeid> <pid>`. Then, per line on stdin: `send <hex>` multicasts
//! the bytes, `leave` leaves the group and prints `left`, `exit` finalizes
//! and exits. Every delivered message is printed as `msg <nodeid> <pid>
//! <hex>`.

use std::io::Write;
use std::sync::mpsc;

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::DispatchMode;
use corosync_tests::{hex, unhex};

fn main() {
    let group = GroupName::new(unhex(&std::env::args().nth(1).expect("group hex")).expect("hex"))
        .expect("name");
    let cpg = Cpg::builder()
        .on_deliver(|_, m| {
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
                    (Some("leave"), _) => {
                        cpg.leave(&group).expect("leave");
                        println!("left");
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
