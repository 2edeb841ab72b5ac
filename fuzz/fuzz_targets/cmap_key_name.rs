//! A key name buffer as libcmap passes it to a track callback: the key is
//! the bytes before the first NUL, or the whole buffer without one.
#![no_main]

use corosync::__fuzz::cmap_key_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|buf: &[u8]| {
    let key = cmap_key_name(buf);
    assert!(!key.contains(&0));
    assert_eq!(key, &buf[..key.len()]);
    assert!(key.len() == buf.len() || buf[key.len()] == 0);
});
