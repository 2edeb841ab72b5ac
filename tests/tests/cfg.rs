//! CFG on a real three-node cluster, and the Rust `cfgtool` (corosync-tools)
//! against corosync's `corosync-cfgtool`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use corosync::cfg::{Cfg, NodeStatus, ShutdownMode};
use corosync::cmap::Cmap;
use corosync::{DispatchMode, Error, NodeId};
use corosync_tests::bounded::{
    self, join_within, returns_within, try_join_within, COMMAND_WAIT, NO_HANG,
};
use corosync_tests::events::WAIT;
use corosync_tests::parity::ToolPair;
use corosync_tests::{wait_readable, Cluster, Node};
use corosync_tools::ring_status::{write_links, Format, RingLink};

const C_TOOL: &str = "corosync-cfgtool";

/// Both tools; a comparison runs the C tool before and after ours and
/// again while those two disagree (the link state may move meanwhile).
fn cfgtool() -> ToolPair {
    ToolPair::new(C_TOOL, "cfgtool")
        .unwrap()
        .rerun_while_changing()
}

#[test]
fn cfgtool_matches_corosync_cfgtool() {
    let cluster = Cluster::new(3).expect("cluster");
    let tools = cfgtool();
    let read_cases: &[&[&str]] = &[
        &[],
        &["-h"],
        &["-s"],
        &["-s", "-b"],
        &["-sb"],
        &["-n"],
        &["--status"],
        &["--nodes"],
        &["--brief", "--status"],
        &["-i", "10.213.7.1", "-s"],
        &["-a", "1"],
        &["-a", "3"],
        &["--address=2"],
        &["--address", "2"],
        &["-a", "0"],
        &["-a", "x"],
        &["-a", "99"],
        &["-a", "4294967296"],
        &["-a="],
        &["--a=2"],
        &["-k", "-1"],
        &["-k", "x"],
        &["-k"],
        &["-x"],
        &["-x", "-h"],
        &["-h", "-x"],
        &["-b"],
        &["-i"],
        &["--nosuch"],
        &["--nosuch=3"],
        &["--re"],
        &["--s"],
        &["--stat"],
        &["--force=1"],
        &["--address"],
        &["-a"],
        &["-L"],
        &["-R"],
    ];
    tools.assert_all_same_on_nodes(&cluster, &[0, 1, 2], read_cases);
    let status = tools.run(cluster.node(0), C_TOOL, &["-s"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("connected") && text.contains("10.213.7.1"),
        "{text}"
    );

    // With node 3 cut off, the link status differs, and both tools agree.
    cluster.isolate(2).unwrap();
    cluster.wait_for_membership(&[0, 1]).unwrap();
    tools.assert_all_same_on_nodes(&cluster, &[0, 2], &[&["-s"], &["-s", "-b"], &["-n"]]);
    let text =
        String::from_utf8_lossy(&tools.run(cluster.node(0), C_TOOL, &["-s"]).stdout).into_owned();
    assert!(text.contains("disconnected"), "{text}");
}

#[test]
fn cfgtool_kill_and_shutdown_act_like_the_c_tool() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let tools = cfgtool();
    let ours = tools.ours();
    // -k: ours kills node 3, the C tool node 2; both print the same line.
    for (tool, victim) in [(ours, 2usize), (C_TOOL, 1)] {
        let id = (victim + 1).to_string();
        let out = tools.run(cluster.node(0), tool, &["-k", &id]);
        assert!(out.status.success(), "{tool} -k {id}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Killing node {id}\n")
        );
        cluster
            .wait_for_exit(victim, Duration::from_secs(20))
            .unwrap();
    }
    // -H: ours shuts node 1 down.
    let out = tools.run(cluster.node(0), ours, &["-H"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Shutting down corosync\n"
    );
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
}

/// A client that answers shutdown requests, dispatching on its own thread
/// until told to finish or until a dispatch fails.
struct Voter {
    stop: Arc<AtomicBool>,
    asked: Arc<Mutex<Vec<ShutdownMode>>>,
    /// Asks the thread to stop tracking; it answers with the result.
    untrack: mpsc::Sender<mpsc::Sender<corosync::Result<()>>>,
    /// Ends with the error of the dispatch that failed, or with the result
    /// of the `track_stop` made when told to finish.
    thread: Option<std::thread::JoinHandle<corosync::Result<()>>>,
}

impl Voter {
    fn start(node: &Node, allow: bool) -> Voter {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let a = asked.clone();
        let cfg = node
            .run(move || {
                let cfg = Cfg::builder()
                    .on_shutdown(move |cfg, mode| {
                        a.lock().unwrap().push(mode);
                        cfg.reply_to_shutdown(allow).unwrap();
                    })
                    .connect()
                    .unwrap();
                // corosync asks only the clients that track.
                cfg.track_start(corosync::TrackFlags::CHANGES).unwrap();
                cfg
            })
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (untrack, requests) = mpsc::channel::<mpsc::Sender<corosync::Result<()>>>();
        let thread = std::thread::spawn(move || {
            let mut tracking = true;
            while !s.load(Ordering::Relaxed) {
                if let Ok(answer) = requests.try_recv() {
                    tracking = false;
                    answer.send(cfg.track_stop()).unwrap();
                }
                wait_readable(&cfg, Duration::from_millis(50));
                cfg.dispatch(DispatchMode::All)?;
            }
            // Stop being asked before going (the daemon notices a closed
            // connection only a little later).
            if tracking {
                cfg.track_stop()
            } else {
                Ok(())
            }
        });
        Voter {
            stop,
            asked,
            untrack,
            thread: Some(thread),
        }
    }

    /// Has the voter's connection stop tracking (it keeps dispatching),
    /// and returns what `track_stop` answered.
    fn stop_tracking(&self) -> corosync::Result<()> {
        let (answer, result) = mpsc::channel();
        self.untrack.send(answer).expect("the voter's thread runs");
        result
            .recv_timeout(WAIT)
            .expect("the voter's answer to stop tracking")
    }

    /// Tells the voter to stop and returns how its thread ended: the
    /// result of its last `track_stop`, or the error of a failed dispatch.
    fn finish(mut self) -> corosync::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        join_within(
            self.thread.take().unwrap(),
            WAIT,
            "the voter's thread, told to stop",
        )
    }

    /// Waits (up to [`WAIT`]) for the voter's dispatch to fail by itself,
    /// as when its daemon exits, and returns the error.
    fn outlived(mut self) -> Error {
        join_within(
            self.thread.take().unwrap(),
            WAIT,
            "the voter's dispatch after its daemon exited",
        )
        .expect_err("the voter's dispatch ended with an error")
    }
}

impl Drop for Voter {
    /// Stops the thread of a voter that a failing test leaves behind; its
    /// outcome is asserted by [`Voter::finish`] or [`Voter::outlived`].
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Only reached while a test is failing: its own failure is the
            // one to report (a thread that does not stop is left behind).
            let _ = try_join_within(t, NO_HANG);
        }
    }
}

#[test]
fn shutdown_requests_are_vetoed_or_go_through() {
    let mut cluster = Cluster::single().expect("cluster");
    // A client that says no vetoes a request...
    let no = Voter::start(cluster.node(0), false);
    let asker = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    assert_eq!(asker.try_shutdown(ShutdownMode::Request), Err(Error::Busy));
    assert_eq!(*no.asked.lock().unwrap(), [ShutdownMode::Request]);
    assert_eq!(
        asker.local_nodeid(),
        Ok(NodeId::new(1)),
        "corosync still runs"
    );
    // ...until it stops tracking: then it is not asked any more...
    assert_eq!(no.stop_tracking(), Ok(()));

    // ...and a client that says yes lets it through.
    let yes = Voter::start(cluster.node(0), true);
    asker.try_shutdown(ShutdownMode::Request).unwrap();
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
    assert_eq!(*yes.asked.lock().unwrap(), [ShutdownMode::Request]);
    assert_eq!(*no.asked.lock().unwrap(), [ShutdownMode::Request]);
    // Both saw their daemon go.
    assert_eq!(yes.outlived(), Error::Library);
    assert_eq!(no.outlived(), Error::Library);
    drop(asker);

    // REGARDLESS shuts down whatever the clients answer.
    cluster.restart(0).unwrap();
    let no = Voter::start(cluster.node(0), false);
    let asker = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    asker.try_shutdown(ShutdownMode::Regardless).unwrap();
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
    assert_eq!(*no.asked.lock().unwrap(), [ShutdownMode::Regardless]);
    assert_eq!(no.outlived(), Error::Library);
}

/// `ring_status` as (name, status) text pairs.
fn rings(cfg: &Cfg) -> corosync::Result<Vec<(String, String)>> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(cfg
        .ring_status()?
        .iter()
        .map(|r| (text(&r.name), text(&r.status)))
        .collect())
}

/// How `corosync-cfgtool -n` (corosync 3.1) prints a reachable remote node
/// (Debian's build prints no on-wire versions).
fn as_cfgtool_prints(st: &NodeStatus) -> String {
    let mut out = format!("nodeid: {} reachable", st.nodeid);
    for (set, word) in [(st.remote, " remote"), (st.external, " external")] {
        if set {
            out.push_str(word);
        }
    }
    out.push('\n');
    for l in &st.links {
        out.push_str(&format!(
            "   LINK: {} udp ({}->{}) enabled{}{} mtu: {}\n",
            l.link,
            l.src_addr,
            l.dst_addr,
            if l.connected { " connected" } else { "" },
            if l.dynconnected { " dynconnected" } else { "" },
            l.mtu
        ));
    }
    out
}

/// How many lines of `path` contain `text` (none if it does not exist).
fn lines_with(path: &std::path::Path, text: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

#[test]
fn node_status_kill_reload_and_log_reopening() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let cfg = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    assert_eq!(cfg.local_nodeid().unwrap(), NodeId::new(1));
    for id in [2, 3] {
        let st = cfg.node_status(NodeId::new(id)).unwrap();
        assert_eq!(st.nodeid, NodeId::new(id));
        assert!(st.reachable);
        assert_eq!(st.links.len(), 1);
        let link = &st.links[0];
        assert_eq!(link.link, 0);
        assert!(
            link.enabled && link.connected && !link.dynconnected,
            "{st:?}"
        );
        assert_eq!(link.dst_addr, format!("10.213.7.{id}"));
        assert_eq!(link.src_addr, "10.213.7.1");
    }
    // corosync's own tool reads the same; the MTU that knet finds may move
    // between two reads, so they are compared until one pair agrees.
    let mut last = String::new();
    cluster
        .wait_until(
            "node_status to read as corosync-cfgtool -n prints it",
            WAIT,
            || {
                let out = bounded::output(cluster.node(0).command(C_TOOL)?.arg("-n"), COMMAND_WAIT)
                    .unwrap_or_else(|e| panic!("{e}"));
                let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut ours = "Local node ID 1, transport knet\n".to_string();
                for id in [2, 3] {
                    ours.push_str(&as_cfgtool_prints(&cfg.node_status(NodeId::new(id))?));
                    ours.push('\n');
                }
                last = format!("corosync-cfgtool -n:\n{theirs}ours:\n{ours}");
                Ok(out.status.success() && theirs == ours)
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{last}"));
    assert_eq!(
        cfg.node_addrs(NodeId::new(2)).unwrap(),
        [Some("10.213.7.2".parse().unwrap())]
    );
    // corosync 3.1 with knet answers one entry per configured link: "<link>
    // <local address>", and one character per node in node id order, 'n'
    // for the local node, else '0' + (enabled | connected << 1 |
    // dynconnected << 2) (exec/cfg.c, exec/totemknet.c).
    let up = vec![("0 10.213.7.1".to_string(), "n33".to_string())];
    assert_eq!(rings(&cfg).unwrap(), up);

    // Isolated: the link to node 3 goes down.
    cluster.isolate(2).unwrap();
    cluster.wait_for_membership(&[0, 1]).unwrap();
    cluster
        .wait_until(
            "the link to node 3 to go down",
            Duration::from_secs(20),
            || {
                let st = cfg.node_status(NodeId::new(3))?;
                Ok(!st.reachable && st.links.iter().all(|l| !l.connected))
            },
        )
        .unwrap();
    let down = vec![("0 10.213.7.1".to_string(), "n31".to_string())];
    assert_eq!(rings(&cfg).unwrap(), down, "enabled, not connected");
    cluster.heal(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();
    cluster
        .wait_until("ring status to show every link up", WAIT, || {
            Ok(rings(&cfg)? == up)
        })
        .unwrap();

    // Killing a node from another node stops its daemon.
    cfg.kill_node(NodeId::new(3), "killed by a corosync-rs test")
        .unwrap();
    cluster.wait_for_exit(2, Duration::from_secs(20)).unwrap();
    assert!(cluster
        .node(2)
        .log()
        .contains("killed by a corosync-rs test"));
    assert!(matches!(
        cfg.kill_node(NodeId::new(2), &"x".repeat(256)),
        Err(Error::TooLong { .. })
    ));
    assert!(matches!(
        cfg.kill_node(NodeId::new(2), "a\0b"),
        Err(Error::InteriorNul { .. })
    ));

    // Editing corosync.conf and reloading changes cmap on every node.
    for i in [0, 1] {
        let path = cluster.node(i).config_path();
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, text.replace("token: 1000", "token: 1700")).unwrap();
    }
    cfg.reload_config().unwrap();
    for i in [0, 1] {
        let token = cluster
            .node(i)
            .run(|| Cmap::new().unwrap().get_u32("totem.token"))
            .unwrap();
        assert_eq!(token, Ok(1700), "node {}", i + 1);
    }

    // Reopening the log files: corosync keeps writing to a log file that
    // was moved away until it is told to reopen it, then writes anew at
    // the configured path. (A reload logs a notice line.)
    let reload = "Config reload requested by node 1";
    let log = cluster.dir().join("node1").join("corosync.log");
    let moved = log.with_extension("log.old");
    std::fs::rename(&log, &moved).unwrap();
    let before = lines_with(&moved, reload);
    cfg.reload_config().unwrap();
    cluster
        .wait_until("the reload's line in the moved log", WAIT, || {
            Ok(lines_with(&moved, reload) == before + 1)
        })
        .unwrap();
    assert!(!log.exists(), "a log file appeared without a reopen");
    cfg.reopen_log_files().unwrap();
    cfg.reload_config().unwrap();
    cluster
        .wait_until("the reload's line in a new log file", WAIT, || {
            Ok(lines_with(&log, reload) == 1)
        })
        .unwrap();
    assert_eq!(lines_with(&moved, reload), before + 1, "the moved log");
}

#[test]
fn an_unknown_shutdown_mode_is_refused_and_a_stopped_daemon_answers_errors() {
    let mut cluster = Cluster::single().expect("cluster");
    let cfg = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    // corosync would take it as a request: ask the clients that track and,
    // with none, go down. Refused before the daemon: a client that vetoes
    // is asked only about the real request that follows.
    let no = Voter::start(cluster.node(0), false);
    assert!(matches!(
        cfg.try_shutdown(ShutdownMode::Unknown(7)),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(cfg.try_shutdown(ShutdownMode::Request), Err(Error::Busy));
    assert_eq!(*no.asked.lock().unwrap(), [ShutdownMode::Request]);
    assert_eq!(no.finish(), Ok(()), "its track_stop before it goes");
    assert!(cluster.node(0).is_running(), "corosync went down");
    assert_eq!(cfg.local_nodeid(), Ok(NodeId::new(1)));

    cluster.stop(0).unwrap();
    // Every call fails at once with CS_ERR_LIBRARY (libqb finds the
    // connection closed); the generous bound only tells that from a hang.
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert_eq!(cfg.local_nodeid(), Err(Error::Library));
        assert_eq!(cfg.ring_status(), Err(Error::Library));
        assert_eq!(cfg.node_status(NodeId::new(1)), Err(Error::Library));
        assert_eq!(cfg.reload_config(), Err(Error::Library));
        assert_eq!(cfg.reopen_log_files(), Err(Error::Library));
        assert_eq!(cfg.try_shutdown(ShutdownMode::Request), Err(Error::Library));
        assert_eq!(cfg.dispatch(DispatchMode::All), Err(Error::Library));
    });
    // And a new connection is refused the same way.
    assert_eq!(
        cluster.node(0).run(Cfg::new).unwrap().map(drop),
        Err(Error::Library)
    );
}

/// cfgtool's corosync-3.0 link list (compiled in every configuration, and
/// printed by the tool when it is built for the 3.0 API) on a live node's
/// ring status.
#[test]
fn live_ring_status_prints_as_corosync_3_0_cfgtool_printed_it() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let cfg = node.run(|| Cfg::new().unwrap()).unwrap();
    let rings = cfg.ring_status().unwrap();
    // One knet link, named by its number and the node's address, with one
    // status character per configured node: here only the node itself.
    assert_eq!(rings.len(), 1, "{rings:?}");
    assert_eq!(rings[0].name, b"0 127.0.0.1", "{rings:?}");
    assert_eq!(rings[0].status, b"n", "{rings:?}");
    let links = [RingLink {
        name: &rings[0].name,
        status: &rings[0].status,
    }];
    let nodeids = [node.nodeid().get()];
    let print = |interface: &[u8], brief: bool| {
        let format = Format {
            interface,
            brief,
            knet: true,
            nodeids: &nodeids,
        };
        let mut out = Vec::new();
        let rc = write_links(&mut out, &links, &format).unwrap();
        (String::from_utf8(out).unwrap(), rc)
    };
    let full = "LINK ID 0\n\taddr\t= 127.0.0.1\n\tstatus:\n\t\tnodeid  1:\tlocalhost\n";
    assert_eq!(print(b"", false), (full.to_string(), 0));
    assert_eq!(print(b"0", false), (full.to_string(), 0));
    assert_eq!(print(b"127.0.0.1", false), (full.to_string(), 0));
    assert_eq!(
        print(b"", true),
        (
            "LINK ID 0\n\taddr\t= 127.0.0.1\n\tstatus\t= n\n".to_string(),
            0
        )
    );
    assert_eq!(print(b"1", false), (String::new(), 0));
}
