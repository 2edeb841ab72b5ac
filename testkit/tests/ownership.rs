//! The kit touches only what it made: its stale clean-up removes the
//! leftovers of its own mark whose creating process is gone, and nothing
//! else (another mark's, a running process's, names it did not make), and
//! users with different marks run clusters side by side.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use corosync::NodeId;
use corosync_testkit::bounded::{self, join_within, output, Barrier, COMMAND_WAIT, NO_HANG};
use corosync_testkit::{netns, remove_stale, Cluster};

/// The folder holding the kit's cluster folders (see the crate docs).
fn kit_dir() -> PathBuf {
    std::env::temp_dir().join("corosync-testkit")
}

/// Runs `ip args...` and fails the test if it fails.
fn ip(args: &[&str]) {
    let out = output(Command::new("ip").args(args), COMMAND_WAIT)
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn namespace_exists(name: &str) -> bool {
    PathBuf::from("/run/netns").join(name).exists()
}

/// The id of a process that has exited (and been reaped).
fn dead_pid() -> i32 {
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id();
    assert!(bounded::wait_child(&mut child, NO_HANG, "true").success());
    pid as i32
}

/// Namespaces and folders this test made, removed on drop (also after a
/// failed assertion) if the kit has not removed them.
#[derive(Default)]
struct Made {
    namespaces: Vec<String>,
    folders: Vec<PathBuf>,
    processes: Vec<Child>,
}

impl Made {
    fn namespace(&mut self, name: &str) {
        ip(&["netns", "add", name]);
        self.namespaces.push(name.to_string());
    }

    fn folder(&mut self, name: &str) -> PathBuf {
        let dir = kit_dir().join(name);
        std::fs::create_dir_all(&dir).expect("create a folder");
        std::fs::write(dir.join("corosync.log"), "left behind\n").expect("write a file");
        self.folders.push(dir.clone());
        dir
    }

    /// Starts `sleep` inside namespace `name`, as a daemon left there.
    fn sleeper_in(&mut self, name: &str) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", name, "sleep", "600"])
            .spawn()
            .expect("start a sleeper");
        self.processes.push(child);
        self.processes.len() - 1
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for child in &mut self.processes {
            // (Best effort: it is gone already when the kit killed it.)
            let _ = child.kill();
            let _ = bounded::try_wait_child(child, NO_HANG);
        }
        for name in &self.namespaces {
            if namespace_exists(name) {
                let _ = output(
                    Command::new("ip").args(["netns", "delete", name]),
                    COMMAND_WAIT,
                );
            }
        }
        for dir in &self.folders {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn the_stale_clean_up_removes_only_its_own_marks_leftovers_of_dead_processes() {
    let me = std::process::id();
    let dead = dead_pid();
    let mark = format!("own{me}");
    let other = format!("other{me}");
    let mut made = Made::default();

    // Ours: left by a process that is gone, with a "daemon" still in it.
    let stale_ns = format!("ctk.{mark}.{dead}.c0.n1");
    made.namespace(&stale_ns);
    let sleeper = made.sleeper_in(&stale_ns);
    let stale_dir = made.folder(&format!("ctk.{mark}.{dead}.c0"));
    // Ours, but its process runs (this one).
    let live_ns = format!("ctk.{mark}.{me}.c900.n1");
    made.namespace(&live_ns);
    // Another mark's, its process gone too, with a bridge inside.
    let foreign_ns = format!("ctk.{other}.{dead}.c0.n1");
    made.namespace(&foreign_ns);
    ip(&["-n", &foreign_ns, "link", "add", "br0", "type", "bridge"]);
    let foreign_dir = made.folder(&format!("ctk.{other}.{dead}.c0"));
    // Names the kit does not make, however alike.
    let alike = [
        format!("crs{dead}c0n1"),
        format!("ctk{mark}{dead}c0n1"),
        format!("ctk.{mark}.{dead}"),
        format!("x.ctk.{mark}.{dead}.c0.n1"),
    ];
    for name in &alike {
        made.namespace(name);
    }
    // (The sleeper is in the namespace once `ip netns pids` lists it.)
    let deadline = std::time::Instant::now() + NO_HANG;
    while output(
        Command::new("ip").args(["netns", "pids", &stale_ns]),
        COMMAND_WAIT,
    )
    .map(|o| o.stdout.is_empty())
    .unwrap_or(true)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleeper in {stale_ns} did not start within {NO_HANG:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let removed = remove_stale(&mark);
    assert_eq!(removed.namespaces, std::slice::from_ref(&stale_ns));
    assert_eq!(removed.folders, std::slice::from_ref(&stale_dir));
    assert!(!namespace_exists(&stale_ns));
    assert!(!stale_dir.exists());
    let status = bounded::wait_child(
        &mut made.processes[sleeper],
        NO_HANG,
        "the sleeper in the stale namespace",
    );
    assert!(!status.success(), "the sleeper was killed: {status}");

    assert!(namespace_exists(&live_ns), "{live_ns} was removed");
    assert!(namespace_exists(&foreign_ns), "{foreign_ns} was removed");
    ip(&["-n", &foreign_ns, "link", "show", "br0"]);
    assert!(
        foreign_dir.exists(),
        "{} was removed",
        foreign_dir.display()
    );
    for name in &alike {
        assert!(namespace_exists(name), "{name} was removed");
    }
    assert!(netns::list().contains(&foreign_ns));
    assert!(!netns::list().contains(&alike[0]));

    // The other mark's clean-up takes its own.
    let removed = remove_stale(&other);
    assert_eq!(removed.namespaces, std::slice::from_ref(&foreign_ns));
    assert_eq!(removed.folders, [foreign_dir]);
}

#[test]
fn the_first_cluster_of_a_mark_removes_its_stale_leftovers() {
    let me = std::process::id();
    let dead = dead_pid();
    let mark = format!("first{me}");
    let mut made = Made::default();
    let stale_ns = format!("ctk.{mark}.{dead}.c3.n1");
    made.namespace(&stale_ns);
    let stale_dir = made.folder(&format!("ctk.{mark}.{dead}.c3"));
    let foreign_ns = format!("ctk.notmine{me}.{dead}.c3.n1");
    made.namespace(&foreign_ns);

    let cluster = Cluster::builder(1)
        .mark(&mark)
        .start()
        .expect("a one-node cluster");
    assert_eq!(cluster.mark(), mark);
    assert!(!namespace_exists(&stale_ns), "{stale_ns} is still there");
    assert!(
        !stale_dir.exists(),
        "{} is still there",
        stale_dir.display()
    );
    assert!(namespace_exists(&foreign_ns), "{foreign_ns} was removed");
}

#[test]
fn two_users_with_different_marks_run_clusters_at_the_same_time() {
    let me = std::process::id();
    // Both clusters exist at once: each waits at the barrier for the other.
    let both = Arc::new(Barrier::new(2));
    let threads: Vec<_> = ["alpha", "beta"]
        .into_iter()
        .map(|user| {
            let both = both.clone();
            let mark = format!("{user}{me}");
            std::thread::spawn(move || {
                let cluster = Cluster::builder(2)
                    .mark(&mark)
                    .start()
                    .unwrap_or_else(|e| panic!("{mark}'s cluster: {e}"));
                both.pass(
                    Duration::from_secs(20 * 60),
                    "both clusters started (each may wait for a slot)",
                );
                for node in cluster.nodes() {
                    assert_eq!(
                        node.quorum_view().expect("a quorum view"),
                        (true, vec![NodeId::new(1), NodeId::new(2)]),
                        "{mark}'s node {}",
                        node.nodeid()
                    );
                }
                let prefix = format!("ctk.{mark}.{me}.c");
                assert!(cluster.name().starts_with(&prefix), "{}", cluster.name());
                let namespaces = cluster.namespaces();
                assert_eq!(namespaces.len(), 3);
                for name in &namespaces {
                    assert!(name.starts_with(&prefix), "{name}");
                    assert!(namespace_exists(name), "{name}");
                }
                both.pass(Duration::from_secs(120), "both clusters checked");
                namespaces
            })
        })
        .collect();
    let made: Vec<Vec<String>> = threads
        .into_iter()
        .map(|t| join_within(t, Duration::from_secs(25 * 60), "a user's cluster"))
        .collect();
    for name in made.concat() {
        assert!(!namespace_exists(&name), "{name} left behind");
    }
}

#[test]
fn a_mark_that_cannot_be_one_is_refused() {
    for bad in ["a.b", "", "a/b", "with space"] {
        let err = Cluster::builder(1)
            .mark(bad)
            .start()
            .expect_err("refused")
            .to_string();
        assert!(err.contains("is not 1 to 32 of"), "{bad:?}: {err}");
    }
}
