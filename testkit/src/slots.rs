//! A bound on how many clusters run at once on this machine.
//!
//! Tests run in parallel (threads of one test binary, or processes under a
//! runner such as nextest). On a 2-core machine, too many corosync daemons
//! at once starve each other into token timeouts. A cluster takes one of
//! `COROSYNC_HARNESS_SLOTS` slots (default 3) for its whole life; a slot is
//! an exclusive `flock` on a file, so the bound holds across processes and
//! is released even if the process dies. The slot files
//! (`$TMPDIR/corosync-rs-harness-slot-<i>.lock`) are shared by every user
//! of the kit on the machine, whatever their owner mark, on purpose: the
//! bound is on the machine's load. A holder writes its cluster's name
//! (owner mark and pid included) into the file it holds, for the messages
//! that name the holders; the files are never deleted.
//!
//! Waiting for a slot has a deadline, [`SLOT_WAIT`]: past it the cluster
//! fails to start with an error naming the slot files and the processes
//! that hold them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;

const DEFAULT_SLOTS: usize = 3;

/// How long a cluster waits for a free slot. Generous: the other test
/// binaries of the same `cargo test` run, and other checkouts' runs on the
/// same machine, hold slots for minutes; only a holder that never lets go
/// makes a wait this long.
pub(crate) const SLOT_WAIT: Duration = Duration::from_secs(20 * 60);

/// After this long a waiting cluster says once on stderr what it waits for.
const SAY_AFTER: Duration = Duration::from_secs(60);

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

impl Slot {
    /// Waits up to [`SLOT_WAIT`] for a free slot, for the cluster named
    /// `holder`.
    pub(crate) fn acquire(holder: &str) -> Result<Slot, Error> {
        Slot::acquire_in(&std::env::temp_dir(), slot_count(), SLOT_WAIT, holder)
    }

    /// Waits up to `limit` for one of the `count` slot files in `dir`, and
    /// writes `holder` into the one it gets.
    fn acquire_in(dir: &Path, count: usize, limit: Duration, holder: &str) -> Result<Slot, Error> {
        let paths: Vec<PathBuf> = (0..count)
            .map(|i| dir.join(format!("corosync-rs-harness-slot-{i}.lock")))
            .collect();
        let start = Instant::now();
        let mut said = false;
        loop {
            for path in &paths {
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::new(format!("open {}: {e}", path.display())))?;
                // SAFETY: flock on a descriptor we own.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                    // The label is for messages only: a slot held without
                    // it is still held.
                    let labelled = file.set_len(0).and_then(|()| {
                        let mut writer = &file;
                        writeln!(writer, "{holder}")
                    });
                    if let Err(e) = labelled {
                        eprintln!("corosync-testkit: write {}: {e}", path.display());
                    }
                    return Ok(Slot { _file: file });
                }
            }
            let waited = start.elapsed();
            if waited >= limit {
                return Err(Error::new(format!(
                    "no free cluster slot within {limit:?} (COROSYNC_HARNESS_SLOTS={count}); {}",
                    holders(&paths)
                )));
            }
            if !said && waited >= SAY_AFTER {
                said = true;
                eprintln!(
                    "corosync-testkit: waiting for a cluster slot since {waited:?}; {}",
                    holders(&paths)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Each slot file and the processes that hold its lock, as
/// `/proc/locks` tells them, for messages.
fn holders(paths: &[PathBuf]) -> String {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let list: Vec<String> = paths
        .iter()
        .map(|path| {
            let Ok(meta) = std::fs::metadata(path) else {
                return format!("{} (gone)", path.display());
            };
            let pids = lock_holders(&locks, meta.dev(), meta.ino());
            if pids.is_empty() {
                return format!("{} (free now)", path.display());
            }
            let who: Vec<String> = pids
                .iter()
                .map(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                        .unwrap_or_default();
                    format!("pid {pid} {:?}", cmd.trim())
                })
                .collect();
            let label = std::fs::read_to_string(path).unwrap_or_default();
            format!(
                "{} held by {} (cluster {:?})",
                path.display(),
                who.join(", "),
                label.trim()
            )
        })
        .collect();
    format!("slot files: {}", list.join("; "))
}

/// The pids that hold a lock on the file with device `dev` and inode `ino`,
/// read from the text of `/proc/locks` (lines such as
/// `1: FLOCK  ADVISORY  WRITE 4242 00:1f:1234 0 EOF`, the device as hex
/// major:minor; the lines of waiters, `1: -> FLOCK ...`, are skipped).
fn lock_holders(locks: &str, dev: u64, ino: u64) -> Vec<u32> {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let id = format!("{major:02x}:{minor:02x}:{ino}");
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // n: TYPE MODE ACCESS PID ID START END
            match fields.as_slice() {
                [_, kind, _, _, pid, file, ..] if *kind != "->" && *file == id => pid.parse().ok(),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_wait_ends_with_the_holders_named() {
        let dir =
            std::env::temp_dir().join(format!("corosync-rs-slot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = Slot::acquire_in(&dir, 1, Duration::ZERO, "ctk.t.1.c0").expect("the free slot");
        let err = Slot::acquire_in(&dir, 1, Duration::from_millis(300), "ctk.t.1.c1").unwrap_err();
        let text = err.to_string();
        let file = dir.join("corosync-rs-harness-slot-0.lock");
        let want = format!(
            "no free cluster slot within 300ms (COROSYNC_HARNESS_SLOTS=1); slot files: {} held by pid {}",
            file.display(),
            std::process::id()
        );
        assert!(text.starts_with(&want), "{text}");
        assert!(text.ends_with(" (cluster \"ctk.t.1.c0\")"), "{text}");
        drop(held);
        // Released on drop: the next one gets it at once.
        let again =
            Slot::acquire_in(&dir, 1, Duration::ZERO, "ctk.t.1.c2").expect("the released slot");
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_holders_reads_proc_locks_lines() {
        let locks = "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 4343 08:01:1234 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 17 00:1f:99 0 EOF\n";
        // makedev(8, 1)
        assert_eq!(lock_holders(locks, (8 << 8) | 1, 1234), [4242]);
        assert_eq!(lock_holders(locks, 0x1f, 99), [17]);
        assert!(lock_holders(locks, 0x1f, 1234).is_empty());
    }
}
