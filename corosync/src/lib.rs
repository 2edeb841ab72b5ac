//! Safe Rust bindings to the corosync cluster engine's client libraries.
//!
//! corosync's C libraries — libcpg (closed process groups: membership and
//! totally ordered multicast), libquorum, libvotequorum, libcmap (the
//! configuration and statistics map), libcfg and libsam — are what
//! pacemaker, dlm and Proxmox's cluster filesystem are built on. This crate
//! wraps them with owned handles that finalize on drop, callbacks that are
//! Rust closures, and one [`Error`] type that keeps corosync's raw codes.
//!
//! # Conventions
//!
//! - Every fallible call returns [`Result`]; [`Error::is_retryable`] tells
//!   `CS_ERR_TRY_AGAIN` apart, and [`Retry`] repeats a call while it answers
//!   that.
//! - Callbacks run only inside a handle's `dispatch`, on the dispatching
//!   thread, never while a lock of these bindings is held. A panic in a
//!   callback never unwinds through C: it is caught and resumed when
//!   `dispatch` returns. A `dispatch` started from inside a callback of the
//!   same handle returns [`Error::DispatchInProgress`].
//! - Handles may be made and dropped on many threads at once. The C
//!   libraries keep their handles in process-wide libqb tables that take a
//!   free slot without a lock, so two threads connecting at once could get
//!   one slot; these bindings serialize the calls they make per library
//!   (not calls that other C code in the process makes).
//! - [`DispatchMode`] names corosync's four dispatch modes and
//!   [`TrackFlags`] its track flags; [`NodeId`] and [`RingId`] are the node and
//!   membership identifiers every service shares.
//!
//! # Event loops
//!
//! Every handle is [`std::os::fd::AsFd`]; any poll loop (mio, calloop,
//! glib, a hand-written `poll`) can drive it. corosync signals readiness
//! once per queued event and the descriptor stays readable only while
//! events are queued: on readiness call `dispatch(DispatchMode::All)`,
//! which drains the queue, before waiting again. With mio, register the fd
//! through `mio::unix::SourceFd` for `Interest::READABLE` and dispatch with
//! `All` on every readable event (mio is edge-triggered: dispatching only
//! one event would leave the rest waiting for a wake-up that never comes).
//! With calloop, wrap the fd in a `calloop::generic::Generic` source in
//! level mode and dispatch with `All` in its callback.
//!
//! `All` goes on for as long as corosync keeps queueing, which a backlog
//! (events corosync held while the program was busy) or a fast sender can
//! make long. To bound one turn of the loop, dispatch with
//! `dispatch_some(n)` instead: when it returns `n`, more may be pending,
//! so come back without waiting for readiness (with a level-triggered
//! loop, the descriptor stays readable while they are).
//!
//! A CPG member in a hand-written `poll` loop (the same shape fits an
//! edge-triggered loop):
//!
//! ```no_run
//! # #[cfg(feature = "cpg")]
//! # fn main() -> corosync::Result<()> {
//! use std::os::fd::AsRawFd;
//!
//! use corosync::cpg::{Cpg, GroupName};
//!
//! let cpg = Cpg::builder()
//!     .on_deliver(|_, m| println!("{}: {} bytes", m.nodeid, m.data.len()))
//!     .connect()?;
//! cpg.join(&GroupName::new("example")?)?;
//! let mut pfd = libc::pollfd { fd: cpg.as_raw_fd(), events: libc::POLLIN, revents: 0 };
//! loop {
//!     // (Other descriptors of the program go in the same poll.)
//!     // SAFETY: one valid pollfd.
//!     unsafe { libc::poll(&mut pfd, 1, -1) };
//!     // At most 64 events a turn; a full batch may have left more.
//!     while cpg.dispatch_some(64)? == 64 {
//!         // (The loop's other work can run between batches.)
//!     }
//! }
//! # }
//! # #[cfg(not(feature = "cpg"))]
//! # fn main() {}
//! ```
//!
//! The `tokio` feature adds async adapters that do this for tokio.
//!
//! # Cargo features
//!
//! One per service, all on by default: `cpg`, `quorum`, `votequorum`,
//! `cmap`, `cfg`, `sam`. A program that disables the others links only the
//! libraries it uses.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The plumbing every service shares (with only some services enabled,
// parts of it go unused).
#[cfg_attr(
    not(all(
        feature = "cpg",
        feature = "quorum",
        feature = "votequorum",
        feature = "cmap",
        feature = "cfg"
    )),
    allow(dead_code, unused_imports, unused_macros)
)]
mod plumbing {
    pub(crate) mod c_args;
    pub(crate) mod cell;
    pub(crate) mod current;
    pub(crate) mod handle;
}
#[allow(unused_imports)]
pub(crate) use plumbing::{c_args, cell, current, handle};
mod dispatch;
mod error;
mod node;
mod retry;
mod track;

#[cfg(feature = "cfg")]
pub mod cfg;
#[cfg(feature = "cmap")]
pub mod cmap;
#[cfg(feature = "cpg")]
pub mod cpg;
#[cfg(feature = "cpg")]
pub mod evs;
#[cfg(feature = "quorum")]
pub mod quorum;
#[cfg(feature = "sam")]
pub mod sam;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "votequorum")]
pub mod votequorum;

pub use dispatch::DispatchMode;
pub use error::{Error, Result};
pub use node::{NodeId, RingId};
pub use retry::{retry, Retry};
pub use track::TrackFlags;

/// The raw FFI bindings this crate is built on, for what the safe API does
/// not cover.
pub use corosync_sys as sys;

#[cfg(test)]
mod tests {
    /// The safe crate sees the same version-dependent functions as
    /// corosync-sys (passed on through the `links` metadata).
    #[test]
    fn optional_function_flags_follow_corosync_sys() {
        use corosync_sys::optional as sys;
        assert_eq!(
            cfg!(corosync_has_quorum_model_initialize),
            sys::QUORUM_MODEL_INITIALIZE
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_node_status_get),
            sys::COROSYNC_CFG_NODE_STATUS_GET
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_trackstart),
            sys::COROSYNC_CFG_TRACKSTART
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_trackstop),
            sys::COROSYNC_CFG_TRACKSTOP
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_model_initialize),
            sys::VOTEQUORUM_MODEL_INITIALIZE
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_get_qdevice_extra_info),
            sys::VOTEQUORUM_GET_QDEVICE_EXTRA_INFO
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_set_qdevice_extra_info),
            sys::VOTEQUORUM_SET_QDEVICE_EXTRA_INFO
        );
    }
}
