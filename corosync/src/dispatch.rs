//! How a `dispatch` call processes pending callbacks.

use corosync_sys as sys;

/// The four dispatch modes of corosync (`cs_dispatch_flags_t`).
///
/// corosync signals pending events through the handle's file descriptor,
/// one wake-up per event: a program that polls the descriptor should use
/// [`DispatchMode::All`] so that nothing is left queued behind a consumed
/// wake-up, or each handle's `dispatch_some(n)`, which bounds the work of
/// one call and says whether more may be pending (it returned `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DispatchMode {
    /// `CS_DISPATCH_ONE`: wait for one event if none is pending, process it
    /// and return.
    One,
    /// `CS_DISPATCH_ALL`: process every pending event and return without
    /// waiting.
    All,
    /// `CS_DISPATCH_BLOCKING`: process events until the handle is finalized
    /// or the connection to the daemon is lost.
    Blocking,
    /// `CS_DISPATCH_ONE_NONBLOCKING`: process at most one pending event
    /// without waiting.
    OneNonblocking,
}

impl DispatchMode {
    /// The `cs_dispatch_flags_t` value.
    #[inline]
    pub fn as_raw(self) -> sys::cs_dispatch_flags_t {
        match self {
            DispatchMode::One => sys::CS_DISPATCH_ONE,
            DispatchMode::All => sys::CS_DISPATCH_ALL,
            DispatchMode::Blocking => sys::CS_DISPATCH_BLOCKING,
            DispatchMode::OneNonblocking => sys::CS_DISPATCH_ONE_NONBLOCKING,
        }
    }

    /// The mode for a `cs_dispatch_flags_t` value, if it is one of the four.
    pub fn from_raw(raw: sys::cs_dispatch_flags_t) -> Option<Self> {
        [Self::One, Self::All, Self::Blocking, Self::OneNonblocking]
            .into_iter()
            .find(|m| m.as_raw() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_match_corotypes() {
        assert_eq!(DispatchMode::One.as_raw(), 1);
        assert_eq!(DispatchMode::All.as_raw(), 2);
        assert_eq!(DispatchMode::Blocking.as_raw(), 3);
        assert_eq!(DispatchMode::OneNonblocking.as_raw(), 4);
        for raw in 1..=4 {
            assert_eq!(
                DispatchMode::from_raw(raw).map(DispatchMode::as_raw),
                Some(raw)
            );
        }
        assert_eq!(DispatchMode::from_raw(0), None);
        assert_eq!(DispatchMode::from_raw(5), None);
    }
}
