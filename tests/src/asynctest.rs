//! Helpers for the tests of the tokio adapters (`corosync::tokio`):
//! runtimes, adapters made on a node, reading their streams (a time limit
//! only turns a hang into a failure that says what was awaited), and a
//! stopped daemon during which a runtime shows that its threads are free.

use std::fmt::Debug;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cpg::GroupName;
use corosync::tokio::{AsyncCpg, CpgEvent, CpgEvents, Dispatch, Events};

use crate::events::WAIT;
use crate::Node;

/// A current-thread runtime with its IO and time drivers.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A runtime with two worker threads and its IO and time drivers.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// [`on_node`](crate::on_node) with the current runtime entered, so that
/// adapters made there talk to that node's daemon and register with this
/// runtime.
pub fn on_node_in_runtime<T: Send>(node: &Node, f: impl FnOnce() -> T + Send) -> T {
    let rt = tokio::runtime::Handle::current();
    crate::on_node(node, move || {
        let _guard = rt.enter();
        f()
    })
}

/// Runs the future `f` makes (connecting adapters, say) on a runtime whose
/// threads, its blocking pool's included, are inside `node`'s network
/// namespace, so that the connections it makes talk to that node's daemon
/// (an adapter connects on the blocking pool of the runtime it is awaited
/// in); returns its output, and resumes its panic here. The adapters then
/// serve any runtime: their requests and drops go to the pool of the
/// runtime they are called in, while their descriptors stay registered
/// with the node's runtime, which lives as long as the test process (one
/// per namespace, a worker thread that waits on its reactor).
pub async fn on_node_async<T, F>(node: &Node, f: impl FnOnce() -> F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match node_runtime(node).spawn(f()).await {
        Ok(output) => output,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("the task on node {}'s runtime: {err}", node.index()),
    }
}

/// The runtime of `node`'s namespace (see [`on_node_async`]), made the
/// first time it is asked for.
fn node_runtime(node: &Node) -> tokio::runtime::Handle {
    static RUNTIMES: Mutex<Vec<((u64, u64), tokio::runtime::Runtime)>> = Mutex::new(Vec::new());
    // (A namespace is known by its inode: a name may come back for another
    // one.)
    let meta = std::fs::metadata(node.netns().path()).expect("the node's namespace file");
    let key = (meta.dev(), meta.ino());
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, runtime)) = runtimes.iter().find(|(k, _)| *k == key) {
        return runtime.handle().clone();
    }
    // Built on a thread of the namespace: the threads it starts, and those
    // its own threads start, are in it too.
    let runtime = crate::on_node(node, || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    });
    let handle = runtime.handle().clone();
    runtimes.push((key, runtime));
    handle
}

/// A stream of the tokio adapters, read through its inherent `next`.
pub trait EventStream: Send {
    /// What the stream yields (inside `Ok`).
    type Event: Debug + Send;

    /// The stream's `next()`.
    fn next_event(
        &mut self,
    ) -> impl Future<Output = Option<corosync::Result<Self::Event>>> + Send + '_;
}

impl<H: Dispatch, E: Debug + Send> EventStream for Events<H, E> {
    type Event = E;

    fn next_event(&mut self) -> impl Future<Output = Option<corosync::Result<E>>> + Send + '_ {
        self.next()
    }
}

impl EventStream for CpgEvents {
    type Event = CpgEvent;

    fn next_event(
        &mut self,
    ) -> impl Future<Output = Option<corosync::Result<CpgEvent>>> + Send + '_ {
        self.next()
    }
}

/// The next item of `s`: `Some(item)`, or `None` when the stream has
/// ended. Panics, naming `what` it waited for, if neither happens within
/// `timeout` (a guard against a hang, never a measure).
pub async fn next<S: EventStream>(
    s: &mut S,
    timeout: Duration,
    what: &str,
) -> Option<corosync::Result<S::Event>> {
    match tokio::time::timeout(timeout, s.next_event()).await {
        Ok(item) => item,
        Err(_) => panic!("waited {timeout:?} for {what}: the stream neither yielded nor ended"),
    }
}

/// Reads events until `pred` holds for one and returns it; panics when
/// the stream fails or ends first, or when none comes within `timeout`,
/// saying which and what it saw.
pub async fn until<S: EventStream>(
    s: &mut S,
    timeout: Duration,
    mut pred: impl FnMut(&S::Event) -> bool,
) -> S::Event {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, s.next_event()).await {
            Ok(Some(Ok(event))) => {
                if pred(&event) {
                    return event;
                }
                seen.push(format!("{event:?}"));
            }
            Ok(Some(Err(err))) => panic!("the stream failed ({err:?}); saw {seen:?}"),
            Ok(None) => panic!("the stream ended; saw {seen:?}"),
            Err(_) => panic!("no awaited event within {timeout:?}; saw {seen:?}"),
        }
    }
}

/// Reads `s` to its end, which must come with an error (the stream of a
/// connection whose daemon has gone) within `timeout` (a guard against a
/// hang); returns that error. Panics, naming the stream `what`, if it
/// ends without one, yields anything after it, or does not end in time.
pub async fn ends_with_error<S: EventStream>(
    s: &mut S,
    timeout: Duration,
    what: &str,
) -> corosync::Error {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut error = None;
    loop {
        match tokio::time::timeout_at(deadline, s.next_event()).await {
            Ok(Some(Ok(event))) => {
                assert!(
                    error.is_none(),
                    "the {what} stream yielded {event:?} after {error:?}"
                )
            }
            Ok(Some(Err(err))) => {
                assert!(
                    error.is_none(),
                    "the {what} stream yielded {err:?} after {error:?}"
                );
                error = Some(err);
            }
            Ok(None) => {
                return error.unwrap_or_else(|| panic!("the {what} stream ended without an error"))
            }
            Err(_) => panic!("the {what} stream did not end within {timeout:?} (error: {error:?})"),
        }
    }
}

/// A daemon stopped with SIGSTOP, so that requests to it wait: it goes on
/// (SIGCONT) after [`Stopped::answer_pings`], when this is dropped, or
/// after [`WAIT`] as a guard against a test that something blocks.
pub struct Stopped {
    pid: i32,
    /// Set when the guard let the daemon go on.
    guard_fired: Arc<AtomicBool>,
    /// Dropped to call the guard off.
    _guard: std::sync::mpsc::Sender<()>,
}

/// SIGCONT to `pid`.
fn resume(pid: i32) {
    // SAFETY: a signal to a daemon the test started.
    unsafe { libc::kill(pid, libc::SIGCONT) };
}

impl Stopped {
    /// Stops the daemon `pid` (one the test started).
    pub fn new(pid: i32) -> Stopped {
        // SAFETY: a signal to a daemon the test started.
        let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(rc, 0, "SIGSTOP {pid}");
        let (guard, called_off) = std::sync::mpsc::channel::<()>();
        let guard_fired = Arc::new(AtomicBool::new(false));
        let fired = guard_fired.clone();
        std::thread::spawn(move || {
            if called_off.recv_timeout(WAIT) == Err(RecvTimeoutError::Timeout) {
                fired.store(true, Ordering::SeqCst);
                resume(pid);
            }
        });
        Stopped {
            pid,
            guard_fired,
            _guard: guard,
        }
    }

    /// Shows that the runtime this is awaited on runs other tasks while
    /// the daemon is stopped: another thread sends `rounds` pings, one
    /// at a time, and a task of this runtime answers each. Then the
    /// daemon goes on. Panics if a ping went unanswered for [`WAIT`], or
    /// if the guard had to let the daemon go on first (something held the
    /// runtime's threads meanwhile).
    pub async fn answer_pings(self, rounds: usize) {
        let (ping, mut pings) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (pong, pongs) = std::sync::mpsc::channel::<()>();
        let answering = tokio::spawn(async move {
            while pings.recv().await.is_some() {
                if pong.send(()).is_err() {
                    break;
                }
            }
        });
        let (done, answered) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut n = 0;
            while n < rounds && ping.send(()).is_ok() && pongs.recv_timeout(WAIT).is_ok() {
                n += 1;
            }
            let _ = done.send(n);
        });
        let answered = answered.await.expect("the pinging thread");
        answering.abort();
        assert!(
            !self.guard_fired.load(Ordering::SeqCst),
            "the daemon had to be let go on after {WAIT:?}: something held the runtime's \
             threads while it was stopped"
        );
        assert_eq!(
            answered, rounds,
            "the runtime answered {answered} of {rounds} pings while the daemon was stopped"
        );
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        resume(self.pid);
    }
}

/// Joins `group` and reads `events` up to the join's configuration change.
pub async fn join(cpg: &AsyncCpg, events: &mut CpgEvents, group: &str) {
    cpg.join(&GroupName::new(group).unwrap()).await.unwrap();
    until(
        events,
        WAIT,
        |e| matches!(e, CpgEvent::ConfChange { joined, .. } if !joined.is_empty()),
    )
    .await;
}

/// A message of `size` bytes (at least 8) that starts with `seq`.
pub fn stamped(seq: u64, size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf
}

/// The number a [`stamped`] message starts with.
pub fn stamp_of(data: &[u8]) -> u64 {
    u64::from_le_bytes(data[..8].try_into().unwrap())
}

/// Checks one stream item of stamped messages read back in order: a
/// message must be number `*seq` and `size` bytes long (then `*seq` moves
/// on); other events are passed over; an error or the end fails the test.
pub fn read_stamped(event: Option<corosync::Result<CpgEvent>>, size: usize, seq: &mut u64) {
    match event {
        Some(Ok(CpgEvent::Message { data, .. })) => {
            assert_eq!(data.len(), size);
            assert_eq!(stamp_of(&data), *seq, "out of order");
            *seq += 1;
        }
        Some(Ok(_)) => {}
        other => panic!("after {seq} messages: {other:?}"),
    }
}
