//! Interop with C: a plain C program on libcpg (tests/c/cpg_peer.c) and a
//! Rust member share a group across two nodes; both see the same messages,
//! byte for byte and in the same order, with plain names, names that end in
//! NUL, and binary names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::{NodeId, Retry};
use corosync_tests::bounded::slowed;
use corosync_tests::events::WAIT;
use corosync_tests::process::Process;
use corosync_tests::{hex, pump_for, Cluster, Node};

/// The C peer, running on a node.
struct CPeer {
    process: Process,
    pid: u32,
}

impl CPeer {
    fn start(node: &Node, group: &GroupName) -> CPeer {
        let mut process = Process::start(node, env!("C_CPG_PEER"), [hex(group.as_bytes())]);
        let pid = process.pid();
        let ready = process.next_line(WAIT);
        assert_eq!(ready, Some(format!("ready {} {pid}", node.nodeid())));
        CPeer { process, pid }
    }

    fn send(&mut self, data: &[u8]) {
        self.process.say(&format!("send {}", hex(data)));
    }

    fn messages(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.process
                    .next_line(WAIT)
                    .expect("a message from the C peer")
            })
            .collect()
    }

    fn quit(mut self) {
        self.process.say("quit");
        assert!(self.process.wait_exit().success());
    }
}

fn exchange(cluster: &Cluster, group: GroupName, other_group: GroupName) {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    let rust = cluster
        .node(0)
        .run(move || {
            let cpg = Cpg::builder()
                .on_deliver(move |_, m| {
                    s.lock().unwrap().push(format!(
                        "msg {} {} {} {}",
                        m.nodeid,
                        m.pid,
                        hex(m.group.as_bytes()),
                        hex(m.data)
                    ))
                })
                .connect()
                .unwrap();
            cpg.join(&group).unwrap();
            cpg
        })
        .unwrap();
    let mut c = CPeer::start(cluster.node(1), &group);
    // A C peer in the other spelling of the name must not see our traffic.
    let mut stranger = CPeer::start(cluster.node(1), &other_group);

    // Interleave: the Rust member and the C peer each send 100 messages of
    // varied sizes (a few above the atomic size, so fragmented).
    let atomic = rust.max_atomic_msgsize().unwrap();
    let payload = |from: u8, i: usize| -> Vec<u8> {
        let len = match i % 25 {
            0 => 0,
            7 => atomic + 3,
            _ => 1 + (i * 37) % 700,
        };
        (0..len)
            .map(|j| from ^ (i as u8).wrapping_mul(7) ^ (j as u8))
            .collect()
    };
    for i in 0..100 {
        Retry::default()
            .run(|| rust.mcast(Guarantee::Agreed, &payload(b'R', i)))
            .unwrap();
        c.send(&payload(b'C', i));
    }
    stranger.send(b"not for you");
    // (A bound on this process's own reading: scaled under valgrind.)
    let done = pump_for(&rust, slowed(Duration::from_secs(60)), || {
        seen.lock().unwrap().len() >= 200
    });
    assert!(
        done,
        "the Rust member got {} of 200 messages",
        seen.lock().unwrap().len()
    );
    let from_c = c.messages(200);
    let from_rust = seen.lock().unwrap().clone();
    assert_eq!(from_rust.len(), 200);
    assert!(
        from_rust == from_c,
        "the C and Rust members saw different messages or orders"
    );

    // Both senders' messages are there, with the right sender and bytes.
    let me = format!("msg {} {} ", NodeId::new(1), std::process::id());
    let them = format!("msg {} {} ", cluster.node(1).nodeid(), c.pid);
    let rust_sent: Vec<&String> = from_rust.iter().filter(|l| l.starts_with(&me)).collect();
    let c_sent: Vec<&String> = from_rust.iter().filter(|l| l.starts_with(&them)).collect();
    assert_eq!((rust_sent.len(), c_sent.len()), (100, 100));
    for i in 0..100 {
        let g = hex(group.as_bytes());
        assert_eq!(*rust_sent[i], format!("{me}{g} {}", hex(&payload(b'R', i))));
        assert_eq!(*c_sent[i], format!("{them}{g} {}", hex(&payload(b'C', i))));
    }
    // The other spelling's peer saw only its own messages: one it sends now
    // comes after all of the above in the one total order, so it is the
    // next line after its first one.
    stranger.send(b"after all that");
    let own = |data: &[u8]| {
        format!(
            "msg 2 {} {} {}",
            stranger.pid,
            hex(other_group.as_bytes()),
            hex(data)
        )
    };
    let want = [own(b"not for you"), own(b"after all that")];
    assert_eq!(stranger.messages(2), want);
    c.quit();
    stranger.quit();
    rust.finalize().unwrap();
}

#[test]
fn rust_and_c_members_see_the_same_messages_in_the_same_order() {
    let cluster = Cluster::new(2).expect("cluster");
    // A plain name, then the same name as C programs that use strlen + 1
    // spell it (with the NUL), each against the other.
    exchange(
        &cluster,
        GroupName::new("interop").unwrap(),
        GroupName::with_nul("interop").unwrap(),
    );
    exchange(
        &cluster,
        GroupName::with_nul("interop").unwrap(),
        GroupName::new("interop").unwrap(),
    );
    exchange(
        &cluster,
        GroupName::new(b"\x00\x01bin\xfe\xff").unwrap(),
        GroupName::new(b"\x00\x01bin\xfe").unwrap(),
    );
}
