//! The EVS envelope: the bytes an EVS message is in the carrier group's CPG
//! message (magic, version, destination group keys, payload). Its format,
//! version 1, is defined with worked examples in `docs/EVS-ENVELOPE.md` in
//! the repository; the tests below check this code against those examples.
//!
//! Anything else in the carrier group (another program, a truncated or
//! hostile message, another version) fails [`decode`].

use std::io::IoSlice;

use super::EvsGroup;

/// The first bytes of every envelope.
pub(crate) const MAGIC: &[u8; 4] = b"cEVS";
/// The envelope version this code writes and reads.
pub(crate) const VERSION: u8 = 1;
/// The header's size in bytes (magic, version, reserved, group count).
pub(crate) const HEADER_LEN: usize = 8;
/// The most destination groups one message carries.
pub const MAX_GROUPS: usize = 128;

/// What goes before the payload: the header and the group keys.
pub(crate) struct Prefix<'a> {
    header: [u8; HEADER_LEN],
    keys: &'a [u8],
}

impl<'a> Prefix<'a> {
    /// The prefix for `groups` (1 to [`MAX_GROUPS`] of them, which the
    /// caller has checked).
    pub(crate) fn new(groups: &'a [EvsGroup]) -> Prefix<'a> {
        debug_assert!((1..=MAX_GROUPS).contains(&groups.len()));
        // At most 128: fits.
        let n = (groups.len() as u16).to_le_bytes();
        // SAFETY: EvsGroup is repr(transparent) over [u8; 32], so the
        // groups are groups.len() * 32 initialized bytes.
        let keys = unsafe {
            std::slice::from_raw_parts(groups.as_ptr().cast::<u8>(), groups.len() * EvsGroup::LEN)
        };
        Prefix {
            header: [
                MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, 0, n[0], n[1],
            ],
            keys,
        }
    }

    /// The prefix as the two buffers the send path puts before the
    /// payload's.
    pub(crate) fn slices(&self) -> [IoSlice<'_>; 2] {
        [IoSlice::new(&self.header), IoSlice::new(self.keys)]
    }
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

/// An envelope as one buffer, made of the buffers the send path sends.
#[cfg(test)]
pub(crate) fn encode(groups: &[EvsGroup], payload: &[u8]) -> Vec<u8> {
    let prefix = Prefix::new(groups);
    let mut v: Vec<u8> = prefix
        .slices()
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    v.extend_from_slice(payload);
    v
}

/// The examples of `docs/EVS-ENVELOPE.md`, as written there (not made by
/// this module), and what the code must do with them.
#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of whitespace-separated hexadecimal pairs.
    fn bytes(lines: &[&str]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .map(|pair| u8::from_str_radix(pair, 16).unwrap())
            .collect()
    }

    fn g(name: &str) -> EvsGroup {
        EvsGroup::new(name).unwrap()
    }

    /// E1: one group, `alpha`; payload `hi`.
    fn e1() -> Vec<u8> {
        bytes(&[
            "63 45 56 53 01 00 01 00",
            "61 6c 70 68 61 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "68 69",
        ])
    }

    /// E2: two groups, `beta` then `alpha`; empty payload.
    fn e2() -> Vec<u8> {
        bytes(&[
            "63 45 56 53 01 00 02 00",
            "62 65 74 61 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
            "61 6c 70 68 61 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ])
    }

    /// E3: one 32-byte key without NUL; a payload with any bytes.
    fn e3() -> Vec<u8> {
        bytes(&[
            "63 45 56 53 01 00 01 00",
            "30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66",
            "30 31 32 33 34 35 36 37 38 39 41 42 43 44 45 46",
            "00 ff 63 45 56 53",
        ])
    }
    const E3_KEY: &str = "0123456789abcdef0123456789ABCDEF";
    const E3_PAYLOAD: [u8; 6] = [0x00, 0xff, 0x63, 0x45, 0x56, 0x53];

    /// E4: 128 groups, key i being 32 bytes of value i; payload `z`.
    fn e4() -> (Vec<EvsGroup>, Vec<u8>) {
        let mut v = bytes(&["63 45 56 53 01 00 80 00"]);
        let mut groups = Vec::new();
        for i in 0..128u8 {
            v.extend_from_slice(&[i; 32]);
            groups.push(EvsGroup::from_raw([i; 32]));
        }
        v.push(b'z');
        (groups, v)
    }

    #[test]
    fn the_documents_examples_are_what_the_encoder_writes() {
        assert_eq!(encode(&[g("alpha")], b"hi"), e1(), "E1");
        assert_eq!(encode(&[g("beta"), g("alpha")], b""), e2(), "E2");
        assert_eq!(encode(&[g(E3_KEY)], &E3_PAYLOAD), e3(), "E3");
        let (groups, want) = e4();
        assert_eq!(encode(&groups, b"z"), want, "E4");
        // The same envelope as the two buffers the send path hands to CPG.
        let groups = [g("alpha")];
        let prefix = Prefix::new(&groups);
        let [header, keys] = prefix.slices();
        assert_eq!((&*header, &*keys), (&e1()[..8], &e1()[8..40]));
    }

    #[test]
    fn the_documents_examples_decode_to_their_groups_and_payload() {
        let alpha = bytes(&[
            "61 6c 70 68 61 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ]);
        let beta = bytes(&[
            "62 65 74 61 00 00 00 00 00 00 00 00 00 00 00 00",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ]);
        let keys = |groups: &[EvsGroup]| -> Vec<Vec<u8>> {
            groups.iter().map(|g| g.as_bytes().to_vec()).collect()
        };

        let msg = e1();
        let (groups, payload) = decode(&msg).expect("E1 decodes");
        assert_eq!((keys(groups), payload), (vec![alpha.clone()], &b"hi"[..]));

        let msg = e2();
        let (groups, payload) = decode(&msg).expect("E2 decodes");
        assert_eq!(
            (keys(groups), payload),
            (vec![beta, alpha.clone()], &[][..])
        );

        let msg = e3();
        let (groups, payload) = decode(&msg).expect("E3 decodes");
        assert_eq!(
            (keys(groups), payload),
            (vec![E3_KEY.as_bytes().to_vec()], &E3_PAYLOAD[..])
        );

        let (want, msg) = e4();
        let (groups, payload) = decode(&msg).expect("E4 decodes");
        assert_eq!((groups, payload), (&want[..], &b"z"[..]));

        // E1 without its payload: the smallest envelope.
        let msg = e1();
        let (groups, payload) = decode(&msg[..40]).expect("40 bytes decode");
        assert_eq!((keys(groups), payload), (vec![alpha], &[][..]));
    }

    #[test]
    fn the_documents_invalid_examples_are_refused() {
        let with = |offset: usize, value: &str| {
            let mut m = e1();
            let new = bytes(&[value]);
            m[offset..offset + new.len()].copy_from_slice(&new);
            m
        };
        let invalid: [(&str, Vec<u8>); 10] = [
            ("empty", Vec::new()),
            ("the first 7 bytes of E1", e1()[..7].to_vec()),
            ("magic CEVS", with(0, "43")),
            ("version 0", with(4, "00")),
            ("version 2", with(4, "02")),
            ("reserved 1", with(5, "01")),
            ("count 0", with(6, "00 00")),
            ("count 2 with one key", with(6, "02 00")),
            ("count 256", with(6, "00 01")),
            ("E1 cut to 39 bytes", e1()[..39].to_vec()),
        ];
        for (what, msg) in invalid {
            assert_eq!(decode(&msg), None, "{what}: {msg:02x?}");
        }
        // 129 groups, each key complete.
        let (_, mut msg) = e4();
        msg[6..8].copy_from_slice(&bytes(&["81 00"]));
        msg.extend_from_slice(&[0x80; 32]);
        assert_eq!(decode(&msg), None, "count 129");
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
        // Miri runs the same rounds some thousand times slower: fewer.
        let rounds = if cfg!(miri) { 300 } else { 200_000 };
        for round in 0..rounds {
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
            decoded > rounds / 2_000,
            "the fuzzer reached valid envelopes {decoded} times"
        );
    }
}
