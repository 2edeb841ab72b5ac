//! The EVS envelope: how an EVS message travels inside a CPG message.
//!
//! ```text
//! offset  size        field
//! 0       4           magic "cEVS"
//! 4       1           version (1)
//! 5       1           reserved (0)
//! 6       2           number of destination groups n, little endian, 1..=MAX_GROUPS
//! 8       32 * n      the destination group keys
//! 8+32n   rest        the payload
//! ```
//!
//! Anything else in the underlying CPG group (another program, a truncated
//! or hostile message, a future version) fails [`decode`] and is dropped.

use super::EvsGroup;

/// The first bytes of every envelope.
pub(crate) const MAGIC: &[u8; 4] = b"cEVS";
/// The envelope version this code writes and reads.
pub(crate) const VERSION: u8 = 1;
/// The header's size in bytes.
pub(crate) const HEADER_LEN: usize = 8;
/// The most destination groups one message carries.
pub const MAX_GROUPS: usize = 128;

/// The header for `groups` destination groups.
pub(crate) fn header(groups: usize) -> [u8; HEADER_LEN] {
    debug_assert!((1..=MAX_GROUPS).contains(&groups));
    let n = (groups as u16).to_le_bytes();
    [
        MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, 0, n[0], n[1],
    ]
}

/// The destination groups and the payload of an envelope, borrowed from
/// it; `None` for anything that is not a valid version-1 envelope.
pub(crate) fn decode(msg: &[u8]) -> Option<(&[EvsGroup], &[u8])> {
    let header = msg.get(..HEADER_LEN)?;
    if &header[..4] != MAGIC || header[4] != VERSION || header[5] != 0 {
        return None;
    }
    let n = usize::from(u16::from_le_bytes([header[6], header[7]]));
    if n == 0 || n > MAX_GROUPS {
        return None;
    }
    let groups_end = HEADER_LEN + n * EvsGroup::LEN;
    let groups = msg.get(HEADER_LEN..groups_end)?;
    // SAFETY: EvsGroup is repr(transparent) over [u8; 32] (alignment 1), and
    // `groups` holds exactly n * 32 bytes.
    let groups = unsafe { std::slice::from_raw_parts(groups.as_ptr().cast::<EvsGroup>(), n) };
    Some((groups, &msg[groups_end..]))
}

/// An envelope as one buffer (the send path builds it from slices instead).
#[cfg(test)]
pub(crate) fn encode(groups: &[EvsGroup], payload: &[u8]) -> Vec<u8> {
    let mut v = header(groups.len()).to_vec();
    for g in groups {
        v.extend_from_slice(g.as_bytes());
    }
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> EvsGroup {
        EvsGroup::new(name).unwrap()
    }

    #[test]
    fn round_trip() {
        let groups = [g("a"), g("b"), g("a long group name of 32 bytes!!")];
        let msg = encode(&groups, b"payload\0bytes");
        let (got, payload) = decode(&msg).unwrap();
        assert_eq!(got, groups);
        assert_eq!(payload, b"payload\0bytes");
        let one = encode(&groups[..1], b"");
        let (got, payload) = decode(&one).unwrap();
        assert_eq!((got.len(), payload.len()), (1, 0));
    }

    #[test]
    fn anything_else_is_refused() {
        let good = encode(&[g("x")], b"p");
        assert!(
            decode(&good[..HEADER_LEN + 31]).is_none(),
            "truncated group"
        );
        assert!(decode(&good[..5]).is_none(), "truncated header");
        assert!(decode(b"").is_none());
        for (i, v) in [(0, b'x'), (4, 2), (5, 1)] {
            let mut bad = good.clone();
            bad[i] = v;
            assert!(decode(&bad).is_none(), "byte {i} = {v}");
        }
        let mut zero = good.clone();
        zero[6] = 0;
        assert!(decode(&zero).is_none(), "no groups");
        let mut many = good.clone();
        many[6..8].copy_from_slice(&(MAX_GROUPS as u16 + 1).to_le_bytes());
        assert!(decode(&many).is_none(), "too many groups");
        let mut lying = good;
        lying[6] = 3; // claims 3 groups, has 1
        assert!(decode(&lying).is_none());
    }

    /// Random bytes and random mutations of valid envelopes never panic, and
    /// whatever decodes re-encodes to the same bytes.
    #[test]
    fn fuzz_the_decoder() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = encode(&[g("one"), g("two")], b"some payload");
        let mut decoded = 0;
        for round in 0..200_000 {
            let len = (next() % 200) as usize;
            let mut msg: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut m = valid.clone();
                for _ in 0..(next() % 4) {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
                m.truncate((next() as usize) % (m.len() + 1));
                m
            };
            if round % 7 == 0 && msg.len() >= HEADER_LEN {
                // Often a plausible header, to get past the first checks.
                msg[..4].copy_from_slice(MAGIC);
                msg[4] = VERSION;
                msg[5] = 0;
            }
            if let Some((groups, payload)) = decode(&msg) {
                decoded += 1;
                assert_eq!(encode(groups, payload), msg);
            }
        }
        assert!(
            decoded > 100,
            "the fuzzer reached valid envelopes {decoded} times"
        );
    }
}
