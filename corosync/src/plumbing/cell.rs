//! A handle's closures, guarded for use from C callbacks: the dispatch
//! flag, the panic slot and the backlog of events held back after a panic.
//!
//! - **One dispatch at a time.** [`CallbackCell::dispatch`] takes an atomic
//!   flag (no lock: user code never runs while a lock is held). A dispatch
//!   started from one of the handle's own callbacks, or from another thread
//!   while one runs, is [`Error::DispatchInProgress`].
//! - **No unwinding into C.** [`CallbackCell::invoke`] catches a panic of a
//!   closure and keeps its payload; `dispatch` resumes it once the C
//!   dispatch function has returned.
//! - **Nothing lost after a panic.** No closure runs after a panic in the
//!   same dispatch, but a C library may already have taken more events from
//!   its queue (`CS_DISPATCH_ALL` runs on inside C). Those are copied into
//!   the backlog and delivered, in order, by the next dispatch before it
//!   asks C for more. Only this path allocates; a delivery without a panic
//!   before it allocates nothing.

use std::any::Any;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

/// A panic payload caught in a callback.
type Payload = Box<dyn Any + Send + 'static>;

/// A handle's closures `F`, and events `D` held back after a panic.
pub(crate) struct CallbackCell<F, D> {
    /// Set while a dispatch runs; whoever set it has exclusive access to
    /// the other fields.
    dispatching: AtomicBool,
    panic: UnsafeCell<Option<Payload>>,
    backlog: UnsafeCell<VecDeque<D>>,
    callbacks: UnsafeCell<F>,
}

// SAFETY: the fields behind UnsafeCell are only touched by the thread that
// holds the `dispatching` flag (taken with an atomic compare-exchange), so
// sharing the cell never gives two threads access at once. The closures
// and held-back events may be used on whichever thread dispatches, so they
// must be Send.
unsafe impl<F: Send, D: Send> Sync for CallbackCell<F, D> {}

/// Releases the dispatch flag, also on unwind.
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<F, D> CallbackCell<F, D> {
    /// A cell holding `callbacks`.
    pub(crate) fn new(callbacks: F) -> Self {
        CallbackCell {
            dispatching: AtomicBool::new(false),
            panic: UnsafeCell::new(None),
            backlog: UnsafeCell::new(VecDeque::new()),
            callbacks: UnsafeCell::new(callbacks),
        }
    }

    /// Runs `body` with the dispatch flag held, so that the trampolines it
    /// triggers may call [`CallbackCell::invoke`] and it may call
    /// [`CallbackCell::replay`] and [`CallbackCell::panicked`].
    ///
    /// [`Error::DispatchInProgress`] without running `body` if a dispatch
    /// already runs. A panic kept by `invoke` is resumed here after `body`
    /// returned.
    #[inline]
    pub(crate) fn dispatch<R>(&self, body: impl FnOnce() -> R) -> Result<R> {
        if self
            .dispatching
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Error::DispatchInProgress);
        }
        let release = Release(&self.dispatching);
        let result = body();
        // SAFETY: this thread holds the dispatch flag.
        let payload = unsafe { (*self.panic.get()).take() };
        drop(release);
        if let Some(payload) = payload {
            panic::resume_unwind(payload);
        }
        Ok(result)
    }

    /// Whether a closure panicked in the running dispatch.
    ///
    /// # Safety
    ///
    /// Only inside [`CallbackCell::dispatch`] on this cell, on its thread.
    #[inline]
    pub(crate) unsafe fn panicked(&self) -> bool {
        // SAFETY: the caller holds the dispatch flag.
        unsafe { (*self.panic.get()).is_some() }
    }

    /// Calls `f` with the closures, from a trampoline; after a panic in the
    /// same dispatch, keeps the event that `held` makes (if any) for the
    /// next dispatch instead.
    ///
    /// # Safety
    ///
    /// Only from a callback that a C library runs inside the body of a
    /// [`CallbackCell::dispatch`] on this same cell, on the thread running
    /// it, and not from inside another `invoke` on this cell.
    #[inline]
    pub(crate) unsafe fn invoke(&self, f: impl FnOnce(&mut F), held: impl FnOnce() -> Option<D>) {
        // SAFETY: the caller's promise (as for `call`).
        if unsafe { self.panicked() } {
            // SAFETY: as above.
            unsafe { self.hold(held) };
        } else {
            // SAFETY: as above.
            unsafe { self.call(f) };
        }
    }

    /// Calls `f` with the closures, keeping a panic for
    /// [`CallbackCell::dispatch`] to resume. The delivery path of a
    /// trampoline that checks [`CallbackCell::panicked`] itself (and keeps
    /// the event with [`CallbackCell::hold`] when it is true).
    ///
    /// # Safety
    ///
    /// As for [`CallbackCell::invoke`], and no panic may be kept already.
    #[inline]
    pub(crate) unsafe fn call(&self, f: impl FnOnce(&mut F)) {
        // SAFETY: the caller runs inside this cell's dispatch on its thread,
        // which holds the flag, and `call` is not re-entered for this cell
        // (the caller's promise): the closures are borrowed once.
        let callbacks = unsafe { &mut *self.callbacks.get() };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(callbacks))) {
            // SAFETY: as above: nothing else touches the slot, and it is
            // empty (the caller's promise), so nothing is lost by writing
            // over it without a drop.
            unsafe { self.panic.get().write(Some(payload)) };
        }
    }
    /// Keeps the event `held` makes for the next dispatch. Out of line and
    /// cold, so that the delivery path stays short.
    ///
    /// # Safety
    ///
    /// As for [`CallbackCell::invoke`].
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn hold(&self, held: impl FnOnce() -> Option<D>) {
        if let Some(event) = held() {
            // SAFETY: the caller holds the dispatch flag, and no other
            // reference to the backlog is alive (replay pops before it
            // calls a closure).
            unsafe { (*self.backlog.get()).push_back(event) };
        }
    }

    /// Delivers up to `max` held-back events through `f` (oldest first),
    /// stopping after a panic; returns how many were delivered.
    ///
    /// # Safety
    ///
    /// Only inside the body of [`CallbackCell::dispatch`] on this cell, on
    /// its thread, not from a callback.
    pub(crate) unsafe fn replay(&self, max: usize, mut f: impl FnMut(&mut F, D)) -> usize {
        let mut done = 0;
        while done < max {
            // SAFETY: the caller holds the dispatch flag and no closure runs.
            if unsafe { self.panicked() } {
                break;
            }
            // SAFETY: as above; the borrow ends before a closure runs.
            let Some(event) = (unsafe { (*self.backlog.get()).pop_front() }) else {
                break;
            };
            done += 1;
            // SAFETY: as above: the closures are borrowed once, here.
            let callbacks = unsafe { &mut *self.callbacks.get() };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(callbacks, event))) {
                // SAFETY: as above.
                unsafe { *self.panic.get() = Some(payload) };
            }
        }
        done
    }

    /// Whether events are held back for the next dispatch.
    ///
    /// # Safety
    ///
    /// Only inside the body of [`CallbackCell::dispatch`] on this cell, on
    /// its thread, not from a callback.
    #[inline]
    pub(crate) unsafe fn has_backlog(&self) -> bool {
        // SAFETY: the caller holds the dispatch flag.
        unsafe { !(*self.backlog.get()).is_empty() }
    }

    /// Whether a dispatch is running on this cell right now (for a handle
    /// that is not `Sync`, on the calling thread).
    #[inline]
    pub(crate) fn is_dispatching(&self) -> bool {
        self.dispatching.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    type Closure = Box<dyn FnMut(u32) + Send>;
    type TestCell = CallbackCell<Closure, u32>;

    /// A trampoline as a service writes it, given the cell the registry
    /// would find.
    extern "C" fn trampoline(cell: *const TestCell, value: u32) {
        // SAFETY: the tests pass a live cell and call this only inside its
        // dispatch, on this thread.
        unsafe { (*cell).invoke(|f| f(value), || Some(value)) };
    }

    /// A cell whose closure records what it sees and panics on `panic_on`.
    fn recording(panic_on: u32) -> (Arc<std::sync::Mutex<Vec<u32>>>, TestCell) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let cell = CallbackCell::new(Box::new(move |v: u32| {
            seen2.lock().unwrap().push(v);
            if v == panic_on {
                panic!("callback failed on {v}");
            }
        }) as Closure);
        (seen, cell)
    }

    /// The next dispatch: the backlog first, then (unless a replay
    /// panicked) what C has, as the services' dispatch does.
    fn next_dispatch(cell: &TestCell, c_events: &[u32]) -> std::thread::Result<Result<()>> {
        panic::catch_unwind(AssertUnwindSafe(|| {
            cell.dispatch(|| {
                // SAFETY: inside the dispatch, not from a callback.
                unsafe { cell.replay(usize::MAX, |f, v| f(v)) };
                // SAFETY: as above.
                if !unsafe { cell.panicked() } {
                    for &v in c_events {
                        trampoline(cell, v);
                    }
                }
            })
        }))
    }

    #[test]
    fn a_panic_does_not_cross_c_and_the_events_after_it_come_next_time() {
        let (seen, cell) = recording(2);
        let mut after = false;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            cell.dispatch(|| {
                // What a C dispatch of ALL does: call back, then go on.
                for v in 1..=4 {
                    trampoline(&cell, v);
                }
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
        assert_eq!(*seen.lock().unwrap(), [1, 2], "no callback after the panic");
        // The next dispatch delivers 3 and 4 before C's new event 5.
        assert!(next_dispatch(&cell, &[5]).is_ok());
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4, 5]);
        assert!(!cell.is_dispatching());
    }

    #[test]
    fn a_panic_while_replaying_keeps_the_rest_of_the_backlog() {
        let (seen, cell) = recording(10);
        // 10 panics: the second 10 and 11 are held back.
        assert!(next_dispatch(&cell, &[1, 10, 10, 11]).is_err());
        assert_eq!(*seen.lock().unwrap(), [1, 10]);
        // The held 10 panics again: 11 stays held and C is not asked.
        assert!(next_dispatch(&cell, &[12]).is_err());
        assert_eq!(*seen.lock().unwrap(), [1, 10, 10]);
        // Then 11 comes before what C has now.
        assert!(next_dispatch(&cell, &[13]).is_ok());
        assert_eq!(*seen.lock().unwrap(), [1, 10, 10, 11, 13]);
    }

    #[test]
    fn a_non_string_payload_is_resumed_unchanged() {
        let cell: TestCell = CallbackCell::new(Box::new(|_| std::panic::panic_any(42u64)));
        let payload =
            panic::catch_unwind(AssertUnwindSafe(|| cell.dispatch(|| trampoline(&cell, 0))))
                .expect_err("resumed");
        assert_eq!(payload.downcast_ref::<u64>(), Some(&42));
    }

    #[test]
    fn re_entrant_dispatch_is_an_error() {
        let cell: TestCell = CallbackCell::new(Box::new(|_| {}));
        let nested = cell.dispatch(|| cell.dispatch(|| ()));
        assert_eq!(nested, Ok(Err(Error::DispatchInProgress)));
        assert_eq!(cell.dispatch(|| 1), Ok(1), "released afterwards");
    }

    #[test]
    fn concurrent_dispatch_from_another_thread_is_an_error() {
        let cell: Arc<TestCell> = Arc::new(CallbackCell::new(Box::new(|_| {})));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let other = cell.clone();
        let holder = std::thread::spawn(move || {
            other.dispatch(|| {
                started_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
            })
        });
        started_rx.recv().unwrap();
        assert_eq!(cell.dispatch(|| ()), Err(Error::DispatchInProgress));
        finish_tx.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Ok(()));
        assert_eq!(cell.dispatch(|| ()), Ok(()));
    }

    #[test]
    fn replay_stops_at_max() {
        let count = Arc::new(AtomicUsize::new(0));
        let count2 = count.clone();
        let cell: TestCell = CallbackCell::new(Box::new(move |v| {
            count2.fetch_add(1, Ordering::SeqCst);
            if v == 0 {
                panic!("first");
            }
        }));
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            cell.dispatch(|| {
                for v in 0..5 {
                    trampoline(&cell, v);
                }
            })
        }));
        let replayed = Cell::new(0);
        cell.dispatch(|| {
            // SAFETY: inside the dispatch, not from a callback.
            replayed.set(unsafe { cell.replay(3, |f, v| f(v)) });
            // SAFETY: as above.
            assert!(unsafe { cell.has_backlog() });
        })
        .unwrap();
        assert_eq!(replayed.get(), 3);
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }
}
