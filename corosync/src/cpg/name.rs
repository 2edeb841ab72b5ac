//! CPG group names: up to 128 raw bytes.

use std::fmt;
use std::hash::{Hash, Hasher};

use corosync_sys as sys;

use crate::{Error, Result};

/// The longest group name, in bytes (`CPG_MAX_NAME_LENGTH`).
pub const MAX_NAME_LEN: usize = sys::CPG_MAX_NAME_LENGTH as usize;

/// A CPG group name: 0 to 128 raw bytes.
///
/// Names are compared byte for byte over their length, as corosync does: a
/// name that ends in a NUL byte is a different group from the same name
/// without it. C programs that name groups with `strlen(name) + 1` (pacemaker
/// among them) include that NUL; [`GroupName::with_nul`] builds such a name.
///
/// It has the layout of `struct cpg_name`, so names in callbacks are lent
/// out without copying.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct GroupName(sys::cpg_name);

impl GroupName {
    /// A name of exactly these bytes. More than [`MAX_NAME_LEN`] bytes is
    /// [`Error::TooLong`]; nothing is truncated.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<GroupName> {
        let bytes = bytes.as_ref();
        if bytes.len() > MAX_NAME_LEN {
            return Err(Error::TooLong {
                what: "CPG group name",
                len: bytes.len(),
                max: MAX_NAME_LEN,
            });
        }
        let mut raw = sys::cpg_name {
            length: bytes.len() as u32,
            value: [0; MAX_NAME_LEN],
        };
        for (dst, &src) in raw.value.iter_mut().zip(bytes) {
            *dst = src as std::ffi::c_char;
        }
        Ok(GroupName(raw))
    }

    /// The bytes followed by one NUL byte, as C programs that use
    /// `strlen(name) + 1` name their groups. `bytes` may hold at most 127
    /// bytes.
    pub fn with_nul(bytes: impl AsRef<[u8]>) -> Result<GroupName> {
        let bytes = bytes.as_ref();
        if bytes.len() >= MAX_NAME_LEN {
            return Err(Error::TooLong {
                what: "CPG group name with its NUL",
                len: bytes.len() + 1,
                max: MAX_NAME_LEN,
            });
        }
        let mut name = GroupName::new(bytes)?;
        name.0.length += 1; // value[len] is already 0
        Ok(name)
    }

    /// The name's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        let len = (self.0.length as usize).min(MAX_NAME_LEN);
        // SAFETY: c_char and u8 have the same size and alignment; `len` is
        // within the array.
        unsafe { std::slice::from_raw_parts(self.0.value.as_ptr().cast::<u8>(), len) }
    }

    /// The name's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the name is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The name as UTF-8, if it is (a trailing NUL included).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The C struct.
    pub fn as_raw(&self) -> &sys::cpg_name {
        &self.0
    }

    /// A name from the C struct, refusing a length over 128.
    pub fn from_raw(raw: sys::cpg_name) -> Result<GroupName> {
        if raw.length as usize > MAX_NAME_LEN {
            return Err(Error::TooLong {
                what: "CPG group name",
                len: raw.length as usize,
                max: MAX_NAME_LEN,
            });
        }
        Ok(GroupName(raw))
    }

    /// Views a name the C library lent to a callback.
    ///
    /// # Safety
    ///
    /// `raw` must point to a valid `cpg_name` for `'a`. A name whose
    /// length is over 128 is not a group name: `None`.
    #[inline]
    pub(crate) unsafe fn from_ptr<'a>(raw: *const sys::cpg_name) -> Option<&'a GroupName> {
        // SAFETY: GroupName is repr(transparent) over cpg_name; the caller
        // promises validity.
        let name = unsafe { &*raw.cast::<GroupName>() };
        (name.0.length as usize <= MAX_NAME_LEN).then_some(name)
    }
}

impl PartialEq for GroupName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for GroupName {}

impl Hash for GroupName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for GroupName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GroupName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupName(\"{}\")", self.as_bytes().escape_ascii())
    }
}

impl fmt::Display for GroupName {
    /// The name with unprintable bytes escaped (`\x00`, `\n`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

impl TryFrom<&str> for GroupName {
    type Error = Error;

    fn try_from(s: &str) -> Result<GroupName> {
        GroupName::new(s)
    }
}

impl TryFrom<&[u8]> for GroupName {
    type Error = Error;

    fn try_from(b: &[u8]) -> Result<GroupName> {
        GroupName::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_128_bytes_exactly_and_no_truncation() {
        let max = vec![b'x'; 128];
        assert_eq!(GroupName::new(&max).unwrap().as_bytes(), &max[..]);
        let err = GroupName::new(vec![b'x'; 129]).unwrap_err();
        assert_eq!(
            err,
            Error::TooLong {
                what: "CPG group name",
                len: 129,
                max: 128
            }
        );
        assert!(GroupName::new(b"").unwrap().is_empty());
    }

    #[test]
    fn a_trailing_nul_makes_a_different_name() {
        let plain = GroupName::new("pacemakerd").unwrap();
        let c_style = GroupName::with_nul("pacemakerd").unwrap();
        assert_ne!(plain, c_style);
        assert_eq!(c_style.as_bytes(), b"pacemakerd\0");
        assert_eq!(c_style, GroupName::new(b"pacemakerd\0").unwrap());
        assert_eq!(c_style.as_raw().length, 11);
        assert!(GroupName::with_nul(vec![b'a'; 127]).is_ok());
        assert!(matches!(
            GroupName::with_nul(vec![b'a'; 128]),
            Err(Error::TooLong { len: 129, .. })
        ));
    }

    #[test]
    fn raw_bytes_and_display() {
        let name = GroupName::new(b"a\x01\xff\0b").unwrap();
        assert_eq!(name.len(), 5);
        assert_eq!(name.to_string(), "a\\x01\\xff\\x00b");
        assert_eq!(name.to_str(), None);
        assert_eq!(GroupName::try_from("grp").unwrap().to_str(), Some("grp"));
    }

    #[test]
    fn from_raw_and_views_check_the_length() {
        let mut raw = *GroupName::new("abc").unwrap().as_raw();
        assert_eq!(GroupName::from_raw(raw).unwrap().as_bytes(), b"abc");
        // SAFETY: `raw` is a valid cpg_name.
        let view = unsafe { GroupName::from_ptr(&raw) };
        assert_eq!(view.map(GroupName::as_bytes), Some(&b"abc"[..]));
        raw.length = 500;
        assert!(GroupName::from_raw(raw).is_err());
        // SAFETY: as above; the bad length is refused, not read.
        assert!(unsafe { GroupName::from_ptr(&raw) }.is_none());
    }
}
