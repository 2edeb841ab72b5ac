//! The Rust `cpgtool` (corosync-tools) and corosync's `corosync-cpgtool`,
//! run against the same live cluster, print the same thing and exit the
//! same way.

use corosync::cpg::GroupName;
use corosync_tests::parity::ToolPair;
use corosync_tests::{Cluster, CpgMember, Node};

fn start_member(node: &Node, group: &GroupName) -> CpgMember {
    CpgMember::start(node, env!("CARGO_BIN_EXE_cpg-member"), group.as_bytes())
}

#[test]
fn cpgtool_matches_corosync_cpgtool() {
    let cluster = Cluster::new(2).expect("cluster");
    let groups = [
        GroupName::new("alpha").unwrap(),
        GroupName::new("beta").unwrap(),
        GroupName::with_nul("crmd").unwrap(),
        GroupName::new(b"odd\x01\x7f\x80\xff\\ name\n").unwrap(),
    ];
    let mut members = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        members.push(start_member(cluster.node(0), group));
        if i % 2 == 0 {
            members.push(start_member(cluster.node(1), group));
        }
    }
    let cpgtool = ToolPair::new("corosync-cpgtool", "cpgtool").unwrap();

    let cases: &[&[&str]] = &[
        &[],
        &["-n"],
        &["-e"],
        &["-e", "-n"],
        &["-en"],
        &["-d", ","],
        &["-d;"],
        &["-d", ",", "-n"],
        &["-d", ":", "-e"],
        &["-d", ""],
        &["-h"],
        &["-h", "-x"],
        &["-x"],
        &["-x", "-h"],
        &["-n", "-y", "-z"],
        &["--help"],
        &["-:"],
        &["-d"],
        &["-n", "extra", "operands"],
    ];
    for node in cluster.nodes() {
        cpgtool.assert_all_same_on(node, cases);
    }
    // The comparison covered real content: every group and both nodes'
    // addresses are in the default output.
    let full = cpgtool.run(cluster.node(0), cpgtool.c_tool(), &[]);
    let text = String::from_utf8_lossy(&full.stdout);
    assert!(
        text.contains("alpha") && text.contains("crmd\\x00") && text.contains("\\xFFFFFF80"),
        "{text}"
    );
    assert!(
        text.contains("10.213.7.1") && text.contains("10.213.7.2"),
        "{text}"
    );
    drop(members);
}
