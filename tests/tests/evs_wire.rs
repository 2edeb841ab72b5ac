//! The EVS envelope on a real two-node cluster, checked against the bytes
//! written by hand from `docs/EVS-ENVELOPE.md`: a plain CPG member of the
//! carrier group sends envelopes (valid, invalid, for other groups) and an
//! EVS handle delivers, drops and ignores them as the document says; an EVS
//! handle sends and the plain member receives exactly the documented bytes.

use std::io::IoSlice;
use std::sync::{Arc, Mutex};

use corosync::cpg::{GroupName, Guarantee};
use corosync::evs::{Evs, EvsGroup};
use corosync::NodeId;
use corosync_tests::cpg_record::recording_member;
use corosync_tests::{on_node, pump, Cluster};

/// The bytes of whitespace-separated hexadecimal pairs.
fn bytes(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .map(|pair| u8::from_str_radix(pair, 16).unwrap())
        .collect()
}

/// The key of group `alpha`, as the document spells it.
const ALPHA: [&str; 2] = [
    "61 6c 70 68 61 00 00 00 00 00 00 00 00 00 00 00",
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
];
/// The key of group `beta`.
const BETA: [&str; 2] = [
    "62 65 74 61 00 00 00 00 00 00 00 00 00 00 00 00",
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
];

/// Header, keys and payload, each as hexadecimal lines.
fn envelope(header: &str, keys: &[[&str; 2]], payload: &str) -> Vec<u8> {
    let mut lines = vec![header];
    for key in keys {
        lines.extend_from_slice(key);
    }
    lines.push(payload);
    bytes(&lines)
}

/// E1 of the document: to `alpha`, payload `hi`.
fn e1() -> Vec<u8> {
    envelope("63 45 56 53 01 00 01 00", &[ALPHA], "68 69")
}

/// What an EVS handle delivered: sender node and pid, the keys, the payload.
type Delivered = Arc<Mutex<Vec<(NodeId, u32, Vec<[u8; 32]>, Vec<u8>)>>>;

/// An EVS handle on `node` (carrier group `carrier`, or the default one)
/// that joined `groups`, and what it delivers.
fn evs_handle(
    cluster: &Cluster,
    node: usize,
    carrier: Option<&'static [u8]>,
    groups: &[&str],
) -> (Evs, Delivered) {
    let delivered = Delivered::default();
    let record = delivered.clone();
    let groups: Vec<EvsGroup> = groups.iter().map(|g| EvsGroup::new(g).unwrap()).collect();
    let evs = on_node(cluster.node(node), move || {
        let mut builder = Evs::builder().on_deliver(move |_, m| {
            let keys = m.groups.iter().map(|g| *g.as_bytes()).collect();
            record
                .lock()
                .unwrap()
                .push((m.nodeid, m.pid, keys, m.data.to_vec()));
        });
        if let Some(carrier) = carrier {
            builder = builder.cpg_group(carrier);
        }
        let evs = builder.connect().expect("evs connect");
        for g in &groups {
            evs.join(&[*g]).expect("evs join");
        }
        evs
    });
    (evs, delivered)
}

fn key(lines: [&str; 2]) -> [u8; 32] {
    bytes(&lines).try_into().unwrap()
}

#[test]
fn envelopes_from_a_plain_cpg_member_are_delivered_dropped_or_ignored_as_documented() {
    let cluster = Cluster::new(2).expect("cluster");
    let (evs, delivered) = evs_handle(&cluster, 0, None, &["alpha", "beta"]);
    // The default carrier group, by the name the document gives.
    let carrier = GroupName::new(b"corosync-rs:evs").unwrap();
    let (raw, record) = recording_member(cluster.node(1), &carrier);
    // Once node 2's daemon has both joins, whatever the member sends comes
    // after them in the one order, so the EVS handle is there to get it.
    assert!(
        pump(&raw, || record
            .lock()
            .unwrap()
            .confchgs
            .last()
            .is_some_and(|c| c.members.len() == 2)),
        "the plain member never saw the EVS handle in the carrier group: {:?}",
        record.lock().unwrap().confchgs
    );

    let gamma = [
        "67 61 6d 6d 61 00 00 00 00 00 00 00 00 00 00 00",
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    ];
    // "alpha " (a space, then padding) is another key than "alpha".
    let alpha_space = [
        "61 6c 70 68 61 20 00 00 00 00 00 00 00 00 00 00",
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
    ];
    let with = |offset: usize, value: &str| {
        let mut m = e1();
        let new = bytes(&[value]);
        m[offset..offset + new.len()].copy_from_slice(&new);
        m
    };
    let mut count_129 = bytes(&["63 45 56 53 01 00 81 00"]);
    for i in 0..129u8 {
        count_129.extend_from_slice(&[i; 32]);
    }
    let invalid: Vec<Vec<u8>> = vec![
        Vec::new(),
        e1()[..7].to_vec(),
        with(0, "43"),
        with(4, "00"),
        with(4, "02"),
        with(5, "01"),
        with(6, "00 00"),
        with(6, "02 00"),
        with(6, "00 01"),
        e1()[..39].to_vec(),
        count_129,
    ];
    let mut sends = vec![e1()];
    sends.extend(invalid.iter().cloned());
    sends.extend([
        // For no joined group: ignored.
        envelope("63 45 56 53 01 00 01 00", &[gamma], "78"),
        envelope("63 45 56 53 01 00 01 00", &[alpha_space], "78"),
        // E2: two joined groups, empty payload: delivered once.
        envelope("63 45 56 53 01 00 02 00", &[BETA, ALPHA], ""),
        // A joined group twice, and one not joined: delivered once, with
        // the keys as sent.
        envelope(
            "63 45 56 53 01 00 03 00",
            &[gamma, ALPHA, ALPHA],
            "64 75 70",
        ),
        // Last, to know the handle has had its chance at all of them.
        envelope("63 45 56 53 01 00 01 00", &[ALPHA], "65 6e 64"),
    ]);
    for msg in &sends {
        raw.mcast(Guarantee::Agreed, msg).expect("plain CPG send");
    }
    let end = b"end".to_vec();
    assert!(
        pump(&evs, || delivered
            .lock()
            .unwrap()
            .last()
            .is_some_and(|d| d.3 == end)),
        "the EVS handle never delivered the last envelope; it delivered {:?}",
        delivered.lock().unwrap()
    );

    let from = (cluster.node(1).nodeid(), std::process::id());
    let want = vec![
        (from.0, from.1, vec![key(ALPHA)], b"hi".to_vec()),
        (from.0, from.1, vec![key(BETA), key(ALPHA)], Vec::new()),
        (
            from.0,
            from.1,
            vec![key(gamma), key(ALPHA), key(ALPHA)],
            b"dup".to_vec(),
        ),
        (from.0, from.1, vec![key(ALPHA)], b"end".to_vec()),
    ];
    assert_eq!(*delivered.lock().unwrap(), want);
    assert_eq!(
        evs.dropped_messages(),
        invalid.len() as u64,
        "every invalid envelope dropped and counted, nothing else"
    );
}

#[test]
fn an_evs_handle_sends_exactly_the_documented_bytes() {
    let cluster = Cluster::new(2).expect("cluster");
    // Joined in this order: beta, then alpha.
    let (evs, delivered) = evs_handle(&cluster, 0, Some(b"wire-check"), &["beta", "alpha"]);
    let carrier = GroupName::new(b"wire-check").unwrap();
    let (raw, record) = recording_member(cluster.node(1), &carrier);
    // The plain member says hello (E1 with payload "ready"); once the EVS
    // handle has it, the member's join is before anything the handle sends.
    let ready = envelope("63 45 56 53 01 00 01 00", &[ALPHA], "72 65 61 64 79");
    raw.mcast(Guarantee::Agreed, &ready)
        .expect("plain CPG send");
    assert!(
        pump(&evs, || delivered
            .lock()
            .unwrap()
            .iter()
            .any(|d| d.3 == b"ready")),
        "the EVS handle never delivered the plain member's hello"
    );

    let alpha = EvsGroup::new("alpha").unwrap();
    let beta = EvsGroup::new("beta").unwrap();
    let e3_key = EvsGroup::new("0123456789abcdef0123456789ABCDEF").unwrap();
    // E1, from two buffers.
    evs.mcast_groups(
        Guarantee::Agreed,
        &[alpha],
        &[IoSlice::new(b"h"), IoSlice::new(b"i")],
    )
    .expect("send E1");
    // E2: the joined groups in the order joined, no payload.
    evs.mcast_joined(Guarantee::Fifo, &[]).expect("send E2");
    // E3: a group the sender is not in; the guarantee is not in the bytes.
    evs.mcast_groups(
        Guarantee::Unordered,
        &[e3_key],
        &[IoSlice::new(&[0x00, 0xff, 0x63, 0x45, 0x56, 0x53])],
    )
    .expect("send E3");
    // A group left and joined again goes to the end of the joined list.
    evs.leave(&[beta]).expect("leave beta");
    evs.join(&[beta]).expect("join beta");
    evs.mcast_joined(Guarantee::Agreed, &[IoSlice::new(b"x")])
        .expect("send to alpha, beta");

    let want: Vec<Vec<u8>> = vec![
        e1(),
        envelope("63 45 56 53 01 00 02 00", &[BETA, ALPHA], ""),
        bytes(&[
            "63 45 56 53 01 00 01 00",
            "30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66",
            "30 31 32 33 34 35 36 37 38 39 41 42 43 44 45 46",
            "00 ff 63 45 56 53",
        ]),
        envelope("63 45 56 53 01 00 02 00", &[ALPHA, BETA], "78"),
    ];
    // The member's own hello, then the handle's four.
    let expected = 1 + want.len();
    assert!(
        pump(&raw, || record.lock().unwrap().messages.len() >= expected),
        "the plain member got {} of {} messages",
        record.lock().unwrap().messages.len(),
        expected
    );
    let record = record.lock().unwrap();
    let me = (cluster.node(0).nodeid(), std::process::id());
    assert_eq!(record.messages[0].data, ready);
    for (i, (got, want)) in record.messages[1..].iter().zip(&want).enumerate() {
        assert_eq!(
            (got.group, got.nodeid, got.pid),
            (carrier, me.0, me.1),
            "message {i}: carrier group and sender"
        );
        assert_eq!(got.data, *want, "message {i}: its bytes");
    }
    assert_eq!(record.messages.len(), expected, "nothing more");
}
