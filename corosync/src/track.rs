//! Track flags of the `*_trackstart` calls.

use corosync_sys as sys;

bitflags::bitflags! {
    /// What a tracking call reports (`CS_TRACK_*`).
    ///
    /// Bits these bindings do not name are kept as they are, so a flag from
    /// a newer corosync passes through untouched.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TrackFlags: u8 {
        /// `CS_TRACK_CURRENT`: report the current state once, at once.
        const CURRENT = sys::CS_TRACK_CURRENT as u8;
        /// `CS_TRACK_CHANGES`: report the full state on every change.
        const CHANGES = sys::CS_TRACK_CHANGES as u8;
        /// `CS_TRACK_CHANGES_ONLY`: report only what changed.
        const CHANGES_ONLY = sys::CS_TRACK_CHANGES_ONLY as u8;
        // Keep unknown bits.
        const _ = !0;
    }
}

impl TrackFlags {
    /// The value the C API takes.
    pub fn as_raw(self) -> u8 {
        self.bits()
    }

    /// Flags from a raw value, unknown bits included.
    pub fn from_raw(raw: u8) -> Self {
        Self::from_bits_retain(raw)
    }

    /// [`crate::Error::InvalidInput`] unless the flags ask for something to be
    /// reported: quorum, votequorum and cfg take flags without any of the
    /// three and then never call back.
    #[cfg(any(feature = "quorum", feature = "votequorum", feature = "cfg"))]
    pub(crate) fn check_reports(self) -> crate::Result<()> {
        if self.intersects(Self::CURRENT | Self::CHANGES | Self::CHANGES_ONLY) {
            Ok(())
        } else {
            Err(crate::Error::InvalidInput {
                what: "track flags",
                reason:
                    "none of CURRENT, CHANGES and CHANGES_ONLY is set, so nothing would be reported",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_corotypes_and_unknown_bits_survive() {
        assert_eq!(TrackFlags::CURRENT.as_raw(), 0x01);
        assert_eq!(TrackFlags::CHANGES.as_raw(), 0x02);
        assert_eq!(TrackFlags::CHANGES_ONLY.as_raw(), 0x04);
        let raw = 0x80 | 0x02;
        let flags = TrackFlags::from_raw(raw);
        assert!(flags.contains(TrackFlags::CHANGES));
        assert_eq!(flags.as_raw(), raw);
        assert_eq!((TrackFlags::CURRENT | TrackFlags::CHANGES).as_raw(), 3);
    }

    #[test]
    #[cfg(any(feature = "quorum", feature = "votequorum", feature = "cfg"))]
    fn flags_that_report_nothing_are_refused() {
        use crate::Error;
        for flags in [TrackFlags::empty(), TrackFlags::from_raw(0x80)] {
            assert!(
                matches!(flags.check_reports(), Err(Error::InvalidInput { .. })),
                "{flags:?}"
            );
        }
        for flags in [
            TrackFlags::CURRENT,
            TrackFlags::CHANGES,
            TrackFlags::CHANGES_ONLY,
            TrackFlags::from_raw(0x80 | 0x04),
        ] {
            assert_eq!(flags.check_reports(), Ok(()), "{flags:?}");
        }
    }
}
