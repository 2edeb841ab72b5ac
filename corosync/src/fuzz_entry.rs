//! Entry points for the fuzz targets in the repository's `fuzz/` folder:
//! the crate's decoders of bytes that come from the wire or the daemon,
//! which are not public API. Compiled only with `--cfg fuzzing` (which
//! cargo-fuzz sets); not part of the crate's API.

#[cfg(feature = "cpg")]
use crate::cpg::GroupName;
#[cfg(feature = "cpg")]
use crate::evs::EvsGroup;

/// The EVS envelope decoder: destination groups and payload of a carrier
/// group's message, `None` for anything else.
#[cfg(feature = "cpg")]
pub fn evs_decode(msg: &[u8]) -> Option<(&[EvsGroup], &[u8])> {
    crate::evs::envelope::decode(msg)
}

/// The bytes the EVS send path sends for `groups` (1 to
/// [`crate::evs::MAX_GROUPS`]) and `payload`.
#[cfg(feature = "cpg")]
pub fn evs_encode(groups: &[EvsGroup], payload: &[u8]) -> Vec<u8> {
    let prefix = crate::evs::envelope::Prefix::new(groups);
    let mut v: Vec<u8> = prefix
        .slices()
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    v.extend_from_slice(payload);
    v
}

/// A group name as a callback sees it: `raw` read as a `struct cpg_name`
/// the library lent (`None` for a length over 128), and the same struct
/// through [`GroupName::from_raw`].
#[cfg(feature = "cpg")]
pub fn cpg_name_views(raw: corosync_sys::cpg_name) -> (Option<GroupName>, Option<GroupName>) {
    // SAFETY: `raw` is a valid cpg_name, alive for this call.
    let lent = unsafe { GroupName::from_ptr(&raw) }.copied();
    (lent, GroupName::from_raw(raw).ok())
}

/// A key name in a cmap track callback: the bytes of `buf` (the library's
/// name buffer) before its first NUL.
#[cfg(feature = "cmap")]
pub fn cmap_key_name(buf: &[u8]) -> &[u8] {
    // SAFETY: `buf` is `buf.len()` readable bytes, alive for the result.
    unsafe { crate::c_args::name_arg(buf.as_ptr().cast(), buf.len()) }
}

/// A node address as libcfg reports it (a `struct sockaddr` in 28 bytes),
/// decoded.
#[cfg(feature = "cfg")]
pub fn cfg_node_address(
    raw: &corosync_sys::corosync_cfg_node_address_t,
) -> Option<std::net::IpAddr> {
    crate::cfg::sockaddr_to_ip(raw)
}
