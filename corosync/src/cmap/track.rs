//! Change tracking: registrations, their events, and how libcmap's
//! callback reaches a registration's closure (through the [`Cmap`] that
//! [`Cmap::dispatch`] registered, see [`crate::current`]).

use std::cell::Cell;
use std::ffi::{c_char, c_void, CString};
use std::fmt;
use std::mem::ManuallyDrop;

use corosync_sys as sys;

use super::{c_key, c_prefix, Cmap, CmapLib, ValueRef, ValueType};
use crate::c_args::name_arg;
use crate::cell::CallbackCell;
use crate::current::{innermost, Kind, Registered};
use crate::error::check;
use crate::handle::{hdb_lock, Connection, Dispatch};
use crate::reconnect::{ReconnectFn, Rider, Rides, Slot};
use crate::{Disconnected, Error, Result};

bitflags::bitflags! {
    /// What a tracking registration reports (`CMAP_TRACK_*`). Unknown bits
    /// are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TrackType: i32 {
        /// Keys being added.
        const ADD = sys::CMAP_TRACK_ADD as i32;
        /// Keys being deleted.
        const DELETE = sys::CMAP_TRACK_DELETE as i32;
        /// Keys being modified.
        const MODIFY = sys::CMAP_TRACK_MODIFY as i32;
        /// The key name is a prefix: track every key that starts with it.
        const PREFIX = sys::CMAP_TRACK_PREFIX as i32;
        const _ = !0;
    }
}

/// What happened to a tracked key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrackEventKind {
    /// It was added (only a new value).
    Add,
    /// It was deleted (only an old value).
    Delete,
    /// It was modified (old and new value).
    Modify,
    /// A value these bindings do not know.
    Unknown(i32),
}

impl TrackEventKind {
    /// The kind for a raw event value.
    pub fn from_raw(raw: i32) -> TrackEventKind {
        match raw {
            r if r == sys::CMAP_TRACK_ADD as i32 => TrackEventKind::Add,
            r if r == sys::CMAP_TRACK_DELETE as i32 => TrackEventKind::Delete,
            r if r == sys::CMAP_TRACK_MODIFY as i32 => TrackEventKind::Modify,
            other => TrackEventKind::Unknown(other),
        }
    }
}

/// Identifies a tracking registration of one [`Cmap`] handle. It stays the
/// same when the handle reconnects and registers it again (see
/// [`CmapBuilder::reconnect`](super::CmapBuilder::reconnect)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackId(u64);

/// A change of a tracked key, borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TrackEvent<'a> {
    /// The registration that reported it.
    pub track: TrackId,
    /// What happened.
    pub kind: TrackEventKind,
    /// The key.
    pub key: &'a [u8],
    /// The new value (none for a deletion).
    pub new_value: Option<ValueRef<'a>>,
    /// The old value (none for an addition).
    pub old_value: Option<ValueRef<'a>>,
}

type TrackFn = Box<dyn FnMut(&Cmap, &TrackEvent<'_>) + Send>;

/// A registration: its closure, at a stable address that is the C
/// `user_data`, and what registers it again on a new connection.
pub(super) struct TrackEntry {
    pub(super) closure: std::cell::UnsafeCell<TrackFn>,
    id: TrackId,
    /// libcmap's handle of the registration on the current connection.
    c_track: Cell<sys::cmap_track_handle_t>,
    key: CString,
    flags: TrackType,
}

/// An event copied after a closure panicked, for the next dispatch.
pub(crate) enum Held {
    Track(HeldTrack),
    Reconnected(Disconnected),
}

/// A tracking event copied after a closure panicked.
pub(crate) struct HeldTrack {
    track: TrackId,
    kind: TrackEventKind,
    key: Vec<u8>,
    new_value: Option<(ValueType, Vec<u8>)>,
    old_value: Option<(ValueType, Vec<u8>)>,
}

/// A tracking registration; deleted (`cmap_track_delete`) on drop. It
/// borrows its [`Cmap`]. Inside callbacks, where the guard is out of reach,
/// use [`Cmap::track_delete`] with the event's [`TrackEvent::track`].
#[must_use = "dropping the guard deletes the registration at once"]
pub struct Track<'a> {
    cmap: &'a Cmap,
    id: TrackId,
}

impl Track<'_> {
    /// The registration's id.
    pub fn id(&self) -> TrackId {
        self.id
    }

    /// Keeps the registration without the guard: it lasts until
    /// [`Cmap::track_delete`] or the end of the connection.
    pub fn detach(self) -> TrackId {
        ManuallyDrop::new(self).id
    }

    /// Deletes the registration, returning the library's answer.
    pub fn delete(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        this.cmap.track_delete(this.id)
    }
}

impl Drop for Track<'_> {
    fn drop(&mut self) {
        let _ = self.cmap.track_delete(self.id);
    }
}

impl fmt::Debug for Track<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Track").field("id", &self.id).finish()
    }
}

impl Cmap {
    /// Tracks `key` (a key, or with [`TrackType::PREFIX`] a prefix):
    /// `f` runs from [`Cmap::dispatch`] on every change the flags select.
    /// The registration lasts as long as the returned guard. Flags without
    /// any of `ADD`, `DELETE` and `MODIFY` are [`Error::InvalidInput`]:
    /// corosync would take them and never call back.
    pub fn track_add(
        &self,
        key: impl AsRef<[u8]>,
        flags: TrackType,
        f: impl FnMut(&Cmap, &TrackEvent<'_>) + Send + 'static,
    ) -> Result<Track<'_>> {
        if !flags.intersects(TrackType::ADD | TrackType::DELETE | TrackType::MODIFY) {
            return Err(Error::InvalidInput {
                what: "cmap track flags",
                reason: "none of ADD, DELETE and MODIFY is set, so nothing would be reported",
            });
        }
        let key = key.as_ref();
        let key = if flags.contains(TrackType::PREFIX) {
            c_prefix(key)?
        } else {
            c_key(key)?
        };
        let id = TrackId(self.next_track.get());
        let entry = Box::new(TrackEntry {
            closure: std::cell::UnsafeCell::new(Box::new(f)),
            id,
            c_track: Cell::new(0),
            key,
            flags,
        });
        entry.c_track.set(register(self.conn.get(), &entry)?);
        self.next_track.set(id.0 + 1);
        self.tracks.borrow_mut().insert(id.0, entry);
        Ok(Track { cmap: self, id })
    }

    /// Deletes a registration by id (also from inside its own callback: no
    /// further events reach it). An id that is not a live registration of
    /// this handle is [`Error::UnknownTrack`]. When libcmap refuses the
    /// delete, the registration stays as it was (its closure still runs and
    /// a later delete may succeed).
    pub fn track_delete(&self, id: TrackId) -> Result<()> {
        let Some(entry) = self.tracks.borrow_mut().remove(&id.0) else {
            return Err(Error::UnknownTrack);
        };
        let rc = {
            let _hdb = hdb_lock::<CmapLib>();
            // SAFETY: live handle and registration.
            unsafe { sys::cmap_track_delete(self.raw(), entry.c_track.get()) }
        };
        if let Err(err) = check(rc) {
            // libcmap keeps the registration and its user_data: so do we.
            self.tracks.borrow_mut().insert(id.0, entry);
            return Err(err);
        }
        if self.cell.is_dispatching() {
            // Its closure may be running right now: free it after dispatch.
            self.graveyard.borrow_mut().push(entry);
        }
        Ok(())
    }

    /// Frees registrations deleted during a dispatch (run after each): their
    /// closures no longer run. (Not after a nested dispatch refused inside
    /// a callback: the outer one is still running them.)
    fn bury(&self) {
        if !self.cell.is_dispatching() {
            self.graveyard.borrow_mut().clear();
        }
    }
}

/// Registers `entry` with libcmap on `conn`; its C track handle.
fn register(conn: &Connection<CmapLib>, entry: &TrackEntry) -> Result<sys::cmap_track_handle_t> {
    let user_data = std::ptr::from_ref(entry).cast_mut().cast::<c_void>();
    let mut handle = 0;
    let hdb = hdb_lock::<CmapLib>();
    // SAFETY: live handle, NUL-terminated key; `user_data` points to the
    // boxed entry, which stays at that address until the registration is
    // deleted (or its connection finalized) and the dispatch that might be
    // using it has returned.
    let rc = unsafe {
        sys::cmap_track_add(
            conn.raw(),
            entry.key.as_ptr(),
            entry.flags.bits(),
            Some(notify_trampoline),
            user_data,
            &mut handle,
        )
    };
    drop(hdb);
    check(rc)?;
    Ok(handle)
}

impl Rides for Cmap {
    fn slot(&self) -> &Slot<CmapLib> {
        &self.conn
    }

    fn rider(&self) -> &Rider {
        &self.rider
    }

    /// Registers every live registration again on the new connection,
    /// with its key, flags and closure; each keeps its [`TrackId`].
    fn reopen(&self) -> Result<()> {
        let conn = super::open(self.map)?;
        let tracks = self.tracks.borrow();
        let mut handles = Vec::with_capacity(tracks.len());
        for entry in tracks.values() {
            // (On failure `conn` is finalized when dropped, and with it
            // the registrations made on it.)
            handles.push(register(&conn, entry)?);
        }
        // SAFETY: inside the dispatch guard (the callers), outside any
        // callback or C call on this handle: no reference to the old
        // connection is alive.
        drop(unsafe { self.conn.replace(conn) }?);
        for (entry, handle) in tracks.values().zip(handles) {
            entry.c_track.set(handle);
        }
        Ok(())
    }

    fn reconnect_fn(cb: &mut Option<ReconnectFn<Cmap>>) -> Option<&mut ReconnectFn<Cmap>> {
        cb.as_mut()
    }

    fn held(d: Disconnected) -> Held {
        Held::Reconnected(d)
    }
}

/// A borrowed value from a notification (none when corosync sends no value).
///
/// # Safety
///
/// `v.data` must point to `v.len` readable bytes for `'a` (or `len` be 0).
unsafe fn value_arg<'a>(v: &sys::cmap_notify_value) -> Option<ValueRef<'a>> {
    if v.len == 0 && v.type_ == 0 {
        return None;
    }
    Some(ValueRef {
        value_type: ValueType::from_raw(v.type_),
        // SAFETY: the caller promises `len` bytes at `data`.
        bytes: unsafe { crate::c_args::slice_arg(v.data.cast::<u8>(), v.len) },
    })
}

impl Registered for Cmap {
    const KIND: Kind = Kind::Cmap;
}

impl Dispatch for Cmap {
    type Lib = CmapLib;
    type Callbacks = Option<ReconnectFn<Cmap>>;
    type Held = Held;

    fn connection(&self) -> &Connection<CmapLib> {
        self.conn.get()
    }

    fn cell(&self) -> &CallbackCell<Option<ReconnectFn<Cmap>>, Held> {
        &self.cell
    }

    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        self.recover_from(rc)
    }

    fn deliver_held(&self, cb: &mut Option<ReconnectFn<Cmap>>, event: Held) {
        let event = match event {
            Held::Track(event) => event,
            Held::Reconnected(d) => return self.tell(cb, &d),
        };
        // A registration deleted since is not called (as libcmap would not).
        let Some(entry) = self
            .tracks
            .borrow()
            .get(&event.track.0)
            .map(|e| std::ptr::from_ref::<TrackEntry>(e))
        else {
            return;
        };
        fn value(v: &Option<(ValueType, Vec<u8>)>) -> Option<ValueRef<'_>> {
            v.as_ref().map(|(value_type, bytes)| ValueRef {
                value_type: *value_type,
                bytes,
            })
        }
        let ev = TrackEvent {
            track: event.track,
            kind: event.kind,
            key: &event.key,
            new_value: value(&event.new_value),
            old_value: value(&event.old_value),
        };
        // SAFETY: a live registration's entry (deleted ones wait in the
        // graveyard until the dispatch returns), called only from this
        // dispatch.
        unsafe { call_track(self, entry, &ev) };
    }

    fn after_dispatch(&self) {
        self.bury();
    }
}

/// Calls a registration's closure.
///
/// # Safety
///
/// `entry` is the entry of a registration of `cmap` that is live or was
/// deleted during the running dispatch, called from that dispatch on its
/// thread and not from inside another closure of `cmap`.
unsafe fn call_track(cmap: &Cmap, entry: *const TrackEntry, event: &TrackEvent<'_>) {
    // SAFETY: exclusive: only this dispatch, on this thread, calls it, and a
    // nested dispatch is refused; the entry stays at its address (see above).
    unsafe { (*(*entry).closure.get())(cmap, event) }
}

unsafe extern "C" fn notify_trampoline(
    handle: sys::cmap_handle_t,
    // (The registration's TrackId is in its entry.)
    _track: sys::cmap_track_handle_t,
    event: i32,
    key: *const c_char,
    new_value: sys::cmap_notify_value,
    old_value: sys::cmap_notify_value,
    user_data: *mut c_void,
) {
    // SAFETY: the reborrow is used only during this callback.
    let Some(cmap) = (unsafe { innermost::<Cmap>(handle) }) else {
        // libcmap only calls back from cmap_dispatch.
        return;
    };
    let entry = user_data.cast_const().cast::<TrackEntry>();
    if entry.is_null() {
        return;
    }
    // SAFETY: the boxed entry of one of the handle's registrations
    // (deleted ones are kept until the dispatch returns).
    let id = unsafe { (*entry).id };
    // SAFETY: libcmap passes a key from a 256-byte name buffer and values
    // of their stated lengths, valid for the call.
    let ev = unsafe {
        TrackEvent {
            track: id,
            kind: TrackEventKind::from_raw(event),
            key: name_arg(key, sys::CS_MAX_NAME_LENGTH as usize),
            new_value: value_arg(&new_value),
            old_value: value_arg(&old_value),
        }
    };
    let owned = |v: Option<ValueRef<'_>>| v.map(|v| (v.value_type, v.bytes.to_vec()));
    // SAFETY: inside the handle's dispatch, on its thread, not nested in
    // another of its callbacks; `user_data` is the boxed entry of one of its
    // registrations (deleted ones are kept until the dispatch returns).
    unsafe {
        cmap.cell.invoke(
            |_| call_track(cmap, entry, &ev),
            || {
                Some(Held::Track(HeldTrack {
                    track: ev.track,
                    kind: ev.kind,
                    key: ev.key.to_vec(),
                    new_value: owned(ev.new_value),
                    old_value: owned(ev.old_value),
                }))
            },
        )
    }
}
