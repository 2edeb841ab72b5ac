//! SAM on a real daemon. SAM owns the process it runs in and forks, so each
//! scenario runs the `sam-worker` binary in a process of its own, inside
//! the node's namespace, and reads what it prints.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use corosync::cmap::Cmap;
use corosync_tests::bounded;
use corosync_tests::process::Process;
use corosync_tests::{Cluster, Node};

/// A `sam-worker` running `scenario` on `node`: a SAM supervisor, which
/// forks the supervised child and prints what happens.
fn worker(node: &Node, scenario: &str) -> Process {
    Process::start(node, env!("CARGO_BIN_EXE_sam-worker"), [scenario])
}

const LONG: Duration = Duration::from_secs(20);

/// The child's pid in a line "instance N pid P supervisor S".
fn child_pid(line: &str) -> i32 {
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Whether process `pid` still exists (a zombie counts: its parent has not
/// waited for it).
fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Checks how a supervisor whose child libsam killed ended. When supervision
/// ends, libsam's supervisor calls `exit(WEXITSTATUS(child's status))`
/// (lib/sam.c, `sam_register`), and the child it killed with the warn
/// signal (SIGTERM) or SIGKILL has no exit code of its own: the supervisor
/// exits normally with code 0, not by a signal.
fn assert_ended_by_libsam(status: ExitStatus, seen: &[String]) {
    assert_eq!(
        (status.code(), status.signal()),
        (Some(0), None),
        "{status:?}: {seen:?}"
    );
}

#[test]
fn a_silent_child_is_restarted_and_restores_its_data() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "restart");
    let first = w.expect("instance 1 pid", LONG);
    w.expect("instance 1 stops sending", LONG);
    let second = w.expect("instance 2 pid", LONG);
    let restored = w.expect("instance 2 restored", LONG);
    assert!(
        restored.contains(r#""count=1\0with a NUL"... (100018 bytes, intact)"#),
        "{restored}"
    );
    // A new child each time, under the same supervisor.
    let pid = |l: &str| l.split_whitespace().nth(3).unwrap().to_string();
    let supervisor = |l: &str| l.split_whitespace().nth(5).unwrap().to_string();
    assert_ne!(pid(&first), pid(&second));
    assert_eq!(supervisor(&first), supervisor(&second));
    let (status, seen) = w.finish(LONG);
    assert!(status.success(), "{status:?}: {seen:?}");
}

#[test]
fn the_quit_policy_ends_the_process_group() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "quit");
    let child = child_pid(&w.expect("instance 1 pid", LONG));
    w.expect("instance 1 started", LONG);
    let (status, seen) = w.finish(LONG);
    assert_ended_by_libsam(status, &seen);
    // The child, which never ends by itself, was killed and reaped.
    assert!(!exists(child), "child {child} still exists");
    assert!(
        !seen.iter().any(|l| l.contains("instance 2")),
        "no restart: {seen:?}"
    );
}

#[test]
fn a_child_marked_failed_is_killed_not_restarted_and_cmap_says_so() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "mark-failed");
    let line = w.expect("instance 1 pid", LONG);
    let supervisor: u32 = line.split_whitespace().nth(5).unwrap().parse().unwrap();
    w.expect("marks itself failed", LONG);
    let (status, seen) = w.finish(LONG);
    assert_ended_by_libsam(status, &seen);
    assert!(!exists(child_pid(&line)), "the failed child still exists");
    // libsam turns the recovery into "quit" for a failed child.
    assert!(!seen.iter().any(|l| l.contains("instance 2")), "{seen:?}");
    let state = cluster
        .node(0)
        .run(move || {
            Cmap::new()
                .unwrap()
                .get_string(format!("resources.process.{supervisor}.state"))
        })
        .unwrap()
        .unwrap();
    assert_eq!(state, b"failed");
}

#[test]
fn with_the_cmap_flag_the_state_is_visible_in_cmap() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "cmap");
    let line = w.expect("instance 1 pid", LONG);
    let supervisor: u32 = line.split_whitespace().nth(5).unwrap().parse().unwrap();
    w.expect("instance 1 running", LONG);
    let read = |key: &'static str| {
        cluster
            .node(0)
            .run(move || {
                Cmap::new()
                    .unwrap()
                    .get(format!("resources.process.{supervisor}.{key}"))
                    .map(|v| format!("{v:?}"))
            })
            .unwrap()
    };
    assert_eq!(
        read("state").unwrap(),
        r#"String([114, 117, 110, 110, 105, 110, 103])"#,
        "running"
    );
    assert_eq!(
        read("recovery").unwrap(),
        r#"String([114, 101, 115, 116, 97, 114, 116])"#,
        "restart"
    );
    assert_eq!(read("poll_period").unwrap(), "U64(500)");
    assert!(read("last_updated").unwrap().starts_with("U64("));
    w.say("");
    w.expect("instance 1 done", LONG);
    let (status, _) = w.finish(LONG);
    assert!(status.success());
    // The supervisor removed its keys when it quit.
    assert_eq!(read("state"), Err(corosync::Error::NotExist));
}

#[test]
fn the_health_check_callback_keeps_the_child_alive_or_fails_it() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "callback");
    let alive = w.expect("alive without explicit health checks", LONG);
    let calls: u32 = alive.rsplit(' ').nth(1).unwrap().parse().unwrap();
    assert!(calls >= 1, "{alive}");
    let (status, seen) = w.finish(LONG);
    assert!(status.success());
    assert!(!seen.iter().any(|l| l.contains("instance 2")), "{seen:?}");

    let mut w = worker(cluster.node(0), "callback-fail");
    w.expect("instance 2 restarted", LONG);
    let (status, seen) = w.finish(LONG);
    // Instance 2 returns from main: the supervisor passes on its 0.
    assert!(status.success(), "{status:?}: {seen:?}");
    assert!(
        !seen.iter().any(|l| l.contains("alive without")),
        "{seen:?}"
    );
}

#[test]
fn losing_quorum_ends_the_supervised_process() {
    let mut cluster = Cluster::new(3).expect("cluster");
    let mut w = worker(cluster.node(0), "quorum");
    let child = child_pid(&w.expect("instance 1 pid", LONG));
    w.expect("instance 1 running", LONG);
    cluster.kill(1).unwrap();
    cluster.kill(2).unwrap();
    let (status, seen) = w.finish(Duration::from_secs(40));
    assert_ended_by_libsam(status, &seen);
    assert!(!exists(child), "child {child} still exists");
    assert!(
        !seen.iter().any(|l| l.contains("done")),
        "it was ended, not told to stop: {seen:?}"
    );
}

#[test]
fn register_refuses_a_process_with_threads() {
    let cluster = Cluster::single().expect("cluster");
    let mut w = worker(cluster.node(0), "threads");
    let line = w.expect("register", LONG);
    let refused = corosync::Error::MultiThreaded { threads: 2 };
    assert!(
        line.contains(&format!("register refused: {refused:?}")),
        "{line}"
    );
    let (status, seen) = w.finish(LONG);
    assert!(status.success());
    assert_eq!(seen.len(), 1, "nothing forked: {seen:?}");
}

#[test]
fn the_counter_example_survives_its_crashes() {
    let cluster = Cluster::single().expect("cluster");
    let program = corosync_tests::example_binary("sam_counter").unwrap();
    let mut counter = cluster.node(0).command(program.to_str().unwrap()).unwrap();
    counter.args(["4", "10"]);
    let out =
        bounded::output(&mut counter, bounded::COMMAND_WAIT).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Three workers: 1..4, crash, 5..8, crash, 9..10; each restores the count.
    assert!(text.contains("instance 1: starting from 0"), "{text}");
    assert!(text.contains("instance 2: starting from 4"), "{text}");
    assert!(text.contains("instance 3: starting from 8"), "{text}");
    assert!(text.contains("instance 3: reached 10, done"), "{text}");
    let counted: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split_once(": ").and_then(|(_, n)| n.parse().ok()))
        .collect();
    assert_eq!(
        counted,
        (1..=10).collect::<Vec<_>>(),
        "each step once, in order"
    );
}
