//! The plumbing between C callbacks and Rust closures, shared by every
//! service.
//!
//! A handle keeps its closures in a [`CallbackCell`] inside a [`Context`]: a
//! heap allocation whose address never changes and which is handed to the C
//! library as the handle's context (`cpg_model_initialize`'s `context`,
//! `*_context_set`, cmap track `user_data`). A C callback is a monomorphised
//! `extern "C"` trampoline that finds the cell through that pointer and calls
//! [`CallbackCell::invoke`].
//!
//! The rules every service follows through this module:
//!
//! - **No unwinding into C.** `invoke` catches a panic of the closure and
//!   keeps its payload; no further closure runs in that dispatch, and
//!   [`CallbackCell::dispatch`] resumes the panic in its caller once the C
//!   dispatch function has returned.
//! - **One dispatch at a time.** `dispatch` takes an atomic flag (no lock:
//!   user code never runs while a lock is held). A dispatch started from one
//!   of the handle's own callbacks, or from another thread while one runs,
//!   returns [`Error::DispatchInProgress`] instead of deadlocking or touching
//!   the closures twice. Every other method of the handle stays callable from
//!   inside a callback.
//! - **Nothing allocated per event.** The cell is allocated once per handle.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use corosync_sys as sys;

use crate::{DispatchMode, Error, Result};

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

/// A handle that is nothing but the [`Context`] of its state, so that a
/// borrowed view of it can be lent to callbacks ([`with_handle`]).
pub(crate) trait ContextHandle: Sized {
    /// The state behind the context pointer.
    type Inner;

    /// Wraps a context in the handle type.
    fn from_context(context: Context<Self::Inner>) -> Self;
}

/// Runs `f` with the handle whose context `ptr` is and that context's state.
/// The handle is a never-dropped second owner of the same context, lent out
/// for the call only, so a callback can call the methods of the handle it
/// belongs to.
///
/// # Safety
///
/// `ptr` must be null (then `f` is not called) or the pointer of a live
/// `Context<H::Inner>` that stays alive during the call, and `H` must not
/// free anything when it is forgotten.
#[inline]
pub(crate) unsafe fn with_handle<H: ContextHandle>(
    ptr: *mut c_void,
    f: impl FnOnce(&H, &H::Inner),
) {
    // SAFETY: the caller promises a live Context<H::Inner> or null.
    let Some(inner) = (unsafe { Context::<H::Inner>::from_ptr(ptr) }) else {
        return;
    };
    // SAFETY: `ptr` is live (above); the alias is never dropped.
    let alias = std::mem::ManuallyDrop::new(H::from_context(unsafe { Context::alias(ptr) }));
    f(&alias, inner);
}

/// Identifies a service in [`current_context`], so that handles of two
/// services that happen to have the same raw value are never confused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    #[cfg(feature = "cpg")]
    Cpg,
    #[cfg(feature = "quorum")]
    Quorum,
    #[cfg(feature = "votequorum")]
    Votequorum,
    #[cfg(feature = "cmap")]
    Cmap,
    #[cfg(feature = "cfg")]
    Cfg,
}

thread_local! {
    /// The handle whose C dispatch function runs on this thread (the
    /// innermost one, when a callback dispatches another handle).
    static CURRENT: Cell<Option<(Service, u64, *mut c_void)>> = const { Cell::new(None) };
}

/// Runs `c_dispatch` with the handle (`service`, `raw`, `context`)
/// registered as this thread's dispatching handle, and restores the previous
/// registration afterwards, also on unwind.
///
/// C libraries call back only from inside their dispatch function, on the
/// dispatching thread, into the innermost dispatch: a trampoline finds its
/// context here with a thread-local read, with no library call and no lock
/// (and libcfg, which has no context at all, needs no global map).
#[inline]
pub(crate) fn with_current<R>(
    service: Service,
    raw: u64,
    context: *mut c_void,
    c_dispatch: impl FnOnce() -> R,
) -> R {
    struct Restore(Option<(Service, u64, *mut c_void)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some((service, raw, context)))));
    c_dispatch()
}

/// The context of the handle dispatching on this thread, if it is handle
/// `raw` of `service`.
#[inline]
pub(crate) fn current_context(service: Service, raw: u64) -> Option<*mut c_void> {
    match CURRENT.with(Cell::get) {
        Some((s, r, context)) if s == service && r == raw => Some(context),
        _ => None,
    }
}

#[cfg(any(
    feature = "cpg",
    feature = "quorum",
    feature = "votequorum",
    feature = "cmap",
    feature = "cfg"
))]
mod handle_macros {
    /// Implements what every owning handle shares: `finalize(self)`, `Drop`
    /// (finalize, then free the context), `Debug`, `AsRawFd`/`AsFd` (the
    /// descriptor read at connect time) and [`ContextHandle`].
    ///
    /// The type must be `struct $ty { inner: Context<Inner>, _not_sync:
    /// PhantomData<..> }` with a `raw()` method and `Inner { fd: Cell<RawFd>,
    /// .. }`, `$finalize` the C finalize function of its service and `$hdb`
    /// its library's [`hdb_lock`] mutex.
    macro_rules! owned_handle {
        ($ty:ident, $finalize:path, $hdb:path, $name:literal) => {
            impl $ty {
                /// Finalizes the connection, returning the library's answer
                /// (dropping the handle finalizes it too, ignoring the answer).
                pub fn finalize(self) -> $crate::Result<()> {
                    let this = ::std::mem::ManuallyDrop::new(self);
                    let hdb = $crate::callback::hdb_lock(&$hdb);
                    // SAFETY: live handle, finalized once: Drop does not run.
                    let rc = unsafe { $finalize(this.raw()) };
                    drop(hdb);
                    // SAFETY: `this` is not used again; the context is freed
                    // after the handle, as in Drop.
                    drop(unsafe { ::std::ptr::read(&this.inner) });
                    $crate::error::check(rc)
                }
            }

            impl Drop for $ty {
                fn drop(&mut self) {
                    let _hdb = $crate::callback::hdb_lock(&$hdb);
                    // SAFETY: live handle, finalized once; the context is freed
                    // after this, when the fields drop.
                    unsafe { $finalize(self.raw()) };
                }
            }

            impl ::std::fmt::Debug for $ty {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.debug_struct($name)
                        .field("handle", &self.raw())
                        .finish_non_exhaustive()
                }
            }

            impl ::std::os::fd::AsRawFd for $ty {
                /// The descriptor that becomes readable when events are pending
                /// (read once when the connection was made).
                fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                    self.inner.get().fd.get()
                }
            }

            impl ::std::os::fd::AsFd for $ty {
                fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                    // SAFETY: a valid descriptor (checked at connect time) that
                    // belongs to the connection, which lives as long as `self`.
                    unsafe {
                        ::std::os::fd::BorrowedFd::borrow_raw(::std::os::fd::AsRawFd::as_raw_fd(
                            self,
                        ))
                    }
                }
            }

            impl $crate::callback::ContextHandle for $ty {
                type Inner = Inner;

                #[inline]
                fn from_context(inner: $crate::callback::Context<Inner>) -> Self {
                    $ty {
                        inner,
                        _not_sync: ::std::marker::PhantomData,
                    }
                }
            }
        };
    }

    /// A handle's `dispatch` (documented by the attributes given) and
    /// `dispatch_some`, calling `$c_dispatch` (the C library's dispatch
    /// function) as `$service`; `after` names a method to run after each.
    ///
    /// The type must be one that [`owned_handle!`] takes, whose `Inner`
    /// has a `cell: CallbackCell<..>` field, and `Service::$service` must
    /// exist.
    macro_rules! dispatch_methods {
        ($ty:ident, $service:ident, $c_dispatch:path $(, after $after:ident)?; $(#[$doc:meta])*) => {
            impl $ty {
                $(#[$doc])*
                #[inline]
                pub fn dispatch(&self, mode: $crate::DispatchMode) -> $crate::Result<()> {
                    let rc = self.inner.get().cell.dispatch_mode(mode, self.c_dispatch());
                    $(self.$after();)?
                    $crate::error::check(rc?)
                }

                /// Runs the callbacks of at most `max` pending events, one at a
                /// time without waiting; returns how many there were (fewer
                /// than `max`: none was left). Unlike
                /// [`DispatchMode::All`](crate::DispatchMode::All), which goes
                /// on while corosync keeps queueing, this bounds the work of one
                /// call. Panics and nested calls are handled as by `dispatch`.
                pub fn dispatch_some(&self, max: usize) -> $crate::Result<usize> {
                    let result = self.inner.get().cell.dispatch_some(max, self.c_dispatch());
                    $(self.$after();)?
                    result
                }

                /// A call of the C dispatch function on this handle, with the
                /// flags given.
                #[inline]
                fn c_dispatch(
                    &self,
                ) -> impl FnMut($crate::sys::cs_dispatch_flags_t) -> $crate::sys::cs_error_t + '_ {
                    let (raw, context) = (self.raw(), self.inner.as_ptr());
                    move |flags| {
                        let call = || {
                            // SAFETY: live handle (the closure is only called
                            // during a dispatch of `self`); the trampolines find
                            // this handle's context as the current dispatch.
                            unsafe { $c_dispatch(raw, flags) }
                        };
                        $crate::callback::with_current(
                            $crate::callback::Service::$service,
                            raw,
                            context,
                            call,
                        )
                    }
                }
            }
        };
    }

    /// Locks `lock`, one of the mutexes that serialize the calls creating or
    /// destroying entries in a client library's handle databases.
    ///
    /// Each corosync client library keeps its handles (connections, and
    /// libcmap's track registrations and libcpg's iterations) in process-wide
    /// libqb handle databases, and `qb_hdb_handle_create` takes a free slot
    /// without a lock (libqb's `lib/hdb.c`): two threads creating at once can
    /// get the same slot, and one of them a handle that answers BAD_HANDLE
    /// (reproduced by `tests/tests/concurrent_handles.rs`). So every
    /// `*_initialize`, `*_finalize`, `cmap_track_add`/`cmap_track_delete` and
    /// `cpg_iteration_initialize`/`cpg_iteration_finalize` made by these
    /// bindings (and libsam's own libquorum connection) runs under its
    /// library's mutex. None of them runs callbacks, and no lock is held while
    /// callbacks run, so callbacks may make and drop handles.
    ///
    /// Not covered: calls that other code in the process makes on the same
    /// C libraries, or through a handle's `as_raw()`; and the release of a
    /// cmap registration that deleted itself from its own callback, which
    /// libcmap's dispatch makes after the callback and which can meet
    /// another thread's `track_add` or finalize. The lock is held across
    /// the daemon round trips of these calls, which have no time-out: a
    /// daemon that hangs stalls other threads' connects and drops for that
    /// library too.
    pub(crate) fn hdb_lock(
        lock: &'static std::sync::Mutex<()>,
    ) -> std::sync::MutexGuard<'static, ()> {
        lock.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads a new handle's descriptor with `fd_get`; when that fails,
    /// finalizes the handle with `finalize` and returns the error.
    ///
    /// # Safety
    ///
    /// `raw` is a live handle of the library the two functions belong to;
    /// after an error it has been finalized and must not be used again.
    pub(crate) unsafe fn descriptor(
        raw: u64,
        fd_get: unsafe extern "C" fn(u64, *mut std::ffi::c_int) -> crate::sys::cs_error_t,
        finalize: unsafe extern "C" fn(u64) -> crate::sys::cs_error_t,
    ) -> crate::Result<std::os::fd::RawFd> {
        let mut fd = -1;
        // SAFETY: a live handle (the caller's promise), a valid out-pointer.
        if let Err(err) = crate::error::check(unsafe { fd_get(raw, &mut fd) }) {
            // SAFETY: a live handle, not used again (the caller's promise).
            unsafe { finalize(raw) };
            return Err(err);
        }
        Ok(fd)
    }

    pub(crate) use {dispatch_methods, owned_handle};
}
#[cfg(any(
    feature = "cpg",
    feature = "quorum",
    feature = "votequorum",
    feature = "cmap",
    feature = "cfg"
))]
pub(crate) use handle_macros::{descriptor, dispatch_methods, hdb_lock, owned_handle};

/// A panic payload caught in a callback.
type Payload = Box<dyn Any + Send + 'static>;

/// A heap value with a stable address, handed to C as a `void *` context.
///
/// Unlike a `Box`, moving a `Context` does not claim unique access to the
/// value, so the pointer C holds stays valid while the owning handle moves
/// around. The value is freed on drop; the owner must make sure C can no
/// longer call back with the pointer by then (finalize the C handle first).
pub(crate) struct Context<T> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: a Context owns its T like a Box does and hands out only shared
// references; sending or sharing it is sound exactly when it is for T.
unsafe impl<T: Send> Send for Context<T> {}
// SAFETY: as above; `&Context<T>` gives only `&T`.
unsafe impl<T: Sync> Sync for Context<T> {}

impl<T> Context<T> {
    /// Moves `value` to the heap.
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        Context {
            ptr: NonNull::from(Box::leak(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// The pointer to give to C.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }

    /// The value.
    #[inline]
    pub(crate) fn get(&self) -> &T {
        // SAFETY: `ptr` came from a leaked Box and is freed only in Drop;
        // only shared references to it are ever created.
        unsafe { self.ptr.as_ref() }
    }

    /// A second owner of the value behind `ptr`, for building a borrowed
    /// view of a handle inside a callback. It must never be dropped: wrap
    /// it (or what contains it) in `ManuallyDrop`.
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Context::as_ptr`] of a `Context<T>` that stays
    /// alive while the alias is used, and the alias must not be dropped.
    #[inline]
    pub(crate) unsafe fn alias(ptr: *mut c_void) -> Self {
        Context {
            // SAFETY: the caller passes the non-null pointer of a live Context.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast()) },
            _owns: PhantomData,
        }
    }

    /// The value behind a pointer C gave back.
    ///
    /// # Safety
    ///
    /// `ptr` must be null or come from [`Context::as_ptr`] of a
    /// `Context<T>` that is still alive for `'a`.
    #[inline]
    pub(crate) unsafe fn from_ptr<'a>(ptr: *mut c_void) -> Option<&'a T> {
        // SAFETY: the caller promises a live Context<T> or null.
        unsafe { ptr.cast::<T>().as_ref() }
    }
}

impl<T> Drop for Context<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from Box::leak in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// A handle's closures, with the panic slot and the dispatch flag.
pub(crate) struct CallbackCell<F> {
    /// Set while a dispatch runs; whoever set it has exclusive access to
    /// `panic` and `callbacks`.
    dispatching: AtomicBool,
    panic: UnsafeCell<Option<Payload>>,
    callbacks: UnsafeCell<F>,
}

// SAFETY: `callbacks` and `panic` are only touched by the thread that holds
// the `dispatching` flag (taken with an atomic compare-exchange), so sharing
// the cell between threads never gives two threads access at once. The
// closures may run on whichever thread dispatches, so they must be Send.
unsafe impl<F: Send> Sync for CallbackCell<F> {}

impl<F> CallbackCell<F> {
    /// A cell holding `callbacks`.
    pub(crate) fn new(callbacks: F) -> Self {
        CallbackCell {
            dispatching: AtomicBool::new(false),
            panic: UnsafeCell::new(None),
            callbacks: UnsafeCell::new(callbacks),
        }
    }

    /// Runs `c_dispatch` (a call of the C library's dispatch function) with
    /// the dispatch flag held, so the trampolines it triggers may call
    /// [`CallbackCell::invoke`].
    ///
    /// Returns [`Error::DispatchInProgress`] without calling `c_dispatch` if
    /// a dispatch already runs. If a closure panicked, the panic is resumed
    /// here after `c_dispatch` returned.
    #[inline]
    pub(crate) fn dispatch<R>(&self, c_dispatch: impl FnOnce() -> R) -> Result<R> {
        if self
            .dispatching
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::DispatchInProgress);
        }
        struct Release<'a>(&'a AtomicBool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let release = Release(&self.dispatching);
        let result = c_dispatch();
        // SAFETY: this thread holds the dispatch flag, so nothing else
        // touches the panic slot.
        let payload = unsafe { (*self.panic.get()).take() };
        drop(release);
        if let Some(payload) = payload {
            panic::resume_unwind(payload);
        }
        Ok(result)
    }

    /// Runs a C dispatch function in `mode` inside [`CallbackCell::dispatch`].
    ///
    /// [`DispatchMode::Blocking`] runs as a loop of one-event dispatches, so
    /// that a panic in a callback ends it: the C libraries return from a
    /// blocking dispatch only when the connection ends, and a handle cannot
    /// be finalized while it dispatches.
    pub(crate) fn dispatch_mode(
        &self,
        mode: DispatchMode,
        mut c_dispatch: impl FnMut(sys::cs_dispatch_flags_t) -> sys::cs_error_t,
    ) -> Result<sys::cs_error_t> {
        if mode != DispatchMode::Blocking {
            return self.dispatch(|| c_dispatch(mode.as_raw()));
        }
        self.dispatch(|| {
            // SAFETY: inside this cell's dispatch.
            unsafe { self.one_at_a_time(usize::MAX, sys::CS_DISPATCH_ONE, c_dispatch) }.0
        })
    }

    /// Runs a C dispatch function for at most `max` pending events, one at
    /// a time without waiting, inside one [`CallbackCell::dispatch`];
    /// returns how many it ran. Stops early when none is pending, on an
    /// error, or after a panic.
    pub(crate) fn dispatch_some(
        &self,
        max: usize,
        c_dispatch: impl FnMut(sys::cs_dispatch_flags_t) -> sys::cs_error_t,
    ) -> Result<usize> {
        let (rc, done) = self.dispatch(|| {
            // SAFETY: inside this cell's dispatch.
            unsafe { self.one_at_a_time(max, sys::CS_DISPATCH_ONE_NONBLOCKING, c_dispatch) }
        })?;
        match rc {
            // (CS_ERR_TRY_AGAIN: nothing was pending.)
            sys::CS_OK | sys::CS_ERR_TRY_AGAIN => Ok(done),
            other => Err(Error::from_code(other)),
        }
    }

    /// Calls `c_dispatch(flags)` up to `max` times while it answers CS_OK
    /// and no callback has panicked; returns the last answer and how many
    /// calls answered CS_OK.
    ///
    /// # Safety
    ///
    /// Only from inside [`CallbackCell::dispatch`] on this cell, on its
    /// thread (it reads the panic slot that the dispatch flag guards).
    #[inline]
    unsafe fn one_at_a_time(
        &self,
        max: usize,
        flags: sys::cs_dispatch_flags_t,
        mut c_dispatch: impl FnMut(sys::cs_dispatch_flags_t) -> sys::cs_error_t,
    ) -> (sys::cs_error_t, usize) {
        for done in 0..max {
            let rc = c_dispatch(flags);
            // SAFETY: the caller runs this inside this cell's dispatch,
            // which holds the flag.
            let panicked = unsafe { (*self.panic.get()).is_some() };
            if rc != sys::CS_OK {
                return (rc, done);
            }
            if panicked {
                return (rc, done + 1);
            }
        }
        (sys::CS_OK, max)
    }

    /// Calls `f` with the closures, from a trampoline.
    ///
    /// A panic in `f` is caught and kept for [`CallbackCell::dispatch`] to
    /// resume; once one is kept, later calls in the same dispatch do nothing.
    /// A call while no dispatch runs does nothing either (the C libraries
    /// only call back from their dispatch functions).
    ///
    /// # Safety
    ///
    /// Must only be called from a callback that the C library runs inside
    /// the `c_dispatch` of a [`CallbackCell::dispatch`] on this same cell,
    /// on the thread running that dispatch.
    #[inline]
    pub(crate) unsafe fn invoke(&self, f: impl FnOnce(&mut F)) {
        if !self.dispatching.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the caller runs inside this cell's dispatch on its
        // thread, which holds the flag: nothing else touches the slot.
        let slot = unsafe { &mut *self.panic.get() };
        if slot.is_some() {
            return;
        }
        // SAFETY: as above, and `invoke` is not re-entered for this cell: a
        // closure cannot reach the trampoline again except through a nested
        // dispatch, which the flag refuses.
        let callbacks = unsafe { &mut *self.callbacks.get() };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(callbacks))) {
            *slot = Some(payload);
        }
    }

    /// Whether a dispatch is running on this cell right now (for a handle
    /// that is not `Sync`, on the calling thread).
    #[cfg(any(test, feature = "cmap"))]
    pub(crate) fn is_dispatching(&self) -> bool {
        self.dispatching.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    type Closure = Box<dyn FnMut(u32) + Send>;

    /// A trampoline as a service writes it: context pointer in, closure
    /// called through the cell.
    extern "C" fn trampoline(context: *mut c_void, value: u32) {
        // SAFETY: the tests pass the pointer of a live Context<CallbackCell<Closure>>.
        let Some(cell) = (unsafe { Context::<CallbackCell<Closure>>::from_ptr(context) }) else {
            return;
        };
        // SAFETY: the tests call the trampoline only inside cell.dispatch on
        // this thread.
        unsafe { cell.invoke(|f| f(value)) };
    }

    /// A cell whose closure counts its calls and panics on `panic_on`.
    fn counting(panic_on: u32) -> (Arc<AtomicUsize>, Context<CallbackCell<Closure>>) {
        let seen = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        let ctx = Context::new(CallbackCell::new(Box::new(move |v: u32| {
            seen2.fetch_add(1, Ordering::SeqCst);
            if v == panic_on {
                panic!("callback failed on {v}");
            }
        }) as Closure));
        (seen, ctx)
    }

    #[test]
    fn a_panic_in_a_callback_does_not_cross_c_and_resumes_after_dispatch() {
        let (seen, ctx) = counting(2);
        let ptr = ctx.as_ptr();
        let mut after = false;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            ctx.get().dispatch(|| {
                // What the C dispatch loop does: call back, then go on.
                trampoline(ptr, 1);
                trampoline(ptr, 2);
                trampoline(ptr, 3);
                after = true;
            })
        }));
        let payload = outcome.expect_err("the panic comes out of dispatch");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("callback failed on 2")
        );
        assert!(
            after,
            "the C side ran to its end: nothing unwound through it"
        );
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "no callback after the panic"
        );
        // The handle stays usable: the next dispatch calls back again.
        let r = ctx.get().dispatch(|| {
            trampoline(ptr, 4);
            7
        });
        assert_eq!(r, Ok(7));
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert!(!ctx.get().is_dispatching());
    }

    #[test]
    fn dispatch_some_stops_at_max_when_none_is_pending_on_errors_and_panics() {
        let (seen, ctx) = counting(99);
        let ptr = ctx.as_ptr();
        // A C library with `pending` events, handing them out one at a time
        // (answering TRY_AGAIN when none is left), or failing with `rc`.
        let calls = Cell::new(0);
        let library = |pending: &mut Vec<u32>, rc: sys::cs_error_t| {
            let mut pending = std::mem::take(pending);
            let calls = &calls;
            move |flags: sys::cs_dispatch_flags_t| {
                assert_eq!(flags, sys::CS_DISPATCH_ONE_NONBLOCKING);
                calls.set(calls.get() + 1);
                if rc != sys::CS_OK {
                    return rc;
                }
                if pending.is_empty() {
                    return sys::CS_ERR_TRY_AGAIN;
                }
                trampoline(ptr, pending.remove(0));
                sys::CS_OK
            }
        };
        let cell = ctx.get();
        assert_eq!(
            cell.dispatch_some(3, library(&mut vec![1, 2, 3, 4], sys::CS_OK)),
            Ok(3)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(
            cell.dispatch_some(10, library(&mut vec![1, 2], sys::CS_OK)),
            Ok(2)
        );
        assert_eq!(
            cell.dispatch_some(0, library(&mut vec![1], sys::CS_OK)),
            Ok(0)
        );
        assert_eq!(
            cell.dispatch_some(5, library(&mut vec![], sys::CS_OK)),
            Ok(0)
        );
        assert_eq!(
            cell.dispatch_some(5, library(&mut vec![1], sys::CS_ERR_LIBRARY)),
            Err(Error::Library)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        // A panic ends the batch right after its event and comes out here.
        calls.set(0);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            cell.dispatch_some(10, library(&mut vec![1, 99, 3], sys::CS_OK))
        }));
        assert!(outcome.is_err());
        assert_eq!(calls.get(), 2, "the library was not called after the panic");
        assert_eq!(seen.load(Ordering::SeqCst), 7);
        assert!(!cell.is_dispatching());
    }

    #[test]
    fn a_non_string_payload_is_resumed_unchanged() {
        let ctx: Context<CallbackCell<Closure>> = Context::new(CallbackCell::new(Box::new(|_| {
            std::panic::panic_any(42u64)
        })));
        let ptr = ctx.as_ptr();
        let payload = panic::catch_unwind(AssertUnwindSafe(|| {
            ctx.get().dispatch(|| trampoline(ptr, 0))
        }))
        .expect_err("resumed");
        assert_eq!(payload.downcast_ref::<u64>(), Some(&42));
    }

    #[test]
    fn re_entrant_dispatch_is_an_error() {
        let cell: Arc<Context<CallbackCell<Closure>>> =
            Arc::new(Context::new(CallbackCell::new(Box::new(|_| {}))));
        let inner = cell.clone();
        let nested = cell.get().dispatch(|| inner.get().dispatch(|| ()));
        assert_eq!(nested, Ok(Err(Error::DispatchInProgress)));
        // The flag is released afterwards.
        assert_eq!(cell.get().dispatch(|| 1), Ok(1));
    }

    #[test]
    fn concurrent_dispatch_from_another_thread_is_an_error() {
        let cell: Arc<Context<CallbackCell<Closure>>> =
            Arc::new(Context::new(CallbackCell::new(Box::new(|_| {}))));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let other = cell.clone();
        let holder = std::thread::spawn(move || {
            other.get().dispatch(|| {
                started_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
            })
        });
        started_rx.recv().unwrap();
        assert_eq!(cell.get().dispatch(|| ()), Err(Error::DispatchInProgress));
        finish_tx.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Ok(()));
        assert_eq!(cell.get().dispatch(|| ()), Ok(()));
    }

    #[test]
    fn callbacks_outside_dispatch_are_ignored() {
        let seen = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        let ctx: Context<CallbackCell<Closure>> =
            Context::new(CallbackCell::new(Box::new(move |_| {
                seen2.fetch_add(1, Ordering::SeqCst);
            })));
        trampoline(ctx.as_ptr(), 1);
        trampoline(std::ptr::null_mut(), 1);
        assert_eq!(seen.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_current_dispatch_is_found_by_service_and_handle_and_nests() {
        let (a, b) = (1usize as *mut c_void, 2usize as *mut c_void);
        assert_eq!(current_context(Service::Cpg, 7), None);
        with_current(Service::Cpg, 7, a, || {
            assert_eq!(current_context(Service::Cpg, 7), Some(a));
            assert_eq!(
                current_context(Service::Quorum, 7),
                None,
                "same raw value, other service"
            );
            assert_eq!(current_context(Service::Cpg, 8), None);
            with_current(Service::Quorum, 7, b, || {
                assert_eq!(current_context(Service::Quorum, 7), Some(b));
                assert_eq!(current_context(Service::Cpg, 7), None, "only the innermost");
            });
            assert_eq!(current_context(Service::Cpg, 7), Some(a), "restored");
            let unwound = panic::catch_unwind(|| with_current(Service::Cfg, 1, b, || panic!("x")));
            assert!(unwound.is_err());
            assert_eq!(
                current_context(Service::Cpg, 7),
                Some(a),
                "restored on unwind"
            );
        });
        assert_eq!(current_context(Service::Cpg, 7), None);
    }

    #[test]
    fn the_context_address_is_stable_when_the_owner_moves() {
        let ctx = Context::new(CallbackCell::new(0u8));
        let before = ctx.as_ptr();
        let moved = Box::new([ctx]);
        assert_eq!(moved[0].as_ptr(), before);
    }
}
