//! The EVS envelope decoder on any bytes a carrier group may deliver,
//! checked against a reference reading of `docs/EVS-ENVELOPE.md` written
//! here: the decoder accepts exactly the messages the reference accepts,
//! with the same groups and payload, and an accepted message is what the
//! encoder writes for them.
//!
//! An input is either raw bytes (first byte even) or, first byte odd, a
//! short description from which [`built`] makes an envelope: its header
//! fields, how many 32-byte keys follow, a cut at the end and a payload.
//! That way an envelope of hundreds of groups, near or over the 128-group
//! limit, takes a handful of input bytes.
#![no_main]

use corosync::__fuzz::{evs_decode, evs_encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let msg = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        built(rest)
    };
    let want = reference(&msg);
    let got = evs_decode(&msg);
    match (got, want) {
        (None, None) => {}
        (Some((groups, payload)), Some((keys, want_payload))) => {
            let got_keys: Vec<&[u8]> = groups.iter().map(|g| &g.as_bytes()[..]).collect();
            assert_eq!(got_keys, keys, "groups of a {}-byte envelope", msg.len());
            assert_eq!(payload, want_payload, "payload");
            assert_eq!(evs_encode(groups, payload), msg, "re-encoded");
        }
        (got, want) => panic!(
            "decoder {} a message the reference {}: header {:02x?}, {} bytes",
            if got.is_some() { "accepts" } else { "refuses" },
            if want.is_some() { "accepts" } else { "refuses" },
            &msg[..msg.len().min(8)],
            msg.len()
        ),
    }
});

/// The envelope's groups (as 32-byte keys) and payload as the format page
/// defines them, `None` for anything that is not a version-1 envelope.
fn reference(msg: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    if msg.len() < 8 || &msg[0..4] != b"cEVS" || msg[4] != 1 || msg[5] != 0 {
        return None;
    }
    let count = usize::from(msg[6]) | usize::from(msg[7]) << 8;
    if count < 1 || count > 128 || msg.len() < 8 + 32 * count {
        return None;
    }
    let (keys, payload) = msg[8..].split_at(32 * count);
    Some((keys.chunks(32).collect(), payload))
}

/// An envelope made from a description (missing bytes read as 0):
///
/// | byte | meaning |
/// | --- | --- |
/// | 0 | header faults: bit 0 magic, bit 1 version, bit 2 reserved byte |
/// | 1, 2 | the header's count: `b1 + 256 * (b2 & 1)` (0 to 511), or the u16 `b1, b2` when bit 7 of `b2` is set |
/// | 3 | keys written: the count plus `b3 as i8 % 4` (so -3 to 3), at least 0 |
/// | 4 | key bytes: key `i` is 32 bytes of `b4 + i` |
/// | 5 | bytes cut off the end of the envelope |
/// | 6.. | payload |
fn built(d: &[u8]) -> Vec<u8> {
    let b = |i: usize| d.get(i).copied().unwrap_or(0);
    let faults = b(0);
    let count = if b(2) & 0x80 == 0 {
        u16::from(b(1)) | u16::from(b(2) & 1) << 8
    } else {
        u16::from_le_bytes([b(1), b(2)])
    };
    let keys = (i32::from(count) + i32::from(b(3) as i8 % 4)).clamp(0, 600) as usize;
    let mut msg = Vec::with_capacity(8 + 32 * keys + d.len());
    msg.extend_from_slice(if faults & 1 == 0 { b"cEVS" } else { b"cEVT" });
    msg.push(if faults & 2 == 0 { 1 } else { 2 });
    msg.push(u8::from(faults & 4 != 0));
    msg.extend_from_slice(&count.to_le_bytes());
    for i in 0..keys {
        msg.extend_from_slice(&[b(4).wrapping_add(i as u8); 32]);
    }
    msg.extend_from_slice(d.get(6..).unwrap_or_default());
    msg.truncate(msg.len().saturating_sub(usize::from(b(5))));
    msg
}
