//! The record file of one member incarnation (one process, one CPG
//! handle): one event per line, in the order the member saw them, written
//! by the Rust members ([`Recorder`]) and by `tests/c/chaos_member.c` alike.
//!
//! ```text
//! member <name> <kind> <nodeid> <pid> [<atomic>]   first line; atomic:
//!                                          corosync's largest unfragmented message
//! ring <seq> <representative nodeid>       a totem configuration change
//! conf <nodeid>:<pid>,...                  a CPG configuration change: the members after it, sorted
//! sent <seq>                               a multicast corosync accepted
//! dlv <nodeid> <pid> <seq> <len> ok|corrupt   a delivery (see chaos::payload)
//! end                                      clean end: every own message came back
//! error <text>                             the member stopped on an error
//! ```
//!
//! A member killed while writing leaves a last line without its newline;
//! the parser drops it.

use std::fmt;
use std::io::{self, Write};

use super::payload::{self, Verdict};

/// A CPG member: node id and pid.
pub type Member = (u32, u32);

/// A message's identity: its sender and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MsgId {
    /// The sender's node id.
    pub nodeid: u32,
    /// The sender's pid.
    pub pid: u32,
    /// The sender's sequence number.
    pub seq: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}#{}", self.nodeid, self.pid, self.seq)
    }
}

/// One line of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A totem configuration change: the ring id's sequence number and
    /// representative.
    Ring(u64, u32),
    /// A CPG configuration change: the members after it, sorted.
    Conf(Vec<Member>),
    /// A multicast corosync accepted.
    Sent(u64),
    /// A delivery.
    Deliver {
        /// Who sent it (as corosync says) and its sequence number.
        id: MsgId,
        /// Its length.
        len: usize,
        /// Whether it verified.
        intact: bool,
    },
}

/// Everything one member incarnation recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incarnation {
    /// The record file's name, for traces.
    pub name: String,
    /// `rust`, `c` or another member kind.
    pub kind: String,
    /// The member's node id and pid.
    pub member: Member,
    /// corosync's largest unfragmented message as the member's library
    /// reported it (longer messages travel in fragments), when recorded.
    pub atomic: Option<usize>,
    /// The events, in order.
    pub events: Vec<Event>,
    /// Whether it ended cleanly (`end`): every message it sent came back.
    pub clean_end: bool,
    /// The error it stopped on, if any.
    pub error: Option<String>,
}

/// Formats a member list as the `conf` line has it.
pub fn members_text(members: &[Member]) -> String {
    members
        .iter()
        .map(|(n, p)| format!("{n}:{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses the record `text` of the file `name`.
pub fn parse(name: &str, text: &str) -> Result<Incarnation, String> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    // The last piece is "" after a final newline, or a torn line.
    lines.pop();
    let mut it = lines.iter().enumerate();
    let bad = |i: usize, line: &str| format!("{name}:{}: cannot read {line:?}", i + 1);
    let (_, first) = it.next().ok_or_else(|| format!("{name}: empty record"))?;
    let head: Vec<&str> = first.split(' ').collect();
    let (kind, member, atomic) = match head.as_slice() {
        ["member", _, kind, n, p, rest @ ..] if rest.len() <= 1 => (
            kind.to_string(),
            (
                n.parse().map_err(|_| bad(0, first))?,
                p.parse().map_err(|_| bad(0, first))?,
            ),
            match rest.first() {
                Some(a) => Some(a.parse().map_err(|_| bad(0, first))?),
                None => None,
            },
        ),
        _ => return Err(bad(0, first)),
    };
    let mut inc = Incarnation {
        name: name.to_string(),
        kind,
        member,
        atomic,
        events: Vec::new(),
        clean_end: false,
        error: None,
    };
    for (i, line) in it {
        let mut words = line.split(' ');
        let num = |w: Option<&str>| -> Result<u64, String> {
            w.and_then(|w| w.parse().ok()).ok_or_else(|| bad(i, line))
        };
        let word = words.next().unwrap_or("");
        let small = |v: u64| u32::try_from(v).map_err(|_| bad(i, line));
        match word {
            "ring" => inc
                .events
                .push(Event::Ring(num(words.next())?, small(num(words.next())?)?)),
            "conf" => {
                let mut members = Vec::new();
                for m in words
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|m| !m.is_empty())
                {
                    let (n, p) = m.split_once(':').ok_or_else(|| bad(i, line))?;
                    members.push((
                        n.parse().map_err(|_| bad(i, line))?,
                        p.parse().map_err(|_| bad(i, line))?,
                    ));
                }
                members.sort_unstable();
                inc.events.push(Event::Conf(members));
            }
            "sent" => inc.events.push(Event::Sent(num(words.next())?)),
            "dlv" => {
                let nodeid = small(num(words.next())?)?;
                let pid = small(num(words.next())?)?;
                let seq = num(words.next())?;
                let len = num(words.next())?;
                let intact = match words.next() {
                    Some("ok") => true,
                    Some("corrupt") => false,
                    _ => return Err(bad(i, line)),
                };
                inc.events.push(Event::Deliver {
                    id: MsgId { nodeid, pid, seq },
                    len: usize::try_from(len).map_err(|_| bad(i, line))?,
                    intact,
                });
            }
            "end" => inc.clean_end = true,
            "error" => inc.error = Some(line.get(6..).unwrap_or("").to_string()),
            _ => return Err(bad(i, line)),
        }
    }
    Ok(inc)
}

/// Writes a record as a Rust member sees events. Lines are buffered;
/// [`Recorder::flush`] after every dispatch keeps what a killed member
/// loses to the events of one dispatch.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
}

impl<W: Write> Recorder<W> {
    /// A record for member `name` of `kind` at `nodeid`/`pid`, whose
    /// library sends messages longer than `atomic` in fragments.
    pub fn new(
        mut out: W,
        name: &str,
        kind: &str,
        (nodeid, pid): Member,
        atomic: Option<usize>,
    ) -> io::Result<Self> {
        match atomic {
            Some(a) => writeln!(out, "member {name} {kind} {nodeid} {pid} {a}")?,
            None => writeln!(out, "member {name} {kind} {nodeid} {pid}")?,
        }
        Ok(Recorder { out })
    }

    /// A totem configuration change.
    pub fn ring(&mut self, seq: u64, rep: u32) -> io::Result<()> {
        writeln!(self.out, "ring {seq} {rep}")
    }

    /// A CPG configuration change with these members.
    pub fn conf(&mut self, members: &mut [Member]) -> io::Result<()> {
        members.sort_unstable();
        writeln!(self.out, "conf {}", members_text(members))
    }

    /// An accepted multicast.
    pub fn sent(&mut self, seq: u64) -> io::Result<()> {
        writeln!(self.out, "sent {seq}")
    }

    /// A delivery from `nodeid`/`pid`; returns its verdict.
    pub fn deliver(&mut self, nodeid: u32, pid: u32, data: &[u8]) -> io::Result<Verdict> {
        let verdict = payload::verify(nodeid, pid, data);
        let (seq, word) = match verdict {
            Verdict::Ok(seq) => (seq, "ok"),
            Verdict::Corrupt(seq) => (seq, "corrupt"),
        };
        writeln!(self.out, "dlv {nodeid} {pid} {seq} {} {word}", data.len())?;
        Ok(verdict)
    }

    /// The clean end.
    pub fn end(&mut self) -> io::Result<()> {
        writeln!(self.out, "end")?;
        self.out.flush()
    }

    /// The error the member stops on.
    pub fn error(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "error {}", text.replace('\n', " "))?;
        self.out.flush()
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_recorder_writes_parses_back_and_a_torn_last_line_is_dropped() {
        let mut out = Vec::new();
        let mut rec = Recorder::new(&mut out, "n1-rust-0.0", "rust", (1, 50), Some(4000)).unwrap();
        rec.ring(8, 1).unwrap();
        rec.conf(&mut [(2, 9), (1, 50)]).unwrap();
        rec.sent(1).unwrap();
        rec.deliver(1, 50, &payload::encode(1, 50, 1, 40)).unwrap();
        rec.deliver(2, 9, b"garbage").unwrap();
        rec.end().unwrap();
        let mut text = String::from_utf8(out).unwrap();
        text.push_str("dlv 1 5");
        let inc = parse("f", &text).unwrap();
        assert_eq!(inc.member, (1, 50));
        assert_eq!(inc.atomic, Some(4000));
        assert_eq!(parse("g", "member x c 2 9\n").unwrap().atomic, None);
        assert!(inc.clean_end);
        assert_eq!(
            inc.events,
            [
                Event::Ring(8, 1),
                Event::Conf(vec![(1, 50), (2, 9)]),
                Event::Sent(1),
                Event::Deliver {
                    id: MsgId {
                        nodeid: 1,
                        pid: 50,
                        seq: 1
                    },
                    len: 40,
                    intact: true
                },
                Event::Deliver {
                    id: MsgId {
                        nodeid: 2,
                        pid: 9,
                        seq: 0
                    },
                    len: 7,
                    intact: false
                },
            ]
        );
    }
}
