//! The messages of the fault checker's members. Every message is
//! self-describing, so a receiver can tell a corrupted or misattributed one
//! without knowing the sender's state:
//!
//! | offset | field                                          |
//! | ------ | ---------------------------------------------- |
//! | 0      | magic `u32` [`MAGIC`]                          |
//! | 4      | sender's node id `u32`                         |
//! | 8      | sender's pid `u32`                             |
//! | 12     | sequence number `u64` (1, 2, … per process)    |
//! | 20     | total length `u32`                             |
//! | 24     | FNV-1a checksum `u32` of every other byte      |
//! | 28     | body: byte `i` is `(seq * 31 + i * 7) mod 256` |
//!
//! All integers little-endian. `tests/c/chaos_member.c` writes and reads
//! the same format.

/// The first four bytes of every message.
pub const MAGIC: u32 = 0x4348_4f53;

/// The header's length; the shortest message.
pub const HEADER: usize = 28;

/// FNV-1a (32 bits) over `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The checksum of a whole message: every byte but the checksum field.
fn checksum(msg: &[u8]) -> u32 {
    fnv1a(fnv1a(0x811c_9dc5, &msg[..24]), &msg[HEADER..])
}

/// A message of `len` bytes (at least [`HEADER`]) from `nodeid`/`pid`
/// with sequence number `seq`.
pub fn encode(nodeid: u32, pid: u32, seq: u64, len: usize) -> Vec<u8> {
    let len = len.max(HEADER);
    let mut msg = vec![0u8; len];
    msg[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    msg[4..8].copy_from_slice(&nodeid.to_le_bytes());
    msg[8..12].copy_from_slice(&pid.to_le_bytes());
    msg[12..20].copy_from_slice(&seq.to_le_bytes());
    msg[20..24].copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    for (i, b) in msg[HEADER..].iter_mut().enumerate() {
        *b = (seq.wrapping_mul(31).wrapping_add(i as u64 * 7)) as u8;
    }
    let sum = checksum(&msg);
    msg[24..28].copy_from_slice(&sum.to_le_bytes());
    msg
}

/// What a receiver makes of a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Intact, from the sender corosync named; its sequence number.
    Ok(u64),
    /// Not what the sender sent, or not from whom corosync says; the
    /// sequence number the header claims (0 if there is no header).
    Corrupt(u64),
}

/// Checks a message corosync delivered as coming from `nodeid`/`pid`.
pub fn verify(nodeid: u32, pid: u32, msg: &[u8]) -> Verdict {
    if msg.len() < HEADER {
        return Verdict::Corrupt(0);
    }
    let u32_at = |at: usize| u32::from_le_bytes(msg[at..at + 4].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(msg[12..20].try_into().expect("8 bytes"));
    let intact = u32_at(0) == MAGIC
        && u32_at(4) == nodeid
        && u32_at(8) == pid
        && usize::try_from(u32_at(20)).is_ok_and(|l| l == msg.len())
        && u32_at(24) == checksum(msg);
    if intact {
        Verdict::Ok(seq)
    } else {
        Verdict::Corrupt(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_message_verifies_and_any_flipped_byte_does_not() {
        let msg = encode(3, 77, 12, 300);
        assert_eq!(verify(3, 77, &msg), Verdict::Ok(12));
        for at in [0, 5, 9, 13, 21, 25, 28, 299] {
            let mut bad = msg.clone();
            bad[at] ^= 0x40;
            assert!(
                matches!(verify(3, 77, &bad), Verdict::Corrupt(_)),
                "byte {at}"
            );
        }
        assert_eq!(verify(4, 77, &msg), Verdict::Corrupt(12), "another sender");
        assert_eq!(
            verify(3, 77, &msg[..299]),
            Verdict::Corrupt(12),
            "truncated"
        );
        assert_eq!(verify(3, 77, &msg[..10]), Verdict::Corrupt(0));
    }

    #[test]
    fn the_checksum_is_fnv1a() {
        // FNV-1a 32 of "a" is 0xe40c292c.
        assert_eq!(fnv1a(0x811c_9dc5, b"a"), 0xe40c_292c);
    }
}
