//! The configuration and statistics map (libcmap): typed keys and values,
//! iteration by prefix, and change tracking.
//!
//! ```
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
//! let _track = cmap.track_add("example.", TrackType::ADD | TrackType::MODIFY | TrackType::PREFIX, |_cmap, ev| {
//!     println!("{:?} {}", ev.kind, String::from_utf8_lossy(ev.key));
//! })?;
//! // Every change under the prefix, this one too, runs the closure.
//! cmap.set_u32("example.answer", 42)?;
//! cmap.dispatch(DispatchMode::One)?;
//! # Ok::<(), corosync::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};

use corosync_sys as sys;

use crate::cell::CallbackCell;
use crate::error::check;
use crate::handle::Connection;
use crate::reconnect::{ReconnectFn, RideOptions, Rider, Slot};
use crate::{Disconnected, Error, Reconnect, Result};

mod iter;
mod track;
mod value;

pub use iter::{KeyEntry, KeyIter};
use track::{Held, TrackEntry};
pub use track::{Track, TrackEvent, TrackEventKind, TrackId, TrackType};
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
#[non_exhaustive]
pub enum Map {
    /// The configuration and runtime map (`CMAP_MAP_ICMAP`).
    #[default]
    Icmap,
    /// The statistics map (`CMAP_MAP_STATS`).
    Stats,
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
/// (see [Conventions](crate#conventions)).
pub struct Cmap {
    // (First: the connection is finalized before the closures are dropped.)
    conn: Slot<CmapLib>,
    /// The dispatch flag, the panic slot, held-back events and the
    /// reconnect closure; the tracking closures live in `tracks`.
    cell: CallbackCell<Option<ReconnectFn<Cmap>>, Held>,
    /// Live registrations by [`TrackId`].
    tracks: RefCell<HashMap<u64, Box<TrackEntry>>>,
    /// The next [`TrackId`].
    next_track: Cell<u64>,
    /// The map the connection reads, to connect again.
    map: sys::cmap_map_t,
    /// Whether and how it reconnects.
    rider: Rider,
    /// Registrations deleted while a dispatch runs (perhaps from inside their
    /// own callback): freed when the dispatch returns. Boxed so that the
    /// entries keep their addresses while a closure may still be running.
    #[allow(clippy::vec_box)]
    graveyard: RefCell<Vec<Box<TrackEntry>>>,
}

crate::handle::impl_handle!(Cmap;
    ///
    /// Tracking closures run from here, each with the [`TrackEvent`] of its
    /// registration.
);

/// Builds a [`Cmap`] connection.
#[derive(Default)]
#[must_use = "a builder does nothing until connect() is called"]
pub struct CmapBuilder {
    map: Map,
    ride: RideOptions<Cmap>,
}

impl CmapBuilder {
    /// The map to read ([`Map::Icmap`] unless set).
    pub fn map(mut self, map: Map) -> Self {
        self.map = map;
        self
    }

    /// Rides through a restart of the local daemon (see
    /// [Riding through a daemon restart](crate#riding-through-a-daemon-restart)):
    /// a dispatch that finds the daemon gone connects again as `policy`
    /// says, registers every live tracking registration again (same key or
    /// prefix, same flags, same closure; the [`TrackId`]s stay valid), and
    /// reports it to [`CmapBuilder::on_reconnect`] before it returns.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.ride.policy(policy);
        self
    }

    /// Called once per reconnection (see [`CmapBuilder::reconnect`]),
    /// before the events of the new connection: changes of the time
    /// between were not reported.
    pub fn on_reconnect(mut self, f: impl FnMut(&Cmap, &Disconnected) + Send + 'static) -> Self {
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
    pub fn connect(self) -> Result<Cmap> {
        let map = match self.map {
            Map::Icmap => sys::CMAP_MAP_ICMAP,
            Map::Stats => sys::CMAP_MAP_STATS,
        };
        let conn = Slot::new(open(map)?, self.ride.reconnects())?;
        let (rider, reconnect) = self.ride.into_parts();
        Ok(Cmap {
            conn,
            cell: CallbackCell::new(reconnect),
            tracks: RefCell::new(HashMap::new()),
            next_track: Cell::new(1),
            map,
            rider,
            graveyard: RefCell::new(Vec::new()),
        })
    }
}

/// Makes a libcmap connection to `map`.
fn open(map: sys::cmap_map_t) -> Result<Connection<CmapLib>> {
    Connection::<CmapLib>::open(|raw| {
        // SAFETY: valid out-pointer.
        unsafe {
            if map == sys::CMAP_MAP_ICMAP {
                sys::cmap_initialize(raw)
            } else {
                sys::cmap_initialize_map(raw, map)
            }
        }
    })
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
        Cmap::builder().map(map).connect()
    }

    /// A builder, to choose the map and how to ride through daemon
    /// restarts before connecting.
    pub fn builder() -> CmapBuilder {
        CmapBuilder::default()
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
