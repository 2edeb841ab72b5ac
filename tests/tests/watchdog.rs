//! The harness's watchdog (`corosync_tests::watchdog`) on real daemons,
//! with time limits of a few seconds set on each cluster: a call blocked
//! on a stopped daemon fails once the watchdog has killed it, and a test
//! stuck where the daemons do not reach is aborted, with a report naming
//! it.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::{Duration, Instant};

use corosync::cpg::Cpg;
use corosync::Error;
use corosync_tests::bounded::{output, returns_within, NO_HANG};
use corosync_tests::events::WAIT;
use corosync_tests::{netns, shm_files_of, Cluster};

/// SIGSTOP or SIGCONT to a daemon the test started.
fn signal(pid: u32, signal: i32) {
    // SAFETY: kill only sends a signal, to a daemon this test started.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "signal {signal} to {pid}");
}

#[test]
fn a_call_blocked_on_a_stopped_daemon_fails_once_the_watchdog_kills_it() {
    let mut cluster = Cluster::builder(1)
        .time_limit(Duration::from_secs(3))
        .start()
        .expect("cluster");
    let cpg = cluster.node(0).run(Cpg::new).unwrap().unwrap();
    let pid = cluster.node(0).pid().unwrap();
    // A stopped daemon holds a request until it goes on: only the
    // watchdog, 3 s after the cluster formed, ends this one. (The bound
    // is far beyond that; it only tells an answer from a hang.)
    signal(pid, libc::SIGSTOP);
    let answer = returns_within(WAIT, "a request to the stopped daemon", move || {
        cpg.local_nodeid()
    });
    assert_eq!(answer, Err(Error::Library));
    // The watchdog killed it: nothing else here sends SIGKILL.
    let status = cluster.wait_for_exit(0, NO_HANG).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
}

/// Whether process `pid` exists and is not a zombie.
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.chars().next()? != 'Z'))
        .unwrap_or(false)
}

/// Set in the environment of the copy of this test binary that
/// [`a_test_stuck_after_its_daemons_were_killed_is_aborted`] runs: there
/// that test is the stuck one.
const STUCK: &str = "COROSYNC_RS_STUCK_WATCHDOG_TEST";

/// The test's own name, as libtest names its thread.
const NAME: &str = "a_test_stuck_after_its_daemons_were_killed_is_aborted";

#[test]
fn a_test_stuck_after_its_daemons_were_killed_is_aborted() {
    if std::env::var_os(STUCK).is_some() {
        // The stuck test: a cluster with a 1 s limit and a 2 s grace,
        // and a wait that killing its daemons does not end.
        let cluster = Cluster::builder(1)
            .time_limit(Duration::from_secs(1))
            .abort_grace(Duration::from_secs(2))
            .start()
            .expect("cluster");
        let node = cluster.node(0);
        println!(
            "cluster {} {} {}",
            node.netns().name(),
            cluster.dir().display(),
            node.pid().unwrap()
        );
        std::thread::sleep(Duration::from_secs(120));
        panic!("not aborted within 120 s");
    }
    let mut stuck = Command::new(std::env::current_exe().unwrap());
    stuck
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(STUCK, "1");
    // SAFETY: runs in the forked child before exec; setrlimit is
    // async-signal-safe, and no core file is wanted from the abort.
    unsafe {
        stuck.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &none) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = output(&mut stuck, Duration::from_secs(300)).unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    // Clean up after it first: its namespace, folder and daemon's shared
    // memory (an aborted process drops nothing).
    // (libtest's "test <name> ... " comes first on that line.)
    let made = stdout
        .lines()
        .find_map(|l| Some(l.split_once("cluster ")?.1))
        .unwrap_or_else(|| panic!("no cluster line; stdout:\n{stdout}\nstderr:\n{stderr}"));
    let [namespace, dir, pid] = made.split(' ').collect::<Vec<_>>()[..] else {
        panic!("not `cluster <namespace> <folder> <pid>`: {made}");
    };
    let pid: u32 = pid.parse().unwrap();
    // The watchdog killed the daemon (before the clean-up below would).
    let deadline = Instant::now() + NO_HANG;
    while runs(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = !runs(pid);
    // (The stuck copy's cluster has this process's mark: same environment.)
    corosync_tests::remove_stale(&corosync_tests::default_mark());
    let _ = std::fs::remove_dir_all(dir);
    for leftover in shm_files_of(&[pid]) {
        let _ = std::fs::remove_dir_all(&leftover).or_else(|_| std::fs::remove_file(&leftover));
    }
    assert!(!netns::list().iter().any(|n| n == namespace));
    assert!(killed, "the stuck test's daemon {pid} still runs");

    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "{}; stderr:\n{stderr}",
        out.status
    );
    // The report: the test by name, how long, each node's log.
    let stopping = format!("test {NAME}: still running after ");
    let report = stderr
        .lines()
        .position(|l| l.starts_with(&stopping) && l.ends_with(" s; stopping its daemons"))
        .unwrap_or_else(|| panic!("no line `{stopping}N s; stopping its daemons`:\n{stderr}"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[report + 1],
        format!("----- log of node 1 ({namespace}), its end -----"),
        "{stderr}"
    );
    assert!(
        lines[report + 2..]
            .iter()
            .any(|l| l.contains(&format!("[{pid}]")) && l.contains("corosync")),
        "no line of the daemon's log:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "test {NAME}: still running 2 s after its daemons were stopped; aborting\n"
        )),
        "{stderr}"
    );
}
