//! Waits with a deadline. A call that must return rather than hang (such as
//! every call on a handle whose daemon has gone) runs through
//! [`returns_within`]; a thread is joined with [`join_within`]; threads
//! meet at a [`Barrier`]; a child process is waited for with
//! [`wait_child`] and run to completion with [`output`]. A hang then fails
//! the test, naming what it waited for, instead of stopping it forever.
//!
//! The kit's own waits are all built on these.

use std::io::{self, Read};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bound for calls that answer within milliseconds when they work
/// (such as calls on a handle whose daemon has stopped, which fail at
/// once). It is generous on purpose: it only tells an answer from a hang,
/// and says nothing about speed.
pub const NO_HANG: Duration = Duration::from_secs(10);

/// How long a short helper command (`ip`, `corosync-quorumtool`, one of
/// the tools) may run: far longer than it needs on a loaded machine.
pub const COMMAND_WAIT: Duration = Duration::from_secs(60);

/// The variable that a tool slowing the test process down sets (as
/// `scripts/memcheck.sh` does for valgrind): a whole factor for [`slowed`].
pub const SLOWDOWN_VAR: &str = "COROSYNC_TEST_SLOWDOWN";

/// `bound` times the factor in `COROSYNC_TEST_SLOWDOWN` (1 when unset),
/// for a deadline on the test process's own progress, which such a tool
/// slows down; never for a time that is itself the behaviour tested.
pub fn slowed(bound: Duration) -> Duration {
    match std::env::var(SLOWDOWN_VAR) {
        Err(_) => bound,
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(factor) if factor >= 1 => bound * factor,
            _ => panic!("{SLOWDOWN_VAR}={v:?} is not a whole factor of 1 or more"),
        },
    }
}

/// How often the polling waits here look again.
const POLL: Duration = Duration::from_millis(10);

/// Runs `f` on a thread of its own and returns what it returns, or `None`
/// if it has not returned within `limit` (the thread is then left behind).
/// A panic in `f` comes back to the caller.
pub fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // (The receiver is gone only if the caller stopped waiting.)
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => None,
    }
}

/// Runs `f` on a thread of its own and returns what it returns, if it
/// returns within `limit`. A panic in `f` (a failed assertion) comes back
/// to the caller; if `f` has not returned by then, the test fails naming
/// `what`, and the thread is left behind.
pub fn returns_within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    within(limit, f).unwrap_or_else(|| panic!("{what}: no answer within {limit:?}; it hangs"))
}

/// Joins `thread` if it finishes within `limit` and returns its result; a
/// panic in it comes back to the caller. If it still runs by then, the
/// test fails naming `what` (the thread is left behind).
pub fn join_within<T>(thread: JoinHandle<T>, limit: Duration, what: &str) -> T {
    match try_join_within(thread, limit) {
        Ok(joined) => joined.unwrap_or_else(|panic| resume_unwind(panic)),
        Err(_) => panic!("{what}: the thread still runs after {limit:?}; it hangs"),
    }
}

/// Joins `thread` if it finishes within `limit`: `Ok` with what joining
/// it gave (its result, or its panic as `Err`), or `Err` with the thread
/// if it still runs.
pub fn try_join_within<T>(
    thread: JoinHandle<T>,
    limit: Duration,
) -> Result<std::thread::Result<T>, JoinHandle<T>> {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            return Err(thread);
        }
        std::thread::sleep(POLL);
    }
    Ok(thread.join())
}

/// A place where `count` threads meet once, as at a [`std::sync::Barrier`],
/// but a thread waits for the others at most a given time: one that failed
/// before it came never comes.
#[derive(Debug)]
pub struct Barrier {
    count: usize,
    arrived: Mutex<usize>,
    all_came: Condvar,
}

impl Barrier {
    /// A barrier for `count` threads.
    pub fn new(count: usize) -> Barrier {
        Barrier {
            count,
            arrived: Mutex::new(0),
            all_came: Condvar::new(),
        }
    }

    /// Waits until all `count` threads have come here; if they have not
    /// within `limit`, the test fails naming `what` and how many came.
    pub fn pass(&self, limit: Duration, what: &str) {
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        if *arrived >= self.count {
            self.all_came.notify_all();
            return;
        }
        let (arrived, waited) = self
            .all_came
            .wait_timeout_while(arrived, limit, |n| *n < self.count)
            .unwrap_or_else(|e| e.into_inner());
        let came = *arrived;
        drop(arrived);
        assert!(
            !waited.timed_out(),
            "{what}: {came} of {} threads came within {limit:?}",
            self.count
        );
    }
}

/// Waits up to `limit` for `child` to exit and returns its status; `None`
/// if it still runs (it is left running).
pub fn try_wait_child(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Waits up to `limit` for `child` to exit and returns its status. If it
/// still runs by then, it is killed and the test fails naming `what`.
pub fn wait_child(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    match try_wait_child(child, limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            // (Best effort: the failure below is the report.)
            let _ = child.kill();
            let _ = try_wait_child(child, NO_HANG);
            panic!("{what}: still running after {limit:?}; killed");
        }
        Err(e) => panic!("{what}: wait: {e}"),
    }
}

/// Runs `cmd` as [`Command::output`] does (stdin empty, stdout and stderr
/// captured) and returns its output, unless it has not exited and closed
/// its output within `limit`: then it is killed and the error (kind
/// `TimedOut`) names the command and what it had printed.
pub fn output(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    let deadline = Instant::now() + limit;
    let name = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
    let stdout = Collector::start(child.stdout.take().expect("piped stdout"));
    let stderr = Collector::start(child.stderr.take().expect("piped stderr"));
    let left = deadline.saturating_duration_since(Instant::now());
    let exited = try_wait_child(&mut child, left)?;
    // Its output ends when every process holding the pipes is gone.
    let ended = exited.is_some() && stdout.wait_end(deadline) && stderr.wait_end(deadline);
    match exited {
        Some(status) if ended => Ok(Output {
            status,
            stdout: stdout.take(),
            stderr: stderr.take(),
        }),
        _ => {
            let state = if exited.is_some() {
                "exited, but its output stayed open"
            } else {
                let _ = child.kill();
                let _ = try_wait_child(&mut child, NO_HANG);
                "still ran; killed"
            };
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{name}: {state} after {limit:?}; stdout so far: {:?}; stderr so far: {:?}",
                    String::from_utf8_lossy(&stdout.take()),
                    String::from_utf8_lossy(&stderr.take()),
                ),
            ))
        }
    }
}

/// `program arg arg...`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// A pipe read to its end on a thread of its own, so that what came
/// before a hang can still be shown.
struct Collector {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Collector {
    fn start(mut pipe: impl Read + Send + 'static) -> Collector {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = bytes.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            // (Nobody listens any more if the caller gave up.)
            let _ = tx.send(());
        });
        Collector { bytes, done }
    }

    /// Whether the pipe has ended by `deadline`.
    fn wait_end(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        !matches!(
            self.done.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    /// What was read so far.
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.bytes.lock().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_returns_what_a_command_printed_and_its_status() {
        let out = output(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            NO_HANG,
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn output_kills_a_command_that_hangs_and_says_what_it_printed() {
        let err = output(
            Command::new("sh").args(["-c", "echo before; exec sleep 600"]),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let text = err.to_string();
        assert!(text.contains("sh -c echo before; exec sleep 600"), "{text}");
        assert!(text.contains("still ran; killed"), "{text}");
        assert!(text.contains("before\\n"), "{text}");
    }

    #[test]
    fn output_fails_when_a_left_behind_process_keeps_the_output_open() {
        let err = output(
            Command::new("sh").args(["-c", "sleep 600 & echo $!"]),
            Duration::from_millis(500),
        )
        .unwrap_err();
        let text = err.to_string();
        // The sleeper's pid, from what the shell printed: it goes too.
        let digits = text.split("stdout so far: \"").nth(1).unwrap_or("");
        let pid: i32 = digits
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("no pid in {text}"));
        // SAFETY: kill only sends a signal, to the sleeper this test made.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(
            text.contains("exited, but its output stayed open"),
            "{text}"
        );
    }

    #[test]
    fn wait_child_kills_a_child_that_hangs_and_names_it() {
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        let pid = child.id();
        let panic = catch_unwind(AssertUnwindSafe(|| {
            wait_child(&mut child, Duration::from_millis(200), "the sleeper")
        }))
        .unwrap_err();
        let text = panic.downcast_ref::<String>().unwrap();
        assert!(
            text.starts_with("the sleeper: still running after"),
            "{text}"
        );
        // Killed and reaped: the pid is gone.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn join_within_returns_the_result_or_names_the_hung_thread() {
        let quick = std::thread::spawn(|| 7);
        assert_eq!(join_within(quick, NO_HANG, "a quick thread"), 7);
        let (_hold, wait) = mpsc::channel::<()>();
        let stuck = std::thread::spawn(move || wait.recv().is_ok());
        let panic = catch_unwind(AssertUnwindSafe(|| {
            join_within(stuck, Duration::from_millis(200), "the stuck thread")
        }))
        .unwrap_err();
        let text = panic.downcast_ref::<String>().unwrap();
        assert!(
            text.starts_with("the stuck thread: the thread still runs"),
            "{text}"
        );
    }

    #[test]
    fn a_barrier_lets_all_through_or_names_who_is_missing() {
        let barrier = Arc::new(Barrier::new(2));
        let other = barrier.clone();
        let thread = std::thread::spawn(move || other.pass(NO_HANG, "the other"));
        barrier.pass(NO_HANG, "this one");
        join_within(thread, NO_HANG, "the other thread");

        let lonely = Barrier::new(3);
        let panic = catch_unwind(AssertUnwindSafe(|| {
            lonely.pass(Duration::from_millis(200), "the start")
        }))
        .unwrap_err();
        let text = panic.downcast_ref::<String>().unwrap();
        assert_eq!(text, "the start: 1 of 3 threads came within 200ms");
    }

    #[test]
    fn returns_within_names_what_hangs() {
        let panic = catch_unwind(|| {
            returns_within(Duration::from_millis(200), "a call", || {
                std::thread::sleep(Duration::from_secs(5))
            })
        })
        .unwrap_err();
        let text = panic.downcast_ref::<String>().unwrap();
        assert!(text.starts_with("a call: no answer within"), "{text}");
    }
}
