//! The C tools' retry: while corosync answers `CS_ERR_TRY_AGAIN`, they
//! sleep one second and call again, a fixed number of times.

use std::time::Duration;

use corosync::Retry;

/// A [`Retry`] that makes up to `attempts` calls one second apart while
/// corosync says "try again", as corosync-cmapctl (31 calls) and
/// corosync-cfgtool's shutdown (30 calls) do.
pub fn once_a_second(attempts: u32) -> Retry {
    let second = Duration::from_secs(1);
    Retry::new(attempts).delays(second, second)
}
