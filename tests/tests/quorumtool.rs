//! The Rust `quorumtool` (corosync-tools) and corosync's
//! `corosync-quorumtool`, run against the same live three-node cluster,
//! healthy and with a node down, print the same thing (the date line
//! aside) and exit the same way.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use corosync::votequorum::Votequorum;
use corosync::NodeId;
use corosync_tests::parity::ToolPair;
use corosync_tests::Cluster;

const C_TOOL: &str = "corosync-quorumtool";

/// Both tools, compared without the "Date:" line, which differs by the
/// second.
fn quorumtool() -> ToolPair {
    ToolPair::new(C_TOOL, "quorumtool")
        .unwrap()
        .ignoring_lines_starting_with("Date:")
}

const READ_CASES: &[&[&str]] = &[
    &[],
    &["-s"],
    &["-l"],
    &["-s", "-p"],
    &["-l", "-p"],
    &["-H"],
    &["-l", "-H"],
    &["-i"],
    &["-l", "-i"],
    &["-a"],
    &["-l", "-a", "-i"],
    &["-o", "i"],
    &["-l", "-o", "n"],
    &["-l", "-o", "a"],
    &["-lpHi"],
    &["-o", "x"],
    &["-e", "0"],
    &["-e", "abc"],
    &["-v", "-1"],
    &["-n", "0", "-v", "1"],
    &["-x"],
    &["-h"],
    &["-V"],
];

#[test]
fn quorumtool_matches_corosync_quorumtool() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let tools = quorumtool();
    let ours = tools.ours();

    // Healthy.
    tools.assert_all_same_on_nodes(&cluster, &[0, 1, 2], READ_CASES);
    let status = tools.run(cluster.node(0), C_TOOL, &["-s"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("Quorate:          Yes") && text.contains("node3"),
        "{text}"
    );

    // A node down: still quorate; then two down: not quorate (exit 2).
    cluster.kill(2).unwrap();
    cluster.wait_for_membership(&[0, 1]).unwrap();
    tools.assert_all_same_on_nodes(&cluster, &[0, 1], READ_CASES);
    cluster.kill(1).unwrap();
    cluster
        .wait_until("node 1 to lose quorum", Duration::from_secs(30), || {
            Ok(!cluster.node(0).is_quorate()?)
        })
        .unwrap();
    tools.assert_all_same_on_nodes(
        &cluster,
        &[0],
        &[&[], &["-s", "-p"], &["-l"], &["-H", "-i"]],
    );
    assert_eq!(
        tools.run(cluster.node(0), ours, &["-s"]).status.code(),
        Some(2)
    );
    cluster.restart(1).unwrap();
    cluster.restart(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();

    // Changing votes and expected votes: both tools do it the same way.
    let info = |n: u32| {
        cluster
            .node(0)
            .run(move || Votequorum::new().unwrap().info(NodeId::new(n)).unwrap())
            .unwrap()
    };
    for (tool, votes) in [(ours, "2"), (C_TOOL, "1")] {
        let out = tools.run(cluster.node(0), tool, &["-n", "2", "-v", votes]);
        assert!(out.status.success(), "{tool} -n 2 -v {votes}");
        let want: u32 = votes.parse().unwrap();
        cluster
            .wait_until("the votes to change", Duration::from_secs(10), || {
                Ok(info(2).node_votes == want)
            })
            .unwrap();
    }
    for (tool, expected) in [(ours, "5"), (C_TOOL, "3")] {
        assert!(tools
            .run(cluster.node(1), tool, &["-e", expected])
            .status
            .success());
        let want: u32 = expected.parse().unwrap();
        cluster
            .wait_until("expected votes to change", Duration::from_secs(10), || {
                Ok(info(1).node_expected_votes == want)
            })
            .unwrap();
    }
    // -v without -n sets the local node's votes.
    assert!(tools
        .run(cluster.node(2), ours, &["-v", "3"])
        .status
        .success());
    cluster
        .wait_until("node 3's votes", Duration::from_secs(10), || {
            Ok(info(3).node_votes == 3)
        })
        .unwrap();
    tools.assert_all_same_on_nodes(&cluster, &[0, 2], &[&[], &["-l"]]);
    assert!(tools
        .run(cluster.node(2), C_TOOL, &["-v", "1"])
        .status
        .success());
    cluster
        .wait_until("node 3's votes back", Duration::from_secs(10), || {
            Ok(info(3).node_votes == 1)
        })
        .unwrap();

    // A registered quorum device shows up in both (and -f removes it).
    let vq = cluster.node(0).run(|| Votequorum::new().unwrap()).unwrap();
    vq.qdevice_register("test-qdevice").unwrap();
    cluster
        .wait_until("the qdevice to register", Duration::from_secs(10), || {
            Ok(info(1)
                .flags
                .contains(corosync::votequorum::InfoFlags::QDEVICE_REGISTERED))
        })
        .unwrap();
    tools.assert_all_same_on_nodes(&cluster, &[0, 1], &[&[], &["-l"], &["-s", "-p"]]);
    assert!(tools.run(cluster.node(0), ours, &["-f"]).status.success());
    cluster
        .wait_until("the qdevice to go", Duration::from_secs(10), || {
            Ok(!info(1)
                .flags
                .contains(corosync::votequorum::InfoFlags::QDEVICE_REGISTERED))
        })
        .unwrap();
    tools.assert_all_same_on_nodes(&cluster, &[0], &[&["-f"], &["-l"]]);
    drop(vq);
}

/// Both monitors print a status on every membership change.
#[test]
fn monitor_mode_matches() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let tools = quorumtool();
    let start = |cmd: &mut Command| -> Child { cmd.stdout(Stdio::piped()).spawn().unwrap() };
    // The C tool writes through stdio, fully buffered into a pipe: stdbuf
    // makes it line-buffered so that killing it loses nothing.
    let mut c_cmd = cluster.node(0).command("stdbuf").unwrap();
    c_cmd.args(["-oL", C_TOOL, "-m"]);
    let mut r_cmd = tools.command(cluster.node(0), tools.ours());
    r_cmd.arg("-m");
    let (mut c, mut r) = (start(&mut c_cmd), start(&mut r_cmd));
    std::thread::sleep(Duration::from_secs(1));
    cluster.kill(2).unwrap();
    cluster.wait_for_membership(&[0, 1]).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    cluster.restart(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    for child in [&mut c, &mut r] {
        child.kill().unwrap();
    }
    let (c, r) = (c.wait_with_output().unwrap(), r.wait_with_output().unwrap());
    let w = String::from_utf8_lossy(&c.stdout);
    assert!(
        w.matches("Quorum information").count() >= 2,
        "C monitor printed: {w}"
    );
    tools.assert_same_stdout("the monitor", &c.stdout, &r.stdout);
}
