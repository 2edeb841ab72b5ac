//! corosync's own words for an error, as the C tools print them.

use std::borrow::Cow;
use std::ffi::CStr;

use corosync::Error;

/// The raw `cs_error_t` of `err`, as the C tools print it with `%d`; 0 for
/// a refusal the bindings made before calling corosync (no corosync code
/// stands for it, and 0 is none of corosync's codes).
pub fn code(err: &Error) -> u32 {
    err.code().unwrap_or(0)
}

/// The text libcorosync_common's `cs_strerror` gives for `err`, such as
/// `CS_ERR_NOT_EXIST`; for [`code`] 0 that is corosync's text for an
/// unknown code.
pub fn strerror(err: &Error) -> Cow<'static, str> {
    // SAFETY: cs_strerror takes any value and returns a pointer to one of
    // its static NUL-terminated strings (a fallback text for unknown
    // values), never null and never freed.
    let text: &'static CStr = unsafe { CStr::from_ptr(corosync::sys::cs_strerror(code(err))) };
    text.to_string_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_gives_corosyncs_names() {
        assert_eq!(strerror(&Error::NotExist), "CS_ERR_NOT_EXIST");
        assert_eq!(strerror(&Error::TryAgain), "CS_ERR_TRY_AGAIN");
        assert_eq!(code(&Error::NotExist), 12);
    }

    #[test]
    fn an_error_without_a_code_reads_as_an_unknown_one() {
        let own = Error::DispatchInProgress;
        assert_eq!(code(&own), 0);
        assert_eq!(strerror(&own), strerror(&Error::Unknown(0)));
        assert!(!strerror(&own).is_empty());
    }
}
