//! The life of a connection, shared by every service: connect, dispatch,
//! wait, finalize.
//!
//! A service names its C library's functions once ([`library!`]); its
//! handle owns a [`Connection`] (opened by [`Connection::open`], the one
//! connect sequence, finalized on drop) and a [`CallbackCell`], and
//! implements [`Dispatch`]. [`impl_handle!`] then gives the handle its
//! public `dispatch`, `dispatch_some`, `dispatch_timeout`, `finalize`,
//! `AsFd`, `AsRawFd` and `Debug`, all running the generic functions here.
//!
//! Each corosync client library keeps its handles (connections, libcmap's
//! track registrations, libcpg's iterations) in process-wide libqb handle
//! databases, and `qb_hdb_handle_create` takes a free slot without a lock
//! (libqb's `lib/hdb.c`): two threads creating at once can get the same
//! slot, and one of them a handle that answers BAD_HANDLE (reproduced by
//! `tests/tests/concurrent_handles.rs`); and the last `qb_hdb_handle_put`
//! of a destroyed handle clears its slot with a plain `memset`, which a
//! create on another thread may be filling in. `qb_hdb_handle_get` and a
//! put that is not the last only count references atomically (and libqb's
//! array locks its own growth): the requests, sends and dispatches made on
//! a live handle need no lock. So
//! every call that creates or destroys an entry of one of these databases
//! runs under a mutex of its library, one per database:
//!
//! - [`hdb_lock`], a library's connections: every `*_initialize` and
//!   `*_finalize` (and libsam's own libquorum connection), and libcmap's
//!   `cmap_track_add`/`cmap_track_delete` (`cmap_finalize` walks the track
//!   registrations and destroys the connection's, so they share this
//!   lock);
//! - [`side_hdb_lock`], libcpg's iterations: `cpg_iteration_initialize`
//!   and `cpg_iteration_finalize` (`cpg_finalize` destroys only iterations
//!   still open, and these bindings close a connection's iterations before
//!   it: they borrow it).
//!
//! None of them runs callbacks, and no lock is held while callbacks run.
//!
//! A C function that creates an entry and then waits for the daemon, or
//! waits for the daemon and then destroys one, does both in one call, so
//! its lock is held across that round trip, which has no time-out: a
//! stopped daemon holds the lock for as long as it is stopped, and other
//! threads' calls under the same lock (for any daemon) wait meanwhile.
//! These are every `*_initialize` (libqb's connect waits for the daemon's
//! answer), `cpg_finalize` (it asks the daemon before it lets go), libcmap's
//! track calls and `cpg_iteration_initialize`. The other finalize calls
//! only close the connection's sockets. Not covered: calls other code in
//! the process makes on the same libraries, or through a handle's
//! `as_raw()`.

use std::cell::Cell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use corosync_sys as sys;

use crate::cell::CallbackCell;
use crate::current::{innermost, with_registered, Registered};
use crate::error::check;
use crate::{DispatchMode, Error, Result};

/// The functions of one C client library that every handle needs.
pub(crate) trait Library: 'static {
    /// The handle type's name, for `Debug`.
    const NAME: &'static str;

    /// The mutex that serializes the calls that create or destroy entries
    /// of this library's database of connections.
    fn hdb() -> &'static Mutex<()>;

    /// The mutex of this library's second handle database (libcpg's
    /// iterations).
    fn side_hdb() -> &'static Mutex<()>;

    /// `*_fd_get`.
    ///
    /// # Safety
    ///
    /// A live handle of this library and a valid out-pointer.
    unsafe fn fd_get(raw: u64, fd: *mut c_int) -> sys::cs_error_t;

    /// `*_dispatch`.
    ///
    /// # Safety
    ///
    /// A live handle of this library; its trampolines must find their
    /// handle registered (see [`crate::current`]).
    unsafe fn dispatch(raw: u64, flags: sys::cs_dispatch_flags_t) -> sys::cs_error_t;

    /// `*_finalize`.
    ///
    /// # Safety
    ///
    /// A live handle of this library, not used again.
    unsafe fn finalize(raw: u64) -> sys::cs_error_t;
}

/// Declares a [`Library`]: `library!(Name, "Handle", fd_get, dispatch,
/// finalize)`.
macro_rules! library {
    ($(#[$doc:meta])* $lib:ident, $name:literal, $fd_get:path, $dispatch:path, $finalize:path) => {
        $(#[$doc])*
        pub(crate) struct $lib;

        impl $crate::handle::Library for $lib {
            const NAME: &'static str = $name;

            fn hdb() -> &'static ::std::sync::Mutex<()> {
                static HDB: ::std::sync::Mutex<()> = ::std::sync::Mutex::new(());
                &HDB
            }

            fn side_hdb() -> &'static ::std::sync::Mutex<()> {
                static SIDE_HDB: ::std::sync::Mutex<()> = ::std::sync::Mutex::new(());
                &SIDE_HDB
            }

            #[inline]
            unsafe fn fd_get(raw: u64, fd: *mut ::std::ffi::c_int) -> $crate::sys::cs_error_t {
                // SAFETY: the caller's promise.
                unsafe { $fd_get(raw, fd) }
            }

            #[inline]
            unsafe fn dispatch(
                raw: u64,
                flags: $crate::sys::cs_dispatch_flags_t,
            ) -> $crate::sys::cs_error_t {
                // SAFETY: the caller's promise.
                unsafe { $dispatch(raw, flags) }
            }

            #[inline]
            unsafe fn finalize(raw: u64) -> $crate::sys::cs_error_t {
                // SAFETY: the caller's promise.
                unsafe { $finalize(raw) }
            }
        }
    };
}
pub(crate) use library;

/// Locks the mutex of library `L`'s connections (see the module docs).
pub(crate) fn hdb_lock<L: Library>() -> MutexGuard<'static, ()> {
    L::hdb().lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks the mutex of library `L`'s second handle database (see the module
/// docs).
// (Only libcpg has one these bindings use.)
#[cfg_attr(not(feature = "cpg"), allow(dead_code))]
pub(crate) fn side_hdb_lock<L: Library>() -> MutexGuard<'static, ()> {
    L::side_hdb().lock().unwrap_or_else(PoisonError::into_inner)
}

/// An open connection of library `L`: the C handle and its descriptor.
/// Finalized on drop. `Send`, not `Sync` (the C libraries do not serialize
/// requests on one connection).
pub(crate) struct Connection<L: Library> {
    raw: u64,
    fd: RawFd,
    finalized: bool,
    _lib: PhantomData<fn() -> L>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<L: Library> Connection<L> {
    /// Connects: `init` makes the C handle (it gets the out-pointer), then
    /// the descriptor is read, all under the library's mutex. When reading
    /// the descriptor fails, the handle is finalized.
    pub(crate) fn open(init: impl FnOnce(&mut u64) -> sys::cs_error_t) -> Result<Self> {
        let _hdb = hdb_lock::<L>();
        let mut raw = 0;
        check(init(&mut raw))?;
        let mut fd = -1;
        // SAFETY: `raw` is live; a valid out-pointer.
        if let Err(err) = check(unsafe { L::fd_get(raw, &mut fd) }) {
            // SAFETY: live, not used again.
            unsafe { L::finalize(raw) };
            return Err(err);
        }
        Ok(Connection {
            raw,
            fd,
            finalized: false,
            _lib: PhantomData,
            _not_sync: PhantomData,
        })
    }

    /// The C handle.
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        self.raw
    }

    /// The descriptor, read when the connection was made.
    #[inline]
    pub(crate) fn fd(&self) -> RawFd {
        self.fd
    }

    /// Finalizes the C handle (once; later calls do nothing and say OK).
    pub(crate) fn close(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.finalized, true) {
            return Ok(());
        }
        let _hdb = hdb_lock::<L>();
        // SAFETY: live until now, finalized once (the flag above).
        check(unsafe { L::finalize(self.raw) })
    }
}

impl<L: Library> Drop for Connection<L> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// A handle that dispatches: its connection, its closures, and how it
/// delivers an event held back after a panic.
pub(crate) trait Dispatch: Registered + Sized {
    /// Its C library.
    type Lib: Library;
    /// Its closures.
    type Callbacks;
    /// An owned copy of an event, held back after a panic.
    type Held;

    /// Its connection.
    fn connection(&self) -> &Connection<Self::Lib>;

    /// Its closures.
    fn cell(&self) -> &CallbackCell<Self::Callbacks, Self::Held>;

    /// Delivers an event held back after a panic to its closure.
    fn deliver_held(&self, callbacks: &mut Self::Callbacks, event: Self::Held);

    /// Runs after every dispatch, once no dispatch runs on the handle.
    #[inline]
    fn after_dispatch(&self) {}

    /// Runs inside the dispatch when the C dispatch answered `rc` (not
    /// OK): a handle that reconnects does so here and answers `CS_OK` when
    /// it did. Not from a callback.
    #[inline]
    fn recover(&self, rc: sys::cs_error_t) -> sys::cs_error_t {
        rc
    }
}

/// What a trampoline does: runs `f` with the handle of type `H` and C
/// handle `raw` that is dispatching on this thread and its closures, or,
/// after a panic in the same dispatch, keeps the event `held` makes for the
/// next dispatch. Nothing happens when no such handle is dispatching.
///
/// # Safety
///
/// Only from a callback of `H`'s C library (which the libraries make only
/// inside their dispatch function, which `H`'s dispatch runs with the
/// handle registered), not nested in another callback of the same handle.
#[inline]
pub(crate) unsafe fn callback<H: Dispatch>(
    raw: u64,
    f: impl FnOnce(&H, &mut H::Callbacks),
    held: impl FnOnce() -> Option<H::Held>,
) {
    // SAFETY: the reborrow is used only during this callback.
    let Some(handle) = (unsafe { innermost::<H>(raw) }) else {
        return;
    };
    // SAFETY: inside the handle's dispatch, on its thread, not nested in
    // another of its callbacks (the caller's promise; a nested dispatch is
    // refused).
    unsafe { handle.cell().invoke(|cb| f(handle, cb), held) }
}

/// One call of the C dispatch function with `handle` registered.
#[inline]
fn c_dispatch<H: Dispatch>(handle: &H, flags: sys::cs_dispatch_flags_t) -> sys::cs_error_t {
    let raw = handle.connection().raw();
    with_registered(handle, raw, || {
        // SAFETY: a live handle (owned by `handle`, borrowed for the call);
        // the trampolines find `handle` registered.
        unsafe { H::Lib::dispatch(raw, flags) }
    })
}

/// Calls the C dispatch function with `flags` (one event each) up to `max`
/// times while it answers OK and no closure panicked; returns the last
/// answer and how many events it ran. Only inside the cell's dispatch.
fn one_at_a_time<H: Dispatch>(
    handle: &H,
    max: usize,
    flags: sys::cs_dispatch_flags_t,
) -> (sys::cs_error_t, usize) {
    let mut done = 0;
    while done < max {
        // SAFETY: called inside the cell's dispatch, not from a callback.
        if unsafe { handle.cell().panicked() } {
            break;
        }
        let rc = c_dispatch(handle, flags);
        if rc != sys::CS_OK {
            return (rc, done);
        }
        done += 1;
    }
    (sys::CS_OK, done)
}

/// Delivers up to `max` events held back after a panic. Only inside the
/// cell's dispatch, not from a callback.
fn replay<H: Dispatch>(handle: &H, max: usize) -> usize {
    // SAFETY: the caller's promise.
    unsafe {
        handle.cell().replay(max, |callbacks, event| {
            handle.deliver_held(callbacks, event)
        })
    }
}

/// `dispatch(mode)` of every handle.
///
/// Held-back events come first. [`DispatchMode::Blocking`] runs as a loop
/// of one-event dispatches, so that a panic ends it (the C libraries return
/// from a blocking dispatch only when the connection ends).
#[inline]
pub(crate) fn dispatch<H: Dispatch>(handle: &H, mode: DispatchMode) -> Result<()> {
    let cell = handle.cell();
    let rc = cell.dispatch(|| {
        let one = matches!(mode, DispatchMode::One | DispatchMode::OneNonblocking);
        let replayed = replay(handle, if one { 1 } else { usize::MAX });
        // SAFETY: inside the dispatch, not from a callback.
        if (one && replayed > 0) || unsafe { cell.panicked() } {
            return sys::CS_OK;
        }
        let rc = match mode {
            DispatchMode::Blocking => one_at_a_time(handle, usize::MAX, sys::CS_DISPATCH_ONE).0,
            _ => c_dispatch(handle, mode.as_raw()),
        };
        if rc == sys::CS_OK || rc == sys::CS_ERR_TRY_AGAIN {
            return rc;
        }
        handle.recover(rc)
    });
    handle.after_dispatch();
    check(rc?)
}

/// `dispatch_some(max)` of every handle: held-back events, then one pending
/// event at a time without waiting; how many ran.
pub(crate) fn dispatch_some<H: Dispatch>(handle: &H, max: usize) -> Result<usize> {
    let result = handle.cell().dispatch(|| {
        let replayed = replay(handle, max);
        let (rc, done) = one_at_a_time(handle, max - replayed, sys::CS_DISPATCH_ONE_NONBLOCKING);
        if rc == sys::CS_OK || rc == sys::CS_ERR_TRY_AGAIN {
            return (rc, replayed + done);
        }
        (handle.recover(rc), replayed + done)
    });
    handle.after_dispatch();
    match result? {
        // (CS_ERR_TRY_AGAIN: nothing was pending.)
        (sys::CS_OK | sys::CS_ERR_TRY_AGAIN, done) => Ok(done),
        (other, _) => Err(Error::from_code(other)),
    }
}

/// `dispatch_timeout(timeout)` of every handle: waits up to `timeout` for
/// the descriptor to become readable (or hang up), then dispatches
/// everything pending; whether it did.
pub(crate) fn dispatch_timeout<H: Dispatch>(handle: &H, timeout: Duration) -> Result<bool> {
    let cell = handle.cell();
    // SAFETY: inside the dispatch, not from a callback.
    let held = cell.dispatch(|| unsafe { cell.has_backlog() })?;
    if !held && !wait_readable(handle.connection().fd(), timeout)? {
        return Ok(false);
    }
    dispatch(handle, DispatchMode::All)?;
    Ok(true)
}

/// Waits up to `timeout` for `fd` to be readable or hung up; whether it is.
pub(crate) fn wait_readable(fd: RawFd, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        // Rounded up, so that a short wait does not become a busy loop.
        let ms = left.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            // (Without a deadline, a poll of c_int::MAX ms just goes on.)
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            continue;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::from(err));
        }
    }
}

/// The events `fd` has right now (a zero-timeout `poll` for input; 0 when
/// it has none or the poll fails).
pub(crate) fn events_now(fd: RawFd) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call; a zero timeout never blocks.
    if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 {
        pfd.revents
    } else {
        0
    }
}

/// Whether the daemon's end of a connection is gone: its descriptor is hung
/// up or in error (checked without waiting).
pub(crate) fn hung_up(fd: RawFd) -> bool {
    events_now(fd) & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Gives handle type `$ty` (with a `conn: Connection<_>` field and a
/// [`Dispatch`] impl) its public `dispatch`, `dispatch_some`,
/// `dispatch_timeout` and `finalize`, and `AsRawFd`, `AsFd` and `Debug`;
/// the doc attributes given are added to `dispatch`'s.
macro_rules! impl_handle {
    ($ty:ident; $(#[$doc:meta])*) => {
        impl $ty {
            /// Runs the callbacks of pending events, as `mode` says.
            ///
            /// Called from inside one of this handle's callbacks (or while
            /// another thread dispatches it), it returns
            /// [`Error::DispatchInProgress`](crate::Error::DispatchInProgress).
            /// A panic in a callback is resumed here once the C library has
            /// returned; events the library had already handed over are kept
            /// and delivered first by the next dispatch, so call it again
            /// before waiting on the descriptor. When the daemon goes away it
            /// returns an error rather than waiting.
            $(#[$doc])*
            #[inline]
            pub fn dispatch(&self, mode: $crate::DispatchMode) -> $crate::Result<()> {
                $crate::handle::dispatch(self, mode)
            }

            /// Runs the callbacks of at most `max` pending events, one at a
            /// time without waiting; returns how many there were (fewer than
            /// `max`: none was left). Unlike
            /// [`DispatchMode::All`](crate::DispatchMode::All), which goes on
            /// while corosync keeps queueing, this bounds the work of one
            /// call. Panics and nested calls are handled as by `dispatch`.
            pub fn dispatch_some(&self, max: usize) -> $crate::Result<usize> {
                $crate::handle::dispatch_some(self, max)
            }

            /// Waits up to `timeout` for events, then runs the callbacks of
            /// every pending one (as `dispatch(DispatchMode::All)`); returns
            /// whether it dispatched (`false`: the time ran out). The loop
            /// corosync's own tools write with `poll`, without `unsafe`. A
            /// connection whose daemon went away is readable, so the dispatch
            /// then returns its error.
            pub fn dispatch_timeout(&self, timeout: ::std::time::Duration) -> $crate::Result<bool> {
                $crate::handle::dispatch_timeout(self, timeout)
            }

            /// Finalizes the connection, returning the library's answer
            /// (dropping the handle finalizes it too, ignoring the answer).
            pub fn finalize(mut self) -> $crate::Result<()> {
                self.conn.close()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            /// The descriptor that becomes readable when events are pending
            /// (read once when the connection was made).
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                self.conn.fd()
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                // SAFETY: a valid descriptor (checked at connect time) that
                // belongs to the connection, which lives as long as `self`.
                unsafe { ::std::os::fd::BorrowedFd::borrow_raw(self.conn.fd()) }
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(<<$ty as $crate::handle::Dispatch>::Lib as $crate::handle::Library>::NAME)
                    .field("handle", &self.conn.raw())
                    .finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use impl_handle;
