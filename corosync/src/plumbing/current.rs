//! The current-dispatch registry: how a C callback finds the Rust handle it
//! belongs to.
//!
//! A handle's `dispatch` registers `&self` in a thread-local frame for the
//! duration of the C dispatch call, and a trampoline reborrows the handle
//! from the innermost frame. This is sound and needs no context pointer
//! because the C libraries call back only from inside their dispatch
//! function, on the dispatching thread, into the innermost dispatch; the
//! reference is alive for the whole call, and frames are popped on return
//! and on unwind. The C libraries' own context slots (`*_context_set`) are
//! not used: a read of the registry costs no library call and no lock.

use std::cell::Cell;
use std::ptr::{self, NonNull};

/// What kind of handle a frame holds, so that handles of two services with
/// the same raw value are never confused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    #[cfg(feature = "cpg")]
    Cpg,
    #[cfg(feature = "cpg")]
    Evs,
    #[cfg(feature = "quorum")]
    Quorum,
    #[cfg(feature = "votequorum")]
    Votequorum,
    #[cfg(feature = "cmap")]
    Cmap,
    #[cfg(feature = "cfg")]
    Cfg,
}

/// A handle type that can be registered: its kind names it in the frames.
pub(crate) trait Registered {
    /// The kind of every handle of this type.
    const KIND: Kind;
}

/// A registration, on the stack of the dispatching call.
struct Frame {
    kind: Kind,
    raw: u64,
    handle: NonNull<()>,
    outer: *const Frame,
}

thread_local! {
    /// The innermost frame of this thread.
    static INNERMOST: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// Runs `body` with `handle` (whose C handle is `raw`) registered as this
/// thread's innermost dispatching handle; the registration ends when
/// `body` returns or unwinds.
#[inline]
pub(crate) fn with_registered<H: Registered, R>(
    handle: &H,
    raw: u64,
    body: impl FnOnce() -> R,
) -> R {
    struct Pop(*const Frame);
    impl Drop for Pop {
        fn drop(&mut self) {
            INNERMOST.with(|top| top.set(self.0));
        }
    }
    let frame = Frame {
        kind: H::KIND,
        raw,
        handle: NonNull::from(handle).cast(),
        outer: INNERMOST.with(Cell::get),
    };
    INNERMOST.with(|top| top.set(&frame));
    let _pop = Pop(frame.outer);
    body()
}

/// The handle of type `H` and C handle `raw` that registered the innermost
/// frame, if it did.
///
/// # Safety
///
/// The reference must not be used after the callback that asked for it
/// returns (the frame, and so the borrow it stands for, may end then).
#[inline]
pub(crate) unsafe fn innermost<'a, H: Registered>(raw: u64) -> Option<&'a H> {
    let top = INNERMOST.with(Cell::get);
    // SAFETY: a non-null INNERMOST points to a live frame on this thread's
    // stack (popped before the frame goes away).
    let frame = unsafe { top.as_ref() }?;
    if frame.kind == H::KIND && frame.raw == raw {
        // SAFETY: a frame of kind H::KIND was made from a `&H` that outlives
        // it; the caller keeps the reborrow within the callback.
        Some(unsafe { frame.handle.cast::<H>().as_ref() })
    } else {
        None
    }
}

/// The handle of type `H` and C handle `raw` registered in the innermost
/// frame or an outer one: for a handle built on another (EVS on CPG),
/// whose own dispatch encloses the inner handle's.
///
/// # Safety
///
/// As for [`innermost`].
#[cfg(feature = "cpg")]
pub(crate) unsafe fn enclosing<'a, H: Registered>(raw: u64) -> Option<&'a H> {
    let mut at = INNERMOST.with(Cell::get);
    // SAFETY: every frame in the chain is live (as in `innermost`).
    while let Some(frame) = unsafe { at.as_ref() } {
        if frame.kind == H::KIND && frame.raw == raw {
            // SAFETY: as in `innermost`.
            return Some(unsafe { frame.handle.cast::<H>().as_ref() });
        }
        at = frame.outer;
    }
    None
}

#[cfg(all(test, feature = "cpg", feature = "quorum"))]
mod tests {
    use super::*;

    struct A(u32);
    impl Registered for A {
        const KIND: Kind = Kind::Cpg;
    }
    struct B(u32);
    impl Registered for B {
        const KIND: Kind = Kind::Quorum;
    }
    struct E(u32);
    impl Registered for E {
        const KIND: Kind = Kind::Evs;
    }

    /// What a trampoline of handle type `H` finds for `raw`.
    fn found<H: Registered>(raw: u64, value: impl Fn(&H) -> u32) -> Option<u32> {
        // SAFETY: used within this call only.
        unsafe { innermost::<H>(raw) }.map(value)
    }

    #[test]
    fn the_innermost_handle_is_found_by_kind_and_raw_value_and_frames_nest() {
        let (a, b) = (A(1), B(2));
        assert_eq!(found::<A>(7, |h| h.0), None);
        with_registered(&a, 7, || {
            assert_eq!(found::<A>(7, |h| h.0), Some(1));
            assert_eq!(found::<B>(7, |h| h.0), None, "same raw value, other kind");
            assert_eq!(found::<A>(8, |h| h.0), None);
            with_registered(&b, 7, || {
                assert_eq!(found::<B>(7, |h| h.0), Some(2));
                assert_eq!(found::<A>(7, |h| h.0), None, "only the innermost");
            });
            assert_eq!(found::<A>(7, |h| h.0), Some(1), "popped on return");
            let unwound = std::panic::catch_unwind(|| with_registered(&B(3), 1, || panic!("x")));
            assert!(unwound.is_err());
            assert_eq!(found::<A>(7, |h| h.0), Some(1), "popped on unwind");
        });
        assert_eq!(found::<A>(7, |h| h.0), None);
    }

    #[test]
    fn an_enclosing_handle_is_found_through_the_inner_frames() {
        let (e, a) = (E(5), A(1));
        with_registered(&e, 9, || {
            with_registered(&a, 9, || {
                // SAFETY: used within this call only.
                let outer = unsafe { enclosing::<E>(9) }.map(|h| h.0);
                assert_eq!(outer, Some(5));
                // SAFETY: as above.
                assert!(unsafe { innermost::<E>(9) }.is_none());
                // SAFETY: as above.
                assert!(unsafe { enclosing::<E>(8) }.is_none());
            })
        });
    }
}
