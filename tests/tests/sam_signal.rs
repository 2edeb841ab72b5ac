//! The signal a SAM supervisor warns a failed child with, as the child
//! sees it: SIGTERM by default, the one `Sam::set_warn_signal` set
//! otherwise, and SIGKILL after it.

use std::time::Duration;

use corosync_tests::process::Process;
use corosync_tests::Cluster;

const LONG: Duration = Duration::from_secs(20);

/// Runs `sam-worker` `scenario`, whose first child stops its health checks
/// and prints the signals it gets (it survives SIGTERM and SIGUSR1), and
/// returns the warnings it printed before the SIGKILL that brought the
/// restart.
fn warnings(cluster: &Cluster, scenario: &str) -> Vec<String> {
    let mut w = Process::start(
        cluster.node(0),
        env!("CARGO_BIN_EXE_sam-worker"),
        [scenario],
    );
    w.expect("instance 1 stops sending health checks", LONG);
    // Only a SIGKILL ends the first child: the restart comes after it.
    w.expect("instance 2 restarted", LONG);
    let (status, seen) = w.finish(LONG);
    assert!(status.success(), "{status:?}: {seen:?}");
    seen.into_iter().filter(|l| l.contains("warned")).collect()
}

#[test]
fn a_failed_child_is_warned_with_the_signal_it_set_then_killed() {
    let cluster = Cluster::single().expect("cluster");
    assert_eq!(
        warnings(&cluster, "warn-default"),
        ["instance 1 warned with SIGTERM"],
        "libsam's default warning"
    );
    assert_eq!(
        warnings(&cluster, "warn-sigusr1"),
        ["instance 1 warned with SIGUSR1"],
        "the warning set with set_warn_signal"
    );
}
