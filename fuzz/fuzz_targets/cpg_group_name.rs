//! A `struct cpg_name` with any length and bytes, as libcpg lends it to a
//! callback: a length over 128 is refused by both views, any other gives a
//! name of exactly `length` bytes, the first bytes of `value`.
#![no_main]

use corosync::__fuzz::cpg_name_views;
use corosync::cpg::{GroupName, MAX_NAME_LEN};
use corosync_sys::cpg_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut raw = cpg_name {
        length: 0,
        value: [0; MAX_NAME_LEN],
    };
    let (len, value) = data.split_at(data.len().min(4));
    let mut length = [0u8; 4];
    length[..len.len()].copy_from_slice(len);
    raw.length = u32::from_le_bytes(length);
    for (dst, &src) in raw.value.iter_mut().zip(value) {
        *dst = src as std::ffi::c_char;
    }
    let bytes: Vec<u8> = raw.value.iter().map(|&c| c as u8).collect();

    let (lent, owned) = cpg_name_views(raw);
    if raw.length as usize > MAX_NAME_LEN {
        assert!(lent.is_none() && owned.is_none());
        return;
    }
    let want = &bytes[..raw.length as usize];
    let (lent, owned) = (lent.expect("lent view"), owned.expect("from_raw"));
    assert_eq!(lent.as_bytes(), want);
    assert_eq!(owned, lent);
    // A name built from those bytes is the same name.
    assert_eq!(GroupName::new(want).expect("at most 128 bytes"), lent);
});
