//! The checks of corosync's promises over the records of every member
//! incarnation of a run. A configuration (view) is what a CPG
//! configuration change installs: its members, tagged with the totem ring
//! it came in. corosync reports a ring to CPG members after the
//! configuration changes of its synchronisation, so a view followed by a
//! `ring` with no delivery between them is in that ring; any other view is
//! in the last `ring` before it (before the first, the first: corosync
//! delivers the initial totem configuration after the member's own join).
//!
//! 1. Agreed order: two members deliver their common messages in the same
//!    relative order.
//! 2. No duplicates (per incarnation) and no corrupted payloads. A corrupt
//!    delivery counts for no other check: its header may name another
//!    message.
//! 3. FIFO per sender: a member delivers a sender's messages in the order
//!    of their sequence numbers.
//! 4. Self-delivery: a message a member sent comes back to it, unless it
//!    lost its daemon first. Checked for every message sent before the
//!    last own one it delivered, and for all of them after a clean end; a
//!    member that, told to end, waited for its own messages in vain breaks
//!    it too.
//! 5. Virtual synchrony: two members that install the same two
//!    consecutive views delivered the same messages between them.
//! 6. Agreed membership: within one ring, two members that list each
//!    other install the same sequence of views from the first view they
//!    share on (before it, while the joins of a merge are applied, each
//!    starts from its own side's view), and two members that both saw a
//!    ring to its end (both installed a view in a later ring) share at
//!    least one view in it.
//!
//! A violation that matches a break corosync 3.1.7 itself makes
//! ([`Break`], documented in RELIABILITY.md) and that a plain-C member
//! shows too is reported as such ([`Violation::corosync`]); it is still
//! printed, and counted apart from the others.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::record::{members_text, Event, Incarnation, Member, MsgId};

/// How a member's record ends when, told to end, it waited in vain for
/// its own messages.
pub const STUCK: &str = "own messages did not come back";

/// Which promise a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// 1: two members delivered common messages in different orders.
    Order,
    /// 2: a member delivered one message twice.
    Duplicate,
    /// 2: a delivered payload did not verify.
    Corrupt,
    /// 3: a sender's messages came out of order.
    Fifo,
    /// 4: a member's own message did not come back.
    SelfDelivery,
    /// 5: members that moved together delivered different sets.
    VirtualSynchrony,
    /// 6: members of one configuration disagree on it.
    Membership,
}

/// A break of a promise that corosync 3.1.7 itself makes, whatever the
/// client (RELIABILITY.md, "Breaks corosync makes", has the mechanism and
/// the scenario that shows it with plain-C members only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Break {
    /// libcpg hands a fragmented message over when its last fragment
    /// arrives and drops fragments it has no start for. A member that
    /// comes together with the sender (its own join, or a merge of two
    /// partitions) between the first and the last fragment never gets the
    /// message, while the members that had the first one deliver it after
    /// that configuration change: moving from the first view the member
    /// shares with the sender to the next, it lacks messages of that
    /// sender that are all fragmented and that it never delivers at all.
    FragmentedAcrossJoin,
    /// totempg packs messages into totem packets and reassembles a
    /// node's packets in each receiving daemon. A daemon that sees a node
    /// leave in a totem configuration change discards its partial
    /// reassembly of that node's packets, reported to CPG members or not
    /// (corosync reports only the rings whose synchronisation completes).
    /// When the node comes back and goes on with a message it had begun,
    /// that daemon throws the rest away, and further packets of that node
    /// until one ends with a whole message; daemons that did not see the
    /// node leave, or had its packets all along since, deliver them. So
    /// moving from a view to the next, one member lacks messages, never
    /// delivered intact, of senders whose node its daemon was apart from
    /// (its log: a ring without that node, or one it saw the node leave)
    /// since the last ring both members were told of, later than the
    /// other member's daemon was, if ever.
    LeaveResetsReassembly,
    /// totem delivers what is left of a broken ring's messages to the
    /// members of each transitional configuration apart (extended virtual
    /// synchrony). CPG reports no transitional configuration, and no ring
    /// whose synchronisation the next membership change ends; the next
    /// synchronisation that completes compares the members it last reported
    /// with the latest transitional configuration only. Two daemons that
    /// went through different configurations in rings nobody was told of
    /// deliver different sets of the old ring's messages, and their members
    /// go on in the same views: moving from a view to the next one, in a
    /// later ring, one member lacks messages, never delivered intact, and
    /// between the two rings the two daemons formed different rings.
    UnreportedPartition,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Break::FragmentedAcrossJoin => f.write_str("fragmented-across-join"),
            Break::LeaveResetsReassembly => f.write_str("leave-resets-reassembly"),
            Break::UnreportedPartition => f.write_str("unreported-partition"),
        }
    }
}

/// One broken promise, with the smallest trace that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which promise.
    pub kind: Kind,
    /// The records' lines that show it, one per line.
    pub trace: String,
    /// The documented corosync break it is, when it matches one and a
    /// plain-C member shows the same break in the same transition.
    pub corosync: Option<Break>,
    /// The break it matches, before the plain-C condition.
    pattern: Option<Break>,
    /// The transition (two views) of a virtual-synchrony violation.
    transition: Option<String>,
    /// For a break in the daemons ([`Break::LeaveResetsReassembly`],
    /// [`Break::UnreportedPartition`]): the transition's two views, and
    /// each lacking member's node with the messages it lacks.
    lost: Option<Lost>,
    /// Whether it is shown with plain C: one of its two members is a
    /// plain-C member, or the member of a corrupt delivery is.
    with_c: bool,
}

impl Violation {
    /// A violation that matches no documented corosync break.
    fn plain(kind: Kind, trace: String) -> Violation {
        Violation {
            kind,
            trace,
            corosync: None,
            pattern: None,
            transition: None,
            lost: None,
            with_c: false,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.corosync {
            Some(b) => writeln!(
                f,
                "violation {:?} (corosync break {b}, see RELIABILITY.md; shown by a C member too):",
                self.kind
            )?,
            None => writeln!(f, "violation {:?}:", self.kind)?,
        }
        for line in self.trace.lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// A transition's two views, and each lacking member's node with the
/// messages it lacks.
type Lost = (ViewKey, ViewKey, Vec<(u32, Vec<MsgId>)>);

/// A view: the members after a configuration change and the ring it came
/// in (`None` before the member's first ring event).
type ViewKey = (Option<(u64, u32)>, Vec<Member>);

/// The totem rings each node's daemon formed and the nodes it saw leave
/// in each, read from the daemons' logs (`A new membership (REP.SEQ) was
/// formed. Members joined: ... left: ...`, the ring id in hex, after
/// `Sync members[N]: ...`). CPG members are told only of the rings whose
/// synchronisation completed.
#[derive(Debug, Default, Clone)]
pub struct Formed(HashMap<u32, Vec<FormedRing>>);

/// One ring a daemon formed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FormedRing {
    seq: u64,
    rep: u32,
    /// Its members ("Sync members[n]: ..." before it), when logged.
    members: Option<Vec<u32>>,
    /// The nodes the daemon saw leave when it formed it.
    left: Vec<u32>,
}

impl FormedRing {
    /// Whether the daemon was without `node`'s packet stream, or lost its
    /// reassembly of it, in this ring: `node` left, or is not a member.
    fn apart_from(&self, node: u32) -> bool {
        self.left.contains(&node) || self.members.as_ref().is_some_and(|m| !m.contains(&node))
    }
}

impl Formed {
    /// Adds the rings that the log `text` of node `nodeid` shows formed.
    pub fn read_log(&mut self, nodeid: u32, text: &str) {
        const MARK: &str = "A new membership (";
        const MEMBERS: &str = "Sync members[";
        let rings = self.0.entry(nodeid).or_default();
        let mut members = None;
        for line in text.lines() {
            if let Some(at) = line.find(MEMBERS) {
                members = line[at..].split_once("]:").map(|(_, list)| node_ids(list));
                continue;
            }
            let Some(at) = line.find(MARK) else { continue };
            let rest = &line[at + MARK.len()..];
            let Some((id, rest)) = rest.split_once(')') else {
                continue;
            };
            let Some((rep, seq)) = id.split_once('.') else {
                continue;
            };
            let (Ok(rep), Ok(seq)) = (u32::from_str_radix(rep, 16), u64::from_str_radix(seq, 16))
            else {
                continue;
            };
            let left = rest
                .split_once(" left:")
                .map(|(_, list)| node_ids(list))
                .unwrap_or_default();
            rings.push(FormedRing {
                seq,
                rep,
                members: members.take(),
                left,
            });
        }
    }

    /// The rings `node` formed with a sequence number in `lo + 1 ..= hi`;
    /// `None` without a log of that node.
    fn between(&self, node: u32, lo: u64, hi: u64) -> Option<Vec<&FormedRing>> {
        Some(
            self.0
                .get(&node)?
                .iter()
                .filter(|r| r.seq > lo && r.seq <= hi)
                .collect(),
        )
    }
}

/// The node ids in a log's space-separated list.
fn node_ids(list: &str) -> Vec<u32> {
    list.split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// One incarnation's views, each with what was delivered until the next.
struct Views {
    views: Vec<ViewKey>,
    /// Deliveries after view `i` until view `i + 1` (or the record's end).
    segments: Vec<Vec<MsgId>>,
}

fn views_of(inc: &Incarnation) -> Views {
    // corosync tells a CPG member of a new ring after the configuration
    // changes of that ring's synchronisation (cpg_sync_activate: the
    // nodes that left, the nodes that joined, then the ring), and a new
    // member of its initial ring after its own join. So a view followed
    // by a ring event with no delivery between them belongs to that
    // ring; any other view to the last ring before it, or to the first
    // ring when there is none before.
    let mut next_ring: Vec<Option<(u64, u32)>> = vec![None; inc.events.len()];
    let mut pending = None;
    for (i, e) in inc.events.iter().enumerate().rev() {
        match e {
            Event::Ring(seq, rep) => pending = Some((*seq, *rep)),
            Event::Deliver { .. } => pending = None,
            Event::Conf(_) | Event::Sent(_) => {}
        }
        next_ring[i] = pending;
    }
    let mut ring = inc.events.iter().find_map(|e| match e {
        Event::Ring(seq, rep) => Some((*seq, *rep)),
        _ => None,
    });
    let mut views = Vec::new();
    let mut segments: Vec<Vec<MsgId>> = Vec::new();
    for (i, e) in inc.events.iter().enumerate() {
        match e {
            Event::Ring(seq, rep) => ring = Some((*seq, *rep)),
            Event::Conf(members) => {
                views.push((next_ring[i].or(ring), members.clone()));
                segments.push(Vec::new());
            }
            Event::Deliver { id, intact, .. } => {
                // (A corrupt delivery is check 2's; its header may name
                // another message.)
                if let (Some(seg), true) = (segments.last_mut(), *intact) {
                    seg.push(*id);
                }
            }
            Event::Sent(_) => {}
        }
    }
    Views { views, segments }
}

fn deliveries(inc: &Incarnation) -> Vec<MsgId> {
    inc.events
        .iter()
        .filter_map(|e| match e {
            Event::Deliver {
                id, intact: true, ..
            } => Some(*id),
            _ => None,
        })
        .collect()
}

fn who(inc: &Incarnation) -> String {
    format!(
        "{} ({} {}:{})",
        inc.name, inc.kind, inc.member.0, inc.member.1
    )
}

fn show_view(v: &ViewKey) -> String {
    match v.0 {
        Some((seq, rep)) => format!("ring {seq}/{rep} [{}]", members_text(&v.1)),
        None => format!("ring ? [{}]", members_text(&v.1)),
    }
}

/// How much the checks compared, so that a clean result is seen not to be
/// an empty one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// Pairs of incarnations with messages in common (check 1).
    pub order_pairs: usize,
    /// Pairs of matched consecutive views whose sets were compared (check 5).
    pub transitions: usize,
    /// Views compared between two members (check 6).
    pub views: usize,
}

/// Checks every promise over `incs`, the records of one run; the
/// violations found, at most one per kind and pair (or member; every
/// corrupt delivery), those that are documented corosync breaks marked as
/// such.
pub fn check(incs: &[Incarnation]) -> Vec<Violation> {
    check_counted(incs).0
}

/// [`check`], and how much it compared.
pub fn check_counted(incs: &[Incarnation]) -> (Vec<Violation>, Coverage) {
    check_with(incs, &Formed::default())
}

/// [`check_counted`], with the rings the daemons formed (without them no
/// violation is found to be [`Break::LeaveResetsReassembly`] or
/// [`Break::UnreportedPartition`]).
pub fn check_with(incs: &[Incarnation], formed: &Formed) -> (Vec<Violation>, Coverage) {
    let mut cov = Coverage::default();
    let mut out = Vec::new();
    for inc in incs {
        check_one(inc, formed, &mut out);
    }
    let all: Vec<(Vec<MsgId>, Views)> = incs.iter().map(|i| (deliveries(i), views_of(i))).collect();
    // Most pairs of a long run never met: no sender in common, and neither
    // in the other's views. These sets let such pairs go at once.
    let senders: Vec<HashSet<Member>> = all
        .iter()
        .map(|(d, _)| d.iter().map(|m| (m.nodeid, m.pid)).collect())
        .collect();
    let seen: Vec<HashSet<Member>> = all
        .iter()
        .map(|(_, v)| {
            v.views
                .iter()
                .flat_map(|(_, m)| m.iter().copied())
                .collect()
        })
        .collect();
    for a in 0..incs.len() {
        for b in a + 1..incs.len() {
            if !senders[a].is_disjoint(&senders[b]) {
                check_order(&incs[a], &all[a].0, &incs[b], &all[b].0, &mut out, &mut cov);
            }
            if seen[a].contains(&incs[b].member) || seen[b].contains(&incs[a].member) {
                let pair = Pair {
                    a: &incs[a],
                    va: &all[a].1,
                    b: &incs[b],
                    vb: &all[b].1,
                };
                check_views(&pair, formed, &mut out, &mut cov);
            }
        }
    }
    same_node(incs, &all, &mut out);
    classify(&mut out);
    (out, cov)
}

/// Checks 2, 3 and 4 within one incarnation.
fn check_one(inc: &Incarnation, formed: &Formed, out: &mut Vec<Violation>) {
    let mut seen = HashSet::new();
    let mut last: HashMap<Member, u64> = HashMap::new();
    let mut sent = Vec::new();
    let mut own = HashSet::new();
    let mut flagged = HashSet::new();
    let mut corrupt = HashSet::new();
    for (at, e) in inc.events.iter().enumerate() {
        match e {
            Event::Sent(seq) => sent.push(*seq),
            Event::Deliver { id, len, intact } => {
                if !intact && corrupt.insert((*id, *len)) {
                    let leave = corrupt_after_leave(inc, at, id, *len, formed);
                    let mut v = Violation::plain(
                        Kind::Corrupt,
                        format!(
                            "{} delivered a {len}-byte message from {}:{} that does not verify \
                             (its header says seq {}){}",
                            who(inc),
                            id.nodeid,
                            id.pid,
                            id.seq,
                            leave.as_ref().map(|l| format!("\n{l}")).unwrap_or_default()
                        ),
                    );
                    v.pattern = leave.map(|_| Break::LeaveResetsReassembly);
                    v.transition = Some(format!("corrupt {id} of {len} bytes"));
                    v.with_c = inc.kind == "c";
                    out.push(v);
                }
                if !intact {
                    continue;
                }
                if !seen.insert(*id) && flagged.insert(Kind::Duplicate) {
                    out.push(Violation::plain(
                        Kind::Duplicate,
                        format!("{} delivered {id} twice", who(inc)),
                    ));
                }
                let sender = (id.nodeid, id.pid);
                if let Some(&prev) = last.get(&sender) {
                    if id.seq <= prev && flagged.insert(Kind::Fifo) {
                        out.push(Violation::plain(
                            Kind::Fifo,
                            format!(
                                "{} delivered {}:{}#{prev} and then {id}",
                                who(inc),
                                id.nodeid,
                                id.pid
                            ),
                        ));
                    }
                }
                last.insert(sender, id.seq);
                if sender == inc.member {
                    own.insert(id.seq);
                }
            }
            _ => {}
        }
    }
    if let Some(e) = inc.error.as_deref().filter(|e| e.starts_with(STUCK)) {
        out.push(Violation::plain(
            Kind::SelfDelivery,
            format!("{} stopped: {e}", who(inc)),
        ));
    }
    let bound = if inc.clean_end {
        u64::MAX
    } else {
        own.iter().copied().max().unwrap_or(0)
    };
    if let Some(seq) = sent.iter().find(|&&s| s <= bound && !own.contains(&s)) {
        out.push(Violation::plain(
            Kind::SelfDelivery,
            format!(
                "{} sent #{seq} and never delivered it{}",
                who(inc),
                if inc.clean_end {
                    " before its clean end".to_string()
                } else {
                    format!(", though it delivered its own #{bound} sent later")
                }
            ),
        ));
    }
}

/// Check 1 between two incarnations.
fn check_order(
    a: &Incarnation,
    da: &[MsgId],
    b: &Incarnation,
    db: &[MsgId],
    out: &mut Vec<Violation>,
    cov: &mut Coverage,
) {
    let pos_b: HashMap<MsgId, usize> = db.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    // The common message with the highest position at b so far.
    let mut max: Option<(MsgId, usize)> = None;
    let mut common = false;
    for m in da {
        let Some(&pb) = pos_b.get(m) else { continue };
        if !common {
            common = true;
            cov.order_pairs += 1;
        }
        match max {
            Some((prev, pprev)) if pb < pprev => {
                out.push(Violation::plain(
                    Kind::Order,
                    format!(
                        "{} delivered {prev} before {m}\n{} delivered {m} before {prev}",
                        who(a),
                        who(b)
                    ),
                ));
                return;
            }
            _ => max = Some((*m, pb)),
        }
    }
}

/// Two incarnations and their views.
struct Pair<'a> {
    a: &'a Incarnation,
    va: &'a Views,
    b: &'a Incarnation,
    vb: &'a Views,
}

/// Checks 5 and 6 between two incarnations.
fn check_views(pair: &Pair<'_>, formed: &Formed, out: &mut Vec<Violation>, cov: &mut Coverage) {
    let &Pair { a, va, b, vb } = pair;
    // Check 6, ring by ring.
    let with = |v: &Views, other: Member| -> Vec<(Option<(u64, u32)>, usize)> {
        v.views
            .iter()
            .enumerate()
            .filter(|(_, (_, m))| m.contains(&other))
            .map(|(i, (r, _))| (*r, i))
            .collect()
    };
    let sa = with(va, b.member);
    let sb = with(vb, a.member);
    let rings: Vec<Option<(u64, u32)>> = {
        let mut r: Vec<_> = sa
            .iter()
            .map(|x| x.0)
            .filter(|r| sb.iter().any(|y| y.0 == *r))
            .collect();
        r.dedup();
        r
    };
    for ring in rings {
        let ia: Vec<usize> = sa.iter().filter(|x| x.0 == ring).map(|x| x.1).collect();
        let ib: Vec<usize> = sb.iter().filter(|x| x.0 == ring).map(|x| x.1).collect();
        let first = ia.iter().enumerate().find_map(|(ka, &i)| {
            ib.iter()
                .position(|&j| va.views[i] == vb.views[j])
                .map(|kb| (ka, kb))
        });
        match first {
            Some((ka, kb)) => {
                cov.views += ia.len().saturating_sub(ka).min(ib.len().saturating_sub(kb));
                let diff = ia[ka..]
                    .iter()
                    .zip(&ib[kb..])
                    .find(|(&i, &j)| va.views[i] != vb.views[j]);
                if let Some((&i, &j)) = diff {
                    out.push(Violation::plain(
                        Kind::Membership,
                        format!(
                            "{} installed {} then {}\n{} installed {} then {}",
                            who(a),
                            show_view(&va.views[ia[ka]]),
                            show_view(&va.views[i]),
                            who(b),
                            show_view(&vb.views[ib[kb]]),
                            show_view(&vb.views[j]),
                        ),
                    ));
                    return;
                }
            }
            None => {
                // Seen to its end: a later view in another ring (a member
                // that left, or was killed, may have stopped short of
                // what the other saw).
                let ended =
                    |v: &Views, last: usize| v.views[last + 1..].iter().any(|w| w.0 != ring);
                if ended(va, *ia.last().expect("a view")) && ended(vb, *ib.last().expect("a view"))
                {
                    out.push(Violation::plain(
                        Kind::Membership,
                        format!(
                            "in ring {ring:?} {} installed {} and {} installed {}: no view in common",
                            who(a),
                            show_view(&va.views[*ia.last().expect("a view")]),
                            who(b),
                            show_view(&vb.views[*ib.last().expect("a view")]),
                        ),
                    ));
                    return;
                }
            }
        }
    }
    // Check 5: the same two consecutive views, matched by occurrence.
    let pairs = |v: &Views| -> HashMap<(ViewKey, ViewKey, usize), usize> {
        let mut count: HashMap<(ViewKey, ViewKey), usize> = HashMap::new();
        let mut map = HashMap::new();
        for i in 0..v.views.len().saturating_sub(1) {
            let key = (v.views[i].clone(), v.views[i + 1].clone());
            let n = count.entry(key.clone()).or_default();
            map.insert((key.0, key.1, *n), i);
            *n += 1;
        }
        map
    };
    let pb = pairs(vb);
    for (key, i) in pairs(va) {
        let both = |v: &ViewKey| v.1.contains(&a.member) && v.1.contains(&b.member);
        if !both(&key.0) || !both(&key.1) {
            continue;
        }
        let Some(&j) = pb.get(&key) else { continue };
        cov.transitions += 1;
        let set_a: HashSet<MsgId> = va.segments[i].iter().copied().collect();
        let set_b: HashSet<MsgId> = vb.segments[j].iter().copied().collect();
        if set_a != set_b {
            let only_a: Vec<String> = set_a
                .difference(&set_b)
                .take(3)
                .map(|m| m.to_string())
                .collect();
            let only_b: Vec<String> = set_b
                .difference(&set_a)
                .take(3)
                .map(|m| m.to_string())
                .collect();
            let mut unreported = None;
            let mut lost = None;
            let pattern = if set_b.is_subset(&set_a)
                && fragmented_across_join(b, vb, j, a, set_a.difference(&set_b))
                || set_a.is_subset(&set_b)
                    && fragmented_across_join(a, va, i, b, set_b.difference(&set_a))
            {
                Some(Break::FragmentedAcrossJoin)
            } else {
                // Each member that lacks messages the other delivered
                // must lack them the same way.
                // (A member that joined during the view may lack some of
                // them as fragmented-across-join too: those are set apart.)
                let mut joined = 0;
                let mut rest = |lacking: &Incarnation,
                                lv,
                                at,
                                other,
                                from: &HashSet<MsgId>,
                                to: &HashSet<MsgId>| {
                    let all: Vec<MsgId> = from.difference(to).copied().collect();
                    let rest: Vec<MsgId> = all
                        .iter()
                        .filter(|m| !lost_across_join(lacking, lv, at, other, m))
                        .copied()
                        .collect();
                    joined += all.len() - rest.len();
                    rest
                };
                let b_lacks = rest(b, vb, j, a, &set_a, &set_b);
                let a_lacks = rest(a, va, i, b, &set_b, &set_a);
                let both = |how: Explain| {
                    let side = |lacking, other, missing: &[MsgId]| {
                        if missing.is_empty() {
                            Some(None)
                        } else {
                            how(lacking, other, missing, formed).map(Some)
                        }
                    };
                    match (
                        side((b, vb, j), (a, va, i), &b_lacks),
                        side((a, va, i), (b, vb, j), &a_lacks),
                    ) {
                        (Some(Some(x)), Some(Some(y))) => Some(format!("{x}\n{y}")),
                        (Some(x), Some(y)) => x.or(y),
                        _ => None,
                    }
                };
                let found = if b_lacks.is_empty() && a_lacks.is_empty() {
                    // Both lack messages, all as fragmented-across-join
                    // (a merge: each side lacks the other's).
                    joined = 0;
                    Some((
                        Break::FragmentedAcrossJoin,
                        "each lacks fragmented messages of senders it came together with"
                            .to_string(),
                    ))
                } else {
                    [
                        (
                            Break::LeaveResetsReassembly,
                            leave_resets_reassembly as Explain,
                        ),
                        (Break::UnreportedPartition, unreported_partition),
                    ]
                    .into_iter()
                    .find_map(|(brk, how)| both(how).map(|text| (brk, text)))
                };
                lost = Some((
                    key.0.clone(),
                    key.1.clone(),
                    [(b.member.0, b_lacks), (a.member.0, a_lacks)]
                        .into_iter()
                        .filter(|(_, m)| !m.is_empty())
                        .collect(),
                ));
                found.map(|(brk, text)| {
                    unreported = Some(if joined > 0 {
                        format!(
                            "{text}\n({joined} more lacked as {})",
                            Break::FragmentedAcrossJoin
                        )
                    } else {
                        text
                    });
                    brk
                })
            };
            out.push(Violation {
                corosync: None,
                lost: if pattern == Some(Break::FragmentedAcrossJoin) {
                    None
                } else {
                    lost
                },
                pattern,
                transition: Some(format!("{} to {}", show_view(&key.0), show_view(&key.1))),
                with_c: a.kind == "c" || b.kind == "c",
                kind: Kind::VirtualSynchrony,
                trace: format!(
                    "both moved from {} to {}\n{} delivered {} messages in it, {} that the other did not: {}\n\
                     {} delivered {} messages in it, {} that the other did not: {}",
                    show_view(&key.0),
                    show_view(&key.1),
                    who(a),
                    set_a.len(),
                    set_a.difference(&set_b).count(),
                    only_a.join(" "),
                    who(b),
                    set_b.len(),
                    set_b.difference(&set_a).count(),
                    only_b.join(" "),
                ) + &unreported.map(|u| format!("\n{u}")).unwrap_or_default(),
            });
            return;
        }
    }
}

/// Whether member `lacking`, moving from its view `at` to the next one
/// with member `other`, lacks exactly `missing` as [`Break::FragmentedAcrossJoin`]
/// has it: every missing message is one it never delivered at all, that
/// `other` delivered intact and longer than corosync's largest atomic
/// message, and whose sender is in the view `at` but not in the view
/// before it (or `at` is its first view, its own join).
fn fragmented_across_join<'m>(
    lacking: &Incarnation,
    views: &Views,
    at: usize,
    other: &Incarnation,
    missing: impl Iterator<Item = &'m MsgId>,
) -> bool {
    let mut any = false;
    for m in missing {
        any = true;
        if !lost_across_join(lacking, views, at, other, m) {
            return false;
        }
    }
    any
}

/// Whether `lacking` lacks message `m` as [`Break::FragmentedAcrossJoin`]
/// has it (see [`fragmented_across_join`]).
fn lost_across_join(
    lacking: &Incarnation,
    views: &Views,
    at: usize,
    other: &Incarnation,
    m: &MsgId,
) -> bool {
    let Some(atomic) = other.atomic.or(lacking.atomic) else {
        return false;
    };
    let sender = (m.nodeid, m.pid);
    let comes_together = views.views[at].1.contains(&sender)
        && (at == 0 || !views.views[at - 1].1.contains(&sender));
    let never = !lacking
        .events
        .iter()
        .any(|e| matches!(e, Event::Deliver { id, .. } if id == m));
    let fragmented = other
        .events
        .iter()
        .any(|e| matches!(e, Event::Deliver { id, len, intact: true } if id == m && *len > atomic));
    comes_together && never && fragmented
}

/// Whether `inc` delivered message `m` intact, in any view.
fn delivers_intact(inc: &Incarnation, m: &MsgId) -> bool {
    inc.events
        .iter()
        .any(|e| matches!(e, Event::Deliver { id, intact: true, .. } if id == m))
}

/// A member, its views, and the index of the view it moved from.
type Side<'a> = (&'a Incarnation, &'a Views, usize);

/// A test of whether member `lacking`, moving to the next view together
/// with member `other`, lacks exactly the given messages as one of
/// corosync's breaks has it; the evidence, for the trace.
type Explain = fn(Side<'_>, Side<'_>, &[MsgId], &Formed) -> Option<String>;

/// The last ring both members were told of before `from` (or, if one was
/// told of none, the last the other was told of).
fn last_told_by_both(a: &Incarnation, b: &Incarnation, from: u64) -> Option<u64> {
    let told = |inc: &Incarnation| -> HashSet<(u64, u32)> {
        inc.events
            .iter()
            .filter_map(|e| match e {
                Event::Ring(seq, rep) if *seq < from => Some((*seq, *rep)),
                _ => None,
            })
            .collect()
    };
    let (ta, tb) = (told(a), told(b));
    match ta.intersection(&tb).map(|r| r.0).max() {
        Some(lo) => Some(lo),
        None if ta.is_empty() || tb.is_empty() => ta.iter().chain(tb.iter()).map(|r| r.0).max(),
        None => None,
    }
}

/// Whether member `lacking` (see [`Side`]), moving to the next view
/// together with member `other`, lacks exactly `missing` as
/// [`Break::UnreportedPartition`] has it: every missing message is one
/// `lacking` never delivered intact, the next view is in a later ring,
/// and between the two views' rings the two daemons formed different
/// rings. Returns those rings, for the trace.
fn unreported_partition(
    (lacking, lv, li): Side<'_>,
    (other, _, _): Side<'_>,
    missing: &[MsgId],
    formed: &Formed,
) -> Option<String> {
    let (from, to) = (lv.views[li].0?, lv.views.get(li + 1)?.0?);
    if to.0 <= from.0 {
        return None;
    }
    if missing.iter().any(|m| delivers_intact(lacking, m)) {
        return None;
    }
    let (ln, on) = (lacking.member.0, other.member.0);
    let ids = |node| -> Option<Vec<(u64, u32)>> {
        Some(
            formed
                .between(node, from.0, to.0 - 1)?
                .into_iter()
                .map(|r| (r.seq, r.rep))
                .collect(),
        )
    };
    let (lr, or) = (ids(ln)?, ids(on)?);
    let text = |r: &[(u64, u32)]| {
        if r.is_empty() {
            "none".to_string()
        } else {
            r.iter()
                .map(|(s, p)| format!("{s}/{p}"))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    (lr != or).then(|| {
        format!(
            "between ring {} and ring {}, node {ln} formed {} and node {on} formed {}",
            from.0,
            to.0,
            text(&lr),
            text(&or)
        )
    })
}

/// Whether member `lacking` (see [`Side`]), moving to the next view
/// together with member `other`, lacks exactly `missing` as
/// [`Break::LeaveResetsReassembly`] has it:
/// every missing message is one `lacking` never delivered intact, and
/// after the last ring both members were told of before that view (or, if
/// one was told of none, the other's last), up to the ring of the next
/// view, the daemon of `lacking` was apart from each
/// missing message's sender node (formed a ring without it, or saw it
/// leave) later than the daemon of `other` was, if ever. Returns those
/// rings, for the trace.
fn leave_resets_reassembly(
    (lacking, lv, li): Side<'_>,
    (other, _, _): Side<'_>,
    missing: &[MsgId],
    formed: &Formed,
) -> Option<String> {
    let (from, to) = (lv.views[li].0?, lv.views.get(li + 1)?.0?);
    let lo = last_told_by_both(lacking, other, from.0)?;
    let hi = from.0.max(to.0);
    let (ln, on) = (lacking.member.0, other.member.0);
    let (lr, or) = (formed.between(ln, lo, hi)?, formed.between(on, lo, hi)?);
    let mut senders = Vec::new();
    for m in missing {
        let never = !delivers_intact(lacking, m);
        // The last ring in which each daemon was apart from the sender's
        // node: `lacking`'s must be later than `other`'s (or `other`'s
        // daemon never apart), so that `other` had the sender's packets
        // all along when `lacking` met the sender again.
        let last_apart = |rings: &[&FormedRing]| {
            rings
                .iter()
                .filter(|r| r.apart_from(m.nodeid))
                .map(|r| r.seq)
                .max()
        };
        let (l_apart, o_apart) = (last_apart(&lr), last_apart(&or));
        if !never || l_apart.is_none() || o_apart >= l_apart {
            return None;
        }
        senders.push(m.nodeid);
    }
    if senders.is_empty() {
        return None;
    }
    senders.sort_unstable();
    senders.dedup();
    let text = |rings: &[&FormedRing]| {
        rings
            .iter()
            .map(|r| {
                let list = |l: &[u32]| l.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
                let members = r.members.as_deref().map(list).unwrap_or_else(|| "?".into());
                format!("{}/{} [{members}] (left: {})", r.seq, r.rep, list(&r.left))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(format!(
        "after ring {lo}, up to ring {hi}, node {ln} was apart from sender node(s) {senders:?} later than node {on}; \
         node {ln} formed {}; node {on} formed {}",
        text(&lr),
        text(&or)
    ))
}

/// Whether a corrupt delivery (event `at` of `inc`) is what
/// [`Break::LeaveResetsReassembly`] does to libcpg, which appends any
/// fragment to the message it is assembling for a sender: the message is
/// longer than corosync's largest atomic message, and while the member
/// was in the group, up to the first ring it was told of after the
/// delivery, its daemon was apart from the sender's node (a ring without
/// it, or one it saw the node leave). Returns those rings,
/// for the trace.
fn corrupt_after_leave(
    inc: &Incarnation,
    at: usize,
    id: &MsgId,
    len: usize,
    formed: &Formed,
) -> Option<String> {
    if len <= inc.atomic? {
        return None;
    }
    let ring_seq = |e: &Event| match e {
        Event::Ring(seq, _) => Some(*seq),
        _ => None,
    };
    let lo = inc.events.iter().find_map(ring_seq)?;
    let hi = inc.events[at..]
        .iter()
        .find_map(ring_seq)
        .unwrap_or(u64::MAX);
    let node = inc.member.0;
    let left: Vec<String> = formed
        .between(node, lo, hi)?
        .into_iter()
        .filter(|r| r.apart_from(id.nodeid))
        .map(|r| format!("{}/{}", r.seq, r.rep))
        .collect();
    (!left.is_empty()).then(|| {
        format!(
            "after ring {lo}, node {node} was apart from sender node {} in ring(s) {}",
            id.nodeid,
            left.join(" ")
        )
    })
}

/// A loss in a daemon is every member's on its node: a violation is not
/// a break in the daemons when another
/// member on a lacking member's node that installed the same two views
/// delivered one of the lost messages.
fn same_node(incs: &[Incarnation], all: &[(Vec<MsgId>, Views)], out: &mut [Violation]) {
    for v in out.iter_mut() {
        let Some((from, to, lost)) = &v.lost else {
            continue;
        };
        let witness = lost.iter().find_map(|(node, msgs)| {
            incs.iter().zip(all).find_map(|(inc, (delivered, views))| {
                if inc.member.0 != *node
                    || !views.views.windows(2).any(|w| &w[0] == from && &w[1] == to)
                {
                    return None;
                }
                let had = msgs.iter().find(|m| delivered.contains(m))?;
                Some(format!("{} delivered {had}", who(inc)))
            })
        });
        if let Some(w) = witness {
            v.pattern = None;
            v.trace.push_str(&format!("\n(but {w}, on the same node)"));
        }
    }
}

/// Marks as [`Violation::corosync`] the violations that match a documented
/// corosync break when, in the same transition, a violation with that
/// break has a plain-C member on either side.
fn classify(violations: &mut [Violation]) {
    let shown: HashSet<(String, Break)> = violations
        .iter()
        .filter(|v| v.with_c)
        .filter_map(|v| Some((v.transition.clone()?, v.pattern?)))
        .collect();
    for v in violations.iter_mut() {
        if let (Some(t), Some(p)) = (&v.transition, v.pattern) {
            if shown.contains(&(t.clone(), p)) {
                v.corosync = Some(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::record::parse;

    /// Two members, A (1:10) and B (2:20), that see a third join and then
    /// split into rings of their own; B is killed at the end.
    const A: &str = "member a rust 1 10
ring 4 1
conf 1:10,2:20
sent 1
dlv 1 10 1 40 ok
dlv 2 20 1 40 ok
conf 1:10,2:20,3:30
dlv 2 20 2 40 ok
sent 2
dlv 1 10 2 40 ok
ring 5 1
conf 1:10
end
";
    const B: &str = "member b c 2 20
ring 4 1
conf 1:10,2:20
sent 1
dlv 1 10 1 40 ok
dlv 2 20 1 40 ok
sent 2
conf 1:10,2:20,3:30
dlv 2 20 2 40 ok
dlv 1 10 2 40 ok
ring 5 2
conf 2:20
sent 3
";

    fn kinds(a: &str, b: &str) -> Vec<Kind> {
        let incs = [parse("a", a).unwrap(), parse("b", b).unwrap()];
        let mut k: Vec<Kind> = check(&incs).into_iter().map(|v| v.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn consistent_records_have_no_violation_and_are_compared() {
        let incs = [parse("a", A).unwrap(), parse("b", B).unwrap()];
        let (violations, cov) = check_counted(&incs);
        assert_eq!(violations, []);
        assert_eq!(
            cov,
            Coverage {
                order_pairs: 1,
                transitions: 1,
                views: 2
            }
        );
    }

    #[test]
    fn two_members_delivering_common_messages_in_different_orders_is_an_order_violation() {
        let b = B.replace(
            "dlv 1 10 1 40 ok\ndlv 2 20 1 40 ok",
            "dlv 2 20 1 40 ok\ndlv 1 10 1 40 ok",
        );
        assert_eq!(kinds(A, &b), [Kind::Order]);
    }

    #[test]
    fn a_message_delivered_twice_is_a_duplicate() {
        let a = A.replace("dlv 2 20 2 40 ok", "dlv 2 20 1 40 ok\ndlv 2 20 2 40 ok");
        // (Delivering #1 again is also a step back in B's sequence.)
        assert_eq!(kinds(&a, B), [Kind::Duplicate, Kind::Fifo]);
    }

    #[test]
    fn a_payload_that_does_not_verify_is_corruption() {
        let a = A.replace(
            "conf 1:10,2:20,3:30\n",
            "conf 1:10,2:20,3:30\ndlv 3 30 0 12 corrupt\n",
        );
        assert_eq!(kinds(&a, B), [Kind::Corrupt]);
    }

    #[test]
    fn a_senders_messages_out_of_sequence_break_fifo() {
        // Both deliver B's #2 before its #1: the same order, but not FIFO.
        let swap = |s: &str| {
            s.replace("dlv 2 20 1 40 ok", "dlv 2 20 X 40 ok")
                .replace("dlv 2 20 2 40 ok", "dlv 2 20 1 40 ok")
                .replace("dlv 2 20 X 40 ok", "dlv 2 20 2 40 ok")
        };
        assert_eq!(kinds(&swap(A), &swap(B)), [Kind::Fifo]);
    }

    #[test]
    fn an_own_message_missing_before_a_clean_end_or_a_later_own_one_breaks_self_delivery() {
        // A ends cleanly without its #3.
        let a = A.replace("ring 5 1\nconf 1:10\n", "ring 5 1\nconf 1:10\nsent 3\n");
        assert_eq!(kinds(&a, B), [Kind::SelfDelivery]);
        // B's #1 reaches no one, though its #2 does.
        let lose = |s: &str| s.replace("dlv 2 20 1 40 ok\n", "");
        assert_eq!(kinds(&lose(A), &lose(B)), [Kind::SelfDelivery]);
        // B's #3 was sent in its last ring and B was killed: no promise.
        assert_eq!(kinds(A, B), []);
        // B, told to end, waited for its #3 in vain.
        let b = format!("{B}error own messages did not come back within 60 s\n");
        assert_eq!(kinds(A, &b), [Kind::SelfDelivery]);
    }

    #[test]
    fn members_moving_together_with_different_sets_break_virtual_synchrony() {
        // A alone delivers a message of the third member in the first view.
        let a = A.replace("dlv 2 20 1 40 ok\n", "dlv 2 20 1 40 ok\ndlv 3 30 1 40 ok\n");
        assert_eq!(kinds(&a, B), [Kind::VirtualSynchrony]);
    }

    #[test]
    fn members_of_one_ring_installing_different_views_disagree_on_membership() {
        let b = B.replace("conf 1:10,2:20,3:30", "conf 1:10,2:20,3:31");
        assert_eq!(kinds(A, &b), [Kind::Membership]);
        // Two members that saw the same ring to its end without a view in
        // common.
        let a = A
            .replace("conf 1:10,2:20,3:30", "conf 1:10,2:20,3:31")
            .replace("conf 1:10,2:20\n", "conf 1:10,2:20,4:40\n");
        let b = B.replace("dlv 1 10 1 40 ok\ndlv 2 20 1 40 ok", "dlv 2 20 1 40 ok");
        assert!(kinds(&a, &b).contains(&Kind::Membership));
    }

    #[test]
    fn the_differing_views_of_a_merge_before_the_first_shared_one_are_no_violation() {
        // A's side had A and C, B's side B alone; the joins of the merge
        // reach the two sides from different starting views.
        let a =
            "member a rust 1 10\nring 7 1\nconf 1:10,3:30\nconf 1:10,2:20,3:30\nconf 1:10,2:20\n";
        let b = "member b rust 2 20\nring 7 1\nconf 2:20\nconf 1:10,2:20\nconf 1:10,2:20,3:30\nconf 1:10,2:20\n";
        assert_eq!(kinds(a, b), []);
    }

    /// A plain-C member D and a sender S (rust); L (rust) joins between
    /// the first and the last fragment of S's #2 and never gets it, then
    /// a fourth member joins.
    const D: &str = "member d c 1 10 1000
ring 4 1
conf 1:10,2:20
dlv 2 20 1 40 ok
conf 1:10,2:20,3:30
dlv 2 20 2 1500 ok
dlv 2 20 3 40 ok
conf 1:10,2:20,3:30,3:31
";
    const L: &str = "member l rust 3 30 1000
ring 4 1
conf 1:10,2:20,3:30
dlv 2 20 3 40 ok
conf 1:10,2:20,3:30,3:31
";

    fn classified(d: &str, l: &str) -> Vec<(Kind, Option<Break>)> {
        let incs = [parse("d", d).unwrap(), parse("l", l).unwrap()];
        let mut v: Vec<_> = check(&incs)
            .into_iter()
            .map(|v| (v.kind, v.corosync))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    #[test]
    fn a_joiner_lacking_a_fragmented_message_begun_before_its_join_is_the_documented_corosync_break(
    ) {
        assert_eq!(
            classified(D, L),
            [(Kind::VirtualSynchrony, Some(Break::FragmentedAcrossJoin))]
        );
        let shown = check(&[parse("d", D).unwrap(), parse("l", L).unwrap()]);
        assert!(shown[0]
            .to_string()
            .contains("corosync break fragmented-across-join"));
    }

    #[test]
    fn the_same_break_between_members_of_the_bindings_only_stays_a_violation() {
        let d = D.replace("member d c", "member d rust");
        assert_eq!(classified(&d, L), [(Kind::VirtualSynchrony, None)]);
    }

    #[test]
    fn a_joiner_lacking_a_message_that_was_not_fragmented_stays_a_violation() {
        let d = D.replace("dlv 2 20 2 1500 ok", "dlv 2 20 2 900 ok");
        assert_eq!(classified(&d, L), [(Kind::VirtualSynchrony, None)]);
        // Without the atomic size in the records, nothing is classified.
        let d = D.replace("member d c 1 10 1000", "member d c 1 10");
        let l = L.replace("member l rust 3 30 1000", "member l rust 3 30");
        assert_eq!(classified(&d, &l), [(Kind::VirtualSynchrony, None)]);
    }

    #[test]
    fn a_joiner_that_delivers_the_message_later_stays_a_violation() {
        let l = format!("{L}dlv 2 20 2 1500 ok\n");
        assert!(classified(D, &l).contains(&(Kind::VirtualSynchrony, None)));
    }

    #[test]
    fn a_member_that_meets_the_sender_by_a_merge_mid_message_is_the_same_break() {
        // L was in the group alone before, in a partition of its own, and
        // came to D's and S's view by a merge.
        let l = L.replace("ring 4 1\n", "ring 2 3\nconf 3:30\nring 4 1\n");
        assert_eq!(
            classified(D, &l),
            [(Kind::VirtualSynchrony, Some(Break::FragmentedAcrossJoin))]
        );
    }

    #[test]
    fn a_member_lacking_a_fragmented_message_of_a_sender_it_already_shared_a_view_with_stays_a_violation(
    ) {
        // L was in a view with S before: no join or merge between them
        // can explain the lost message.
        let l = L.replace("ring 4 1\n", "ring 2 3\nconf 2:20,3:30\nring 4 1\n");
        assert_eq!(classified(D, &l), [(Kind::VirtualSynchrony, None)]);
    }

    /// A plain-C member U (node 1) and a Rust member M (node 3) stay in
    /// one view while rings pass that they are not told of; U delivers
    /// S's (node 2) #2, M never does.
    const U: &str = "member u c 1 10 1000
ring 4 1
conf 1:10,2:20,3:30
dlv 2 20 1 40 ok
conf 1:10,2:20,3:30,4:40
ring 12 1
dlv 2 20 2 1500 ok
dlv 2 20 3 40 ok
conf 1:10,2:20,3:30,3:31,4:40
";
    const M: &str = "member m rust 3 30 1000
ring 4 1
conf 1:10,2:20,3:30
dlv 2 20 1 40 ok
conf 1:10,2:20,3:30,4:40
ring 12 1
dlv 2 20 3 40 ok
conf 1:10,2:20,3:30,3:31,4:40
";

    /// Node 1's and node 3's logs: rings as `<rep>.<seq hex> [<members>]
    /// <members text>`, the member list optional.
    fn formed(node1: &[&str], node3: &[&str]) -> Formed {
        let log = |rings: &[&str]| -> String {
            let mut out = String::new();
            for r in rings {
                let (id, rest) = r.split_once(' ').unwrap_or((r, ""));
                let rest = match rest.strip_prefix('[') {
                    Some(more) => {
                        let (members, rest) = more.split_once(']').unwrap();
                        let n = members.split_whitespace().count();
                        out += &format!("Dec 06 15:05:20 [9] vm corosync notice  [QUORUM] Sync members[{n}]: {members}\n");
                        rest.trim_start()
                    }
                    None => rest,
                };
                out += &format!("Dec 06 15:05:20 [9] vm corosync notice  [TOTEM ] A new membership ({id}) was formed. Members {rest}\n");
            }
            out
        };
        let mut f = Formed::default();
        f.read_log(1, &log(node1));
        f.read_log(3, &log(node3));
        f
    }

    fn classified_with(u: &str, m: &str, f: &Formed) -> Vec<(Kind, Option<Break>)> {
        let incs = [parse("u", u).unwrap(), parse("m", m).unwrap()];
        check_with(&incs, f)
            .0
            .into_iter()
            .map(|v| (v.kind, v.corosync))
            .collect()
    }

    #[test]
    fn the_daemon_logs_give_the_rings_each_node_formed_and_who_left() {
        let f = formed(
            &["1.8 joined: 2 3 left: 2 3 5", "1.c left: 4"],
            &["5.4d", "4.51 joined: 4"],
        );
        let rings = |node, lo, hi| -> Vec<(u64, u32, Vec<u32>)> {
            f.between(node, lo, hi)
                .unwrap()
                .into_iter()
                .map(|r| (r.seq, r.rep, r.left.clone()))
                .collect()
        };
        assert_eq!(rings(1, 4, 12), [(8, 1, vec![2, 3, 5]), (12, 1, vec![4])]);
        assert_eq!(rings(1, 8, 12), [(12, 1, vec![4])]);
        assert_eq!(rings(3, 0, 100), [(77, 5, vec![]), (81, 4, vec![])]);
        assert!(f.between(2, 0, 100).is_none());
    }

    #[test]
    fn a_member_whose_daemon_saw_the_sender_leave_unreported_lacking_its_messages_is_the_documented_break(
    ) {
        let f = formed(&["1.c"], &["3.8 left: 1 2", "1.c joined: 1 2"]);
        // A plain-C member on either side will do: here U delivered it.
        assert_eq!(
            classified_with(U, M, &f),
            [(Kind::VirtualSynchrony, Some(Break::LeaveResetsReassembly))]
        );
        // Not when a member on M's node that moved the same way delivered
        // it: the loss was not its daemon's.
        let n = M
            .replace("member m rust 3 30", "member n rust 3 32")
            .replace("dlv 2 20 3 40 ok", "dlv 2 20 2 1500 ok\ndlv 2 20 3 40 ok");
        let incs = [
            parse("u", U).unwrap(),
            parse("m", M).unwrap(),
            parse("n", &n).unwrap(),
        ];
        let v = check_with(&incs, &f).0;
        assert!(v.iter().all(|v| v.corosync.is_none()), "{v:?}");
        assert!(
            v.iter().any(|v| v
                .trace
                .contains("(but n (rust 3:32) delivered 2:20#2, on the same node)")),
            "{v:?}"
        );
        let cm = M.replace("member m rust", "member m c");
        let mc = cm.as_str();
        assert_eq!(
            classified_with(U, mc, &f),
            [(Kind::VirtualSynchrony, Some(Break::LeaveResetsReassembly))]
        );
        let shown = check_with(&[parse("u", U).unwrap(), parse("m", mc).unwrap()], &f).0;
        let text = shown[0].to_string();
        assert!(
            text.contains("corosync break leave-resets-reassembly"),
            "{text}"
        );
        assert!(
            text.contains("after ring 4, up to ring 12, node 3 was apart from sender node(s) [2] later than node 1"),
            "{text}"
        );
        // The lost message need not be fragmented.
        let u = U.replace("dlv 2 20 2 1500 ok", "dlv 2 20 2 900 ok");
        assert_eq!(
            classified_with(&u, mc, &f),
            [(Kind::VirtualSynchrony, Some(Break::LeaveResetsReassembly))]
        );
    }

    #[test]
    fn the_same_shape_without_that_leave_stays_a_violation() {
        let none = [(Kind::VirtualSynchrony, None)];
        // A plain-C member lacks the message, as the break needs.
        let cm = M.replace("member m rust", "member m c");
        let mc = cm.as_str();
        let leave = ["3.8 left: 1 2", "1.c joined: 1 2"];
        // Neither daemon saw node 2 leave.
        assert_eq!(
            classified_with(U, mc, &formed(&["1.c"], &["3.8 left: 1", "1.c joined: 1"])),
            none
        );
        // Both did.
        assert_eq!(
            classified_with(
                U,
                mc,
                &formed(&["1.8 left: 2 3", "1.c joined: 2 3"], &leave)
            ),
            none
        );
        // The leave came before the last ring both were told of.
        assert_eq!(
            classified_with(
                U,
                mc,
                &formed(&["1.c"], &["3.3 left: 1 2", "1.c joined: 1 2"])
            ),
            none
        );
        // No daemon logs.
        assert_eq!(classified_with(U, mc, &Formed::default()), none);
        // Both are members of the bindings.
        let u = U.replace("member u c", "member u rust");
        let m = mc.replace("member m c", "member m rust");
        assert_eq!(classified_with(&u, &m, &formed(&["1.c"], &leave)), none);
        // The member delivers the message later.
        let m = format!("{mc}dlv 2 20 2 1500 ok\n");
        assert!(classified_with(U, &m, &formed(&["1.c"], &leave))
            .contains(&(Kind::VirtualSynchrony, None)));
    }

    #[test]
    fn a_corrupt_fragmented_message_after_its_senders_node_left_is_the_documented_break() {
        // U (C, node 1) and M (Rust, node 3) both get S's #2 assembled
        // from two messages' fragments; node 1 and node 3 saw node 2 leave.
        let corrupt = |r: &str| r.replace("dlv 2 20 2 1500 ok", "dlv 2 20 2 1500 corrupt");
        let m = M.replace(
            "dlv 2 20 3 40 ok",
            "dlv 2 20 2 1500 corrupt\ndlv 2 20 3 40 ok",
        );
        let (u, m) = (corrupt(U), m);
        let leave = ["3.8 left: 1 2", "1.c joined: 1 2"];
        let f = formed(&leave, &leave);
        let got = |u: &str, m: &str, f: &Formed| -> Vec<(Kind, Option<Break>)> {
            let mut v = classified_with(u, m, f);
            v.sort_by_key(|(k, _)| *k);
            v
        };
        let both = [
            (Kind::Corrupt, Some(Break::LeaveResetsReassembly)),
            (Kind::Corrupt, Some(Break::LeaveResetsReassembly)),
        ];
        assert_eq!(got(&u, &m, &f), both);
        let incs = [parse("u", &u).unwrap(), parse("m", &m).unwrap()];
        let text = check_with(&incs, &f).0[0].to_string();
        assert!(
            text.contains("after ring 4, node 1 was apart from sender node 2 in ring(s) 8/3"),
            "{text}"
        );
        // Without the leave, without the C member, or short: violations.
        let plain = [(Kind::Corrupt, None), (Kind::Corrupt, None)];
        assert_eq!(got(&u, &m, &formed(&["1.c"], &["1.c"])), plain);
        assert_eq!(
            got(&u.replace("member u c", "member u rust"), &m, &f),
            plain
        );
        let short = |r: &str| r.replace("dlv 2 20 2 1500 corrupt", "dlv 2 20 2 900 corrupt");
        assert_eq!(got(&short(&u), &short(&m), &f), plain);
    }

    #[test]
    fn a_member_whose_daemon_was_without_the_sender_longer_is_the_documented_break() {
        // Both daemons lost node 2's stream in ring 6; node 3's was
        // without it again in ring 8, while node 1's had it from ring 6 on.
        let mc = M.replace("member m rust", "member m c");
        let o = ["1.6 [1 2] joined: 2 left: 2", "1.c [1 2 3] joined: 3"];
        let l = ["3.6 [3] left: 1 2", "3.8 [3]", "1.c [1 2 3] joined: 1 2"];
        assert_eq!(
            classified_with(U, &mc, &formed(&o, &l)),
            [(Kind::VirtualSynchrony, Some(Break::LeaveResetsReassembly))]
        );
        let shown = check_with(
            &[parse("u", U).unwrap(), parse("m", &mc).unwrap()],
            &formed(&o, &l),
        )
        .0;
        assert!(
            shown[0].to_string().contains("8/3 [3] (left: )"),
            "{}",
            shown[0]
        );
        // Without the member lists, both were last apart in ring 6.
        let l = ["3.6 left: 1 2", "3.8", "1.c joined: 1 2"];
        assert_eq!(
            classified_with(U, &mc, &formed(&o, &l)),
            [(Kind::VirtualSynchrony, None)]
        );
    }

    /// X (C, node 1) and Y (Rust, node 3) move from a view of ring 4 to
    /// one of ring 12; X delivered S's #2 in the first, Y never did.
    const X: &str = "member x c 1 10 1000
ring 4 1
conf 1:10,2:20,3:30
dlv 2 20 1 40 ok
dlv 2 20 2 40 ok
conf 1:10,3:30
ring 12 1
dlv 1 10 1 40 ok
";

    #[test]
    fn members_whose_daemons_formed_different_unreported_rings_between_two_views_are_the_documented_break(
    ) {
        let y = X
            .replace("member x c 1 10", "member y rust 3 30")
            .replace("dlv 2 20 2 40 ok\n", "");
        let got = |f: &Formed| classified_with(X, &y, f);
        let apart = formed(
            &["1.8 [1 2] left: 3", "1.c [1 3] joined: 3 left: 2"],
            &["3.8 [3] left: 1 2", "1.c [1 3] joined: 1"],
        );
        assert_eq!(
            got(&apart),
            [(Kind::VirtualSynchrony, Some(Break::UnreportedPartition))]
        );
        let incs = [parse("x", X).unwrap(), parse("y", &y).unwrap()];
        let text = check_with(&incs, &apart).0[0].to_string();
        assert!(
            text.contains("between ring 4 and ring 12, node 3 formed 8/3 and node 1 formed 8/1"),
            "{text}"
        );
        let none = [(Kind::VirtualSynchrony, None)];
        // The same rings on both nodes.
        let together = formed(
            &["1.8 [1 3] left: 2", "1.c [1 3]"],
            &["1.8 [1 3] left: 2", "1.c [1 3]"],
        );
        assert_eq!(got(&together), none);
        // Both views in one ring.
        let x1 = X.replace("ring 12 1\n", "");
        let y1 = y.replace("ring 12 1\n", "");
        assert_eq!(classified_with(&x1, &y1, &apart), none);
        // No logs.
        assert_eq!(got(&Formed::default()), none);
        // Y, whose first view this is, also lacks a fragmented message
        // begun before its join: set apart as fragmented-across-join.
        let x2 = X.replace(
            "dlv 2 20 2 40 ok\n",
            "dlv 2 20 2 40 ok\ndlv 2 20 3 1500 ok\n",
        );
        let incs = [parse("x", &x2).unwrap(), parse("y", &y).unwrap()];
        let v = check_with(&incs, &apart).0;
        assert_eq!(v[0].corosync, Some(Break::UnreportedPartition), "{}", v[0]);
        assert!(
            v[0].trace
                .contains("(1 more lacked as fragmented-across-join)"),
            "{}",
            v[0]
        );
    }

    #[test]
    fn two_sides_of_a_merge_each_lacking_the_others_fragmented_message_are_fragmented_across_join()
    {
        let p = "member p c 1 10 1000\nring 4 1\nconf 1:10\ndlv 1 10 1 40 ok\nconf 1:10,2:20\nring 8 1\n\
                 dlv 1 10 2 1500 ok\ndlv 2 20 6 40 ok\nconf 1:10,2:20,3:30\n";
        let q = "member q rust 2 20 1000\nring 4 2\nconf 2:20\ndlv 2 20 4 40 ok\nconf 1:10,2:20\nring 8 1\n\
                 dlv 2 20 5 1500 ok\ndlv 2 20 6 40 ok\nconf 1:10,2:20,3:30\n";
        assert_eq!(
            classified(p, q),
            [(Kind::VirtualSynchrony, Some(Break::FragmentedAcrossJoin))]
        );
        // Not when one of the lost messages is not fragmented.
        let q = q.replace("dlv 2 20 5 1500 ok", "dlv 2 20 5 900 ok");
        assert_eq!(classified(p, &q), [(Kind::VirtualSynchrony, None)]);
    }
}
