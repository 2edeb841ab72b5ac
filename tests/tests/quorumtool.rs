//! The Rust `quorumtool` (corosync-tools) and corosync's
//! `corosync-quorumtool`, run against the same live three-node cluster,
//! healthy and with a node down, print the same thing (the date line
//! aside) and exit the same way.

use std::process::Stdio;
use std::time::Duration;

use corosync::votequorum::Votequorum;
use corosync::NodeId;
use corosync_tests::parity::{Running, ToolPair, TOOL_LIMIT};
use corosync_tests::{Cluster, Node};

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
    &["-e", "2147483648"],
    &["-e"],
    &["-n", "x", "-v", "1"],
    &["-v", "abc"],
    &["-o"],
    &["-l", "-o", "x"],
    &["-x"],
    &["-x", "-h"],
    &["-h", "-x"],
    &["--help"],
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

/// Reads a monitor's output up to the end of the next status block whose
/// membership has `nodes` nodes (the block's third empty line: before the
/// votequorum part, before the membership list and after it); fails naming
/// `what` if none comes in time.
fn await_block(monitor: &mut Running, nodes: usize, what: &str) {
    let count = format!("Nodes:            {nodes}\n");
    monitor.wait_for_line(what, TOOL_LIMIT, |l| l == count.as_bytes());
    for _ in 0..3 {
        monitor.wait_for_line(&format!("ending the block of {what}"), TOOL_LIMIT, |l| {
            l == b"\n"
        });
    }
}

/// Both monitors print a status on every membership change.
#[test]
fn monitor_mode_matches() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let tools = quorumtool();
    // The C tool writes through stdio, fully buffered into a pipe: stdbuf
    // makes it line-buffered, so that its lines can be awaited.
    let mut c_cmd = cluster.node(0).command("stdbuf").unwrap();
    c_cmd.args(["-oL", C_TOOL, "-m"]).stdin(Stdio::null());
    let mut c = Running::spawn(&mut c_cmd, format!("{C_TOOL} -m"));
    let mut r = tools.start(cluster.node(0), tools.ours(), &["-m"]);
    // Tracking starts with a status of the current membership.
    for monitor in [&mut c, &mut r] {
        await_block(monitor, 3, "the first status");
    }
    cluster.kill(2).unwrap();
    cluster.wait_for_membership(&[0, 1]).unwrap();
    for monitor in [&mut c, &mut r] {
        await_block(monitor, 2, "the status without node 3");
    }
    cluster.restart(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    for monitor in [&mut c, &mut r] {
        await_block(monitor, 3, "the status with node 3 back");
    }
    // What each printed up to the same event; anything later may still be
    // on its way, so it is left out.
    let (c_printed, r_printed) = (c.printed().to_vec(), r.printed().to_vec());
    let (mut c, mut r) = (c.kill(), r.kill());
    (c.stdout, r.stdout) = (c_printed, r_printed);
    let text = String::from_utf8_lossy(&c.stdout);
    assert!(
        text.matches("Quorum information").count() >= 3,
        "C monitor printed: {text}"
    );
    tools.assert_same("the monitors", &c, &r);
}

/// The text of `line`'s first field, as a node id.
fn nodeid_field(line: &str) -> Option<u32> {
    line.split_whitespace().next()?.parse().ok()
}

/// The node ids `corosync-quorumtool -l` lists on `node`, and the one
/// marked "(local)".
fn c_tool_members(tools: &ToolPair, node: &Node) -> (Vec<NodeId>, Option<NodeId>) {
    let out = tools.run(node, C_TOOL, &["-l"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{C_TOOL} -l on node {}: {out:?}",
        node.nodeid()
    );
    let mut lines = text.lines();
    assert!(
        lines
            .by_ref()
            .any(|l| l.split_whitespace().eq(["Nodeid", "Votes", "Name"])),
        "no header in {text}"
    );
    let mut members = Vec::new();
    let mut local = None;
    for line in lines {
        let id =
            nodeid_field(line).unwrap_or_else(|| panic!("not a member line: {line:?} in {text}"));
        if line.ends_with(" (local)") {
            assert_eq!(local, None, "two local nodes in {text}");
            local = Some(NodeId::new(id));
        }
        members.push(NodeId::new(id));
    }
    members.sort();
    (members, local)
}

/// The value of the `-s` line that starts with `label`.
fn status_field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
}

/// Checks on every running node of `nodes` that corosync's own tool lists
/// exactly those nodes' ids, as the harness (our quorum binding) does, and
/// says the cluster is quorate with `expected` expected votes.
fn c_tool_agrees(cluster: &Cluster, tools: &ToolPair, nodes: &[usize], expected: u32) {
    let want: Vec<NodeId> = nodes.iter().map(|&i| cluster.node(i).nodeid()).collect();
    for &i in nodes {
        let node = cluster.node(i);
        let (quorate, harness_view) = node.quorum_view().unwrap();
        assert!(quorate);
        assert_eq!(harness_view, want, "the harness's view on node {}", i + 1);
        let (members, local) = c_tool_members(tools, node);
        assert_eq!(members, want, "{C_TOOL} -l on node {}", i + 1);
        assert_eq!(
            local,
            Some(node.nodeid()),
            "the local node on node {}",
            i + 1
        );

        let out = tools.run(node, C_TOOL, &["-s"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{C_TOOL} -s: {out:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        assert_eq!(status_field(&text, "Quorate:"), "Yes", "{text}");
        assert_eq!(
            status_field(&text, "Nodes:"),
            nodes.len().to_string(),
            "{text}"
        );
        assert_eq!(
            status_field(&text, "Node ID:"),
            node.nodeid().to_string(),
            "{text}"
        );
        assert_eq!(
            status_field(&text, "Expected votes:"),
            expected.to_string(),
            "{text}"
        );
        assert_eq!(
            status_field(&text, "Total votes:"),
            nodes.len().to_string(),
            "{text}"
        );
        // Each node has one vote; quorum is a majority of the expected votes.
        let quorum = (expected / 2 + 1).to_string();
        assert_eq!(status_field(&text, "Quorum:"), quorum, "{text}");
        assert_eq!(status_field(&text, "Flags:"), "Quorate", "{text}");
    }
}

/// The harness's membership waits use our own quorum binding; corosync's
/// own tool must see the same members on every node, with all three nodes
/// and after one has stopped.
#[test]
fn corosync_quorumtool_sees_the_membership_the_harness_waits_for() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let tools = quorumtool();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    c_tool_agrees(&cluster, &tools, &[0, 1, 2], 3);

    // Two of three: still quorate, as the expected votes stay at 3.
    cluster.stop(1).unwrap();
    cluster.wait_for_membership(&[0, 2]).unwrap();
    c_tool_agrees(&cluster, &tools, &[0, 2], 3);
}
