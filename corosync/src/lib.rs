//! Safe Rust bindings to the corosync cluster engine's client libraries.
//!
//! corosync's C libraries — libcpg (closed process groups: membership and
//! totally ordered multicast), libquorum, libvotequorum, libcmap (the
//! configuration and statistics map), libcfg and libsam — are what
//! pacemaker, dlm and Proxmox's cluster filesystem are built on. This crate
//! wraps them with owned handles that finalize on drop, callbacks that are
//! Rust closures, and one [`Error`] type that keeps corosync's raw codes.
//! [`evs`] rebuilds the EVS API, which corosync dropped in 2.0, on CPG.
//!
//! A CPG member that prints what its group says, waiting half a second at a
//! time as corosync's own tools do, until its own greeting comes back (a
//! sender gets its messages too, in the order everyone gets them):
//!
//! ```
//! # #[cfg(feature = "cpg")]
//! # fn main() -> corosync::Result<()> {
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use corosync::cpg::{Cpg, GroupName, Guarantee};
//!
//! let back = Arc::new(AtomicBool::new(false));
//! let seen = back.clone();
//! let cpg = Cpg::builder()
//!     .on_deliver(move |_cpg, m| {
//!         println!("node {} pid {}: {:?}", m.nodeid, m.pid, m.data);
//!         if m.pid == std::process::id() {
//!             seen.store(true, Ordering::Relaxed);
//!         }
//!     })
//!     .on_confchg(|_cpg, c| println!("{} members", c.members.len()))
//!     .connect()?;
//! cpg.join(&GroupName::new("example")?)?;
//! cpg.mcast(Guarantee::Agreed, b"hello")?;
//! while !back.load(Ordering::Relaxed) {
//!     if !cpg.dispatch_timeout(Duration::from_millis(500))? {
//!         // Nothing came: the program's periodic work goes here.
//!     }
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "cpg"))]
//! # fn main() {}
//! ```
//!
//! # Conventions
//!
//! Every service follows the same rules:
//!
//! - **Handles** ([`cpg::Cpg`], [`quorum::Quorum`], [`votequorum::Votequorum`],
//!   [`cmap::Cmap`], [`cfg::Cfg`], [`evs::Evs`]) are owned: dropping one
//!   finalizes it, `finalize()` does so and returns corosync's answer.
//!   `Type::builder()` sets the closures, `.connect()` connects;
//!   `Type::new()` connects without closures. Handles are `Send`, not
//!   `Sync` (the C libraries do not serialize requests on a connection).
//!   Registrations and iterators borrow their handle and end on drop.
//! - **One way to wait and dispatch**: every handle has `dispatch(mode)`,
//!   `dispatch_some(max)`, `dispatch_timeout(timeout)` and
//!   [`AsFd`](std::os::fd::AsFd); the C handle underneath is `as_raw()`.
//! - **Closures carry state.** Callbacks are `FnMut` closures that get the
//!   handle (`&Cpg`, `&Quorum`, ...) and a borrowed event; there are no C
//!   integer contexts (EVS keeps `context`/`set_context` because its manual
//!   pages define them).
//! - **Callbacks run only inside `dispatch`**, on the dispatching thread,
//!   never while a lock of these bindings is held, and may call any other
//!   method of their handle. A `dispatch` of the same handle from inside
//!   one of its callbacks (or from another thread while one runs) is
//!   [`Error::DispatchInProgress`].
//! - **Panics** in a closure never unwind through C: they are caught and
//!   resumed when `dispatch` returns. Events the C library had already
//!   handed over in that dispatch are kept and delivered first by the next
//!   dispatch, so nothing is lost; call `dispatch` again before waiting on
//!   the descriptor.
//! - **Events are borrowed views** (payloads as `&[u8]`, member lists as
//!   slices); delivering a CPG message allocates nothing. Event structs and
//!   enums that corosync may extend are `#[non_exhaustive]`; C values these
//!   bindings do not know are kept (`Unknown(raw)`, flags keep unknown
//!   bits).
//! - **One name for one thing**: `nodeid` for a node id ([`NodeId`]),
//!   `members`/`joined`/`left` for node and member lists, [`RingId`] for a
//!   membership; Rust names rather than C suffixes (`set_warn_signal`, not
//!   `warn_signal_set`); no two public types share a name.
//! - **Bytes first**: CPG group names, cmap keys and string values are byte
//!   strings (`impl AsRef<[u8]>`, so `&str` works too); nothing is silently
//!   truncated.
//! - **The same call behaves the same**: tracking calls refuse flags that
//!   would report nothing (`track_start` of quorum, votequorum and cfg,
//!   cmap's `track_add`) with [`Error::InvalidInput`].
//! - **Errors tell who refused.** A variant per `cs_error_t` for corosync's
//!   answers ([`Error::code`] gives the raw value back, [`Error::Unknown`]
//!   keeps codes from newer versions), and variants whose `code()` is `None`
//!   for what the bindings refuse themselves: input the C API cannot take
//!   ([`Error::TooLong`], [`Error::InteriorNul`], ...) and states such as
//!   [`Error::NotJoined`] or [`Error::UnknownTrack`]. [`Error::TryAgain`]
//!   means corosync said so, and only it [`is_retryable`](Error::is_retryable)
//!   ([`Retry`] repeats a call while it is). An operating-system failure is
//!   [`Error::Io`] with its [`std::io::Error`].
//! - **Threads**: handles may be made and dropped on many threads at once.
//!   The C libraries keep their handles in process-wide libqb tables that
//!   take a free slot without a lock, so these bindings serialize the calls
//!   that create and destroy handles, per library (not calls that other C
//!   code in the process makes).
//!
//! # Event loops
//!
//! Every handle is [`AsFd`](std::os::fd::AsFd); any poll loop (mio,
//! calloop, glib, a hand-written `poll`) can drive it. corosync signals
//! readiness once per queued event and the descriptor stays readable only
//! while events are queued: on readiness call `dispatch(DispatchMode::All)`,
//! which drains the queue, before waiting again. With mio (edge-triggered),
//! register the fd through `mio::unix::SourceFd` for `Interest::READABLE`
//! and dispatch with `All` on every readable event: dispatching only one
//! event would leave the rest waiting for a wake-up that never comes. With
//! calloop, wrap the fd in a `calloop::generic::Generic` source in level
//! mode and dispatch with `All` in its callback.
//!
//! `All` goes on for as long as corosync keeps queueing, which a backlog or
//! a fast sender can make long. To bound one turn of the loop, dispatch with
//! `dispatch_some(n)` instead: when it returns `n`, more may be pending, so
//! come back without waiting for readiness (with a level-triggered loop, the
//! descriptor stays readable while they are). `dispatch_timeout` is the
//! simple loop for a program with nothing else to wait on.
//!
//! The `tokio` feature adds async adapters that follow these rules for
//! tokio's (edge-triggered) reactor.
//!
//! # Cargo features
//!
//! One per service, all on by default: `cpg` (with EVS), `quorum`,
//! `votequorum`, `cmap`, `cfg`, `sam`. A program that disables the others
//! links only the libraries it uses. `tokio` (off by default) adds the
//! async adapters of the enabled services.

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
    /// corosync-sys (passed on through the `links` metadata), or none.
    #[test]
    fn optional_function_flags_follow_corosync_sys() {
        use corosync_sys::optional as sys;
        // Built with COROSYNC_RS_ONLY_3_0_API, the crate sees none of them,
        // as with corosync 3.0's headers.
        let on = option_env!("COROSYNC_RS_ONLY_3_0_API").is_none();
        assert_eq!(
            cfg!(corosync_has_quorum_model_initialize),
            on && sys::QUORUM_MODEL_INITIALIZE
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_node_status_get),
            on && sys::COROSYNC_CFG_NODE_STATUS_GET
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_trackstart),
            on && sys::COROSYNC_CFG_TRACKSTART
        );
        assert_eq!(
            cfg!(corosync_has_corosync_cfg_trackstop),
            on && sys::COROSYNC_CFG_TRACKSTOP
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_model_initialize),
            on && sys::VOTEQUORUM_MODEL_INITIALIZE
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_get_qdevice_extra_info),
            on && sys::VOTEQUORUM_GET_QDEVICE_EXTRA_INFO
        );
        assert_eq!(
            cfg!(corosync_has_votequorum_set_qdevice_extra_info),
            on && sys::VOTEQUORUM_SET_QDEVICE_EXTRA_INFO
        );
    }
}
