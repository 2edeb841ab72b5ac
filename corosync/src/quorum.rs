//! The quorum service (libquorum): is this partition quorate, and which
//! nodes does it hold.
//!
//! ```
//! use corosync::quorum::Quorum;
//! use corosync::{DispatchMode, TrackFlags};
//!
//! let quorum = Quorum::builder()
//!     .on_quorum(|_q, n| println!("quorate: {}, members: {:?}", n.quorate, n.members))
//!     .connect()?;
//! println!("quorate now: {}", quorum.is_quorate()?);
//! // The current state comes at once, then every change: a service keeps
//! // dispatching; this program stops after the current state.
//! quorum.track_start(TrackFlags::CURRENT | TrackFlags::CHANGES)?;
//! quorum.dispatch(DispatchMode::One)?;
//! quorum.track_stop()?;
//! # Ok::<(), corosync::Error>(())
//! ```

use std::cell::Cell;

use corosync_sys as sys;

use crate::c_args::slice_arg;
use crate::cell::CallbackCell;
use crate::current::{Kind, Registered};
use crate::error::check;
use crate::handle::{callback, Connection, Dispatch};
use crate::reconnect::{ReconnectFn, RideOptions, Rider, Rides, Slot};
use crate::{Disconnected, NodeId, Reconnect, Result, RingId, TrackFlags};

/// Which quorum provider the daemon runs (the `quorum_type` corosync reports
/// at initialize).
///
/// A newtype over the raw value, so a value from a newer corosync is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuorumType(pub u32);

impl QuorumType {
    /// `QUORUM_FREE`: no quorum provider is configured; every partition is
    /// quorate.
    pub const FREE: QuorumType = QuorumType(sys::QUORUM_FREE);
    /// `QUORUM_SET`: a quorum provider (votequorum) decides.
    pub const SET: QuorumType = QuorumType(sys::QUORUM_SET);
}

/// A quorum notification: the quorate state and the members of the current
/// membership. Borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct QuorumNotification<'a> {
    /// Whether this partition is quorate.
    pub quorate: bool,
    /// The membership's ring id. With corosync before 3.1, which has only
    /// the old callback, the node id part is 0.
    pub ring_id: RingId,
    /// The nodes of the membership.
    pub members: &'a [NodeId],
}

/// A node-list notification (corosync 3.1 and later): the membership and
/// what changed. Borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct NodeListNotification<'a> {
    /// The membership's ring id.
    pub ring_id: RingId,
    /// The nodes of the membership.
    pub members: &'a [NodeId],
    /// The nodes that joined since the last membership.
    pub joined: &'a [NodeId],
    /// The nodes that left since the last membership.
    pub left: &'a [NodeId],
}

/// The most entries a node list can hold (`PROCESSOR_COUNT_MAX`): counts
/// from the daemon above it are clamped rather than trusted.
const MAX_LIST: usize = 384;

type QuorumFn = Box<dyn FnMut(&Quorum, &QuorumNotification<'_>) + Send>;
type NodeListFn = Box<dyn FnMut(&Quorum, &NodeListNotification<'_>) + Send>;

pub(crate) struct Callbacks {
    quorum: Option<QuorumFn>,
    // (Only libquorum's model-v1 API, corosync 3.1 and later, calls it.)
    #[cfg_attr(not(corosync_has_quorum_model_initialize), allow(dead_code))]
    nodelist: Option<NodeListFn>,
    reconnect: Option<ReconnectFn<Quorum>>,
}

/// An event copied after a closure panicked, for the next dispatch.
pub(crate) enum Held {
    Quorum {
        quorate: bool,
        ring_id: RingId,
        members: Vec<NodeId>,
    },
    #[cfg_attr(not(corosync_has_quorum_model_initialize), allow(dead_code))]
    NodeList {
        ring_id: RingId,
        members: Vec<NodeId>,
        joined: Vec<NodeId>,
        left: Vec<NodeId>,
    },
    Reconnected(Disconnected),
}

crate::handle::library!(
    /// libquorum.
    QuorumLib, "Quorum", sys::quorum_fd_get, sys::quorum_dispatch, sys::quorum_finalize
);

/// A connection to the quorum service. Finalized on drop.
///
/// `Send` (it may move to another thread) but not `Sync`: libquorum does not
/// serialize concurrent requests on one connection. `dispatch`,
/// `dispatch_some`, `dispatch_timeout`, `finalize` and the descriptor
/// (`AsFd`) are the same for every service (see [Conventions](crate#conventions)).
pub struct Quorum {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Slot<QuorumLib>,
    cell: CallbackCell<Callbacks, Held>,
    quorum_type: u32,
    /// How the connection was made, to make it again.
    legacy: bool,
    /// The flags of the tracking started, until it is stopped.
    tracking: Cell<Option<TrackFlags>>,
    /// Whether and how it reconnects.
    rider: Rider,
}

/// Builds a [`Quorum`] connection with its callbacks.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct QuorumBuilder {
    quorum: Option<QuorumFn>,
    nodelist: Option<NodeListFn>,
    legacy: bool,
    ride: RideOptions<Quorum>,
}

impl QuorumBuilder {
    /// Called with the quorate state and members after
    /// [`Quorum::track_start`], on each change.
    ///
    /// The first report after `track_start` with
    /// [`TrackFlags::CURRENT`] or [`TrackFlags::CHANGES`] comes right after
    /// the node list's (see [`Quorum::track_start`]).
    pub fn on_quorum(
        mut self,
        f: impl FnMut(&Quorum, &QuorumNotification<'_>) + Send + 'static,
    ) -> Self {
        self.quorum = Some(Box::new(f));
        self
    }

    /// Called with the node list and the nodes that joined and left, on each
    /// membership change while tracking. Needs corosync 3.1 or later;
    /// [`QuorumBuilder::connect`] returns [`crate::Error::NotSupported`] on older
    /// versions.
    pub fn on_nodelist(
        mut self,
        f: impl FnMut(&Quorum, &NodeListNotification<'_>) + Send + 'static,
    ) -> Self {
        self.nodelist = Some(Box::new(f));
        self
    }

    /// Connect with the old `quorum_initialize` call instead of
    /// `quorum_model_initialize` (the only one before corosync 3.1). Its
    /// notification carries the ring sequence number but not the ring's
    /// node id, and it has no node-list callback: with one set,
    /// [`QuorumBuilder::connect`] returns [`crate::Error::NotSupported`].
    pub fn legacy_initialize(mut self, yes: bool) -> Self {
        self.legacy = yes;
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, starts tracking again if it was (with
    /// [`TrackFlags::CURRENT`] added, so the state now is reported), and
    /// reports it to [`QuorumBuilder::on_reconnect`] before it returns.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.ride.policy(policy);
        self
    }

    /// Called once per reconnection (see [`QuorumBuilder::reconnect`]),
    /// before the events of the new connection: changes of the time
    /// between may be missing.
    pub fn on_reconnect(mut self, f: impl FnMut(&Quorum, &Disconnected) + Send + 'static) -> Self {
        self.ride.on_reconnect(Box::new(f));
        self
    }

    /// Reconnects from an async stream, not from `dispatch`.
    #[cfg(feature = "tokio")]
    pub(crate) fn stream_driven(mut self) -> Self {
        self.ride.stream_driven();
        self
    }

    /// Connects to the local corosync daemon.
    pub fn connect(self) -> Result<Quorum> {
        let legacy = self.legacy || !cfg!(corosync_has_quorum_model_initialize);
        if legacy && self.nodelist.is_some() {
            return Err(crate::Error::NotSupported);
        }
        let (conn, quorum_type) = open(legacy)?;
        let conn = Slot::new(conn, self.ride.reconnects())?;
        let (rider, reconnect) = self.ride.into_parts();
        Ok(Quorum {
            conn,
            cell: CallbackCell::new(Callbacks {
                quorum: self.quorum,
                nodelist: self.nodelist,
                reconnect,
            }),
            quorum_type,
            legacy,
            tracking: Cell::new(None),
            rider,
        })
    }
}

/// Makes a libquorum connection; with it the quorum type the daemon
/// reported.
fn open(legacy: bool) -> Result<(Connection<QuorumLib>, u32)> {
    // Without quorum_model_initialize every connection is a legacy one.
    #[cfg(not(corosync_has_quorum_model_initialize))]
    let _ = legacy;
    let mut quorum_type = 0;
    let conn = Connection::<QuorumLib>::open(|raw| {
        #[cfg(corosync_has_quorum_model_initialize)]
        if !legacy {
            let mut model = sys::quorum_model_v1_data_t {
                model: sys::QUORUM_MODEL_V1,
                quorum_notify_fn: Some(quorum_v1_trampoline),
                nodelist_notify_fn: Some(nodelist_trampoline),
            };
            // SAFETY: the out-pointers are valid; the model struct is a
            // quorum_model_v1_data_t whose first field is the model, as
            // quorum_model_initialize expects (it copies it). The
            // trampolines find the handle through the registry, so the
            // C context stays null.
            return unsafe {
                sys::quorum_model_initialize(
                    raw,
                    sys::QUORUM_MODEL_V1,
                    std::ptr::addr_of_mut!(model).cast(),
                    &mut quorum_type,
                    std::ptr::null_mut(),
                )
            };
        }
        let mut callbacks = sys::quorum_callbacks_t {
            quorum_notify_fn: Some(quorum_v0_trampoline),
        };
        // SAFETY: valid out-pointers; libquorum copies the callbacks.
        unsafe { sys::quorum_initialize(raw, &mut callbacks, &mut quorum_type) }
    })?;
    Ok((conn, quorum_type))
}

impl Quorum {
    /// A connection with no callbacks (enough for [`Quorum::is_quorate`]).
    pub fn new() -> Result<Quorum> {
        Quorum::builder().connect()
    }

    /// A builder, to set callbacks before connecting.
    pub fn builder() -> QuorumBuilder {
        QuorumBuilder::default()
    }

    fn raw(&self) -> sys::quorum_handle_t {
        self.conn.raw()
    }

    /// The quorum provider type the daemon reported at connect time.
    pub fn quorum_type(&self) -> QuorumType {
        QuorumType(self.quorum_type)
    }

    /// Whether the local partition is quorate now (`quorum_getquorate`).
    pub fn is_quorate(&self) -> Result<bool> {
        let mut quorate = 0;
        // SAFETY: live handle, valid out-pointer.
        check(unsafe { sys::quorum_getquorate(self.raw(), &mut quorate) })?;
        Ok(quorate != 0)
    }

    /// Starts tracking: the callbacks run from [`Quorum::dispatch`] with the
    /// current state ([`TrackFlags::CURRENT`]) and on changes
    /// ([`TrackFlags::CHANGES`]). Flags with none of `CURRENT`, `CHANGES`
    /// and `CHANGES_ONLY` are [`crate::Error::InvalidInput`]: nothing would come.
    ///
    /// With `CURRENT` or `CHANGES` (corosync sends the current state for
    /// either; `CHANGES_ONLY` waits for a change), the daemon queues two
    /// events before this call returns, delivered in this order by the next
    /// dispatch: the node list ([`QuorumBuilder::on_nodelist`], with empty
    /// `joined` and `left`; not with [`QuorumBuilder::legacy_initialize`]),
    /// then the quorum state ([`QuorumBuilder::on_quorum`]), with the same
    /// ring id.
    pub fn track_start(&self, flags: TrackFlags) -> Result<()> {
        flags.check_reports()?;
        // SAFETY: live handle.
        check(unsafe { sys::quorum_trackstart(self.raw(), flags.as_raw().into()) })?;
        self.tracking.set(Some(flags));
        Ok(())
    }

    /// Stops tracking.
    pub fn track_stop(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::quorum_trackstop(self.raw()) })?;
        self.tracking.set(None);
        Ok(())
    }

    /// The pointer-sized handle the C library uses, for calls the safe API
    /// does not cover. It stays owned by `self`.
    pub fn as_raw(&self) -> sys::quorum_handle_t {
        self.raw()
    }
}

impl Rides for Quorum {
    fn slot(&self) -> &Slot<QuorumLib> {
        &self.conn
    }

    fn rider(&self) -> &Rider {
        &self.rider
    }

    /// Starts tracking on the new connection if this handle tracked.
    fn reopen(&self) -> Result<()> {
        let (conn, _) = open(self.legacy)?;
        if let Some(flags) = self.tracking.get() {
            let flags = flags | TrackFlags::CURRENT;
            // SAFETY: live handle. (On failure `conn` is finalized when
            // dropped.)
            check(unsafe { sys::quorum_trackstart(conn.raw(), flags.as_raw().into()) })?;
        }
        // SAFETY: inside the dispatch guard (the callers), outside any
        // callback or C call on this handle: no reference to the old
        // connection is alive.
        drop(unsafe { self.conn.replace(conn) }?);
        Ok(())
    }

    fn reconnect_fn(cb: &mut Callbacks) -> Option<&mut ReconnectFn<Quorum>> {
        cb.reconnect.as_mut()
    }

    fn held(d: Disconnected) -> Held {
        Held::Reconnected(d)
    }
}

impl Registered for Quorum {
    const KIND: Kind = Kind::Quorum;
}

impl Dispatch for Quorum {
    type Lib = QuorumLib;
    type Callbacks = Callbacks;
    type Held = Held;

    fn connection(&self) -> &Connection<QuorumLib> {
        self.conn.get()
    }

    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        self.recover_from(rc)
    }

    fn cell(&self) -> &CallbackCell<Callbacks, Held> {
        &self.cell
    }

    fn deliver_held(&self, cb: &mut Callbacks, event: Held) {
        match event {
            Held::Quorum {
                quorate,
                ring_id,
                members,
            } => on_quorum(
                self,
                cb,
                &QuorumNotification {
                    quorate,
                    ring_id,
                    members: &members,
                },
            ),
            Held::NodeList {
                ring_id,
                members,
                joined,
                left,
            } => on_nodelist(
                self,
                cb,
                &NodeListNotification {
                    ring_id,
                    members: &members,
                    joined: &joined,
                    left: &left,
                },
            ),
            Held::Reconnected(d) => self.tell(cb, &d),
        }
    }
}

crate::handle::impl_handle!(Quorum;);

fn on_quorum(q: &Quorum, cb: &mut Callbacks, n: &QuorumNotification<'_>) {
    if let Some(f) = cb.quorum.as_mut() {
        f(q, n);
    }
}

#[cfg_attr(not(corosync_has_quorum_model_initialize), allow(dead_code))]
fn on_nodelist(q: &Quorum, cb: &mut Callbacks, n: &NodeListNotification<'_>) {
    if let Some(f) = cb.nodelist.as_mut() {
        f(q, n);
    }
}

/// The quorum callback of both models.
///
/// # Safety
///
/// Only from a libquorum callback, with `entries` node ids at `list` valid
/// for the call.
unsafe fn notify_quorum(
    handle: sys::quorum_handle_t,
    quorate: u32,
    ring_id: RingId,
    entries: u32,
    list: *const u32,
) {
    // SAFETY: as promised by the caller.
    let members = unsafe { slice_arg(list, (entries as usize).min(MAX_LIST)) };
    let n = QuorumNotification {
        quorate: quorate != 0,
        ring_id,
        members: NodeId::from_raw_slice(members),
    };
    // SAFETY: as promised by the caller.
    unsafe {
        callback::<Quorum>(
            handle,
            |q, cb| on_quorum(q, cb, &n),
            || {
                Some(Held::Quorum {
                    quorate: n.quorate,
                    ring_id,
                    members: n.members.to_vec(),
                })
            },
        )
    }
}

unsafe extern "C" fn quorum_v0_trampoline(
    handle: sys::quorum_handle_t,
    quorate: u32,
    ring_seq: u64,
    entries: u32,
    list: *mut u32,
) {
    // SAFETY: called by libquorum from quorum_dispatch, with `entries`
    // node ids at `list` valid for the call. The old API gives only the
    // ring's sequence number.
    unsafe {
        notify_quorum(
            handle,
            quorate,
            RingId::new(NodeId::new(0), ring_seq),
            entries,
            list,
        )
    }
}

#[cfg(corosync_has_quorum_model_initialize)]
unsafe extern "C" fn quorum_v1_trampoline(
    handle: sys::quorum_handle_t,
    quorate: u32,
    ring_id: sys::quorum_ring_id,
    entries: u32,
    list: *const u32,
) {
    let ring_id = RingId::new(NodeId::new(ring_id.nodeid), ring_id.seq);
    // SAFETY: called by libquorum from quorum_dispatch, with `entries`
    // node ids at `list` valid for the call.
    unsafe { notify_quorum(handle, quorate, ring_id, entries, list) }
}

#[cfg(corosync_has_quorum_model_initialize)]
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn nodelist_trampoline(
    handle: sys::quorum_handle_t,
    ring_id: sys::quorum_ring_id,
    member_entries: u32,
    members: *const u32,
    joined_entries: u32,
    joined: *const u32,
    left_entries: u32,
    left: *const u32,
) {
    // libquorum computes the joined and left pointers from the counts
    // before them: with counts no daemon sends, they could point anywhere.
    if [member_entries, joined_entries, left_entries]
        .iter()
        .any(|&n| n as usize > MAX_LIST)
    {
        return;
    }
    let list = |ptr, n: u32| {
        // SAFETY: called by libquorum from quorum_dispatch; each list holds
        // its number of node ids (checked against the largest possible
        // above), valid for the call.
        NodeId::from_raw_slice(unsafe { slice_arg(ptr, n as usize) })
    };
    let n = NodeListNotification {
        ring_id: RingId::new(NodeId::new(ring_id.nodeid), ring_id.seq),
        members: list(members, member_entries),
        joined: list(joined, joined_entries),
        left: list(left, left_entries),
    };
    // SAFETY: a libquorum callback.
    unsafe {
        callback::<Quorum>(
            handle,
            |q, cb| on_nodelist(q, cb, &n),
            || {
                Some(Held::NodeList {
                    ring_id: n.ring_id,
                    members: n.members.to_vec(),
                    joined: n.joined.to_vec(),
                    left: n.left.to_vec(),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn quorum_is_send() {
        assert_send::<Quorum>();
        assert_send::<QuorumBuilder>();
    }

    #[test]
    fn quorum_types_match_quorum_h() {
        assert_eq!(QuorumType::FREE, QuorumType(0));
        assert_eq!(QuorumType::SET, QuorumType(1));
    }
}
