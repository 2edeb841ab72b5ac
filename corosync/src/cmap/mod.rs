//! The configuration and statistics map (libcmap): typed keys and values,
//! iteration by prefix, and change tracking.
//!
//! ```no_run
//! use corosync::cmap::{Cmap, TrackType};
//! use corosync::DispatchMode;
//!
//! let cmap = Cmap::new()?;
//! let name = cmap.get_string("totem.cluster_name")?;
//! println!("cluster {}", String::from_utf8_lossy(&name));
//! for entry in cmap.iter("nodelist.node.")? {
//!     let entry = entry?;
//!     println!("{} ({})", String::from_utf8_lossy(&entry.key), entry.value_type);
//! }
//! let _track = cmap.track_add("totem.", TrackType::ADD | TrackType::MODIFY | TrackType::PREFIX, |_cmap, ev| {
//!     println!("{:?} {}", ev.kind, String::from_utf8_lossy(ev.key));
//! })?;
//! loop {
//!     cmap.dispatch(DispatchMode::One)?;
//! }
//! # Ok::<(), corosync::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::fmt;
use std::mem::ManuallyDrop;

use corosync_sys as sys;

use crate::c_args::name_arg;
use crate::cell::CallbackCell;
use crate::current::{innermost, Kind, Registered};
use crate::error::check;
use crate::handle::{hdb_lock, Connection, Dispatch};
use crate::{Error, Result};

mod value;

pub use value::{Value, ValueRef, ValueType};

/// The longest key name (`CMAP_KEYNAME_MAXLEN`).
pub const MAX_KEY_LEN: usize = sys::CMAP_KEYNAME_MAXLEN as usize;

/// The largest value corosync stores, in bytes: a binary value, or a
/// string without its NUL (which, as with `cmap_set_string`, is not sent:
/// corosync adds it). This is the daemon's `ICMAP_MAX_VALUE_LEN`, not in
/// the public headers; larger values are refused with
/// [`Error::MessageTooLarge`] before they are sent (corosync would answer a
/// bare `CS_ERR_INVALID_PARAM`).
pub const MAX_VALUE_LEN: usize = 16 * 1024;

/// The shortest key name corosync stores (`CMAP_KEYNAME_MINLEN`).
pub const MIN_KEY_LEN: usize = sys::CMAP_KEYNAME_MINLEN as usize;

/// Which map a [`Cmap`] connection reads (`cmap_map_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Map {
    /// The configuration and runtime map (`CMAP_MAP_ICMAP`).
    #[default]
    Icmap,
    /// The statistics map (`CMAP_MAP_STATS`).
    Stats,
}

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

/// Identifies a tracking registration of one [`Cmap`] handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrackId(sys::cmap_track_handle_t);

/// A change of a tracked key, borrowed for the callback's duration.
#[derive(Debug, Clone, Copy)]
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

/// One key of an iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key.
    pub key: Vec<u8>,
    /// Its type.
    pub value_type: ValueType,
    /// The length of its value in bytes (strings with their NUL).
    pub value_len: usize,
}

impl KeyEntry {
    /// The key as text (corosync keys are ASCII).
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }

    /// Reads the entry's current value from `cmap` (the value on request:
    /// iteration itself reports only names, types and lengths).
    pub fn value(&self, cmap: &Cmap) -> Result<Value> {
        cmap.get(&self.key)
    }
}

type TrackFn = Box<dyn FnMut(&Cmap, &TrackEvent<'_>) + Send>;

/// A registration's closure, at a stable address that is the C `user_data`.
struct TrackEntry {
    closure: std::cell::UnsafeCell<TrackFn>,
}

/// A tracking event copied after a closure panicked, for the next dispatch.
pub(crate) struct Held {
    track: TrackId,
    kind: TrackEventKind,
    key: Vec<u8>,
    new_value: Option<(ValueType, Vec<u8>)>,
    old_value: Option<(ValueType, Vec<u8>)>,
}

crate::handle::library!(
    /// libcmap.
    CmapLib, "Cmap", sys::cmap_fd_get, sys::cmap_dispatch, sys::cmap_finalize
);

/// A connection to the CMAP service. Finalized on drop.
///
/// `Send` but not `Sync`: libcmap does not serialize concurrent requests on
/// one connection. `dispatch`, `dispatch_some`, `dispatch_timeout`,
/// `finalize` and the descriptor (`AsFd`) are the same for every service
/// ([`crate::handle`]).
pub struct Cmap {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Connection<CmapLib>,
    /// The dispatch flag, the panic slot and held-back events; the closures
    /// live in `tracks`.
    cell: CallbackCell<(), Held>,
    /// Live registrations by C track handle.
    tracks: RefCell<HashMap<sys::cmap_track_handle_t, Box<TrackEntry>>>,
    /// Registrations deleted while a dispatch runs (perhaps from inside their
    /// own callback): freed when the dispatch returns. Boxed so that the
    /// entries keep their addresses while a closure may still be running.
    #[allow(clippy::vec_box)]
    graveyard: RefCell<Vec<Box<TrackEntry>>>,
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

/// A key name as C wants it: 1 to 255 bytes, no NUL.
fn c_key(key: &[u8]) -> Result<CString> {
    if key.is_empty() {
        return Err(Error::InvalidInput {
            what: "cmap key",
            reason: "it is empty",
        });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::TooLong {
            what: "cmap key",
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    CString::new(key).map_err(|e| Error::InteriorNul {
        what: "cmap key",
        position: e.nul_position(),
    })
}

/// A key name corosync will store: [`MIN_KEY_LEN`] to [`MAX_KEY_LEN`]
/// characters from `a-z A-Z 0-9 . _ - / :`.
fn c_storable_key(key: &[u8]) -> Result<CString> {
    let c = c_key(key)?;
    if key.len() < MIN_KEY_LEN {
        return Err(Error::InvalidInput {
            what: "cmap key",
            reason: "it is shorter than 3 characters",
        });
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b".-_/:".contains(&b);
    if !key.iter().all(|&b| valid(b)) {
        return Err(Error::InvalidInput {
            what: "cmap key",
            reason: "it has characters other than a-z A-Z 0-9 . _ - / :",
        });
    }
    Ok(c)
}

/// A prefix for iteration or prefix tracking: up to 255 bytes, no NUL
/// (empty means every key).
fn c_prefix(prefix: &[u8]) -> Result<CString> {
    if prefix.len() > MAX_KEY_LEN {
        return Err(Error::TooLong {
            what: "cmap prefix",
            len: prefix.len(),
            max: MAX_KEY_LEN,
        });
    }
    CString::new(prefix).map_err(|e| Error::InteriorNul {
        what: "cmap prefix",
        position: e.nul_position(),
    })
}

impl Cmap {
    /// Connects to the configuration map.
    pub fn new() -> Result<Cmap> {
        Cmap::with_map(Map::Icmap)
    }

    /// Connects to `map` (`cmap_initialize_map`).
    pub fn with_map(map: Map) -> Result<Cmap> {
        let map = match map {
            Map::Icmap => sys::CMAP_MAP_ICMAP,
            Map::Stats => sys::CMAP_MAP_STATS,
        };
        let conn = Connection::<CmapLib>::open(|raw| {
            // SAFETY: valid out-pointer.
            unsafe {
                if map == sys::CMAP_MAP_ICMAP {
                    sys::cmap_initialize(raw)
                } else {
                    sys::cmap_initialize_map(raw, map)
                }
            }
        })?;
        Ok(Cmap {
            conn,
            cell: CallbackCell::new(()),
            tracks: RefCell::new(HashMap::new()),
            graveyard: RefCell::new(Vec::new()),
        })
    }

    fn raw(&self) -> sys::cmap_handle_t {
        self.conn.raw()
    }

    /// The handle the C library uses, for calls the safe API does not cover.
    /// (`cmap_track_add`/`cmap_track_delete` called on it directly skip the
    /// serialization described in the crate docs.)
    pub fn as_raw(&self) -> sys::cmap_handle_t {
        self.raw()
    }

    /// The type and length of `key`'s value (`cmap_get` without a buffer).
    /// A missing key is [`Error::NotExist`].
    pub fn value_info(&self, key: impl AsRef<[u8]>) -> Result<(ValueType, usize)> {
        let key = key.as_ref();
        let key = c_key(key)?;
        let mut len = 0;
        let mut kind = 0;
        // SAFETY: live handle; with a null value only the length and type
        // are written.
        check(unsafe {
            sys::cmap_get(
                self.raw(),
                key.as_ptr(),
                std::ptr::null_mut(),
                &mut len,
                &mut kind,
            )
        })?;
        Ok((ValueType::from_raw(kind), len))
    }

    /// The value of `key`, whole, whatever its length: the size is asked
    /// first, and asked again if the value grew in between
    /// ([`Error::ValueChanging`] when it keeps growing).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Value> {
        let key = key.as_ref();
        let c = c_key(key)?;
        for _ in 0..8 {
            let (kind, len) = self.value_info(key)?;
            let mut buf = vec![0u8; len.max(1)];
            let mut got_len = len;
            let mut got_kind = 0;
            // SAFETY: live handle; `buf` has room for `got_len` bytes.
            let rc = unsafe {
                sys::cmap_get(
                    self.raw(),
                    c.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    &mut got_len,
                    &mut got_kind,
                )
            };
            if rc == sys::CS_ERR_INVALID_PARAM {
                // The value outgrew the buffer between the two calls: again.
                if self
                    .value_info(key)
                    .is_ok_and(|(k, l)| l > len || k != kind)
                {
                    continue;
                }
            }
            check(rc)?;
            buf.truncate(got_len.min(len));
            return Value::from_wire(ValueType::from_raw(got_kind), &buf);
        }
        Err(Error::ValueChanging)
    }

    /// Sets `key` to `value` (`cmap_set`, or `cmap_set_string` for a
    /// string), creating it if needed.
    pub fn set(&self, key: impl AsRef<[u8]>, value: &Value) -> Result<()> {
        let key = key.as_ref();
        if let Value::String(s) = value {
            return self.set_string(key, s);
        }
        let key = c_storable_key(key)?;
        let bytes = value.to_wire()?;
        if bytes.len() > MAX_VALUE_LEN {
            return Err(Error::MessageTooLarge {
                len: bytes.len(),
                max: MAX_VALUE_LEN,
            });
        }
        // SAFETY: live handle; `bytes` holds the value in the layout corosync
        // stores for its type.
        check(unsafe {
            sys::cmap_set(
                self.raw(),
                key.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len(),
                value.value_type().as_raw(),
            )
        })
    }

    /// Deletes `key`.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let key = c_key(key)?;
        // SAFETY: live handle, NUL-terminated key.
        check(unsafe { sys::cmap_delete(self.raw(), key.as_ptr()) })
    }

    /// Adds 1 to an integer key (wrapping around as its C type does).
    pub fn inc(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let key = c_key(key)?;
        // SAFETY: live handle, NUL-terminated key.
        check(unsafe { sys::cmap_inc(self.raw(), key.as_ptr()) })
    }

    /// Subtracts 1 from an integer key (wrapping around as its C type does).
    pub fn dec(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let key = c_key(key)?;
        // SAFETY: live handle, NUL-terminated key.
        check(unsafe { sys::cmap_dec(self.raw(), key.as_ptr()) })
    }

    /// The string value of `key` (`cmap_get_string`), as bytes without the
    /// NUL. Another type is [`Error::WrongType`].
    pub fn get_string(&self, key: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let key = key.as_ref();
        let c = c_key(key)?;
        let mut out: *mut c_char = std::ptr::null_mut();
        // SAFETY: live handle; on success libcmap stores a malloc'd,
        // NUL-terminated string in `out`.
        let rc = unsafe { sys::cmap_get_string(self.raw(), c.as_ptr(), &mut out) };
        if rc == sys::CS_ERR_INVALID_PARAM {
            self.explain_type(key, ValueType::String)?;
        }
        check(rc)?;
        // SAFETY: `out` is the malloc'd string; copied, then freed once.
        let s = unsafe {
            let s = CStr::from_ptr(out).to_bytes().to_vec();
            libc::free(out.cast());
            s
        };
        Ok(s)
    }

    /// Sets a string value (`cmap_set_string`); a NUL byte inside is
    /// [`Error::InteriorNul`].
    pub fn set_string(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        let key = c_storable_key(key)?;
        let value = CString::new(value.as_ref()).map_err(|e| Error::InteriorNul {
            what: "cmap string value",
            position: e.nul_position(),
        })?;
        let len = value.as_bytes().len();
        if len > MAX_VALUE_LEN {
            return Err(Error::MessageTooLarge {
                len,
                max: MAX_VALUE_LEN,
            });
        }
        // SAFETY: live handle, NUL-terminated key and value.
        check(unsafe { sys::cmap_set_string(self.raw(), key.as_ptr(), value.as_ptr()) })
    }

    /// Sets a binary value.
    pub fn set_binary(&self, key: impl AsRef<[u8]>, value: &[u8]) -> Result<()> {
        let key = key.as_ref();
        self.set(key, &Value::Binary(value.to_vec()))
    }

    /// After a typed getter answered `CS_ERR_INVALID_PARAM`: if the key
    /// holds another type, that is the error.
    fn explain_type(&self, key: &[u8], wanted: ValueType) -> Result<()> {
        match self.value_info(key) {
            Ok((found, _)) if found != wanted => Err(Error::WrongType {
                expected: wanted.name(),
                found: found.name(),
            }),
            _ => Ok(()),
        }
    }

    /// Frees registrations deleted during a dispatch (run after each): their
    /// closures no longer run. (Not after a nested dispatch refused inside
    /// a callback: the outer one is still running them.)
    fn bury(&self) {
        if !self.cell.is_dispatching() {
            self.graveyard.borrow_mut().clear();
        }
    }

    /// Iterates over the keys that start with `prefix` ("" for all).
    pub fn iter(&self, prefix: impl AsRef<[u8]>) -> Result<KeyIter<'_>> {
        let prefix = c_prefix(prefix.as_ref())?;
        let mut raw = 0;
        // SAFETY: live handle, NUL-terminated prefix shorter than corosync's
        // limit, valid out-pointer.
        check(unsafe { sys::cmap_iter_init(self.raw(), prefix.as_ptr(), &mut raw) })?;
        Ok(KeyIter {
            cmap: self,
            raw,
            done: false,
        })
    }

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
        let entry = Box::new(TrackEntry {
            closure: std::cell::UnsafeCell::new(Box::new(f)),
        });
        let user_data = std::ptr::addr_of!(*entry).cast_mut().cast::<c_void>();
        let mut handle = 0;
        let hdb = hdb_lock::<CmapLib>();
        // SAFETY: live handle, NUL-terminated key; `user_data` points to the
        // boxed entry, which stays at that address until the registration
        // is deleted and the dispatch that might be using it has returned.
        let rc = unsafe {
            sys::cmap_track_add(
                self.raw(),
                key.as_ptr(),
                flags.bits(),
                Some(notify_trampoline),
                user_data,
                &mut handle,
            )
        };
        drop(hdb);
        check(rc)?;
        self.tracks.borrow_mut().insert(handle, entry);
        Ok(Track {
            cmap: self,
            id: TrackId(handle),
        })
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
            unsafe { sys::cmap_track_delete(self.raw(), id.0) }
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
}

macro_rules! typed_accessors {
    ($($get:ident $set:ident $cget:ident $cset:ident $t:ty => $vt:ident),* $(,)?) => {
        impl Cmap {
            $(
                #[doc = concat!("The `", stringify!($t), "` value of `key` (`", stringify!($cget), "`). Another type is [`Error::WrongType`].")]
                pub fn $get(&self, key: impl AsRef<[u8]>) -> Result<$t> {
                    let key = key.as_ref();
                    let c = c_key(key)?;
                    let mut v = <$t>::default();
                    // SAFETY: live handle, NUL-terminated key, valid out-pointer.
                    let rc = unsafe { sys::$cget(self.raw(), c.as_ptr(), &mut v) };
                    if rc == sys::CS_ERR_INVALID_PARAM {
                        self.explain_type(key, ValueType::$vt)?;
                    }
                    check(rc)?;
                    Ok(v)
                }

                #[doc = concat!("Sets a `", stringify!($t), "` value (`", stringify!($cset), "`).")]
                pub fn $set(&self, key: impl AsRef<[u8]>, value: $t) -> Result<()> {
                    let c = c_storable_key(key.as_ref())?;
                    // SAFETY: live handle, NUL-terminated key.
                    check(unsafe { sys::$cset(self.raw(), c.as_ptr(), value) })
                }
            )*
        }
    };
}

typed_accessors!(
    get_i8 set_i8 cmap_get_int8 cmap_set_int8 i8 => I8,
    get_u8 set_u8 cmap_get_uint8 cmap_set_uint8 u8 => U8,
    get_i16 set_i16 cmap_get_int16 cmap_set_int16 i16 => I16,
    get_u16 set_u16 cmap_get_uint16 cmap_set_uint16 u16 => U16,
    get_i32 set_i32 cmap_get_int32 cmap_set_int32 i32 => I32,
    get_u32 set_u32 cmap_get_uint32 cmap_set_uint32 u32 => U32,
    get_i64 set_i64 cmap_get_int64 cmap_set_int64 i64 => I64,
    get_u64 set_u64 cmap_get_uint64 cmap_set_uint64 u64 => U64,
    get_f32 set_f32 cmap_get_float cmap_set_float f32 => Float,
    get_f64 set_f64 cmap_get_double cmap_set_double f64 => Double,
);

/// An iteration over keys; finalized on drop (also when dropped early). It
/// borrows its [`Cmap`]. Yields `Err` once if the daemon fails, then ends.
pub struct KeyIter<'a> {
    cmap: &'a Cmap,
    raw: sys::cmap_iter_handle_t,
    done: bool,
}

impl KeyIter<'_> {
    /// Finalizes the iteration, returning the library's answer.
    pub fn finalize(self) -> Result<()> {
        let this = ManuallyDrop::new(self);
        // SAFETY: live handles; finalized once (Drop does not run).
        check(unsafe { sys::cmap_iter_finalize(this.cmap.raw(), this.raw) })
    }
}

impl Iterator for KeyIter<'_> {
    type Item = Result<KeyEntry>;

    fn next(&mut self) -> Option<Result<KeyEntry>> {
        if self.done {
            return None;
        }
        // libcmap writes the key and a NUL after its length, which can be
        // up to 256 (corosync's name buffer): room for both.
        let mut key = [0 as c_char; sys::CS_MAX_NAME_LENGTH as usize + 2];
        let mut len = 0;
        let mut kind = 0;
        // SAFETY: live handles; `key` has room for any key libcmap writes.
        let rc = unsafe {
            sys::cmap_iter_next(
                self.cmap.raw(),
                self.raw,
                key.as_mut_ptr(),
                &mut len,
                &mut kind,
            )
        };
        match rc {
            sys::CS_OK => {
                // SAFETY: libcmap NUL-terminated the key within the buffer.
                let key = unsafe { CStr::from_ptr(key.as_ptr()) }.to_bytes().to_vec();
                Some(Ok(KeyEntry {
                    key,
                    value_type: ValueType::from_raw(kind),
                    value_len: len,
                }))
            }
            sys::CS_ERR_NO_SECTIONS => {
                self.done = true;
                None
            }
            err => {
                self.done = true;
                Some(Err(Error::from_code(err)))
            }
        }
    }
}

impl std::iter::FusedIterator for KeyIter<'_> {}

impl Drop for KeyIter<'_> {
    fn drop(&mut self) {
        // SAFETY: live handles, finalized once.
        unsafe { sys::cmap_iter_finalize(self.cmap.raw(), self.raw) };
    }
}

impl fmt::Debug for KeyIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyIter")
            .field("handle", &self.raw)
            .finish_non_exhaustive()
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
    type Callbacks = ();
    type Held = Held;

    fn connection(&self) -> &Connection<CmapLib> {
        &self.conn
    }

    fn cell(&self) -> &CallbackCell<(), Held> {
        &self.cell
    }

    fn deliver_held(&self, _: &mut (), event: Held) {
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

crate::handle::impl_handle!(Cmap;
    ///
    /// Tracking closures run from here, each with the [`TrackEvent`] of its
    /// registration.
);

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
    track: sys::cmap_track_handle_t,
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
    // SAFETY: libcmap passes a key from a 256-byte name buffer and values
    // of their stated lengths, valid for the call.
    let ev = unsafe {
        TrackEvent {
            track: TrackId(track),
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
            |()| call_track(cmap, entry, &ev),
            || Held {
                track: ev.track,
                kind: ev.kind,
                key: ev.key.to_vec(),
                new_value: owned(ev.new_value),
                old_value: owned(ev.old_value),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_before_they_reach_corosync() {
        assert!(c_key(b"a").is_ok());
        assert!(matches!(c_key(b""), Err(Error::InvalidInput { .. })));
        assert_eq!(
            c_key("k".repeat(256).as_bytes()).unwrap_err(),
            Error::TooLong {
                what: "cmap key",
                len: 256,
                max: 255
            }
        );
        assert!(c_key("k".repeat(255).as_bytes()).is_ok());
        assert_eq!(
            c_key(b"a\0b").unwrap_err(),
            Error::InteriorNul {
                what: "cmap key",
                position: 1
            }
        );
        assert!(c_storable_key(b"totem.token").is_ok());
        assert!(c_storable_key(b"a/b:c-d_e.f9").is_ok());
        assert!(matches!(
            c_storable_key(b"ab"),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            c_storable_key(b"with space"),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            c_storable_key("ümlaut".as_bytes()),
            Err(Error::InvalidInput { .. })
        ));
        assert!(c_prefix(b"").is_ok());
    }

    #[test]
    fn track_kinds_and_flags() {
        assert_eq!(TrackEventKind::from_raw(4), TrackEventKind::Add);
        assert_eq!(TrackEventKind::from_raw(1), TrackEventKind::Delete);
        assert_eq!(TrackEventKind::from_raw(2), TrackEventKind::Modify);
        assert_eq!(TrackEventKind::from_raw(64), TrackEventKind::Unknown(64));
        assert_eq!((TrackType::ADD | TrackType::PREFIX).bits(), 12);
    }

    #[test]
    fn cmap_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Cmap>();
    }
}
