//! Live tests of the cluster harness itself, on real corosync daemons.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use corosync::NodeId;
use corosync_tests::bounded::{output, COMMAND_WAIT};
use corosync_tests::{netns, node_ids, shm_files_of, Cluster};

/// What a cluster leaves on the machine, to check it is all gone later.
struct Footprint {
    namespaces: Vec<String>,
    pids: Vec<u32>,
    dir: std::path::PathBuf,
}

impl Footprint {
    fn of(cluster: &Cluster) -> Footprint {
        Footprint {
            namespaces: cluster.namespaces(),
            pids: cluster
                .nodes()
                .iter()
                .flat_map(|n| n.all_pids().to_vec())
                .collect(),
            dir: cluster.dir().to_path_buf(),
        }
    }

    fn assert_exists(&self) {
        assert!(self.dir.is_dir());
        for ns in &self.namespaces {
            assert!(
                netns::list().contains(ns),
                "namespace {ns} exists while running"
            );
        }
        assert!(!self.pids.is_empty());
    }

    fn assert_gone(&self) {
        let existing = netns::list();
        for ns in &self.namespaces {
            assert!(!existing.contains(ns), "namespace {ns} left behind");
            assert!(!Path::new("/run/netns").join(ns).exists());
        }
        for pid in &self.pids {
            let alive = Path::new(&format!("/proc/{pid}")).exists()
                && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim() == "corosync")
                    .unwrap_or(false);
            assert!(!alive, "corosync pid {pid} still running");
        }
        assert!(!self.dir.exists(), "{} left behind", self.dir.display());
        let shm = shm_files_of(&self.pids);
        assert!(shm.is_empty(), "shared memory left behind: {shm:?}");
    }
}

#[test]
fn a_single_node_cluster_is_quorate_and_runs_code_in_its_namespace() {
    let cluster = Cluster::single().expect("start a one-node cluster");
    let node = cluster.node(0);
    assert_eq!(node.nodeid(), NodeId::new(1));
    assert_eq!(
        node.quorum_view().expect("quorum view"),
        (true, node_ids(&[1]))
    );

    // Code run "on the node" is in its network namespace, not ours.
    let ours = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let theirs = node
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    assert_ne!(ours, theirs);
    let expected = std::fs::metadata(node.netns().path()).unwrap();
    let inode = format!("net:[{}]", std::os::unix::fs::MetadataExt::ino(&expected));
    assert_eq!(theirs.to_string_lossy(), inode);

    // A panic in code run on the node comes back to the caller.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        node.run(|| panic!("inside the node"))
    }));
    let payload = panicked.expect_err("the panic came back");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside the node"));

    // Commands run there too, and corosync's own tool agrees.
    let out = output(
        node.command("corosync-quorumtool").unwrap().arg("-s"),
        COMMAND_WAIT,
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "corosync-quorumtool -s failed: {text}"
    );
    assert!(text.contains("Quorate:          Yes"), "{text}");
    assert!(text.contains("Node ID:          1"), "{text}");

    // The log is readable and comes from this daemon.
    let log = node.log();
    assert!(log.contains("Corosync Cluster Engine"), "log: {log}");
    assert!(
        log.contains(&format!("[{}]", node.pid().unwrap())),
        "log: {log}"
    );
}

#[test]
fn three_nodes_form_lose_a_killed_node_and_take_it_back() {
    let mut cluster = Cluster::new(3).expect("start a three-node cluster");
    for node in cluster.nodes() {
        assert_eq!(node.quorum_view().unwrap(), (true, node_ids(&[1, 2, 3])));
    }

    let killed_pid = cluster.node(2).pid().unwrap();
    cluster.kill(2).unwrap();
    assert!(!cluster.node(2).is_running());
    assert!(
        !Path::new(&format!("/proc/{killed_pid}/comm")).exists()
            || std::fs::read_to_string(format!("/proc/{killed_pid}/comm"))
                .unwrap()
                .trim()
                != "corosync"
    );
    cluster
        .wait_for_membership(&[0, 1])
        .expect("the other two see it gone and stay quorate");
    for i in [0, 1] {
        assert_eq!(
            cluster.node(i).quorum_view().unwrap(),
            (true, node_ids(&[1, 2]))
        );
    }

    cluster.restart(2).unwrap();
    cluster
        .wait_for_membership(&[0, 1, 2])
        .expect("the restarted node rejoins");
    assert_ne!(cluster.node(2).pid(), Some(killed_pid));

    // SIGTERM works as well as SIGKILL.
    cluster.stop(1).unwrap();
    cluster
        .wait_for_membership(&[0, 2])
        .expect("a stopped node leaves");
    cluster.restart(1).unwrap();
    cluster
        .wait_for_membership(&[0, 1, 2])
        .expect("and comes back");
}

#[test]
fn an_isolated_node_loses_quorum_and_rejoins_when_healed() {
    let cluster = Cluster::new(3).expect("start a three-node cluster");
    cluster.isolate(0).unwrap();
    cluster
        .wait_for_membership(&[1, 2])
        .expect("the two others keep quorum");
    cluster
        .wait_until(
            "node 1 to lose quorum alone",
            Duration::from_secs(30),
            || Ok(cluster.node(0).quorum_view()? == (false, node_ids(&[1]))),
        )
        .unwrap();
    assert!(!cluster.node(0).is_quorate().unwrap());

    cluster.heal(0).unwrap();
    cluster
        .wait_for_membership(&[0, 1, 2])
        .expect("the healed node rejoins");
    assert!(cluster.node(0).is_quorate().unwrap());
}

#[test]
fn five_nodes_form_a_cluster() {
    let cluster = Cluster::new(5).expect("start a five-node cluster");
    assert_eq!(cluster.len(), 5);
    assert_eq!(
        cluster.node(4).quorum_view().unwrap(),
        (true, node_ids(&[1, 2, 3, 4, 5]))
    );
}

#[test]
fn dropping_a_cluster_removes_everything_even_after_a_panic() {
    // Normal drop, with a node killed while a client was connected to it
    // (libqb's shared memory of that connection stays behind unless the
    // harness removes it).
    let mut cluster = Cluster::new(2).expect("start a two-node cluster");
    let client = cluster
        .node(1)
        .run(corosync::quorum::Quorum::new)
        .unwrap()
        .unwrap();
    let daemon = cluster.node(1).pid().unwrap();
    cluster.kill(1).unwrap();
    assert!(
        !shm_files_of(&[daemon]).is_empty(),
        "the killed daemon left shared memory"
    );
    let footprint = Footprint::of(&cluster);
    footprint.assert_exists();
    drop(cluster);
    footprint.assert_gone();
    drop(client);

    // Drop during a panic unwinding out of a test body.
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::panic::catch_unwind(move || {
        let cluster = Cluster::single().expect("start");
        tx.send(Footprint::of(&cluster)).unwrap();
        panic!("the test failed");
    });
    let payload = outcome.expect_err("the test body panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the test failed"));
    let footprint = rx.try_recv().expect("the footprint, sent before the panic");
    footprint.assert_gone();
}

#[test]
fn bad_sizes_are_refused() {
    for n in [0, corosync_tests::MAX_NODES + 1] {
        let err = Cluster::new(n).expect_err("refused");
        assert!(err.to_string().contains("1 to 5 nodes"), "{err}");
    }
}

#[test]
fn the_harness_says_what_to_do_without_root_or_corosync() {
    let probe = env!("CARGO_BIN_EXE_harness-preflight");
    let ok = output(&mut Command::new(probe), COMMAND_WAIT).unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // `nobody` must be able to run the probe: copy it where it can. (By
    // `cp`, in a process of its own: a copy written here would be open for
    // writing in every child another test's thread forks meanwhile, and
    // running it would fail with "Text file busy".)
    let copy = std::env::temp_dir().join(format!("harness-preflight-{}", std::process::id()));
    let copied = output(Command::new("cp").arg(probe).arg(&copy), COMMAND_WAIT).unwrap();
    assert!(copied.status.success(), "cp {probe}: {copied:?}");
    let out = output(
        Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&copy),
        COMMAND_WAIT,
    )
    .unwrap();
    let _ = std::fs::remove_file(&copy);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must run as root"), "{err}");

    let out = output(
        Command::new(probe).env("COROSYNC_BINARY", "/nonexistent/corosync"),
        COMMAND_WAIT,
    )
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not installed") && err.contains("apt-get install corosync"),
        "{err}"
    );
}
