//! Starts a corosync cluster with the test harness.
//!
//! `cluster [N]` starts N nodes (default 1) and keeps them running until
//! stdin closes or a line is read, so programs can be tried against it by
//! hand: `ip netns exec <namespace> <program>`.
//!
//! `cluster [N] --run [--limit SECONDS] -- COMMAND [ARGS...]` starts the
//! cluster, runs COMMAND in node 1's network namespace (where corosync
//! clients reach node 1's daemon), tears the cluster down and exits with
//! the command's status (128 + the signal if a signal ended it). A command
//! still running after SECONDS (default 3600) is killed with everything it
//! started, and the exit status is 124. SIGINT, SIGTERM and SIGHUP are
//! passed on to the command; the cluster is torn down after it ends.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use corosync_tests::bounded;
use corosync_tests::Cluster;

const USAGE: &str = "usage: cluster [NODES] [--run [--limit SECONDS] -- COMMAND [ARGS...]]";

/// The last of SIGINT, SIGTERM or SIGHUP received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::Relaxed);
}

/// What the command line asks for.
struct Args {
    nodes: usize,
    /// The command to run and how long it may run, for `--run`.
    run: Option<(Vec<String>, Duration)>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut nodes = 1;
    let mut run = false;
    let mut limit = Duration::from_secs(3600);
    let mut command = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--run" => run = true,
            "--limit" => {
                i += 1;
                let secs = args.get(i).and_then(|s| s.parse().ok());
                limit = Duration::from_secs(secs.ok_or("--limit needs a number of seconds")?);
            }
            "--" => {
                command = args[i + 1..].to_vec();
                break;
            }
            n => {
                nodes = n
                    .parse()
                    .map_err(|_| format!("not a number of nodes: {n}"))?
            }
        }
        i += 1;
    }
    match (run, command.is_empty()) {
        (true, true) => Err("--run needs a command after --".into()),
        (false, false) => Err("a command after -- needs --run".into()),
        (true, false) => Ok(Args {
            nodes,
            run: Some((command, limit)),
        }),
        (false, true) => Ok(Args { nodes, run: None }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = parse(&args).unwrap_or_else(|err| {
        eprintln!("cluster: {err}\n{USAGE}");
        std::process::exit(2);
    });
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { libc::signal(signal, note_signal as *const () as libc::sighandler_t) };
    }
    // (No watchdog: the cluster lives as long as its user or `--limit`
    // wants.)
    let cluster = match Cluster::builder(args.nodes).no_time_limit().start() {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("cluster: {err}");
            std::process::exit(1);
        }
    };
    let code = match args.run {
        Some((command, limit)) => run(&cluster, &command, limit),
        None => {
            interactive(&cluster);
            0
        }
    };
    // Exit skips destructors: tear the cluster down first.
    drop(cluster);
    std::process::exit(code);
}

/// Prints the nodes and waits for a line on stdin, the end of stdin or a
/// signal.
fn interactive(cluster: &Cluster) {
    for node in cluster.nodes() {
        println!(
            "node {}: namespace {}, pid {}",
            node.nodeid(),
            node.netns().name(),
            node.pid().unwrap_or(0)
        );
    }
    println!("running; press Enter (or close stdin) to stop");
    let lines = corosync_tests::lines_of(std::io::stdin());
    while SIGNAL.load(Ordering::Relaxed) == 0 {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
}

/// Runs `command` on node 1, in a process group of its own, and returns
/// the exit status to leave with.
fn run(cluster: &Cluster, command: &[String], limit: Duration) -> i32 {
    let node = cluster.node(0);
    let mut cmd = node.command(&command[0]).unwrap_or_else(|err| {
        eprintln!("cluster: {err}");
        std::process::exit(1);
    });
    cmd.args(&command[1..]).process_group(0);
    let what = bounded::describe(&cmd);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln!("cluster: run `{what}`: {err}");
            return 127;
        }
    };
    let group = child.id() as i32;
    let deadline = Instant::now() + limit;
    let mut passed_on = 0;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_code(status),
            Ok(None) => {}
            Err(err) => {
                eprintln!("cluster: wait for `{what}`: {err}");
                return 1;
            }
        }
        let signal = SIGNAL.load(Ordering::Relaxed);
        if signal != 0 && signal != passed_on {
            passed_on = signal;
            // SAFETY: kill only sends a signal, to the group we made.
            unsafe { libc::kill(-group, signal) };
        }
        if Instant::now() >= deadline {
            eprintln!("cluster: `{what}` still ran after {limit:?}; killed");
            // SAFETY: kill only sends a signal, to the group we made.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            // (Reaped if it goes within the bound; the exit code says it all.)
            let _ = bounded::try_wait_child(&mut child, bounded::NO_HANG);
            return 124;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shell's convention: the exit code, or 128 + the signal.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
