//! The CPG adapter's send window on real daemons: a sender that outruns
//! its stream does not bury its event queue in corosync, the window is the
//! event ring, concurrent senders share it, a sender is paced by the task
//! reading its stream, and a window past the ring keeps corosync sending
//! from its out-queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use corosync::cpg::{GroupName, Guarantee};
use corosync::tokio::{AsyncCpg, CpgEvent, CpgEvents};
use corosync_tests::asynctest::{
    current_thread, join, next, read_stamped, runtime, stamp_of, stamped,
};
use corosync_tests::bounded::slowed;
use corosync_tests::events::WAIT;
use corosync_tests::{pump, Cluster, Node};

/// How many times corosync logged that it had to hold events for a client
/// in its out-queue.
fn out_queue_episodes(node: &Node) -> usize {
    corosync_tests::out_queue_episodes(&node.log()).len()
}

/// 400 × 64 KiB is 25 MiB, far beyond a client's 1 MiB event ring.
const FLOOD: u64 = 400;
const FLOOD_SIZE: usize = 64 * 1024;

/// How long sends that nobody's reading holds up may take at most: far
/// longer than they need, far shorter than waiting a second per window
/// for a reader (the most a send waits for one).
const SENDS_ALONE: Duration = Duration::from_secs(30);

/// Sends `n` flood messages from a blocking handle that reads nothing
/// until corosync has delivered them all (into its event ring, or its
/// out-queue when the ring is full), then reads them and checks that they
/// came whole and in order.
fn burst_without_reading(node: &Node, group: &str, n: u64) {
    node.run(|| {
        use corosync::cpg::Cpg;
        use corosync::Retry;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
        let delivered = Arc::new(AtomicU64::new(0));
        let d = delivered.clone();
        let out_of_order = Arc::new(AtomicU64::new(0));
        let o = out_of_order.clone();
        let cpg = Cpg::builder()
            .on_deliver(move |_, m| {
                let n = d.fetch_add(1, Relaxed);
                if stamp_of(m.data) != n || m.data.len() != FLOOD_SIZE {
                    o.fetch_add(1, Relaxed);
                }
            })
            .connect()
            .unwrap();
        cpg.join(&GroupName::new(group).unwrap()).unwrap();
        // A marker, multicast in a group of its own once every flood
        // message is in corosync, comes back only after corosync has
        // delivered them all: totem orders all groups in one sequence.
        let marked = Arc::new(AtomicBool::new(false));
        let m = marked.clone();
        let marker = Cpg::builder()
            .on_deliver(move |_, _| m.store(true, Relaxed))
            .connect()
            .unwrap();
        marker
            .join(&GroupName::new(format!("{group}-marker")).unwrap())
            .unwrap();
        let retry = Retry::new(60_000).delays(Duration::from_millis(1), Duration::from_millis(1));
        for seq in 0..n {
            retry
                .run(|| cpg.mcast(Guarantee::Agreed, &stamped(seq, FLOOD_SIZE)))
                .unwrap();
        }
        retry
            .run(|| marker.mcast(Guarantee::Agreed, b"marker"))
            .unwrap();
        assert!(
            pump(&marker, || marked.load(Relaxed)),
            "the marker never came back"
        );
        assert!(
            pump(&cpg, || delivered.load(Relaxed) == n),
            "{} of {n} messages delivered",
            delivered.load(Relaxed)
        );
        assert_eq!(out_of_order.load(Relaxed), 0);
    })
    .unwrap();
}

/// Sends the flood from an AsyncCpg (with `window` set, if given) on a
/// current-thread runtime, whose sender never yields while sends succeed,
/// and only then reads it back, checking that it arrives whole and in
/// order.
fn async_flood(node: &Node, group: &str, window: Option<usize>) {
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, group).await;
            if let Some(bytes) = window {
                cpg.set_send_window(bytes);
            }
            // Nothing reads the stream while this task sends: the sends
            // must not wait for a reader. (A send that did would wait up to
            // a second for each window, far longer in all than this
            // generous bound, which the flood takes a small part of.)
            let flood = async {
                for seq in 0..FLOOD {
                    cpg.mcast(Guarantee::Agreed, &stamped(seq, FLOOD_SIZE))
                        .await
                        .unwrap();
                }
            };
            tokio::time::timeout(SENDS_ALONE, flood)
                .await
                .unwrap_or_else(|_| panic!("the flood's sends took over {SENDS_ALONE:?}"));
            let mut seq = 0;
            while seq < FLOOD {
                let event = next(&mut events, WAIT, "the flood's next message").await;
                read_stamped(event, FLOOD_SIZE, &mut seq);
            }
        });
    })
    .unwrap();
}

#[test]
fn a_sender_that_outruns_its_stream_does_not_bury_its_event_queue() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);

    // Control: a blocking sender that never dispatches while it sends
    // makes corosync queue events for it (so the log check below can
    // fail).
    let before = out_queue_episodes(node);
    burst_without_reading(node, "outq-control", FLOOD);
    let control = out_queue_episodes(node) - before;
    assert!(
        control > 0,
        "corosync did not queue events for a client that never read them"
    );

    // The same flood from an AsyncCpg on a current-thread runtime, whose
    // sender never yields while sends succeed: the send window keeps the
    // event ring from filling, so corosync never queues.
    let before = out_queue_episodes(node);
    async_flood(node, "outq-async", None);
    let episodes = out_queue_episodes(node) - before;
    assert_eq!(
        episodes, 0,
        "corosync queued events for the async sender {episodes} times (control: {control})"
    );
}

#[test]
fn the_send_window_is_the_event_ring() {
    use corosync_tests::event_size;

    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let window = node
        .run(|| {
            runtime()
                .block_on(async { AsyncCpg::connect().await.map(|(cpg, _)| cpg.send_window()) })
        })
        .unwrap()
        .unwrap();
    // Corosync's usual build: a 1 MiB ring.
    assert_eq!(window, 1 << 20);
    // As many messages as the window holds fit in the ring: corosync
    // queues none of them.
    let fits = (window / event_size(FLOOD_SIZE)) as u64;
    let before = out_queue_episodes(node);
    burst_without_reading(node, "ring-fits", fits);
    assert_eq!(
        out_queue_episodes(node),
        before,
        "{fits} messages of {FLOOD_SIZE} bytes overflowed the event ring"
    );
    // Two more do not (libqb makes the ring 4 KiB larger than asked, so one
    // more still fits): the window is not much smaller than the ring.
    burst_without_reading(node, "ring-overflows", fits + 2);
    assert!(
        out_queue_episodes(node) > before,
        "{} messages of {FLOOD_SIZE} bytes fit in the event ring",
        fits + 2
    );
}

#[test]
fn concurrent_senders_share_the_window() {
    use corosync_tests::event_size;

    // 200 KiB messages: the window holds 5 and so does the ring; a sixth
    // on the way overflows it.
    const SIZE: usize = 200 * 1024;
    const TASKS: u64 = 16;
    const EACH: u64 = 16;
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    // (The runtime's threads are in the node's namespace.)
    node.run(|| {
        runtime().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            assert_eq!(cpg.send_window() / event_size(SIZE), 5);
            join(&cpg, &mut events, "async-shared-window").await;
            let reader = tokio::spawn(async move {
                let mut last = [None::<u64>; TASKS as usize];
                let mut got = 0;
                while got < TASKS * EACH {
                    match next(&mut events, WAIT, "the next message").await {
                        Some(Ok(CpgEvent::Message { data, .. })) => {
                            let (task, seq) = (data[0] as usize, stamp_of(&data[8..]));
                            assert_eq!(seq, last[task].map_or(0, |s| s + 1), "task {task}");
                            last[task] = Some(seq);
                            got += 1;
                        }
                        Some(Ok(_)) => {}
                        other => panic!("after {got} messages: {other:?}"),
                    }
                }
            });
            let cpg = Arc::new(cpg);
            let senders: Vec<_> = (0..TASKS)
                .map(|t| {
                    let cpg = cpg.clone();
                    tokio::spawn(async move {
                        let mut msg = vec![t as u8; SIZE];
                        for seq in 0..EACH {
                            msg[8..16].copy_from_slice(&seq.to_le_bytes());
                            cpg.mcast(Guarantee::Agreed, &msg).await.unwrap();
                        }
                    })
                })
                .collect();
            for s in senders {
                s.await.unwrap();
            }
            reader.await.unwrap();
        })
    })
    .unwrap();
    let episodes = out_queue_episodes(node) - before;
    assert_eq!(
        episodes, 0,
        "corosync queued events for the handle {episodes} times"
    );
}

/// Sends `COUNT` stamped 1 KiB messages through `cpg` (with `window` set
/// first, if given) while another task reads them back slowly, and
/// returns how far the sender got ahead of the reader, the most the
/// window allows, and the stream.
async fn ahead_of_a_slow_reader(
    cpg: &AsyncCpg,
    mut events: CpgEvents,
    window: Option<usize>,
) -> (u64, u64, CpgEvents) {
    use corosync_tests::event_size;
    use std::sync::atomic::{AtomicU64, Ordering};

    if let Some(bytes) = window {
        cpg.set_send_window(bytes);
    }
    assert_eq!(cpg.send_window(), window.unwrap_or(1 << 20));
    // Everything on its way counts, so the sender can be at most this
    // many messages ahead of the reader (one, if none fits).
    let bound = ((cpg.send_window() / event_size(PACED_SIZE)) as u64).max(1);
    let sent = Arc::new(AtomicU64::new(0));
    let s = sent.clone();
    // A reader slower than the sender (a few µs of work per message,
    // more in a process slowed down as a whole, such as under valgrind,
    // so that it stays slower) but never idle for long.
    let work = slowed(Duration::from_micros(20));
    let reader = tokio::spawn(async move {
        let (mut seq, mut ahead) = (0u64, 0u64);
        while seq < PACED_COUNT {
            match next(&mut events, WAIT, "the next message").await {
                Some(Ok(CpgEvent::Message { data, .. })) => {
                    assert_eq!(stamp_of(&data), seq, "out of order");
                    seq += 1;
                    ahead = ahead.max(s.load(Ordering::Relaxed).saturating_sub(seq));
                    let spin = Instant::now();
                    while spin.elapsed() < work {
                        std::hint::spin_loop();
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("after {seq} messages: {other:?}"),
            }
        }
        (ahead, events)
    });
    let mut buf = vec![0u8; PACED_SIZE];
    for seq in 0..PACED_COUNT {
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let (ahead, events) = reader.await.unwrap();
    (ahead, bound, events)
}

const PACED_SIZE: usize = 1024;
const PACED_COUNT: u64 = 4000;

#[test]
fn a_sender_is_paced_by_the_task_reading_its_stream() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            runtime().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
                join(&cpg, &mut events, "async-paced").await;
                let (ahead, bound, events) = ahead_of_a_slow_reader(&cpg, events, None).await;
                assert!(
                    ahead <= bound,
                    "the sender got {ahead} messages ahead of its reader (window: {bound})"
                );
                // The window was what held the sender back, not its own speed.
                assert!(
                    ahead > bound / 2,
                    "the sender was only {ahead} messages ahead"
                );

                // Without a stream, nothing waits for a reader: a long batch goes
                // out at full speed.
                drop(events);
                let batch = async {
                    let mut buf = vec![0u8; PACED_SIZE];
                    for seq in 0..PACED_COUNT {
                        buf[..8].copy_from_slice(&seq.to_le_bytes());
                        cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
                    }
                };
                tokio::time::timeout(SENDS_ALONE, batch)
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{PACED_COUNT} sends without a stream took over {SENDS_ALONE:?}")
                    });
            })
        })
        .unwrap();
}

#[test]
fn a_smaller_send_window_paces_closer_and_a_bigger_one_lets_corosync_queue() {
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    // One thread for sender and reader: the reader cannot be held up
    // while the sender runs on (which after about 20 ms would make the
    // window stop counting what waits in the stream), so the bounds below
    // are exact.
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            join(&cpg, &mut events, "async-window").await;
            // 256 KiB: a quarter of the messages the ring would allow.
            let (ahead, bound, events) =
                ahead_of_a_slow_reader(&cpg, events, Some(256 << 10)).await;
            assert!(
                ahead <= bound && ahead > bound / 2,
                "a 256 KiB window let the sender get {ahead} messages ahead (at most {bound})"
            );
            // A zero window: one message on the way at a time.
            let (ahead, bound, _events) = ahead_of_a_slow_reader(&cpg, events, Some(0)).await;
            assert_eq!(bound, 1);
            assert!(
                ahead <= 1,
                "with a zero window the sender got {ahead} messages ahead (at most 1)"
            );
        })
    })
    .unwrap();

    // Past the ring, corosync holds the rest in its out-queue: the flood
    // the default window keeps out of it (see
    // a_sender_that_outruns_its_stream_does_not_bury_its_event_queue) now
    // goes there, and still arrives whole and in order.
    let before = out_queue_episodes(node);
    async_flood(node, "outq-big-window", Some(8 << 20));
    assert!(
        out_queue_episodes(node) > before,
        "with an 8 MiB window corosync never queued events for the sender"
    );
}

/// Long enough that only corosync's idle wait explains it: libqb's main
/// loop waits 50 ms for input when only jobs, such as retrying an
/// out-queue, are pending. Saving a reader that wait for every ring's
/// worth of its own messages in corosync's out-queue is what the stream's
/// requests to corosync are for, so this time is the behaviour tested (a
/// scheduling delay on a busy machine rarely lasts this long).
const IDLE_GAP: Duration = Duration::from_millis(45);

/// Reads the stamped messages `range` from `events` and times each from
/// when it could first have come: after the message before it, and after
/// the sender last ran (`sender`: µs since `start`; on one thread, a
/// sender that goes on sending keeps the reader waiting too). Returns how
/// many took [`IDLE_GAP`] or more, and the longest.
async fn read_timed(
    mut events: CpgEvents,
    range: std::ops::Range<u64>,
    start: Instant,
    sender: Arc<std::sync::atomic::AtomicU64>,
) -> (u32, Duration, CpgEvents) {
    let (mut seq, mut gaps, mut longest) = (range.start, 0, Duration::ZERO);
    let mut last = start.elapsed();
    while seq < range.end {
        let event = next(&mut events, WAIT, "the next flood message").await;
        let now = start.elapsed();
        read_stamped(event, FLOOD_SIZE, &mut seq);
        let ran = Duration::from_micros(sender.load(std::sync::atomic::Ordering::Relaxed));
        let gap = now.saturating_sub(last.max(ran));
        last = now;
        longest = longest.max(gap);
        gaps += u32::from(gap >= IDLE_GAP);
    }
    (gaps, longest, events)
}

#[test]
fn a_window_past_the_ring_keeps_corosync_sending_from_its_out_queue() {
    use std::sync::atomic::{AtomicU64, Ordering};
    // One node: no network traffic wakes corosync's main loop, so only its
    // clients do.
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    // A 16 MiB window: corosync holds most of it in its out-queue and
    // hands it out a ring (15 messages) at a time.
    const WINDOW: usize = 16 << 20;
    let per_window = (WINDOW / corosync_tests::event_size(FLOOD_SIZE)) as u64;
    let mut ring = 0;
    let ((gaps, longest), (after_gaps, after_longest)) = node
        .run(|| {
            current_thread().block_on(async {
                let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
                join(&cpg, &mut events, "async-outq-idle").await;
                ring = cpg.send_window();
                cpg.set_send_window(WINDOW);
                let start = Instant::now();
                // When the latest send returned, in µs since `start`.
                let sent = Arc::new(AtomicU64::new(0));
                let send_all = |range: std::ops::Range<u64>| {
                    let (cpg, sent) = (&cpg, &sent);
                    async move {
                        for seq in range {
                            cpg.mcast(Guarantee::Agreed, &stamped(seq, FLOOD_SIZE))
                                .await
                                .unwrap();
                            sent.store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                        }
                    }
                };
                // Four windows, read as they come: the sender waits for
                // each to drain.
                let n = 4 * per_window;
                let reader = tokio::spawn(read_timed(events, 0..n, start, sent.clone()));
                send_all(0..n).await;
                let (gaps, longest, events) = reader.await.unwrap();
                // One window sent with nobody reading, then read back: the
                // sender has finished, and only the stream's reading wakes
                // corosync.
                send_all(n..n + per_window).await;
                let (after_gaps, after_longest, _) =
                    read_timed(events, n..n + per_window, start, sent).await;
                ((gaps, longest), (after_gaps, after_longest))
            })
        })
        .unwrap();
    assert!(
        out_queue_episodes(node) > before,
        "corosync never queued events for the sender"
    );
    // How many times corosync refilled the reader's ring from its
    // out-queue: a ring's worth of messages at a time.
    let per_ring = (ring / corosync_tests::event_size(FLOOD_SIZE)) as u64;
    let refills = |messages: u64| messages.div_ceil(per_ring) as u32 - 1;
    // Left idle, corosync would wait about 50 ms for many of the refills
    // (without the stream's requests, 6 to 25 of 67 and 6 to 14 of 16
    // here); allow two for the machine.
    assert!(
        gaps <= 2,
        "{gaps} messages came {IDLE_GAP:?} or more after they could have (longest \
         {longest:?}; {} refills): corosync sat on its out-queue",
        refills(4 * per_window)
    );
    assert!(
        after_gaps <= 2,
        "after the sender finished, {after_gaps} messages came {IDLE_GAP:?} or more after \
         the one before (longest {after_longest:?}; {} refills): corosync sat on its \
         out-queue",
        refills(per_window)
    );
}

#[test]
fn a_send_waiting_for_its_window_leaves_a_flood_in_corosync() {
    use corosync_tests::event_size;

    const SIZE: usize = 1024;
    const FLOOD_COUNT: u64 = 20_000;
    const OWN: u64 = 3000;
    let cluster = Cluster::single().expect("cluster");
    let node = cluster.node(0);
    let before = out_queue_episodes(node);
    let mut flooder = None;
    node.run(|| {
        current_thread().block_on(async {
            let (cpg, mut events) = AsyncCpg::connect().await.unwrap();
            // A window's worth of events (a waiting send reads no further
            // once the stream holds that much; it reads 64 at a time), and
            // room for a few membership events, which weigh less. (Without
            // the limit, the stream held 19,291 here.)
            let bound = cpg.send_window() / event_size(SIZE) + 2 * 64;
            join(&cpg, &mut events, "async-flood-wait").await;

            // Another process floods the group (20,000 × 1 KiB, about
            // 24 MB of events) while this one multicasts its own messages.
            let mut other = corosync_tests::CpgMember::start(
                node,
                env!("CARGO_BIN_EXE_cpg-member"),
                b"async-flood-wait",
            );
            other.command("quiet");
            other.expect_line("quiet");
            other.command(&format!("flood {FLOOD_COUNT} {SIZE}"));
            flooder = Some(other);

            // A reader that stops for other work (1 ms) every 16 events.
            // While it sleeps, this task's sends wait for their window.
            let me = std::process::id();
            let reader = tokio::spawn(async move {
                let (mut own, mut flood, mut most) = (0u64, 0u64, 0usize);
                while own < OWN || flood < FLOOD_COUNT {
                    match next(&mut events, WAIT, "the next message").await {
                        Some(Ok(CpgEvent::Message { pid, data, .. })) => {
                            most = most.max(events.buffered());
                            assert_eq!(data.len(), SIZE);
                            let seq = if pid == me { &mut own } else { &mut flood };
                            assert_eq!(stamp_of(&data), *seq, "out of order");
                            *seq += 1;
                            if (own + flood) % 16 == 0 {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        }
                        Some(Ok(_)) => {}
                        other => panic!("after {own} + {flood} messages: {other:?}"),
                    }
                }
                most
            });
            let mut buf = vec![0u8; SIZE];
            for seq in 0..OWN {
                buf[..8].copy_from_slice(&seq.to_le_bytes());
                cpg.mcast(Guarantee::Agreed, &buf).await.unwrap();
            }
            // (A bound on this process's own reading: scaled under valgrind.)
            let most = tokio::time::timeout(slowed(Duration::from_secs(120)), reader)
                .await
                .expect("everything read within 2 minutes (times the slowdown)")
                .unwrap();
            // The sends' waits moved events into the stream only up to a
            // window's worth; the rest of the flood waited in corosync.
            assert!(
                most <= bound,
                "the stream held {most} events (bound {bound})"
            );
        });
    })
    .unwrap();
    flooder.unwrap().expect_line("flooded");
    // The flood was faster than the reader: corosync held it.
    let episodes = corosync_tests::out_queue_episodes(&node.log());
    let held: u64 = episodes[before..].iter().sum();
    assert!(
        held > FLOOD_COUNT / 2,
        "corosync held only {held} events for the member"
    );
}
