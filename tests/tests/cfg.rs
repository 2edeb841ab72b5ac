//! CFG on a real three-node cluster, and the Rust `cfgtool` (corosync-tools)
//! against corosync's `corosync-cfgtool`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cfg::{Cfg, ShutdownMode};
use corosync::cmap::Cmap;
use corosync::{DispatchMode, Error, NodeId};
use corosync_tests::bounded::{returns_within, NO_HANG};
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

/// A client that answers shutdown requests, dispatching on its own thread.
struct Voter {
    stop: Arc<AtomicBool>,
    asked: Arc<Mutex<Vec<ShutdownMode>>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                wait_readable(&cfg, Duration::from_millis(50));
                if cfg.dispatch(DispatchMode::All).is_err() {
                    return;
                }
            }
            // Stop being asked before going (the daemon notices a closed
            // connection only a little later).
            let _ = cfg.track_stop();
        });
        Voter {
            stop,
            asked,
            thread: Some(thread),
        }
    }
}

impl Drop for Voter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
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
    assert!(cluster.node(0).is_quorate().is_ok(), "corosync still runs");
    drop(no);

    // ...a client that says yes lets it through...
    let yes = Voter::start(cluster.node(0), true);
    asker.try_shutdown(ShutdownMode::Request).unwrap();
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
    assert_eq!(*yes.asked.lock().unwrap(), [ShutdownMode::Request]);
    drop(yes);
    drop(asker);

    // ...and REGARDLESS shuts down whatever the clients answer.
    cluster.restart(0).unwrap();
    let no = Voter::start(cluster.node(0), false);
    let asker = cluster.node(0).run(|| Cfg::new().unwrap()).unwrap();
    asker.try_shutdown(ShutdownMode::Regardless).unwrap();
    cluster.wait_for_exit(0, Duration::from_secs(20)).unwrap();
    assert_eq!(*no.asked.lock().unwrap(), [ShutdownMode::Regardless]);
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
        assert!(link.enabled && link.connected, "{st:?}");
        assert_eq!(link.dst_addr, format!("10.213.7.{id}"));
        assert_eq!(link.src_addr, "10.213.7.1");
        assert!(link.mtu > 0);
    }
    let addrs = cfg.node_addrs(NodeId::new(2)).unwrap();
    assert_eq!(addrs[0], Some("10.213.7.2".parse().unwrap()));
    let rings = cfg.ring_status().unwrap();
    assert!(!rings.is_empty(), "ring status lists the links");

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
    cluster.heal(2).unwrap();
    cluster.wait_for_membership(&[0, 1, 2]).unwrap();

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

    // Reopening the log files: a moved log is written anew.
    let log = cluster.dir().join("node1").join("corosync.log");
    let moved = log.with_extension("log.old");
    std::fs::rename(&log, &moved).unwrap();
    cfg.reopen_log_files().unwrap();
    cfg.reload_config().unwrap(); // logs a line
    cluster
        .wait_until("a new log file", Duration::from_secs(10), || {
            Ok(log.exists())
        })
        .unwrap();
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
    drop(no);
    assert!(cluster.node(0).is_running(), "corosync went down");
    assert!(cfg.local_nodeid().is_ok());

    cluster.stop(0).unwrap();
    // Every call fails at once; the generous bound only tells that from a
    // hang.
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert!(cfg.local_nodeid().is_err());
        assert!(cfg.ring_status().is_err());
        assert!(cfg.node_status(NodeId::new(1)).is_err());
        assert!(cfg.reload_config().is_err());
        assert!(cfg.try_shutdown(ShutdownMode::Request).is_err());
        assert!(cfg.dispatch(DispatchMode::All).is_err());
    });
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
