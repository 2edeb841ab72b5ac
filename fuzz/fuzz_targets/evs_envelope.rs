//! The EVS envelope decoder on any bytes a carrier group may deliver: it
//! never panics, what it accepts has 1 to 128 groups, and an accepted
//! message is exactly what the encoder writes for its groups and payload.
#![no_main]

use corosync::__fuzz::{evs_decode, evs_encode};
use corosync::evs::MAX_GROUPS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|msg: &[u8]| {
    if let Some((groups, payload)) = evs_decode(msg) {
        assert!((1..=MAX_GROUPS).contains(&groups.len()));
        assert_eq!(evs_encode(groups, payload), msg);
    }
});
