//! Raw FFI bindings to the corosync client libraries.
//!
//! The bindings cover `corotypes.h` and, one cargo feature each, `cpg.h`,
//! `quorum.h`, `votequorum.h`, `cmap.h`, `cfg.h` and `sam.h`: every function
//! of the corosync 3.0 and 3.1 releases and the newer ones up to corosync's
//! main branch. They were generated ahead of time by bindgen and are part of
//! the package (`src/pregenerated/`), so a build needs no libclang: it finds
//! the libraries with pkg-config (3.0 or newer) and reads the installed
//! headers as text.
//!
//! The build never uses those bindings with headers they do not fit: it
//! compares every declaration of the installed headers (each struct, union,
//! typedef, enum constant, `#define` and function prototype, token by token
//! with comments and spacing dropped) with the one the bindings were
//! generated from (`src/pregenerated/declarations.txt`), and stops, naming
//! the declaration, when one differs. Declarations only one side has are
//! fine: functions and types of other releases. The `bindgen` feature then
//! generates the bindings from the installed headers at build time instead
//! (needs libclang). With `DOCS_RS` set nothing is probed or linked.
//!
//! C enums are plain integer constants (`CS_OK`, `CPG_TYPE_AGREED`, ...), so
//! a value from a newer library is never undefined behaviour.
//!
//! Functions that only some corosync releases declare are declared here only
//! when the installed headers declare them (on docs.rs, always): the build
//! sets the cfg flag `corosync_has_<function>` for each, and passes it to
//! dependent crates as `DEP_COROSYNC_HAS_<FUNCTION>`. Calling one the
//! library lacks is a compile error, never a link error.
//!
//! Everything here is `unsafe` and follows the C API's rules; the `corosync`
//! crate is the safe interface.

#![no_std]
// docs.rs: items gated by a cargo feature show it (nightly `doc_cfg`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]
#![allow(missing_docs, clippy::all, clippy::undocumented_unsafe_blocks)]
#![allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]

pub use libc::iovec;

/// Includes one bindings file: the committed one, or the one generated at
/// build time with the `bindgen` feature.
macro_rules! bindings {
    ($file:literal) => {
        include!(concat!(env!("COROSYNC_SYS_BINDINGS_DIR"), "/", $file));
    };
}

bindings!("common.rs");
#[cfg(feature = "cpg")]
bindings!("cpg.rs");
#[cfg(feature = "quorum")]
bindings!("quorum.rs");
#[cfg(feature = "votequorum")]
bindings!("votequorum.rs");
#[cfg(feature = "cmap")]
bindings!("cmap.rs");
#[cfg(feature = "cfg")]
bindings!("cfg.rs");
#[cfg(feature = "sam")]
bindings!("sam.rs");

/// The current time of the monotonic clock in nanoseconds, as corotypes.h's
/// `static inline cs_timestamp_get()` computes it. Inline C functions have no
/// symbol to link against, so this is its Rust counterpart.
pub fn cs_timestamp_get() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(CS_TIME_NS_IN_SEC as u64)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The version of the corosync client libraries these bindings were built
/// against (pkg-config's answer at build time; "3.1.7", the release the
/// committed bindings come from, for docs.rs builds).
pub const LIBRARY_VERSION: &str = env!("COROSYNC_SYS_LIBRARY_VERSION");

/// Which version-dependent functions the installed headers declare, and so
/// these bindings (each is also the cfg flag `corosync_has_<name>` inside
/// this crate, and `DEP_COROSYNC_HAS_<NAME>` for build scripts of dependent
/// crates).
pub mod optional {
    /// `quorum_model_initialize` (corosync 3.1.0 and later).
    pub const QUORUM_MODEL_INITIALIZE: bool = cfg!(corosync_has_quorum_model_initialize);
    /// `corosync_cfg_node_status_get` (3.1.1 and later).
    pub const COROSYNC_CFG_NODE_STATUS_GET: bool = cfg!(corosync_has_corosync_cfg_node_status_get);
    /// `corosync_cfg_trackstart` (3.1.1 and later).
    pub const COROSYNC_CFG_TRACKSTART: bool = cfg!(corosync_has_corosync_cfg_trackstart);
    /// `corosync_cfg_trackstop` (3.1.1 and later).
    pub const COROSYNC_CFG_TRACKSTOP: bool = cfg!(corosync_has_corosync_cfg_trackstop);
    /// `votequorum_model_initialize` (after 3.1.10).
    pub const VOTEQUORUM_MODEL_INITIALIZE: bool = cfg!(corosync_has_votequorum_model_initialize);
    /// `votequorum_get_qdevice_extra_info` (after 3.1.10).
    pub const VOTEQUORUM_GET_QDEVICE_EXTRA_INFO: bool =
        cfg!(corosync_has_votequorum_get_qdevice_extra_info);
    /// `votequorum_set_qdevice_extra_info` (after 3.1.10).
    pub const VOTEQUORUM_SET_QDEVICE_EXTRA_INFO: bool =
        cfg!(corosync_has_votequorum_set_qdevice_extra_info);
}
