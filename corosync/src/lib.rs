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
//! # Quick start
//!
//! Add the crate to `Cargo.toml`. Building needs pkg-config and the
//! development files of corosync's client libraries (`libcpg-dev` and its
//! siblings on Debian and Ubuntu, `corosynclib-devel` on Fedora; the
//! [README](https://docs.rs/crate/corosync/latest) lists other
//! distributions):
//!
//! ```toml
//! [dependencies]
//! corosync = "0.1"
//! ```
//!
//! A first program: it joins the CPG group `hello` on the local node, says
//! hello, prints the membership and every message the group delivers, and
//! exits once the group has been quiet for a second. Run it on a node of a
//! running cluster, as root or as a user the daemon allows (`uidgid.d`).
//!
//! ```
//! # #[cfg(feature = "cpg")]
//! # fn main() -> corosync::Result<()> {
//! use std::time::Duration;
//!
//! use corosync::cpg::{Cpg, GroupName, Guarantee};
//!
//! let cpg = Cpg::builder()
//!     .on_confchg(|_cpg, change| {
//!         println!("{} member(s) in {}", change.members.len(), change.group)
//!     })
//!     .on_deliver(|_cpg, msg| {
//!         let text = String::from_utf8_lossy(msg.data);
//!         println!("node {} pid {}: {text}", msg.nodeid, msg.pid)
//!     })
//!     .connect()?;
//! cpg.join(&GroupName::new("hello")?)?;
//! cpg.mcast(Guarantee::Agreed, b"hello")?;
//! // Each turn waits up to a second, then runs the callbacks of what came.
//! while cpg.dispatch_timeout(Duration::from_secs(1))? {}
//! cpg.finalize()
//! # }
//! # #[cfg(not(feature = "cpg"))]
//! # fn main() {}
//! ```
//!
//! When corosync is not running, the program ends with `Error: Library:
//! the client library failed to talk to the corosync daemon; is it
//! running? (CS_ERR_LIBRARY)`: an [`Error`]'s `Debug` output, which
//! `main` prints, carries its message.
//!
//! # Cargo features
//!
//! One feature per service, so that a program links only the libraries it
//! uses (`default-features = false, features = ["cpg"]` builds CPG alone):
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `cpg` | yes | Closed process groups (libcpg): the `cpg` module, and `evs`, the EVS API rebuilt on CPG. |
//! | `quorum` | yes | Quorum state and tracking (libquorum): the `quorum` module. |
//! | `votequorum` | yes | Votes, expected votes and quorum devices (libvotequorum): the `votequorum` module. |
//! | `cmap` | yes | The configuration and statistics map (libcmap): the `cmap` module. |
//! | `cfg` | yes | The configuration service (libcfg), for node and link status, shutdown and reload: the `cfg` module. |
//! | `sam` | yes | The simple availability manager (libsam): the `sam` module. |
//! | `tokio` | no | Async adapters for tokio (the `tokio` module): events as streams, sends with async back-off. Each service's adapter needs that service's feature too. |
//!
//! (The descriptions are the `##` comments of the crate's `Cargo.toml`, and
//! a test keeps the two the same.)
//!
//! # Supported corosync versions
//!
//! corosync 3.0 and later. What only newer releases have is compiled in
//! when the installed headers declare it and left out otherwise, never a
//! link error: `Cfg::node_status`, `Cfg::track_start`, `Cfg::track_stop`
//! and `tokio::AsyncCfg` need corosync 3.1.1 (their docs name the
//! `corosync_has_<function>` flag corosync-sys sets when it finds the
//! function). [`QuorumBuilder::on_nodelist`](quorum::QuorumBuilder::on_nodelist)
//! needs 3.1.0: built against older headers, `connect` refuses it with
//! [`Error::NotSupported`]. The quorum device's extra info (the
//! [`votequorum`] module lists its items) needs a corosync release after
//! 3.1.10.
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
//!   that create and destroy handles, per library and table (not calls
//!   that other C code in the process makes); see
//!   [when the daemon stops answering](#when-the-daemon-stops-answering).
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
//! # When the daemon stops answering
//!
//! A daemon that dies closes its connections: every call then fails at once,
//! usually with [`Error::Library`]. A daemon that hangs without dying
//! (stopped with `SIGSTOP`, or stuck) keeps them open, and the client
//! libraries wait for its answers without a time limit:
//!
//! - Calls that ask the daemon and wait for its answer wait for as long as
//!   it hangs: connecting, cmap `get`/`set`/`delete` and track calls, CPG
//!   `join`/`leave`/`membership`/`local_nodeid`, group iterations,
//!   `is_quorate`, votequorum and cfg requests, and a CPG message larger
//!   than [`cpg::Cpg::max_atomic_msgsize`] (a round trip per fragment). They
//!   return once it goes on.
//! - Sends that fit in one message, dispatching and waiting on the
//!   descriptor do not wait for the daemon's answer (a send that finds
//!   corosync's queue full answers [`Error::TryAgain`]); no events come
//!   meanwhile.
//! - Creating and destroying a handle takes its library's lock for that
//!   handle table (see **Threads** above). The C calls that create an entry
//!   and then wait for the daemon (every connect, cmap track calls, CPG
//!   group iterations) or wait and then destroy one (dropping a CPG handle:
//!   libcpg tells the daemon) hold it for as long as the daemon hangs, and
//!   meanwhile the same library's calls under that lock wait on other
//!   threads too, whichever daemon they talk to. Other services are not
//!   held up, nor are CPG connects and drops by a group iteration (libcpg's
//!   iterations have a table and a lock of their own). Dropping a cmap,
//!   quorum, votequorum or cfg handle does not wait for the daemon itself.
//! - The async adapters never wait on a runtime worker: every adapter
//!   method that asks the daemon (`connect`, `request`, and shorthands such
//!   as `join` or `is_quorate`) is an `async fn` that waits on tokio's
//!   blocking pool, so `tokio::time::timeout` bounds the wait (the call
//!   goes on in the pool until the daemon answers); dropping an adapter
//!   finalizes on the pool too. Their streams and CPG sends never wait for
//!   the daemon. See the `tokio` module's "Requests".
//!
//! Nothing here gives up on its own; a program that must not hang runs such
//! calls on a thread (or the blocking pool) it can stop waiting for.
//!
//! One more trap of corosync's own: a CPG connection that has left its group
//! cannot join again (corosync 3.1.7 never forgets the leave, and libcpg
//! repeats the refused join without end); these bindings refuse that join
//! with [`Error::RejoinAfterLeave`], see [`cpg::Cpg::join`]. EVS is not
//! affected: it keeps its one CPG group joined and joins and leaves its
//! own groups without telling corosync.
//!
//! # Running as a non-root user
//!
//! corosync accepts connections from root (uid or gid 0) and from the users
//! and groups it lists: `uidgid { uid: <user> }` or `uidgid { gid: <group> }`
//! sections in `corosync.conf`, or in files of the `uidgid.d` folder next
//! to it (`/etc/corosync/uidgid.d/`), by name or number, read at start and
//! on a configuration reload. Only the client's effective uid and gid count,
//! not its supplementary groups. Anyone else gets [`Error::Access`] at once
//! from every service's connect; libsam connects only in
//! [`sam::Sam::initialize`] with a quorum policy and in
//! [`sam::Sam::register`] with a cmap policy, so that is where SAM says it.
//!
//! # Riding through a daemon restart
//!
//! When the local corosync dies, every call on a connection to it answers
//! [`Error::Library`], for good: the connection does not come back by
//! itself. A handle built with a [`Reconnect`] policy (`reconnect` on
//! [`CpgBuilder`](cpg::CpgBuilder::reconnect),
//! [`QuorumBuilder`](quorum::QuorumBuilder::reconnect),
//! [`VotequorumBuilder`](votequorum::VotequorumBuilder::reconnect),
//! [`CfgBuilder`](cfg::CfgBuilder::reconnect),
//! [`CmapBuilder`](cmap::CmapBuilder::reconnect) and
//! [`EvsBuilder`](evs::EvsBuilder::reconnect)) rides through a restart
//! instead:
//!
//! - a `dispatch` that finds the daemon gone connects again, trying with
//!   the policy's back-off for up to its patience (then it returns the
//!   error, and the next `dispatch` tries again); calls made meanwhile
//!   answer `Library`;
//! - on the new connection it sets up again what the handle had set up:
//!   the CPG group it was in is joined again; quorum, votequorum and cfg
//!   tracking is started again (quorum and votequorum with
//!   [`TrackFlags::CURRENT`] added, so the state now is reported), and
//!   votequorum connects with the same callbacks, so the same initialize;
//!   every live cmap track is registered again with its key or prefix,
//!   flags and closure, under the [`TrackId`](cmap::TrackId) the program
//!   holds; an EVS handle joins its carrier group again and keeps the EVS
//!   groups it joined. A quorum device registration is not made again;
//! - then the `on_reconnect` closure runs once, with a [`Disconnected`]:
//!   messages and membership, quorum or key changes of the time between
//!   may be missing, and the events of the new connection (the group's
//!   membership, the quorum state) follow.
//!
//! A send under way when the daemon dies (a CPG or EVS multicast waiting
//! out flow control, retried by [`Retry`], or an async send waiting for
//! its window) ends with [`Error::Library`], as does any send made while
//! the connection is down; it is not sent again on the new connection.
//! Whether corosync delivered a message it accepted just before it died
//! cannot be known, so what to send again is the program's choice, made
//! when it is told of the reconnection.
//!
//! The handle, its closures and the `&Cpg` (or other handle) they get stay
//! the same; only the connection underneath is new (and with it
//! `as_raw()`). Its descriptor (`AsFd`) stays the same: a handle with a
//! policy shows an epoll descriptor that watches whichever connection is
//! current, so a poll loop keeps working across a restart. A reconnection
//! happens only inside `dispatch`, never inside a callback;
//! `dispatch(Blocking)` returns `Ok` after one.
//!
//! In async code, `reconnecting` on `AsyncCpg`, `AsyncQuorum`,
//! `AsyncVotequorum`, `AsyncCfg` and `AsyncCmap` does the same from the
//! stream (waiting on the runtime's timer, not on a thread), which yields
//! a `Reconnected` event; when the patience runs out the stream yields the
//! error and ends.

// docs.rs (nightly, `--cfg docsrs`): every item gated by a cargo feature or
// a `corosync_has_*` flag shows what it needs (`doc_cfg` derives the
// badges from the `cfg` attributes themselves).
#![cfg_attr(docsrs, feature(doc_cfg))]
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
#[cfg_attr(not(all(feature = "cpg", feature = "quorum")), allow(dead_code))]
mod reconnect;
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

#[cfg(fuzzing)]
#[doc(hidden)]
#[path = "fuzz_entry.rs"]
pub mod __fuzz;

pub use dispatch::DispatchMode;
pub use error::{Error, Result};
pub use node::{NodeId, RingId};
pub use reconnect::{Disconnected, Reconnect};
pub use retry::{retry, Retry};
pub use track::TrackFlags;

/// The raw FFI bindings this crate is built on, for what the safe API does
/// not cover.
pub use corosync_sys as sys;

// The README's programs, compiled as doc tests (they need every feature
// they use, as the workspace's tests enable).
#[cfg(all(doctest, feature = "cpg", feature = "quorum", feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

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
