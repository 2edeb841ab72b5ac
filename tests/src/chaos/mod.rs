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

/// How members send: the pause between two multicasts and the mix of
/// message sizes. Written on the command line as `--pace MIN-MAX`
/// (milliseconds) and `--sizes SMALL,MEDIUM,FRAGMENTED` (percentages that
/// add up to 100), and passed to every member in the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// The shortest and the longest pause between two multicasts, in ms.
    pub pace_ms: (u64, u64),
    /// Percentages of small messages (28 to 512 bytes), medium ones (1 to
    /// 64 KiB) and fragmented ones (larger than corosync's largest atomic
    /// message, up to twice it).
    pub sizes: [u64; 3],
}

impl Default for Traffic {
    /// A multicast every 20 to 120 ms; 78 % small, 20 % medium, 2 %
    /// fragmented.
    fn default() -> Self {
        Traffic {
            pace_ms: (20, 120),
            sizes: [78, 20, 2],
        }
    }
}

impl Traffic {
    /// The default traffic for a cluster of `nodes`: the default pace at 3
    /// nodes, its pauses scaled by (nodes / 3)³ (rounded) for more. Every
    /// daemon handles every message and every member sends, so the daemons'
    /// work grows at least with the square of the cluster size; on two
    /// cores, five daemons at the 3-node pace use all the CPU, and at
    /// (nodes / 3)² a 5-node cluster still failed to re-form within 180 s
    /// after some faults (totem's recovery timing out again and again while
    /// the members kept sending).
    pub fn for_nodes(nodes: usize) -> Traffic {
        let d = Traffic::default();
        let n = nodes.max(3) as u64;
        let scale = |ms: u64| (ms * n * n * n + 13) / 27;
        Traffic {
            pace_ms: (scale(d.pace_ms.0), scale(d.pace_ms.1)),
            ..d
        }
    }

    /// Reads `pace` (`MIN-MAX`) and `sizes` (`S,M,F`).
    pub fn parse(pace: &str, sizes: &str) -> Result<Traffic, String> {
        let bad_pace = || format!("pace {pace:?}: want MIN-MAX in ms, MIN <= MAX");
        let (low, high) = pace.split_once('-').ok_or_else(bad_pace)?;
        let pace_ms = (
            low.parse().map_err(|_| bad_pace())?,
            high.parse().map_err(|_| bad_pace())?,
        );
        if pace_ms.0 > pace_ms.1 {
            return Err(bad_pace());
        }
        let bad_sizes =
            || format!("sizes {sizes:?}: want SMALL,MEDIUM,FRAGMENTED adding up to 100");
        let parts: Vec<u64> = sizes
            .split(',')
            .map(|p| p.parse().map_err(|_| bad_sizes()))
            .collect::<Result<_, _>>()?;
        let [s, m, f] = parts.as_slice() else {
            return Err(bad_sizes());
        };
        if s + m + f != 100 {
            return Err(bad_sizes());
        }
        Ok(Traffic {
            pace_ms,
            sizes: [*s, *m, *f],
        })
    }

    /// The pace as `parse` reads it.
    pub fn pace_text(&self) -> String {
        format!("{}-{}", self.pace_ms.0, self.pace_ms.1)
    }

    /// The sizes as `parse` reads them.
    pub fn sizes_text(&self) -> String {
        format!("{},{},{}", self.sizes[0], self.sizes[1], self.sizes[2])
    }

    /// The pause before a member's next multicast.
    pub fn pause(&self, rng: &mut Rng) -> std::time::Duration {
        std::time::Duration::from_millis(rng.range(self.pace_ms.0, self.pace_ms.1))
    }

    /// The length of a member's next message; `atomic` is corosync's
    /// largest unfragmented message, so a fragmented one is sent by
    /// libcpg in pieces.
    pub fn message_size(&self, rng: &mut Rng, atomic: usize) -> usize {
        let atomic = atomic as u64;
        let [_, medium, fragmented] = self.sizes;
        let pick = rng.range(0, 99);
        let len = if pick < fragmented {
            rng.range(atomic + 1, atomic * 2)
        } else if pick < fragmented + medium {
            rng.range(1024, 64 * 1024)
        } else {
            rng.range(payload::HEADER as u64, 512)
        };
        usize::try_from(len).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_reads_back_what_it_writes_and_refuses_bad_mixes() {
        let t = Traffic::parse("0-5", "0,10,90").unwrap();
        assert_eq!(t.pace_ms, (0, 5));
        assert_eq!(Traffic::parse(&t.pace_text(), &t.sizes_text()), Ok(t));
        assert!(Traffic::parse("9-5", "78,20,2").is_err());
        assert!(Traffic::parse("5", "78,20,2").is_err());
        assert!(Traffic::parse("20-120", "78,20,3").is_err());
        assert!(Traffic::parse("20-120", "78,22").is_err());
    }

    #[test]
    fn the_default_pace_slows_with_the_cube_of_the_cluster_size() {
        assert_eq!(Traffic::for_nodes(3), Traffic::default());
        assert_eq!(Traffic::for_nodes(4).pace_ms, (47, 284));
        assert_eq!(Traffic::for_nodes(5).pace_ms, (93, 556));
        assert_eq!(Traffic::for_nodes(5).sizes, Traffic::default().sizes);
    }

    #[test]
    fn all_fragmented_traffic_sends_only_messages_over_the_atomic_size() {
        let t = Traffic::parse("20-120", "0,0,100").unwrap();
        let mut rng = Rng::new(5);
        assert!((0..1000).all(|_| t.message_size(&mut rng, 1000) > 1000));
        let small = Traffic::parse("20-120", "100,0,0").unwrap();
        assert!((0..1000).all(|_| small.message_size(&mut rng, 1000) <= 512));
    }
}
