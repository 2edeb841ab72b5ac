//! The simple availability manager (libsam): a process supervised by
//! corosync's client library, restarted when it stops sending health checks.
//!
//! libsam keeps its state in the process, not in a handle, so there is at
//! most one [`Sam`] per process. [`Sam::register`] **forks**: the original
//! process becomes the supervisor and never returns from it (it exits when
//! supervision ends); the child returns and carries on, and is forked again
//! after every failure. Forking is only sound in a process with one thread
//! (the child would inherit locks held by threads that do not exist in it),
//! so `register` checks that first and refuses otherwise.
//!
//! (Not run as a test: `register` forks, and the supervisor never returns.)
//!
//! ```no_run
//! use corosync::sam::{RecoveryPolicy, Sam};
//! use std::time::Duration;
//!
//! let mut sam = Sam::initialize(Duration::from_secs(1), RecoveryPolicy::RESTART)?;
//! let instance = sam.register()?; // only the supervised child gets here
//! let mut count = u64::from_le_bytes(sam.data_restore()?.try_into().unwrap_or([0; 8]));
//! sam.start()?;
//! loop {
//!     count += 1;
//!     sam.data_store(&count.to_le_bytes())?;
//!     sam.send_health_check()?;
//!     std::thread::sleep(Duration::from_millis(200));
//! #   if instance > 100 { break; }
//! }
//! # Ok::<(), corosync::Error>(())
//! ```

use std::ffi::c_int;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Duration;

use corosync_sys as sys;

use crate::error::check;
use crate::{Error, Result};

/// What the supervisor does when the supervised process fails
/// (`sam_recovery_policy_t`): quit or restart, optionally tied to quorum
/// and optionally published in cmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecoveryPolicy(u32);

impl RecoveryPolicy {
    /// `SAM_RECOVERY_POLICY_QUIT`: end the supervised process group.
    pub const QUIT: RecoveryPolicy = RecoveryPolicy(sys::SAM_RECOVERY_POLICY_QUIT);
    /// `SAM_RECOVERY_POLICY_RESTART`: fork the process again.
    pub const RESTART: RecoveryPolicy = RecoveryPolicy(sys::SAM_RECOVERY_POLICY_RESTART);

    /// Also treat losing quorum as a failure, and make [`Sam::start`] wait
    /// for quorum (`SAM_RECOVERY_POLICY_QUORUM`).
    pub const fn with_quorum(self) -> Self {
        RecoveryPolicy(self.0 | sys::SAM_RECOVERY_POLICY_QUORUM)
    }

    /// Also publish the process's state in cmap under
    /// `resources.process.<supervisor pid>.` (`SAM_RECOVERY_POLICY_CMAP`).
    pub const fn with_cmap(self) -> Self {
        RecoveryPolicy(self.0 | sys::SAM_RECOVERY_POLICY_CMAP)
    }

    /// The raw value.
    pub const fn as_raw(self) -> u32 {
        self.0
    }
}

/// Set once a [`Sam`] was made: libsam cannot be initialized twice in a
/// process, even after finalizing.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

type HealthFn = Box<dyn FnMut() -> bool + Send>;

/// The health-check closure. libsam calls its callback from a thread of its
/// own with no context: the closure is found here. Replaced closures are
/// leaked, not freed, because that thread may be running them.
static HEALTH_CHECK: AtomicPtr<HealthFn> = AtomicPtr::new(ptr::null_mut());

/// The process's SAM instance. Not `Send`: libsam's state belongs to the
/// process and its supervision to the thread that forks.
#[derive(Debug)]
pub struct Sam {
    _not_send: PhantomData<*const ()>,
}

/// The number of threads of this process, from `/proc/self/status`.
fn thread_count() -> Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or(Error::InvalidInput {
            what: "process",
            reason: "no thread count in /proc/self/status",
        })
}

impl Sam {
    /// Initializes SAM (`sam_initialize`). Health checks are due every
    /// `interval` once started (zero: none are checked). libsam counts in
    /// whole milliseconds in a C `int`: an interval with a fraction of a
    /// millisecond, or one too long for that, is [`Error::InvalidInput`]
    /// (rounding down could turn 0.5 ms into "no checks"). With a quorum
    /// policy this waits for the first quorum notification.
    ///
    /// A second call in the same process is [`Error::AlreadyInitialized`].
    pub fn initialize(interval: Duration, policy: RecoveryPolicy) -> Result<Sam> {
        if interval.subsec_nanos() % 1_000_000 != 0 {
            return Err(Error::InvalidInput {
                what: "SAM interval",
                reason: "it is not a whole number of milliseconds",
            });
        }
        let ms = c_int::try_from(interval.as_millis()).map_err(|_| Error::InvalidInput {
            what: "SAM interval",
            reason: "it does not fit in an int of milliseconds",
        })?;
        if INITIALIZED.swap(true, Ordering::AcqRel) {
            return Err(Error::AlreadyInitialized);
        }
        // With a quorum policy libsam makes a libquorum handle of its own,
        // under libquorum's lock like ours (see `crate::handle`).
        #[cfg(feature = "quorum")]
        let hdb = crate::handle::hdb_lock::<crate::quorum::QuorumLib>();
        // SAFETY: plain values; libsam keeps its own state.
        let rc = unsafe { sys::sam_initialize(ms, policy.as_raw()) };
        #[cfg(feature = "quorum")]
        drop(hdb);
        if let Err(err) = check(rc) {
            INITIALIZED.store(false, Ordering::Release);
            return Err(err);
        }
        Ok(Sam {
            _not_send: PhantomData,
        })
    }

    /// Sets the signal the supervisor sends first when the process fails
    /// (SIGTERM by default; SIGKILL follows one interval later). A number
    /// that is not a signal (outside 1 to `SIGRTMAX`) is
    /// [`Error::InvalidInput`]: libsam would take it, and its `kill` would
    /// then fail without a word, leaving only the SIGKILL.
    pub fn set_warn_signal(&self, signal: c_int) -> Result<()> {
        if !(1..=libc::SIGRTMAX()).contains(&signal) {
            return Err(Error::InvalidInput {
                what: "warning signal",
                reason: "it is not a signal number",
            });
        }
        // SAFETY: plain value.
        check(unsafe { sys::sam_warn_signal_set(signal) })
    }

    /// Forks (`sam_register`). The calling process becomes the supervisor
    /// and does not return from this call: it exits when supervision ends,
    /// with the last child's exit status. The child returns its instance
    /// number: 1 for the first, then one more for each restart.
    ///
    /// The process must have exactly one thread ([`Error::MultiThreaded`]
    /// otherwise, and nothing is forked).
    pub fn register(&mut self) -> Result<u32> {
        let threads = thread_count()?;
        if threads != 1 {
            return Err(Error::MultiThreaded { threads });
        }
        let mut instance = 0;
        // SAFETY: valid out-pointer; the process has a single thread, so
        // the forked child is a consistent copy of it.
        check(unsafe { sys::sam_register(&mut instance) })?;
        Ok(instance)
    }

    /// Starts health checking: from now on a health check is due every
    /// interval ([`Sam::send_health_check`] or the callback). With a quorum policy,
    /// waits for quorum first.
    pub fn start(&self) -> Result<()> {
        // SAFETY: no arguments.
        check(unsafe { sys::sam_start() })
    }

    /// Stops health checking.
    pub fn stop(&self) -> Result<()> {
        // SAFETY: no arguments.
        check(unsafe { sys::sam_stop() })
    }

    /// Sends one health check.
    pub fn send_health_check(&self) -> Result<()> {
        // SAFETY: no arguments.
        check(unsafe { sys::sam_hc_send() })
    }

    /// Lets libsam send the health checks from a thread of its own, asking
    /// `f` every fourth interval whether the process is healthy; `false`
    /// (or a panic, which is caught there) stops the checks, and the
    /// supervisor's recovery follows. Call after [`Sam::register`], with a
    /// non-zero interval. A later call replaces the closure.
    pub fn set_health_check(&self, f: impl FnMut() -> bool + Send + 'static) -> Result<()> {
        // libsam says yes only while registered and not started, and its
        // thread calls back only once started (which needs this thread), so
        // the closure can be put in place after the answer: a refused
        // registration leaves the previous closure in place.
        // SAFETY: the trampoline is a valid callback for the process's life.
        check(unsafe { sys::sam_hc_callback_register(Some(health_trampoline)) })?;
        let new: *mut HealthFn = Box::into_raw(Box::new(Box::new(f)));
        // The previous closure is leaked: libsam's thread may be running it.
        let _old = HEALTH_CHECK.swap(new, Ordering::AcqRel);
        Ok(())
    }

    /// Stores `data` with the supervisor, to be restored after a restart.
    pub fn data_store(&self, data: &[u8]) -> Result<()> {
        // SAFETY: `data` is readable for its length (null is fine for 0).
        check(unsafe { sys::sam_data_store(data.as_ptr().cast(), data.len()) })
    }

    /// The size of the stored data.
    pub fn data_size(&self) -> Result<usize> {
        let mut size = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { sys::sam_data_getsize(&mut size) })?;
        Ok(size)
    }

    /// The stored data, whole (empty if none was stored).
    pub fn data_restore(&self) -> Result<Vec<u8>> {
        let size = self.data_size()?;
        let mut data = vec![0u8; size];
        if size > 0 {
            // SAFETY: `data` has room for `size` bytes.
            check(unsafe { sys::sam_data_restore(data.as_mut_ptr().cast(), size) })?;
        }
        Ok(data)
    }

    /// Marks the process as failed: the supervisor kills it and, per
    /// libsam, does not restart it (the recovery becomes quit) and records
    /// "failed" in cmap. Needs a policy with [`RecoveryPolicy::with_cmap`].
    pub fn mark_failed(&self) -> Result<()> {
        // SAFETY: no arguments.
        check(unsafe { sys::sam_mark_failed() })
    }

    /// Finalizes SAM (stopping health checks first if they run).
    pub fn finalize(self) -> Result<()> {
        let _this = std::mem::ManuallyDrop::new(self);
        // SAFETY: no arguments.
        check(unsafe { sys::sam_finalize() })
    }
}

impl Drop for Sam {
    fn drop(&mut self) {
        // SAFETY: no arguments.
        unsafe { sys::sam_finalize() };
    }
}

/// libsam's health-check callback: 0 is healthy.
extern "C" fn health_trampoline() -> c_int {
    let f = HEALTH_CHECK.load(Ordering::Acquire);
    if f.is_null() {
        return -1;
    }
    // SAFETY: the pointer came from Box::into_raw in hc_callback_register
    // and is never freed; only libsam's one callback thread calls it, so
    // the closure is not used twice at once.
    let f = unsafe { &mut *f };
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(true) => 0,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test of this binary that initializes SAM (it is once per
    // process); libsam's initialization without a quorum policy is local.
    #[test]
    #[cfg_attr(miri, ignore = "calls C (sam_initialize), which Miri cannot run")]
    fn bad_intervals_and_signals_are_refused_and_a_refused_callback_is_not_installed() {
        let too_long = Duration::from_millis(i32::MAX as u64 + 1);
        for bad in [
            Duration::from_micros(500),
            Duration::from_micros(1500),
            too_long,
        ] {
            assert!(
                matches!(
                    Sam::initialize(bad, RecoveryPolicy::RESTART),
                    Err(Error::InvalidInput { .. })
                ),
                "{bad:?}"
            );
        }
        let sam = Sam::initialize(Duration::from_secs(1), RecoveryPolicy::RESTART).unwrap();
        assert_eq!(
            Sam::initialize(Duration::from_secs(1), RecoveryPolicy::RESTART).err(),
            Some(Error::AlreadyInitialized)
        );
        for bad in [0, -1, 999, libc::SIGRTMAX() + 1] {
            assert!(
                matches!(sam.set_warn_signal(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
        sam.set_warn_signal(libc::SIGUSR1).unwrap();
        sam.set_warn_signal(libc::SIGRTMAX()).unwrap();
        // Not registered: libsam refuses, and the closure is not put in
        // place (the trampoline finds none and answers "unhealthy").
        assert_eq!(sam.set_health_check(|| true), Err(Error::BadHandle));
        assert_eq!(health_trampoline(), -1);
    }

    #[test]
    fn policies_compose_as_in_sam_h() {
        assert_eq!(
            RecoveryPolicy::QUIT.with_quorum().as_raw(),
            sys::SAM_RECOVERY_POLICY_QUORUM_QUIT
        );
        assert_eq!(
            RecoveryPolicy::RESTART.with_quorum().as_raw(),
            sys::SAM_RECOVERY_POLICY_QUORUM_RESTART
        );
        assert_eq!(RecoveryPolicy::RESTART.with_cmap().as_raw(), 2 | 16);
    }

    #[test]
    fn the_thread_count_is_read() {
        // The test harness runs tests on threads of its own.
        assert!(thread_count().unwrap() >= 1);
    }
}
