//! How libcpg's callbacks reach a [`Cpg`]'s closures: the trampolines
//! reborrow the handle that [`Cpg::dispatch`] registered (see
//! [`crate::current`]) and call its closures through its
//! [`CallbackCell`](crate::cell::CallbackCell); after a panic they keep
//! copies ([`Held`]) for the next dispatch.

use std::ffi::c_void;

use corosync_sys as sys;

use super::{Address, ConfChange, Cpg, CpgLib, GroupName, Message, TotemConfChange, MEMBERS_MAX};
use crate::c_args::slice_arg;
use crate::cell::CallbackCell;
use crate::current::{innermost, Kind, Registered};
use crate::handle::{callback, Connection, Dispatch};
use crate::reconnect::{ReconnectFn, Rides};
use crate::{Disconnected, NodeId, RingId};

pub(super) type DeliverFn = Box<dyn FnMut(&Cpg, &Message<'_>) + Send>;
pub(super) type ConfchgFn = Box<dyn FnMut(&Cpg, &ConfChange<'_>) + Send>;
pub(super) type TotemFn = Box<dyn FnMut(&Cpg, &TotemConfChange<'_>) + Send>;

pub(crate) struct Callbacks {
    /// (A closure that does nothing when none was given: one check less
    /// on the delivery path.)
    pub(super) deliver: DeliverFn,
    pub(super) confchg: Option<ConfchgFn>,
    pub(super) totem: Option<TotemFn>,
    pub(super) reconnect: Option<ReconnectFn<Cpg>>,
}

/// An event copied after a closure panicked, for the next dispatch.
pub(crate) enum Held {
    Deliver {
        group: GroupName,
        nodeid: NodeId,
        pid: u32,
        data: Vec<u8>,
    },
    Confchg {
        group: GroupName,
        members: Vec<Address>,
        left: Vec<Address>,
        joined: Vec<Address>,
    },
    Totem {
        ring_id: RingId,
        members: Vec<NodeId>,
    },
    Reconnected(Disconnected),
}

impl Registered for Cpg {
    const KIND: Kind = Kind::Cpg;
}

impl Dispatch for Cpg {
    type Lib = CpgLib;
    type Callbacks = Callbacks;
    type Held = Held;

    #[inline]
    fn connection(&self) -> &Connection<CpgLib> {
        self.conn.get()
    }

    #[inline]
    fn cell(&self) -> &CallbackCell<Callbacks, Held> {
        &self.cell
    }

    fn deliver_held(&self, cb: &mut Callbacks, event: Held) {
        match event {
            Held::Deliver {
                group,
                nodeid,
                pid,
                data,
            } => deliver(
                self,
                cb,
                &Message {
                    group: &group,
                    nodeid,
                    pid,
                    data: &data,
                },
            ),
            Held::Confchg {
                group,
                members,
                left,
                joined,
            } => confchg(
                self,
                cb,
                &ConfChange {
                    group: &group,
                    members: &members,
                    left: &left,
                    joined: &joined,
                },
            ),
            Held::Totem { ring_id, members } => totem(
                self,
                cb,
                &TotemConfChange {
                    ring_id,
                    members: &members,
                },
            ),
            Held::Reconnected(d) => self.tell(cb, &d),
        }
    }

    #[inline]
    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        self.recover_from(rc)
    }
}

#[inline]
fn deliver(cpg: &Cpg, cb: &mut Callbacks, message: &Message<'_>) {
    (cb.deliver)(cpg, message);
}

fn confchg(cpg: &Cpg, cb: &mut Callbacks, change: &ConfChange<'_>) {
    if let Some(f) = cb.confchg.as_mut() {
        f(cpg, change);
    }
}

fn totem(cpg: &Cpg, cb: &mut Callbacks, change: &TotemConfChange<'_>) {
    if let Some(f) = cb.totem.as_mut() {
        f(cpg, change);
    }
}

pub(super) unsafe extern "C" fn deliver_trampoline(
    handle: sys::cpg_handle_t,
    group: *const sys::cpg_name,
    nodeid: u32,
    pid: u32,
    msg: *mut c_void,
    msg_len: usize,
) {
    // The message is built before the registry is read: a thread-local
    // access is a call for code that may end up in a shared library, and
    // this way the arguments wait for it on the stack, not in saved
    // registers.
    // SAFETY: libcpg calls this from cpg_dispatch with a valid group name
    // and `msg_len` bytes at `msg`, valid for the call. (corosync never
    // sends an invalid name; one would be dropped.)
    let Some(message) = (unsafe { message(group, nodeid, pid, msg, msg_len) }) else {
        return;
    };
    // SAFETY: the reborrow is used only during this callback.
    let Some(cpg) = (unsafe { innermost::<Cpg>(handle) }) else {
        return;
    };
    // SAFETY: a libcpg callback inside the handle's dispatch, on its thread,
    // not nested in another of its callbacks.
    unsafe {
        if cpg.cell.panicked() {
            hold_message(cpg, &message);
        } else {
            cpg.cell.call(|cb| deliver(cpg, cb, &message));
        }
    }
}

/// The message libcpg's deliver callback describes; `None` for a group
/// name no daemon sends.
///
/// # Safety
///
/// The arguments of a libcpg deliver callback, during the callback.
#[inline(always)]
unsafe fn message<'a>(
    group: *const sys::cpg_name,
    nodeid: u32,
    pid: u32,
    msg: *mut c_void,
    msg_len: usize,
) -> Option<Message<'a>> {
    Some(Message {
        // SAFETY: the caller's promise.
        group: unsafe { GroupName::from_ptr(group) }?,
        nodeid: NodeId::new(nodeid),
        pid,
        // (libcpg's pointer into its receive buffer is never null; a null
        // one gives an empty payload. A byte pointer is always aligned.)
        data: if msg.is_null() {
            &[]
        } else {
            // SAFETY: the caller's promise: `msg_len` bytes at `msg`.
            unsafe { std::slice::from_raw_parts(msg.cast_const().cast::<u8>(), msg_len) }
        },
    })
}

/// Keeps a copy of a delivered message after a closure panicked.
///
/// # Safety
///
/// Inside the dispatch of `cpg`, with a panic kept in its cell.
#[cold]
#[inline(never)]
unsafe fn hold_message(cpg: &Cpg, m: &Message<'_>) {
    // SAFETY: the caller's promise.
    unsafe {
        cpg.cell.hold(|| {
            Some(Held::Deliver {
                group: *m.group,
                nodeid: m.nodeid,
                pid: m.pid,
                data: m.data.to_vec(),
            })
        })
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn confchg_trampoline(
    handle: sys::cpg_handle_t,
    group: *const sys::cpg_name,
    members: *const sys::cpg_address,
    member_entries: usize,
    left: *const sys::cpg_address,
    left_entries: usize,
    joined: *const sys::cpg_address,
    joined_entries: usize,
) {
    // SAFETY: libcpg calls this from cpg_dispatch; each list has its count
    // of entries (libcpg's arrays hold at most CPG_MEMBERS_MAX, so larger
    // counts are clamped), valid for the call.
    unsafe {
        // corosync never sends an invalid name.
        let Some(group) = GroupName::from_ptr(group) else {
            return;
        };
        let list = |ptr, n: usize| Address::from_raw_slice(slice_arg(ptr, n.min(MEMBERS_MAX)));
        let change = ConfChange {
            group,
            members: list(members, member_entries),
            left: list(left, left_entries),
            joined: list(joined, joined_entries),
        };
        callback::<Cpg>(
            handle,
            |cpg, cb| confchg(cpg, cb, &change),
            || {
                Some(Held::Confchg {
                    group: *change.group,
                    members: change.members.to_vec(),
                    left: change.left.to_vec(),
                    joined: change.joined.to_vec(),
                })
            },
        )
    }
}

pub(super) unsafe extern "C" fn totem_trampoline(
    handle: sys::cpg_handle_t,
    ring_id: sys::cpg_ring_id,
    member_entries: u32,
    members: *const u32,
) {
    // SAFETY: libcpg calls this from cpg_dispatch with `member_entries` node
    // ids (at most CPG_MEMBERS_MAX) at `members`, valid for the call.
    unsafe {
        let n = (member_entries as usize).min(MEMBERS_MAX);
        let change = TotemConfChange {
            ring_id: RingId::new(NodeId::new(ring_id.nodeid), ring_id.seq),
            members: NodeId::from_raw_slice(slice_arg(members, n)),
        };
        callback::<Cpg>(
            handle,
            |cpg, cb| totem(cpg, cb, &change),
            || {
                Some(Held::Totem {
                    ring_id: change.ring_id,
                    members: change.members.to_vec(),
                })
            },
        )
    }
}
