//! An EVS handle in a process of its own, driven through stdin, for tests
//! that need several EVS handles on one node (corosync lets a process hold
//! one per daemon).
//!
//! Usage: `evs-member <group>[,<group>...]`. Joins the groups and prints
//! `ready <nodeid> <pid>`. Per line on stdin: `send <hex>` multicasts to the
//! joined groups, `sendto <group>[,...] <hex>` to the listed groups,
//! `leave <group>` leaves one, `exit` finalizes and exits. Every delivery is
//! printed as `msg <nodeid> <pid> <hex>`, configuration changes as
//! `conf <members> left <left>`.

use std::io::{IoSlice, Write};
use std::sync::mpsc;

use corosync::cpg::Guarantee;
use corosync::evs::{Evs, EvsGroup};
use corosync::DispatchMode;
use corosync_tests::hex;

fn groups(list: &str) -> Vec<EvsGroup> {
    list.split(',')
        .map(|g| EvsGroup::new(g).expect("group"))
        .collect()
}

fn ids(list: &[corosync::NodeId]) -> String {
    list.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn main() {
    let joined = groups(&std::env::args().nth(1).expect("groups"));
    let evs = Evs::builder()
        .on_deliver(|_, m| {
            println!("msg {} {} {}", m.nodeid, m.pid, hex(m.data));
            std::io::stdout().flush().unwrap();
        })
        .on_confchg(|_, c| {
            println!("conf {} left {}", ids(c.members), ids(c.left));
            std::io::stdout().flush().unwrap();
        })
        .connect()
        .expect("evs connect");
    evs.join(&joined).expect("join");
    println!(
        "ready {} {}",
        evs.membership().expect("membership").0,
        std::process::id()
    );
    std::io::stdout().flush().unwrap();

    let rx = corosync_tests::lines_of(std::io::stdin());
    loop {
        corosync_tests::wait_readable(&evs, std::time::Duration::from_millis(20));
        if let Err(e) = evs.dispatch(DispatchMode::All) {
            // The daemon went away (a test killed the node).
            println!("dispatch error {e:?}");
            return;
        }
        match rx.try_recv() {
            Ok(line) => {
                let parts: Vec<&str> = line.split(' ').collect();
                match parts.as_slice() {
                    ["send", data] => {
                        let data = corosync_tests::unhex(data).expect("hex");
                        corosync::retry(|| {
                            evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(&data)])
                        })
                        .expect("send")
                    }
                    ["sendto", to, data] => {
                        let data = corosync_tests::unhex(data).expect("hex");
                        corosync::retry(|| {
                            evs.mcast_groups(Guarantee::Agreed, &groups(to), &[IoSlice::new(&data)])
                        })
                        .expect("sendto")
                    }
                    ["leave", group] => {
                        evs.leave(&groups(group)).expect("leave");
                        println!("left {group}");
                    }
                    ["exit"] => {
                        evs.finalize().expect("finalize");
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
