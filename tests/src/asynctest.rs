//! Helpers for the tests of the tokio adapters (`corosync::tokio`):
//! runtimes, adapters made on a node, and reading their streams with a
//! time limit.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use corosync::cpg::GroupName;
use corosync::tokio::{AsyncCpg, CpgEvent, CpgEvents, Dispatch, Events};

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

/// The next item of `s`, or `None` if the stream ended or `timeout` passed
/// first.
pub async fn next<S: EventStream>(
    s: &mut S,
    timeout: Duration,
) -> Option<corosync::Result<S::Event>> {
    tokio::time::timeout(timeout, s.next_event())
        .await
        .ok()
        .flatten()
}

/// Reads events until `pred` holds for one and returns it; panics when
/// the stream fails or ends, or after `timeout`, naming what it saw.
pub async fn until<S: EventStream>(
    s: &mut S,
    timeout: Duration,
    mut pred: impl FnMut(&S::Event) -> bool,
) -> S::Event {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next(s, left).await {
            Some(Ok(event)) => {
                if pred(&event) {
                    return event;
                }
                seen.push(format!("{event:?}"));
            }
            other => panic!("stream ended or timed out ({other:?}); saw {seen:?}"),
        }
    }
}

/// Reads a stream to its end (or until nothing comes for 5 s); true when
/// the last item was an error.
pub async fn drain<S: EventStream>(s: &mut S) -> bool {
    let mut last_err = false;
    while let Some(item) = next(s, Duration::from_secs(5)).await {
        last_err = item.is_err();
    }
    last_err
}

/// Checks that `s`, whose daemon has just gone, ends with an error within
/// a second.
pub async fn ends_with_error_within_a_second<S: EventStream>(name: &str, s: &mut S) {
    let start = Instant::now();
    assert!(drain(s).await, "{name} stream did not end with an error");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{name} stream took {:?}",
        start.elapsed()
    );
}

/// Joins `group` and reads `events` up to the join's configuration change.
pub async fn join(cpg: &AsyncCpg, events: &mut CpgEvents, group: &str) {
    cpg.join(&GroupName::new(group).unwrap()).unwrap();
    until(
        events,
        Duration::from_secs(10),
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
