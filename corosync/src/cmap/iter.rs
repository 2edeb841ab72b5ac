//! Iteration over the keys of a map.

use std::ffi::{c_char, CStr};
use std::fmt;
use std::mem::ManuallyDrop;

use corosync_sys as sys;

use super::{c_prefix, Cmap, Value, ValueType};
use crate::error::check;
use crate::{Error, Result};

/// One key of an iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl Cmap {
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
}

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
