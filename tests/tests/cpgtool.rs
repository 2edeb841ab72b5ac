//! The Rust `cpgtool` example and corosync's `corosync-cpgtool`, run against
//! the same live cluster, print the same thing and exit the same way.

use std::process::{Command, Output};

use corosync::cpg::GroupName;
use corosync_tests::{example_binary, Cluster, CpgMember, Node};

fn start_member(node: &Node, group: &GroupName) -> CpgMember {
    CpgMember::start(node, env!("CARGO_BIN_EXE_cpg-member"), group.as_bytes())
}

fn run(node: &Node, program: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd: Command = node.command(program.to_str().unwrap()).unwrap();
    cmd.args(args).output().unwrap()
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
    // Our tool under the C tool's name, so that -h prints the same name.
    let ours = example_binary("cpgtool").unwrap();
    let dir = cluster.dir().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let renamed = dir.join("corosync-cpgtool");
    std::fs::copy(&ours, &renamed).unwrap();
    let theirs = std::path::Path::new("corosync-cpgtool");

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
        &["-x"],
        &["-d"],
        &["-n", "extra", "operands"],
    ];
    for node in cluster.nodes() {
        for args in cases {
            let want = run(node, theirs, args);
            let got = run(node, &renamed, args);
            assert_eq!(
                got.status.code(),
                want.status.code(),
                "exit status for {args:?} on node {}",
                node.nodeid()
            );
            assert!(
                got.stdout == want.stdout,
                "output for {args:?} on node {}:\n--- corosync-cpgtool\n{}\n--- ours\n{}",
                node.nodeid(),
                String::from_utf8_lossy(&want.stdout),
                String::from_utf8_lossy(&got.stdout)
            );
        }
    }
    // The comparison covered real content: every group and both nodes'
    // addresses are in the default output.
    let full = run(cluster.node(0), theirs, &[]);
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
