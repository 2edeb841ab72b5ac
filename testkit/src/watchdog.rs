//! The last resort against a test that hangs where no wait of its own has
//! a deadline, such as a corosync call made inside [`Node::run`] on a
//! daemon that stopped answering: every [`Cluster`] has a time limit.
//!
//! When a cluster outlives its limit, the watchdog prints on stderr which
//! test made it (the name of the thread that started it: libtest names a
//! test's thread after the test), how long it has existed and the tail of
//! each node's log, and kills the cluster's daemons (SIGKILL), so that the
//! calls waiting on them fail and the test fails with its own message. If
//! the cluster still exists a grace time later, the test is stuck where
//! the daemons do not reach, and the watchdog aborts the process.
//!
//! The limit is [`DEFAULT_LIMIT`], `COROSYNC_TEST_LIMIT` seconds instead
//! (for slow machines), or what [`ClusterBuilder::time_limit`] sets; the
//! grace time is [`DEFAULT_GRACE`] unless [`ClusterBuilder::abort_grace`]
//! says otherwise. The clock starts when the cluster has formed.
//!
//! [`Node::run`]: crate::Node::run
//! [`Cluster`]: crate::Cluster
//! [`ClusterBuilder::time_limit`]: crate::ClusterBuilder::time_limit
//! [`ClusterBuilder::abort_grace`]: crate::ClusterBuilder::abort_grace

use std::fmt::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use crate::Error;

/// How long a cluster may exist unless `COROSYNC_TEST_LIMIT` or its
/// builder says otherwise: far longer than any test takes (the longest
/// takes a minute or two on a loaded 2-core machine).
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(10 * 60);

/// How long after stopping a cluster's daemons the watchdog waits for the
/// cluster to be dropped before it aborts the process.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// The variable that sets the limit, in seconds.
pub const LIMIT_VAR: &str = "COROSYNC_TEST_LIMIT";

/// How often the watchdog looks at the clusters.
const TICK: Duration = Duration::from_millis(200);

/// How many lines of each node's log the watchdog prints.
const LOG_LINES: usize = 40;

/// The limit for a cluster whose builder sets none: `COROSYNC_TEST_LIMIT`
/// seconds, or [`DEFAULT_LIMIT`].
pub(crate) fn default_limit() -> Result<Duration, Error> {
    let value = std::env::var_os(LIMIT_VAR);
    limit_from(value.as_ref().map(|v| v.to_string_lossy()).as_deref())
}

/// The limit that `COROSYNC_TEST_LIMIT=value` sets (unset: the default).
fn limit_from(value: Option<&str>) -> Result<Duration, Error> {
    let Some(text) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(Error::new(format!(
            "{LIMIT_VAR}={text:?} is not a positive number of seconds"
        ))),
    }
}

/// The daemon a node runs now, as the watchdog reaches it: a pidfd, which
/// names that one process even after it has exited and been reaped (a
/// pid could name another process by then).
#[derive(Debug, Default)]
pub(crate) struct Daemon(Mutex<Option<OwnedFd>>);

impl Daemon {
    /// Records the daemon `pid`, a child not yet reaped. Where the kernel
    /// has pidfds but the process runs under a tool that does not know the
    /// call (valgrind 3.19 answers ENOSYS), the watchdog cannot kill this
    /// daemon: it says so once and still aborts the process after the
    /// grace time.
    pub(crate) fn set(&self, pid: u32) -> Result<(), Error> {
        let fd = match pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && kernel_has_pidfd() => {
                static WARN: Once = Once::new();
                WARN.call_once(|| {
                    eprintln!(
                        "watchdog: pidfd_open is not available to this process (a tool such as \
                         valgrind intercepts it): it cannot kill a stuck cluster's daemons, \
                         and aborts the process after the grace time instead"
                    )
                });
                None
            }
            Err(e) => {
                return Err(Error::new(format!(
                    "pidfd_open({pid}): {e} (the kit's watchdog needs Linux 5.3 or later)"
                )))
            }
        };
        *lock(&self.0) = fd;
        Ok(())
    }

    /// Sends SIGKILL to the daemon, if it still runs.
    fn kill(&self) {
        if let Some(fd) = lock(&self.0).as_ref() {
            // SAFETY: a pidfd we own, a signal number, no siginfo, no flags;
            // one that has exited answers ESRCH, which is fine here.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        }
    }
}

/// Whether the running kernel has pidfds (5.3 and later), read from
/// `/proc/sys/kernel/osrelease`, not through a system call a tool could
/// intercept.
fn kernel_has_pidfd() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 3)
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A node as the watchdog sees it.
#[derive(Debug)]
pub(crate) struct WatchedNode {
    pub(crate) nodeid: u32,
    pub(crate) namespace: String,
    /// The node's folder, with its logs.
    pub(crate) dir: PathBuf,
    pub(crate) daemon: Arc<Daemon>,
}

/// What the watchdog knows of a cluster.
#[derive(Debug)]
struct Watched {
    id: u64,
    test: String,
    started: Instant,
    limit: Duration,
    grace: Duration,
    nodes: Vec<WatchedNode>,
    /// When the daemons were killed.
    fired: Option<Instant>,
}

static WATCHED: Mutex<Vec<Watched>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static STARTED: Once = Once::new();

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A cluster's registration with the watchdog, from now on; dropping it
/// ends the watch.
#[derive(Debug)]
pub(crate) struct Watch {
    id: u64,
}

impl Watch {
    /// Watches the cluster of `nodes`, made on the calling thread.
    pub(crate) fn start(limit: Duration, grace: Duration, nodes: Vec<WatchedNode>) -> Watch {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let test = std::thread::current()
            .name()
            .unwrap_or("(on an unnamed thread)")
            .to_string();
        lock(&WATCHED).push(Watched {
            id,
            test,
            started: Instant::now(),
            limit,
            grace,
            nodes,
            fired: None,
        });
        STARTED.call_once(|| {
            std::thread::Builder::new()
                .name("corosync-test-watchdog".into())
                .spawn(watchdog)
                .expect("start the kit's watchdog thread");
        });
        Watch { id }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        lock(&WATCHED).retain(|w| w.id != self.id);
    }
}

/// The watchdog thread: it runs as long as the process.
fn watchdog() {
    loop {
        std::thread::sleep(TICK);
        let now = Instant::now();
        for watched in lock(&WATCHED).iter_mut() {
            match watched.fired {
                None if now.duration_since(watched.started) >= watched.limit => {
                    watched.fired = Some(now);
                    eprint!("{}", stop(watched, now));
                }
                Some(at) if now.duration_since(at) >= watched.grace => {
                    eprintln!(
                        "test {}: still running {} s after its daemons were stopped; aborting",
                        watched.test,
                        watched.grace.as_secs()
                    );
                    std::process::abort();
                }
                _ => {}
            }
        }
    }
}

/// Kills the daemons of a cluster past its limit; returns the report.
fn stop(watched: &Watched, now: Instant) -> String {
    let mut report = format!(
        "test {}: still running after {} s; stopping its daemons\n",
        watched.test,
        now.duration_since(watched.started).as_secs()
    );
    for node in &watched.nodes {
        let _ = writeln!(
            report,
            "----- log of node {} ({}), its end -----",
            node.nodeid, node.namespace
        );
        report.push_str(&crate::cluster::tail(
            &crate::cluster::log_of(&node.dir),
            LOG_LINES,
        ));
        node.daemon.kill();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_the_default_or_a_positive_number_of_seconds() {
        assert_eq!(limit_from(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit_from(Some("1800")).unwrap(), Duration::from_secs(1800));
        assert_eq!(limit_from(Some(" 90\n")).unwrap(), Duration::from_secs(90));
        for bad in ["", "0", "-5", "10m", "1.5"] {
            let err = limit_from(Some(bad)).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("COROSYNC_TEST_LIMIT={bad:?} is not a positive number of seconds")
            );
        }
    }
}
