//! A node address as libcfg reports it (any 28 bytes and length): decoded
//! without panicking; an IPv4 or IPv6 address only for those families, with
//! the address bytes of their `struct sockaddr`.
#![no_main]

use std::net::IpAddr;

use corosync::__fuzz::cfg_node_address;
use corosync_sys::corosync_cfg_node_address_t;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut raw = corosync_cfg_node_address_t {
        address_length: 0,
        address: [0; 28],
    };
    let (len, address) = data.split_at(data.len().min(4));
    let mut length = [0u8; 4];
    length[..len.len()].copy_from_slice(len);
    raw.address_length = i32::from_le_bytes(length);
    for (dst, &src) in raw.address.iter_mut().zip(address) {
        *dst = src as std::ffi::c_char;
    }
    let bytes: Vec<u8> = raw.address.iter().map(|&c| c as u8).collect();
    let family = i32::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
    match cfg_node_address(&raw) {
        Some(IpAddr::V4(ip)) => {
            assert_eq!(family, libc_af::INET);
            assert_eq!(ip.octets(), bytes[4..8]);
        }
        Some(IpAddr::V6(ip)) => {
            assert_eq!(family, libc_af::INET6);
            assert_eq!(ip.octets(), bytes[8..24]);
        }
        None => assert!(family != libc_af::INET && family != libc_af::INET6),
    }
});

/// Linux's address family numbers.
mod libc_af {
    pub const INET: i32 = 2;
    pub const INET6: i32 = 10;
}
