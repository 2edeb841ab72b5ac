//! A bound on how many clusters run at once on this machine.
//!
//! Tests run in parallel (threads of one test binary, or processes under a
//! runner such as nextest). On a 2-core machine, too many corosync daemons
//! at once starve each other into token timeouts. A cluster takes one of
//! `COROSYNC_HARNESS_SLOTS` slots (default 3) for its whole life; a slot is
//! an exclusive `flock` on a file, so the bound holds across processes and
//! is released even if the process dies.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::HarnessError;

const DEFAULT_SLOTS: usize = 3;

/// A held slot; released on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    _file: File,
}

fn slot_count() -> usize {
    std::env::var("COROSYNC_HARNESS_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_SLOTS)
}

fn slot_path(i: usize) -> PathBuf {
    std::env::temp_dir().join(format!("corosync-rs-harness-slot-{i}.lock"))
}

impl Slot {
    /// Waits for a free slot.
    pub(crate) fn acquire() -> Result<Slot, HarnessError> {
        let count = slot_count();
        loop {
            for i in 0..count {
                let path = slot_path(i);
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| HarnessError::new(format!("open {}: {e}", path.display())))?;
                // SAFETY: flock on a descriptor we own.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                    return Ok(Slot { _file: file });
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
