//! Starts a corosync cluster of N nodes (default 1) with the test harness
//! and keeps it running until stdin closes or a line is read, so programs
//! can be tried against it by hand: `ip netns exec <namespace> <program>`.

use std::io::BufRead;

use corosync_tests::Cluster;

fn main() {
    let nodes = std::env::args()
        .nth(1)
        .map_or(1, |n| n.parse().expect("number of nodes"));
    let cluster = match Cluster::new(nodes) {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    for node in cluster.nodes() {
        println!(
            "node {}: namespace {}, pid {}",
            node.nodeid(),
            node.netns().name(),
            node.pid().unwrap_or(0)
        );
    }
    println!("running; press Enter (or close stdin) to stop");
    let _ = std::io::stdin().lock().lines().next();
}
