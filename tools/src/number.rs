//! Numbers read from text the way the C tools read them: options through
//! `util_strtonum` (`strtoll` in base 10, the whole text, then a range),
//! cmap values through `sscanf` (leading blanks, a sign, and whatever
//! follows the number ignored).

use std::ffi::{CStr, CString};

/// `util_strtonum` of corosync's tools: the whole of `text` read as a
/// base-10 integer as `strtoll` reads it (leading white space, an optional
/// sign), and accepted only within `min..=max`; `None` otherwise,
/// including on overflow.
pub fn strtonum(text: impl AsRef<[u8]>, min: i64, max: i64) -> Option<i64> {
    let text = text.as_ref();
    let start = text
        .iter()
        .position(|b| !b" \t\n\r\x0b\x0c".contains(b))
        .unwrap_or(text.len());
    let text = &text[start..];
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Any number of digits that fits an i64 fits an i128; more is ERANGE.
    let magnitude: i128 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let value = i64::try_from(if negative { -magnitude } else { magnitude }).ok()?;
    (min..=max).contains(&value).then_some(value)
}

/// `sscanf(text, "%lld")`: a signed 64-bit integer at the start of `text`.
pub fn scan_i64(text: impl AsRef<[u8]>) -> Option<i64> {
    // SAFETY: %lld stores a long long, which is i64 on every target.
    unsafe { scan::<libc::c_longlong>(text, c"%lld") }
}

/// `sscanf(text, "%llu")`: an unsigned 64-bit integer at the start of
/// `text` (as in C, "-1" reads as `u64::MAX`).
pub fn scan_u64(text: impl AsRef<[u8]>) -> Option<u64> {
    // SAFETY: %llu stores an unsigned long long, which is u64 everywhere.
    unsafe { scan::<libc::c_ulonglong>(text, c"%llu") }
}

/// `sscanf(text, "%f")`: a float at the start of `text` (decimal,
/// hexadecimal, `inf`, `nan`).
pub fn scan_f32(text: impl AsRef<[u8]>) -> Option<f32> {
    // SAFETY: %f stores a float, which is f32.
    unsafe { scan::<f32>(text, c"%f") }
}

/// `sscanf(text, "%lf")`: a double at the start of `text`.
pub fn scan_f64(text: impl AsRef<[u8]>) -> Option<f64> {
    // SAFETY: %lf stores a double, which is f64.
    unsafe { scan::<f64>(text, c"%lf") }
}

/// `sscanf(text, format, &value)`; `None` unless it converted one value.
///
/// # Safety
///
/// `format` has exactly one conversion, and it stores a C object whose type
/// is `T`.
unsafe fn scan<T: Copy + Default>(text: impl AsRef<[u8]>, format: &CStr) -> Option<T> {
    // C reads a string up to its first NUL.
    let text = text.as_ref();
    let text = text
        .iter()
        .position(|&b| b == 0)
        .map_or(text, |nul| &text[..nul]);
    let text = CString::new(text).ok()?;
    let mut value = T::default();
    // SAFETY: both strings are NUL-terminated; the caller guarantees that
    // the one conversion writes a T into `value`.
    let converted = unsafe {
        libc::sscanf(
            text.as_ptr(),
            format.as_ptr(),
            std::ptr::addr_of_mut!(value),
        )
    };
    (converted == 1).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtonum_takes_the_whole_text_within_the_range() {
        assert_eq!(strtonum("42", 1, 100), Some(42));
        assert_eq!(strtonum(" \t+7", 1, 100), Some(7));
        assert_eq!(strtonum("-1", -5, 5), Some(-1));
        assert_eq!(strtonum("0", 1, 100), None);
        assert_eq!(strtonum("101", 1, 100), None);
        assert_eq!(strtonum("12abc", 1, 100), None);
        assert_eq!(strtonum("7 ", 1, 100), None);
        assert_eq!(strtonum("", 1, 100), None);
        assert_eq!(strtonum("-", -5, 5), None);
        assert_eq!(strtonum("0x10", 0, 100), None);
        assert_eq!(
            strtonum("4294967295", 1, i64::from(u32::MAX)),
            Some(4_294_967_295)
        );
        assert_eq!(strtonum("4294967296", 1, i64::from(u32::MAX)), None);
        assert_eq!(strtonum("9223372036854775808", 0, i64::MAX), None);
        assert_eq!(
            strtonum("-9223372036854775808", i64::MIN, 0),
            Some(i64::MIN)
        );
        assert_eq!(strtonum("9".repeat(60), 0, i64::MAX), None);
    }

    #[test]
    fn scan_reads_a_leading_number_as_sscanf_does() {
        assert_eq!(scan_i64(" -300"), Some(-300));
        assert_eq!(scan_i64("12abc"), Some(12));
        assert_eq!(scan_i64("abc"), None);
        assert_eq!(scan_i64(""), None);
        assert_eq!(scan_u64("+65535"), Some(65535));
        assert_eq!(scan_u64("-1"), Some(u64::MAX));
        assert_eq!(scan_f32("1.5e3"), Some(1500.0));
        assert_eq!(scan_f64("0x1p-3"), Some(0.125));
        assert_eq!(scan_f64("-inf"), Some(f64::NEG_INFINITY));
        assert!(scan_f64("nan").is_some_and(f64::is_nan));
        assert_eq!(scan_f64("x"), None);
    }
}
