//! Live checks against a corosync cluster of podman containers (made by
//! `scripts/container-test.sh`, or by hand as `containers/README.md`
//! shows), run from the host.
//!
//! Usage: `container-test [OPTIONS] NODE1 NODE2 NODE3`, the node
//! containers in nodeid order (node N has nodeid N), each with this
//! crate's `cpg-member` and the tools' `quorumtool` and `cpgtool` in
//! `--bin DIR` (default `/opt/corosync-rs`), e.g. mounted there. Options:
//! - `--podman-arg ARG` (repeatable): an argument given to podman before
//!   every subcommand (e.g. `--runtime` and `runc`);
//! - `--run-arg ARG` (repeatable): an argument of the sidecar's `podman
//!   run` (e.g. `--ulimit=nofile=20000:20000`, the mount of the binaries);
//! - `--image IMAGE`: the image of the sidecar (default the node image
//!   `localhost/corosync-rs-node:bookworm`).
//!
//! Clients run as the README's runner pattern says: `podman exec` in the
//! node's container, and a sidecar container that shares node 1's network
//! and IPC namespaces. The checks, in this order: the three nodes are
//! quorate together; a CPG group with a member on every node has the same
//! membership on every node, and the messages multicast from all three are
//! delivered to every member, each once, in one agreed order, FIFO per
//! sender; a sidecar with node 1's network and IPC namespaces reads node
//! 1's quorum, and one with the network namespace alone cannot connect;
//! with nodes 2 and 3 killed, node 1 is alone and not quorate; restarted,
//! the three are quorate together again, and the CPG check passes again.
//! Every wait has a deadline and a failure names what it waited for. Each
//! check prints a line; the exit status is 0 when all passed, 1 otherwise.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use corosync_tests::bounded::{self, COMMAND_WAIT};
use corosync_tests::{hex, lines_of, unhex};

const USAGE: &str = "usage: container-test [--bin DIR] [--image IMAGE] [--podman-arg ARG]... \
                     [--run-arg ARG]... NODE1 NODE2 NODE3";

/// How long nodes may take to form (or re-form) their membership: about
/// 3 s when it works, far more on a loaded machine.
const MEMBERSHIP_WAIT: Duration = Duration::from_secs(60);

/// How long the CPG exchange (members ready, all messages delivered) may
/// take: well under a second when it works.
const CPG_WAIT: Duration = Duration::from_secs(60);

/// Messages each member multicasts in a CPG check.
const PER_MEMBER: usize = 30;

/// How often a polled state (quorum, CPG membership) is read again.
const POLL: Duration = Duration::from_millis(200);

type Checked<T = ()> = Result<T, String>;

/// What the command line gives.
struct Args {
    nodes: Vec<String>,
    bin: String,
    image: String,
    podman_args: Vec<String>,
    run_args: Vec<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Checked<Args> {
    let mut parsed = Args {
        nodes: Vec::new(),
        bin: "/opt/corosync-rs".into(),
        image: "localhost/corosync-rs-node:bookworm".into(),
        podman_args: Vec::new(),
        run_args: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--bin" => parsed.bin = value()?,
            "--image" => parsed.image = value()?,
            "--podman-arg" => parsed.podman_args.push(value()?),
            "--run-arg" => parsed.run_args.push(value()?),
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other}\n{USAGE}"))
            }
            _ => parsed.nodes.push(arg),
        }
    }
    if parsed.nodes.len() != 3 {
        return Err(format!("three node containers are needed\n{USAGE}"));
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => {
            println!("container-test: every check passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("container-test: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Checked {
    let all: Vec<u32> = vec![1, 2, 3];
    let podman = Podman(args);

    wait_quorum(&podman, &all, true, &all)?;
    println!("ok: the three node containers are quorate together");

    cpg_order(&podman, "ct-order-1")?;

    let status = podman.sidecar(&args.nodes[0], true, &["quorumtool", "-s"])?;
    let stdout = String::from_utf8_lossy(&status.stdout);
    match parse_quorum(&stdout) {
        Some((true, members)) if members == all => {}
        _ => return Err(format!("the sidecar with node 1's network and IPC did not read a quorate 3-node view: {status:?}")),
    }
    if !stdout.contains("Node ID:          1\n") {
        return Err(format!(
            "the sidecar of node 1 reached another node: {stdout}"
        ));
    }
    println!("ok: a sidecar with node 1's network and IPC namespaces reads its quorum");
    let status = podman.sidecar(&args.nodes[0], false, &["quorumtool", "-s"])?;
    if status.status.success() || parse_quorum(&String::from_utf8_lossy(&status.stdout)).is_some() {
        return Err(format!(
            "a sidecar with node 1's network namespace alone read its quorum: {status:?}"
        ));
    }
    println!(
        "ok: a sidecar with node 1's network namespace alone cannot connect ({})",
        String::from_utf8_lossy(&status.stderr).trim()
    );

    podman.check(&["kill", "--signal", "KILL", &args.nodes[1], &args.nodes[2]])?;
    wait_quorum(&podman, &[1], false, &[1])?;
    println!("ok: with nodes 2 and 3 killed, node 1 is alone and not quorate");

    podman.check(&["start", &args.nodes[1], &args.nodes[2]])?;
    wait_quorum(&podman, &all, true, &all)?;
    println!("ok: nodes 2 and 3 restarted, the three are quorate together again");

    cpg_order(&podman, "ct-order-2")?;
    Ok(())
}

/// Runs podman with the command line's global arguments.
struct Podman<'a>(&'a Args);

impl Podman<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.args(&self.0.podman_args).args(args);
        cmd
    }

    /// Runs `podman ARGS` to its end (bounded).
    fn output(&self, args: &[&str]) -> Checked<std::process::Output> {
        bounded::output(&mut self.command(args), COMMAND_WAIT).map_err(|e| e.to_string())
    }

    /// Runs `podman ARGS`, which must succeed.
    fn check(&self, args: &[&str]) -> Checked {
        let out = self.output(args)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "podman {}: {}; {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs one of the binaries in node `nodeid`'s container.
    fn exec(&self, nodeid: u32, program: &str, args: &[&str]) -> Checked<std::process::Output> {
        let path = format!("{}/{program}", self.0.bin);
        let mut all = vec!["exec", self.node(nodeid), path.as_str()];
        all.extend_from_slice(args);
        self.output(&all)
    }

    /// Runs one of the binaries in a sidecar container that shares
    /// `node`'s network namespace, and its IPC namespace when `ipc`.
    fn sidecar(&self, node: &str, ipc: bool, command: &[&str]) -> Checked<std::process::Output> {
        let network = format!("--network=container:{node}");
        let ipc_ns = format!("--ipc=container:{node}");
        let entrypoint = format!("--entrypoint={}/{}", self.0.bin, command[0]);
        let mut all = vec!["run", "--rm", network.as_str()];
        if ipc {
            all.push(&ipc_ns);
        }
        all.extend(self.0.run_args.iter().map(String::as_str));
        all.push(&entrypoint);
        all.push(&self.0.image);
        all.extend_from_slice(&command[1..]);
        self.output(&all)
    }

    fn node(&self, nodeid: u32) -> &str {
        &self.0.nodes[nodeid as usize - 1]
    }
}

/// `(quorate, members sorted)` from `quorumtool -s` output, if it has both.
fn parse_quorum(out: &str) -> Option<(bool, Vec<u32>)> {
    let quorate = out
        .lines()
        .find_map(|l| l.strip_prefix("Quorate:"))
        .map(|v| v.trim() == "Yes")?;
    let mut lines = out.lines().skip_while(|l| *l != "Membership information");
    lines.next()?;
    let mut members: Vec<u32> = lines
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    members.sort_unstable();
    Some((quorate, members))
}

/// Waits until each node in `on` reads `quorate` and `members` through
/// the tools' quorumtool in its container.
fn wait_quorum(podman: &Podman, on: &[u32], quorate: bool, members: &[u32]) -> Checked {
    let deadline = Instant::now() + MEMBERSHIP_WAIT;
    for &nodeid in on {
        loop {
            let out = podman.exec(nodeid, "quorumtool", &["-s"])?;
            let text = String::from_utf8_lossy(&out.stdout);
            if parse_quorum(&text).is_some_and(|(q, m)| q == quorate && m == members) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {nodeid} did not read quorate={quorate} with members {members:?} \
                     within {MEMBERSHIP_WAIT:?}; its last quorumtool -s said:\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

/// A `cpg-member` running in a node container through `podman exec`.
struct Member {
    nodeid: u32,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    errors: Receiver<String>,
}

impl Member {
    fn start(podman: &Podman, nodeid: u32, group: &str) -> Checked<Member> {
        let path = format!("{}/cpg-member", podman.0.bin);
        let mut child = podman
            .command(&[
                "exec",
                "-i",
                podman.node(nodeid),
                &path,
                &hex(group.as_bytes()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("podman exec cpg-member on node {nodeid}: {e}"))?;
        Ok(Member {
            nodeid,
            stdin: child.stdin.take().expect("piped stdin"),
            lines: lines_of(child.stdout.take().expect("piped stdout")),
            errors: lines_of(child.stderr.take().expect("piped stderr")),
            child,
        })
    }

    /// The next line it prints, by `deadline`.
    fn line(&self, deadline: Instant, what: &str) -> Checked<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines.recv_timeout(left).map_err(|_| {
            let errors: Vec<String> = self.errors.try_iter().collect();
            format!(
                "the CPG member on node {} printed no {what} within {CPG_WAIT:?}; its stderr: {errors:?}",
                self.nodeid
            )
        })
    }

    fn send(&mut self, line: &str) -> Checked {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to the CPG member on node {}: {e}", self.nodeid))
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // After a failure: with its podman exec client gone, the member's stdin
        // closes and it exits.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = bounded::try_wait_child(&mut self.child, bounded::NO_HANG);
        }
    }
}

/// One CPG member per node joins `group`; their membership must agree on
/// every node, and the messages all three multicast must reach every
/// member once, in one agreed order that keeps each sender's order.
fn cpg_order(podman: &Podman, group: &str) -> Checked {
    let deadline = Instant::now() + CPG_WAIT;
    let mut members = Vec::new();
    for nodeid in 1..=3 {
        members.push(Member::start(podman, nodeid, group)?);
    }
    // (nodeid, pid) of each member, as it reports itself.
    let mut joined = BTreeSet::new();
    for m in &members {
        let line = m.line(deadline, "ready line")?;
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["ready", nodeid, pid] if nodeid == m.nodeid.to_string() => {
                joined.insert((m.nodeid, pid.parse::<u32>().map_err(|e| e.to_string())?));
            }
            _ => return Err(format!("the CPG member on node {} said {line:?}", m.nodeid)),
        }
    }

    // Every node lists the three, and only them, in the group before any
    // message is sent (a member not yet in the group would miss some).
    for nodeid in 1..=3 {
        loop {
            let out = podman.exec(nodeid, "cpgtool", &["-d", ","])?;
            let listed: BTreeSet<(u32, u32)> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(',');
                    if f.next()? != group {
                        return None;
                    }
                    let pid = f.next()?.parse().ok()?;
                    Some((f.next()?.parse().ok()?, pid))
                })
                .collect();
            if listed == joined {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {nodeid} did not list the members {joined:?} (nodeid, pid) in {group} \
                     within {CPG_WAIT:?}; it lists {listed:?}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }
    println!("ok: {group}: every node lists the same three members (one per node)");

    // The senders take turns, so the three streams interleave.
    let mut sent = BTreeSet::new();
    for seq in 0..PER_MEMBER {
        for m in &mut members {
            let payload = format!("node{}-{seq:03}", m.nodeid);
            m.send(&format!("send {}", hex(payload.as_bytes())))?;
            sent.insert((m.nodeid, payload));
        }
    }
    let mut orders = Vec::new();
    for m in &members {
        let mut order = Vec::new();
        while order.len() < sent.len() {
            let line = m.line(
                deadline,
                &format!("message {} of {}", order.len() + 1, sent.len()),
            )?;
            let fields: Vec<&str> = line.split(' ').collect();
            let ["msg", nodeid, _pid, data] = fields[..] else {
                return Err(format!("the CPG member on node {} said {line:?}", m.nodeid));
            };
            let data = unhex(data).ok_or(format!("not hex: {line:?}"))?;
            order.push((
                nodeid.parse::<u32>().map_err(|e| e.to_string())?,
                String::from_utf8_lossy(&data).into_owned(),
            ));
        }
        let distinct: BTreeSet<_> = order.iter().cloned().collect();
        if distinct != sent || distinct.len() != order.len() {
            return Err(format!(
                "node {} did not get each of the {} messages once: {order:?}",
                m.nodeid,
                sent.len()
            ));
        }
        for sender in 1..=3 {
            let from: Vec<&String> = order
                .iter()
                .filter(|(n, _)| *n == sender)
                .map(|(_, p)| p)
                .collect();
            if !from.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!(
                    "node {} got node {sender}'s messages out of their order: {from:?}",
                    m.nodeid
                ));
            }
        }
        orders.push(order);
    }
    for (i, order) in orders.iter().enumerate().skip(1) {
        if let Some(at) = (0..order.len()).find(|&k| order[k] != orders[0][k]) {
            return Err(format!(
                "nodes 1 and {} got the messages in different orders: from position {at}, \
                 node 1 got {:?}, node {} got {:?}",
                i + 1,
                &orders[0][at..(at + 5).min(order.len())],
                i + 1,
                &order[at..(at + 5).min(order.len())]
            ));
        }
    }
    let senders: BTreeSet<u32> = orders[0].iter().map(|(n, _)| *n).collect();
    println!(
        "ok: {group}: {} messages from nodes {senders:?}, delivered to every member once, in one agreed order",
        sent.len()
    );

    for m in &mut members {
        m.send("exit")?;
    }
    for m in &mut members {
        let status = bounded::try_wait_child(&mut m.child, CPG_WAIT)
            .map_err(|e| e.to_string())?
            .ok_or(format!(
                "the CPG member on node {} did not exit within {CPG_WAIT:?}",
                m.nodeid
            ))?;
        if !status.success() {
            return Err(format!(
                "the CPG member on node {} exited with {status}",
                m.nodeid
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_quorum;

    /// `quorumtool -s` on node 1 of 2, alone (as printed in a node container).
    const ALONE: &str = "Quorum information
------------------
Date:             Sun Dec  6 12:16:34 2026
Quorum provider:  corosync_votequorum
Nodes:            1
Node ID:          1
Ring ID:          1.5
Quorate:          No

Votequorum information
----------------------
Expected votes:   2
Highest expected: 2
Total votes:      1
Quorum:           2 Activity blocked
Flags:            

Membership information
----------------------
    Nodeid      Votes Name
         1          1 node1 (local)
";

    #[test]
    fn a_lone_node_reads_not_quorate_with_itself_as_the_only_member() {
        assert_eq!(parse_quorum(ALONE), Some((false, vec![1])));
    }

    #[test]
    fn members_are_read_sorted_and_quorate_from_its_line() {
        let three = ALONE.replace("Quorate:          No", "Quorate:          Yes").replace(
            "         1          1 node1 (local)\n",
            "         3          1 node3\n         1          1 node1 (local)\n         2          1 node2\n",
        );
        assert_eq!(parse_quorum(&three), Some((true, vec![1, 2, 3])));
    }

    #[test]
    fn output_without_the_quorate_line_or_the_membership_is_no_view() {
        assert_eq!(parse_quorum("Cannot initialize CMAP service\n"), None);
        let (head, _) = ALONE.split_once("\nMembership information").unwrap();
        assert_eq!(parse_quorum(head), None);
    }
}
