//! The seeded fault checker (`scripts/chaos.sh`): members in processes of
//! their own multicast self-checking messages while the driver kills,
//! stops, isolates and restarts daemons and members; each member
//! incarnation writes what it saw to a record file of its own, and
//! [`check`] reads those files afterwards and tests corosync's promises.
//! The members: `chaos-member` (blocking `Cpg`), `chaos-member-tokio`
//! (`AsyncCpg`), `tests/c/chaos_member.c` (plain libcpg) in one CPG group,
//! and `chaos-member-evs` (`Evs` in two of three overlapping groups, whose
//! node-level configuration changes give no member views: checks 5 and 6
//! do not apply to it). RELIABILITY.md has the results.
//!
//! - [`payload`]: the message format every member sends (sender, sequence
//!   number, length, checksum) and its validation.
//! - [`record`]: the record file format and its parser.
//! - [`check`]: the checks and the violations they report, each with the
//!   smallest trace that shows it.
//! - [`run`]: the driver: cluster, members, faults from the seed, teardown.

pub mod check;
pub mod payload;
pub mod record;
pub mod run;

/// The seeded generator of the driver's faults and the members' message
/// sizes and pacing (splitmix64): one seed, one run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// The length of a member's next message: mostly small, some of tens of
/// kilobytes, and about one in fifty larger than `atomic` (corosync's
/// largest unfragmented message), so libcpg sends it in fragments.
pub fn message_size(rng: &mut Rng, atomic: usize) -> usize {
    let atomic = atomic as u64;
    let len = match rng.range(0, 99) {
        0..=1 => rng.range(atomic + 1, atomic * 2),
        2..=21 => rng.range(1024, 64 * 1024),
        _ => rng.range(payload::HEADER as u64, 512),
    };
    usize::try_from(len).unwrap_or(usize::MAX)
}
