//! Closed process groups (libcpg): group membership and totally ordered
//! multicast.
//!
//! A [`Cpg`] handle joins a group by [`GroupName`], multicasts to it, and
//! receives, through closures run by [`Cpg::dispatch`], every message sent
//! to that group in the same total order on every node, plus configuration
//! changes (who joined, left or failed) and totem ring changes.
//!
//! corosync lets one connection be in one group at a time, and one process
//! be in a group once: a process that needs several groups opens one
//! handle per group.
//!
//! A member that says hello and runs callbacks, one event at a time, until
//! its own hello comes back:
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//!
//! use corosync::cpg::{Cpg, GroupName, Guarantee};
//! use corosync::DispatchMode;
//!
//! let group = GroupName::new("my-service")?;
//! let done = Arc::new(AtomicBool::new(false));
//! let hello_back = done.clone();
//! let cpg = Cpg::builder()
//!     .on_deliver(move |_cpg, msg| {
//!         println!("{} from node {} pid {}: {} bytes", msg.group, msg.nodeid, msg.pid, msg.data.len());
//!         if msg.pid == std::process::id() && msg.data == b"hello" {
//!             hello_back.store(true, Ordering::Relaxed);
//!         }
//!     })
//!     .on_confchg(|_cpg, change| {
//!         for m in change.joined {
//!             println!("joined: node {} pid {}", m.nodeid(), m.pid());
//!         }
//!     })
//!     .connect()?;
//! cpg.join(&group)?;
//! cpg.mcast(Guarantee::Agreed, b"hello")?;
//! while !done.load(Ordering::Relaxed) {
//!     cpg.dispatch(DispatchMode::One)?;
//! }
//! # Ok::<(), corosync::Error>(())
//! ```
//!
//! # Delivery
//!
//! The message passed to the deliver closure borrows the library's receive
//! buffer: delivering a message allocates nothing and takes no lock on the
//! Rust side (unless an earlier closure of the same dispatch panicked: the
//! messages after it are then copied for the next dispatch). Copy what must
//! outlive the callback.
//!
//! # Limits
//!
//! - Group names hold up to [`MAX_NAME_LEN`] (128) bytes.
//! - One multicast takes up to [`MAX_BUFFERS`] (63) buffers: libcpg copies
//!   them into a fixed array.
//! - Messages larger than [`Cpg::max_atomic_msgsize`] are fragmented by
//!   libcpg and reassembled by the receivers' libcpg, up to
//!   [`MAX_MESSAGE_LEN`] bytes (corosync carries the length in a signed
//!   32-bit field).
//! - corosync writes a connection's events into a ring of about
//!   [`Cpg::max_atomic_msgsize`] + 1 KiB, each message taking its length
//!   rounded up to 4 plus about 192 bytes. A client that lets more pile up
//!   than the ring holds is not refused:
//!   corosync copies the rest into an out-queue of its own, which grows
//!   without bound while the client sends and does not read. Pacing own
//!   multicasts to the ring, as `corosync::tokio::AsyncCpg` does, keeps a
//!   client's own messages from overflowing it. What the pacing does not
//!   count can still overflow it: other members' messages and membership
//!   events, and any single message larger than the ring.
//!
//! # Losses corosync does not report
//!
//! corosync 3.1.7 can lose or corrupt messages under membership churn
//! without a configuration change telling the members (RELIABILITY.md,
//! "Breaks corosync makes"). CPG reports only the rings whose
//! synchronisation completes, so a short partition can go unreported while
//! the two sides deliver different messages of the ring it broke. A daemon
//! that saw a node leave, even in such a ring, throws away the rest of a
//! message that node had begun and more of its messages after it; libcpg
//! then drops a fragmented message, or hands on one that starts with
//! foreign bytes. This happens below the bindings, to C clients alike. An
//! application that must notice numbers and checksums its messages.

use std::cell::Cell;
use std::io::IoSlice;

use corosync_sys as sys;

use crate::cell::CallbackCell;
use crate::error::check;
use crate::handle::{hung_up, Connection};
use crate::reconnect::{RideOptions, Rider, Rides, Slot};
use crate::{Disconnected, Error, NodeId, Reconnect, Result};

mod callbacks;
mod events;
mod iteration;
mod name;
mod zerocopy;

use callbacks::{
    confchg_trampoline, deliver_trampoline, totem_trampoline, Callbacks, ConfchgFn, DeliverFn,
    Held, TotemFn,
};
pub use events::{Address, ConfChange, Guarantee, Message, Reason, TotemConfChange};
pub use iteration::{GroupIter, IterEntry, Iteration};
pub use name::{GroupName, MAX_NAME_LEN};
pub use zerocopy::ZcBuffer;

/// The most buffers one multicast takes: libcpg copies the caller's iovecs
/// behind its own header into an array of 64.
pub const MAX_BUFFERS: usize = 63;

/// The largest message libcpg can send, fragmented: the daemon reads the
/// length into a signed 32-bit `int`.
pub const MAX_MESSAGE_LEN: usize = i32::MAX as usize;

/// The length of the message that `bufs` make, or why it cannot be sent:
/// more than [`MAX_BUFFERS`] buffers or [`MAX_MESSAGE_LEN`] bytes.
#[inline]
pub(crate) fn message_len(bufs: &[IoSlice<'_>]) -> Result<usize> {
    if bufs.len() > MAX_BUFFERS {
        return Err(Error::TooManyBuffers {
            count: bufs.len(),
            max: MAX_BUFFERS,
        });
    }
    let mut len: usize = 0;
    for buf in bufs {
        len = len.saturating_add(buf.len());
    }
    if len > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLarge {
            len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(len)
}

/// What a delivered message takes in a connection's event ring besides its
/// payload (which the ring rounds up to 4 bytes): libqb's 8-byte chunk
/// header and libcpg's 184-byte delivery header, whose fields (the 128-byte
/// group name among them) are each aligned to 8 bytes.
#[cfg(feature = "tokio")]
pub(crate) const EVENT_OVERHEAD: usize = 192;

/// What a delivered message of `len` bytes takes in a connection's event
/// ring (see [`Cpg::event_ring_size`]).
#[cfg(feature = "tokio")]
#[inline]
pub(crate) fn event_size(len: usize) -> usize {
    len.next_multiple_of(4).saturating_add(EVENT_OVERHEAD)
}

/// What libcpg keeps of its IPC buffer size for headers
/// (`IPC_REQUEST_SIZE - 1024` in corosync's `lib/cpg.c`).
#[cfg(feature = "tokio")]
const RING_HEADROOM: usize = 1024;

/// Room for the members `cpg_membership_get` may write: the daemon answers
/// with up to `PROCESSOR_COUNT_MAX` (384) entries whatever the caller's
/// buffer holds.
const MEMBERSHIP_CAPACITY: usize = 384;

/// The most entries libcpg passes in one configuration change list.
const MEMBERS_MAX: usize = sys::CPG_MEMBERS_MAX as usize;

crate::handle::library!(
    /// libcpg.
    CpgLib, "Cpg", sys::cpg_fd_get, sys::cpg_dispatch, sys::cpg_finalize
);

/// A connection to the CPG service. Finalized on drop.
///
/// `Send` but not `Sync`: libcpg does not serialize concurrent requests on
/// one connection. Every method takes `&self`, so the closures, which get a
/// `&Cpg`, may multicast, join, leave and read membership from inside a
/// callback.
///
/// `dispatch`, `dispatch_some`, `dispatch_timeout`, `finalize` and the
/// descriptor (`AsFd`) are the same for every service
/// (see [Conventions](crate#conventions)).
pub struct Cpg {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Slot<CpgLib>,
    cell: CallbackCell<Callbacks, Held>,
    /// The group this connection joined, as far as this handle knows.
    joined: Cell<Option<GroupName>>,
    /// Whether `joined` is set (read on every send, without copying the
    /// name).
    in_group: Cell<bool>,
    /// Whether this connection has left a group (it cannot join again).
    has_left: Cell<bool>,
    /// The largest message libcpg sends without fragmenting it (fixed by
    /// libcpg at initialize).
    max_atomic: usize,
    /// How the connection was made, to make it again.
    legacy: bool,
    flags: u32,
    /// Whether and how it reconnects.
    rider: Rider,
}

crate::handle::impl_handle!(Cpg;
    ///
    /// With [`DispatchMode::OneNonblocking`](crate::DispatchMode::OneNonblocking)
    /// and nothing pending, libcpg answers [`Error::TryAgain`];
    /// [`DispatchMode::All`](crate::DispatchMode::All) then returns `Ok`.
);

/// Builds a [`Cpg`] connection with its callbacks.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct CpgBuilder {
    deliver: Option<DeliverFn>,
    confchg: Option<ConfchgFn>,
    totem: Option<TotemFn>,
    initial_totem_conf: bool,
    legacy: bool,
    ride: RideOptions<Cpg>,
}

impl CpgBuilder {
    /// Called for every message delivered to a joined group.
    pub fn on_deliver(mut self, f: impl FnMut(&Cpg, &Message<'_>) + Send + 'static) -> Self {
        self.deliver = Some(Box::new(f));
        self
    }

    /// Called when the membership of a joined group changes.
    pub fn on_confchg(mut self, f: impl FnMut(&Cpg, &ConfChange<'_>) + Send + 'static) -> Self {
        self.confchg = Some(Box::new(f));
        self
    }

    /// Called when the totem membership (the cluster's nodes) changes.
    pub fn on_totem_confchg(
        mut self,
        f: impl FnMut(&Cpg, &TotemConfChange<'_>) + Send + 'static,
    ) -> Self {
        self.totem = Some(Box::new(f));
        self
    }

    /// Also report the current totem membership right after the first join
    /// (`CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF`).
    pub fn deliver_initial_totem_conf(mut self, yes: bool) -> Self {
        self.initial_totem_conf = yes;
        self
    }

    /// Connect with the old `cpg_initialize` call instead of
    /// `cpg_model_initialize`. It knows only the deliver and configuration
    /// change callbacks: with a totem callback or the initial-totem option
    /// set, [`CpgBuilder::connect`] returns [`Error::InvalidInput`].
    pub fn legacy_initialize(mut self, yes: bool) -> Self {
        self.legacy = yes;
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, joins the group the handle was in, and reports it to
    /// [`CpgBuilder::on_reconnect`] before it returns. A multicast under
    /// way when the daemon dies, or made while it is down, answers
    /// [`Error::Library`] and is not sent again on the new connection.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.ride.policy(policy);
        self
    }

    /// Called once per reconnection (see [`CpgBuilder::reconnect`]), after
    /// the group was joined again and before the events of the new
    /// connection: messages and membership changes of the time between
    /// may be missing.
    pub fn on_reconnect(mut self, f: impl FnMut(&Cpg, &Disconnected) + Send + 'static) -> Self {
        self.ride.on_reconnect(Box::new(f));
        self
    }

    /// Reconnects from an async stream ([`Rides::reconnect_once`]), not
    /// from `dispatch`.
    #[cfg(feature = "tokio")]
    pub(crate) fn stream_driven(mut self) -> Self {
        self.ride.stream_driven();
        self
    }

    /// Connects to the local corosync daemon.
    pub fn connect(self) -> Result<Cpg> {
        if self.legacy && (self.totem.is_some() || self.initial_totem_conf) {
            return Err(Error::InvalidInput {
                what: "CPG connection",
                reason: "cpg_initialize has no totem configuration change callback",
            });
        }
        let legacy = self.legacy;
        let flags = if self.initial_totem_conf {
            sys::CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF
        } else {
            0
        };
        let (conn, max_atomic) = open(legacy, flags)?;
        let conn = Slot::new(conn, self.ride.reconnects())?;
        let (rider, reconnect) = self.ride.into_parts();
        Ok(Cpg {
            conn,
            cell: CallbackCell::new(Callbacks {
                deliver: self.deliver.unwrap_or_else(|| Box::new(|_, _| {})),
                confchg: self.confchg,
                totem: self.totem,
                reconnect,
            }),
            joined: Cell::new(None),
            in_group: Cell::new(false),
            has_left: Cell::new(false),
            max_atomic,
            legacy,
            flags,
            rider,
        })
    }
}

/// Makes a libcpg connection; with it the largest message it sends
/// whole.
fn open(legacy: bool, flags: u32) -> Result<(Connection<CpgLib>, usize)> {
    let conn = Connection::<CpgLib>::open(|raw| {
        if legacy {
            let mut callbacks = sys::cpg_callbacks_t {
                cpg_deliver_fn: Some(deliver_trampoline),
                cpg_confchg_fn: Some(confchg_trampoline),
            };
            // SAFETY: valid pointers; libcpg copies the callbacks.
            unsafe { sys::cpg_initialize(raw, &mut callbacks) }
        } else {
            let mut model = sys::cpg_model_v1_data_t {
                model: sys::CPG_MODEL_V1,
                cpg_deliver_fn: Some(deliver_trampoline),
                cpg_confchg_fn: Some(confchg_trampoline),
                cpg_totem_confchg_fn: Some(totem_trampoline),
                flags,
            };
            // SAFETY: `model` is a cpg_model_v1_data_t, whose first field
            // is the model as cpg_model_initialize expects; libcpg copies
            // it. The trampolines find the handle through the registry,
            // so the C context stays null.
            unsafe {
                sys::cpg_model_initialize(
                    raw,
                    sys::CPG_MODEL_V1,
                    std::ptr::addr_of_mut!(model).cast(),
                    std::ptr::null_mut(),
                )
            }
        }
    })?;
    let mut max_atomic = 0;
    // SAFETY: live handle, valid out-pointer.
    check(unsafe { sys::cpg_max_atomic_msgsize_get(conn.raw(), &mut max_atomic) })?;
    Ok((conn, max_atomic as usize))
}

impl Cpg {
    /// A builder, to set callbacks before connecting.
    pub fn builder() -> CpgBuilder {
        CpgBuilder::default()
    }

    /// A connection with no callbacks (for membership queries, iteration
    /// and sending).
    pub fn new() -> Result<Cpg> {
        Cpg::builder().connect()
    }

    #[inline]
    pub(crate) fn raw(&self) -> sys::cpg_handle_t {
        self.conn.raw()
    }

    /// The handle the C library uses, for calls the safe API does not cover.
    /// It stays owned by `self`. (`cpg_iteration_*` called on it directly
    /// skip the serialization described in the crate docs.)
    pub fn as_raw(&self) -> sys::cpg_handle_t {
        self.raw()
    }

    /// Joins `group`. Its members (this one included) get a configuration
    /// change.
    ///
    /// A connection is in at most one group: joining while in a group is
    /// [`Error::Exist`], and so is joining a group another handle of the same
    /// process is in (corosync tells members apart by node and pid).
    ///
    /// A connection joins once: after a [`Cpg::leave`] that succeeded, a
    /// join is [`Error::RejoinAfterLeave`], refused without asking the
    /// daemon. corosync keeps such a connection marked as leaving for good
    /// and answers its joins `CS_ERR_BUSY` (`CS_ERR_EXIST` for the group it
    /// left), and libcpg repeats a busy join without end. To be in a group
    /// again, connect a new handle.
    pub fn join(&self, group: &GroupName) -> Result<()> {
        if self.has_left.get() {
            return Err(Error::RejoinAfterLeave);
        }
        // SAFETY: live handle, valid name.
        check(unsafe { sys::cpg_join(self.raw(), group.as_raw()) })?;
        self.joined.set(Some(*group));
        self.in_group.set(true);
        Ok(())
    }

    /// Leaves `group`, the group this handle joined.
    ///
    /// Any other name than the one this handle joined is [`Error::WrongGroup`].
    /// (The daemon itself would accept it, announce a leave of a group this
    /// process is not in, and leave the connection stuck half-way out of
    /// the group it is in.) When the handle knows of no group (a join that
    /// failed, or after a leave) the call goes to the daemon as it is.
    ///
    /// Once a leave has succeeded, this connection cannot join again (see
    /// [`Cpg::join`]): to move to another group, connect a new handle.
    pub fn leave(&self, group: &GroupName) -> Result<()> {
        let joined = self.joined.get();
        if joined.is_some_and(|j| j != *group) {
            return Err(Error::WrongGroup);
        }
        // SAFETY: live handle, valid name.
        check(unsafe { sys::cpg_leave(self.raw(), group.as_raw()) })?;
        self.has_left.set(true);
        self.joined.set(None);
        self.in_group.set(false);
        Ok(())
    }

    /// The group this handle joined last, unless it left it since.
    pub fn joined_group(&self) -> Option<GroupName> {
        self.joined.get()
    }

    /// [`Error::NotJoined`] unless this handle is in a group.
    #[inline]
    pub(crate) fn check_in_group(&self) -> Result<()> {
        if self.in_group.get() {
            Ok(())
        } else {
            Err(Error::NotJoined)
        }
    }

    /// Multicasts `data` to the group this handle joined.
    ///
    /// A handle that has not joined a group through [`Cpg::join`] (or has
    /// left it) gets [`Error::NotJoined`] without sending: corosync would
    /// take a small message, say nothing and drop it.
    ///
    /// [`Error::TryAgain`] means corosync's queues are full (flow control):
    /// dispatch, then send again, or use [`crate::Retry`].
    ///
    /// A message larger than [`Cpg::max_atomic_msgsize`] goes out in
    /// fragments; libcpg itself retries each fragment up to 100 times 10 ms
    /// (printing "sleep. counter=..." on stderr), and an error part-way
    /// leaves the receivers' reassembly to be dropped by libcpg.
    #[inline]
    pub fn mcast(&self, guarantee: Guarantee, data: &[u8]) -> Result<()> {
        self.mcast_vectored(guarantee, &[IoSlice::new(data)])
    }

    /// Multicasts the concatenation of `bufs` as one message, without
    /// copying them first. At most [`MAX_BUFFERS`] buffers and
    /// [`MAX_MESSAGE_LEN`] bytes in all.
    #[inline]
    pub fn mcast_vectored(&self, guarantee: Guarantee, bufs: &[IoSlice<'_>]) -> Result<()> {
        let len = message_len(bufs)?;
        self.check_in_group()?;
        // libcpg sends a message of this size in fragments, retrying each
        // itself; on a connection whose daemon is gone it then answers
        // NO_MEMORY, TRY_AGAIN or an uninitialised value after up to a
        // second of retries. A hung-up descriptor is the daemon's answer.
        let fragmented = len >= self.max_atomic;
        if fragmented && hung_up(self.conn.get().fd()) {
            return Err(Error::Library);
        }
        // SAFETY: IoSlice is ABI-compatible with struct iovec on Unix; the
        // buffers are valid for reads for the call; their count fits the
        // library's array (checked above).
        let rc = unsafe {
            sys::cpg_mcast_joined(
                self.raw(),
                guarantee.as_raw(),
                bufs.as_ptr().cast::<sys::iovec>(),
                bufs.len() as u32,
            )
        };
        if rc != sys::CS_OK && fragmented && hung_up(self.conn.get().fd()) {
            return Err(Error::Library);
        }
        check(rc)
    }

    /// The members of `group` (that this handle may or may not have joined).
    pub fn membership(&self, group: &GroupName) -> Result<Vec<Address>> {
        let empty = sys::cpg_address {
            nodeid: 0,
            pid: 0,
            reason: 0,
        };
        let mut list = [empty; MEMBERSHIP_CAPACITY];
        let mut count = MEMBERSHIP_CAPACITY as i32;
        let mut name = *group.as_raw();
        // SAFETY: live handle; `list` has room for every entry the daemon
        // can answer with (see MEMBERSHIP_CAPACITY).
        check(unsafe {
            sys::cpg_membership_get(self.raw(), &mut name, list.as_mut_ptr(), &mut count)
        })?;
        let count = (count.max(0) as usize).min(MEMBERSHIP_CAPACITY);
        Ok(Address::from_raw_slice(&list[..count]).to_vec())
    }

    /// The node id of the local node.
    pub fn local_nodeid(&self) -> Result<NodeId> {
        let mut id = 0;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { sys::cpg_local_get(self.raw(), &mut id) })?;
        Ok(NodeId::new(id))
    }

    /// The largest message sent without fragmentation. libcpg fixes it when
    /// the connection is made (`cpg_max_atomic_msgsize_get` only reads it
    /// back), so it is read once then and answered from there.
    pub fn max_atomic_msgsize(&self) -> Result<usize> {
        Ok(self.max_atomic)
    }

    /// The size of the ring in which corosync queues this connection's
    /// events: the IPC buffer size libcpg asks for, of which it keeps 1 KiB
    /// for headers and offers the rest as [`Cpg::max_atomic_msgsize`] (so
    /// 1 MiB with corosync's usual build). libqb makes the ring a little
    /// larger than asked (the libqb 2 of Debian 12 adds its chunk margin and
    /// rounds up to a page: 1 MiB + 4 KiB), so [`event_size`]s adding up to
    /// this fit.
    #[cfg(feature = "tokio")]
    pub(crate) fn event_ring_size(&self) -> Result<usize> {
        Ok(self.max_atomic_msgsize()? + RING_HEADROOM)
    }

    /// Whether flow control is on (`cpg_flow_control_state_get`).
    ///
    /// libcpg 3.x always answers "disabled" here; a sender learns of flow
    /// control from [`Error::TryAgain`] when it multicasts.
    pub fn flow_control_enabled(&self) -> Result<bool> {
        let mut state = sys::CPG_FLOW_CONTROL_DISABLED;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { sys::cpg_flow_control_state_get(self.raw(), &mut state) })?;
        Ok(state != sys::CPG_FLOW_CONTROL_DISABLED)
    }

    /// Iterates over groups and members (`cpg_iteration_*`).
    pub fn iter(&self, what: Iteration<'_>) -> Result<GroupIter<'_>> {
        GroupIter::new(self, what)
    }

    /// Allocates a zero-copy buffer of `size` bytes (at most
    /// [`Cpg::max_atomic_msgsize`]), shared with the daemon
    /// (`cpg_zcb_alloc`). Freed on drop.
    pub fn zcb_alloc(&self, size: usize) -> Result<ZcBuffer<'_>> {
        ZcBuffer::new(self, size)
    }
}

impl Rides for Cpg {
    fn slot(&self) -> &Slot<CpgLib> {
        &self.conn
    }

    fn rider(&self) -> &Rider {
        &self.rider
    }

    /// Joins the group this handle was in on the new connection.
    fn reopen(&self) -> Result<()> {
        let (conn, max_atomic) = open(self.legacy, self.flags)?;
        if max_atomic != self.max_atomic {
            // (libcpg's size is fixed at build time; a library swapped
            // under a running program is not ridden through.)
            return Err(Error::Library);
        }
        if let Some(group) = self.joined.get() {
            // SAFETY: live handle, valid name. (On failure `conn` is
            // finalized when dropped.)
            check(unsafe { sys::cpg_join(conn.raw(), group.as_raw()) })?;
        }
        // SAFETY: inside the dispatch guard (the callers), outside any
        // callback or C call on this handle: no reference to the old
        // connection is alive.
        drop(unsafe { self.conn.replace(conn) }?);
        // A new connection: corosync's memory of a leave went with the old.
        self.has_left.set(false);
        Ok(())
    }

    fn reconnect_fn(cb: &mut Callbacks) -> Option<&mut crate::reconnect::ReconnectFn<Cpg>> {
        cb.reconnect.as_mut()
    }

    fn held(d: Disconnected) -> Held {
        Held::Reconnected(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpg_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Cpg>();
        assert_send::<CpgBuilder>();
    }

    #[test]
    fn io_slice_has_the_layout_of_iovec() {
        let data = [1u8, 2, 3];
        let slices = [IoSlice::new(&data)];
        // SAFETY: the layouts are the same (std guarantees it on Unix).
        let iov = unsafe { &*slices.as_ptr().cast::<sys::iovec>() };
        assert_eq!(iov.iov_base.cast_const(), data.as_ptr().cast());
        assert_eq!(iov.iov_len, 3);
        assert_eq!(
            std::mem::size_of::<IoSlice<'_>>(),
            std::mem::size_of::<sys::iovec>()
        );
    }
}
