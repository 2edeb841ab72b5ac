//! Helpers for the arguments C callbacks pass: pointer-and-length pairs
//! and fixed-size name buffers, read as Rust slices without copying.

/// A slice a C callback passed as pointer and length, borrowed for the
/// callback's duration. A null pointer, a zero length or a misaligned
/// pointer gives an empty slice.
///
/// # Safety
///
/// Unless null or `len` is 0, `ptr` must point to `len` initialized values of
/// `T` that stay valid and unchanged for `'a`.
#[inline]
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    // A misaligned pointer cannot be a valid C array either; refuse it
    // rather than build an invalid slice.
    if ptr.is_null() || len == 0 || !ptr.is_aligned() {
        &[]
    } else {
        // SAFETY: the caller promises `len` valid values at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// The bytes before the first NUL of a C name buffer of `capacity` bytes
/// (all of them when there is no NUL); empty for a null pointer.
///
/// # Safety
///
/// Unless null, `ptr` must point to `capacity` readable bytes, valid and
/// unchanged for `'a`.
#[cfg(feature = "cmap")]
pub(crate) unsafe fn name_arg<'a>(ptr: *const std::ffi::c_char, capacity: usize) -> &'a [u8] {
    // SAFETY: the caller's promise.
    let bytes = unsafe { slice_arg(ptr.cast::<u8>(), capacity) };
    &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_empty_and_misaligned_pointers_give_empty_slices() {
        let values = [1u32, 2, 3];
        // SAFETY: three valid values.
        assert_eq!(unsafe { slice_arg(values.as_ptr(), 3) }, &[1, 2, 3]);
        // SAFETY: null.
        assert!(unsafe { slice_arg(std::ptr::null::<u32>(), 3) }.is_empty());
        // SAFETY: zero length.
        assert!(unsafe { slice_arg(values.as_ptr(), 0) }.is_empty());
        let misaligned = values.as_ptr().wrapping_byte_add(1);
        // SAFETY: refused before it is read.
        assert!(unsafe { slice_arg(misaligned, 1) }.is_empty());
    }

    #[test]
    #[cfg(feature = "cmap")]
    fn names_end_at_the_first_nul_or_the_buffer() {
        let buf = *b"totem.token\0junk";
        // SAFETY: a valid buffer of its length.
        let whole = unsafe { name_arg(buf.as_ptr().cast(), buf.len()) };
        assert_eq!(whole, b"totem.token");
        // SAFETY: as above.
        assert_eq!(unsafe { name_arg(buf.as_ptr().cast(), 5) }, b"totem");
        // SAFETY: null.
        assert!(unsafe { name_arg(std::ptr::null(), 5) }.is_empty());
    }
}
