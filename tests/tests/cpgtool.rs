//! The Rust `cpgtool` example and corosync's `corosync-cpgtool`, run against
//! the same live cluster, print the same thing and exit the same way.

use std::process::{Command, Output, Stdio};

use corosync::cpg::GroupName;
use corosync_tests::{example_binary, hex, Cluster, Node};

/// A `cpg-member` process holding a group on a node; killed on drop.
struct Member(std::process::Child);

impl Member {
    fn start(node: &Node, group: &GroupName) -> Member {
        use std::io::BufRead;
        let mut child = node
            .command(env!("CARGO_BIN_EXE_cpg-member"))
            .unwrap()
            .arg(hex(group.as_bytes()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("ready"), "{line:?}");
        Member(child)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
        members.push(Member::start(cluster.node(0), group));
        if i % 2 == 0 {
            members.push(Member::start(cluster.node(1), group));
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
