//! Owned message bytes whose buffers are recycled.
//!
//! A stream's events outlive the dispatch call, so every delivered message
//! is copied; reusing the buffers rather than allocating one per message
//! spares the allocator and the page faults of large messages (what that
//! saves is measured in BENCHMARKS.md).
//!
//! A [`Payload`] gives its buffer back to its stream's [`Pool`] when
//! dropped, from any thread, with one compare-and-swap; the delivery side
//! ([`Recycler`], owned by the delivery callback) takes the returned
//! buffers all at once with one swap and reuses them. Once the pool holds
//! enough buffers the delivery path neither allocates nor takes a lock.
//! Because only the recycler ever removes buffers from the shared stack,
//! and it removes them all at once, the stack has no ABA problem.

use std::fmt;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

/// The most bytes of idle buffers (with their bookkeeping) a pool keeps
/// in its shared stack: about twice corosync's 1 MiB event ring, the most
/// a connection has in flight to its client. The recycler may hold as
/// much again, taken from the stack and not reused yet. Under Miri, which
/// runs the tests some thousand times slower, a smaller budget fills with
/// fewer buffers through the same code.
const MAX_KEPT_BYTES: usize = if cfg!(miri) {
    256 * 1024
} else {
    2 * 1024 * 1024
};

/// What a kept buffer is charged besides its capacity: the node and the
/// allocator's headers (so that a pool of tiny buffers is bounded too).
const NODE_CHARGE: usize = 64;

/// A buffer more than this many times larger than the message it would
/// hold is shrunk first, so that small messages do not pin large buffers.
const MAX_SLACK: usize = 4;

/// Whether a buffer of `capacity` is too large to hold `len` bytes (see
/// [`MAX_SLACK`]).
#[inline]
fn oversized(capacity: usize, len: usize) -> bool {
    capacity > MAX_SLACK * len.max(64)
}

/// Buffers larger than this are freed rather than kept.
const MAX_KEPT_BUFFER: usize = 256 * 1024;

/// A buffer, and its link while it waits in the pool.
struct Node {
    buf: Vec<u8>,
    next: AtomicPtr<Node>,
}

/// The buffers given back by dropped payloads: a stack that any thread
/// pushes onto and only the [`Recycler`] empties, all at once.
pub(crate) struct Pool {
    head: AtomicPtr<Node>,
    /// Capacity of the buffers in the stack (approximate under races).
    bytes: AtomicUsize,
}

impl Pool {
    fn put(&self, node: Box<Node>) {
        let cap = node.buf.capacity();
        let charge = cap + NODE_CHARGE;
        if cap > MAX_KEPT_BUFFER || self.bytes.load(Ordering::Relaxed) + charge > MAX_KEPT_BYTES {
            return;
        }
        self.bytes.fetch_add(charge, Ordering::Relaxed);
        let node = Box::into_raw(node);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` came from `Box::into_raw` above and nothing
            // else sees it until the compare-and-swap below publishes it.
            unsafe { (*node).next.store(head, Ordering::Relaxed) };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every buffer in the stack.
    // The boxes are the pool's nodes: they move between the stack, this
    // list and payloads without being reallocated.
    #[allow(clippy::vec_box)]
    fn take_all(&self, into: &mut Vec<Box<Node>>) {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let mut bytes = 0;
        while !p.is_null() {
            // SAFETY: every node in the stack came from `Box::into_raw` in
            // `put`, and the swap took the whole chain out of the shared
            // stack, so this thread owns each node exactly once.
            let node = unsafe { Box::from_raw(p) };
            p = node.next.load(Ordering::Relaxed);
            bytes += node.buf.capacity() + NODE_CHARGE;
            into.push(node);
        }
        // (The count is approximate under races: never below zero.)
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(bytes))
            });
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut nodes = Vec::new();
        self.take_all(&mut nodes);
    }
}

/// The delivery side of a pool: makes payloads, reusing returned buffers.
pub(crate) struct Recycler {
    pool: Arc<Pool>,
    #[allow(clippy::vec_box)] // See `Pool::take_all`.
    idle: Vec<Box<Node>>,
}

impl Recycler {
    pub(crate) fn new() -> Recycler {
        Recycler {
            pool: Arc::new(Pool {
                head: AtomicPtr::new(ptr::null_mut()),
                bytes: AtomicUsize::new(0),
            }),
            idle: Vec::new(),
        }
    }

    /// A payload holding a copy of `data`, in a reused buffer when one is
    /// idle.
    #[inline]
    pub(crate) fn copy(&mut self, data: &[u8]) -> Payload {
        if self.idle.is_empty() {
            self.pool.take_all(&mut self.idle);
        }
        let mut node = self.idle.pop().unwrap_or_else(|| {
            Box::new(Node {
                buf: Vec::new(),
                next: AtomicPtr::new(ptr::null_mut()),
            })
        });
        node.buf.clear();
        if oversized(node.buf.capacity(), data.len()) {
            node.buf.shrink_to(data.len());
        }
        node.buf.extend_from_slice(data);
        Payload {
            node: Some(node),
            pool: Some(self.pool.clone()),
        }
    }
}

/// The bytes of a delivered message: an owned copy that dereferences to
/// `[u8]`. Dropping it returns its buffer to the stream it came from for
/// a later message; [`Payload::into_vec`] keeps the buffer instead.
pub struct Payload {
    /// Always `Some` until dropped or taken apart.
    node: Option<Box<Node>>,
    /// `None` for payloads made from a `Vec`.
    pool: Option<Arc<Pool>>,
}

impl Payload {
    /// The bytes as a `Vec` (the buffer itself, shrunk if it is much
    /// larger than the bytes).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.pool = None;
        let mut buf = self.node.take().map(|n| n.buf).unwrap_or_default();
        if oversized(buf.capacity(), buf.len()) {
            buf.shrink_to_fit();
        }
        buf
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.node.as_deref().map_or(&[], |n| &n.buf[..])
    }
}

impl Drop for Payload {
    #[inline]
    fn drop(&mut self) {
        if let (Some(pool), Some(node)) = (self.pool.take(), self.node.take()) {
            pool.put(node);
        }
    }
}

impl Deref for Payload {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::borrow::Borrow<[u8]> for Payload {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<Vec<u8>> for Payload {
    fn from(buf: Vec<u8>) -> Payload {
        Payload {
            node: Some(Box::new(Node {
                buf,
                next: AtomicPtr::new(ptr::null_mut()),
            })),
            pool: None,
        }
    }
}

impl From<Payload> for Vec<u8> {
    fn from(p: Payload) -> Vec<u8> {
        p.into_vec()
    }
}

impl Clone for Payload {
    /// A copy in a buffer of its own (not from the pool).
    fn clone(&self) -> Payload {
        Payload::from(self.as_slice().to_vec())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Payload {}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self[..] == *other
    }
}

impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self[..] == **other
    }
}

impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self[..] == other[..]
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Payload {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self[..] == other[..]
    }
}

impl std::hash::Hash for Payload {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self[..].hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(r: &mut Recycler) -> usize {
        r.pool.take_all(&mut r.idle);
        r.idle.len()
    }

    #[test]
    fn buffers_are_reused() {
        let mut r = Recycler::new();
        let a = r.copy(b"hello");
        assert_eq!(a, b"hello");
        let addr = a.as_ptr();
        drop(a);
        // The next copy reuses the buffer the first one gave back.
        let b = r.copy(b"world");
        assert_eq!(b.as_ptr(), addr);
        assert_eq!(b, b"world");
        // Taken out, a buffer does not go back.
        assert_eq!(b.into_vec(), b"world");
        assert_eq!(kept(&mut r), 0);
    }

    #[test]
    fn the_pool_is_bounded() {
        let mut r = Recycler::new();
        // A large buffer is not kept.
        drop(r.copy(&vec![7u8; MAX_KEPT_BUFFER + 1]));
        assert_eq!(kept(&mut r), 0);
        // Nor more than the byte budget.
        let size = MAX_KEPT_BYTES / 32;
        let many: Vec<Payload> = (0..2 * MAX_KEPT_BYTES / size)
            .map(|_| r.copy(&vec![1u8; size]))
            .collect();
        drop(many);
        let n = kept(&mut r);
        assert!(n > 0 && n * size <= MAX_KEPT_BYTES, "{n} buffers kept");
        // Tiny buffers are charged for their bookkeeping too.
        let mut r = Recycler::new();
        let many: Vec<Payload> = (0..2 * MAX_KEPT_BYTES / NODE_CHARGE)
            .map(|_| r.copy(b""))
            .collect();
        drop(many);
        let n = kept(&mut r);
        assert!(
            n > 0 && n * NODE_CHARGE <= MAX_KEPT_BYTES,
            "{n} buffers kept"
        );
    }

    #[test]
    fn small_messages_do_not_pin_large_buffers() {
        let mut r = Recycler::new();
        drop(r.copy(&vec![1u8; 200 * 1024]));
        let small = r.copy(b"hi");
        assert_eq!(small, b"hi");
        assert!(small.node.as_ref().unwrap().buf.capacity() <= MAX_SLACK * 64);
        let v = small.into_vec();
        assert!(v.capacity() <= MAX_SLACK * 64, "capacity {}", v.capacity());
        // A reused buffer that is only a little larger keeps its size.
        drop(r.copy(&vec![1u8; 4000]));
        let p = r.copy(&vec![2u8; 3000]);
        assert_eq!(p.node.as_ref().unwrap().buf.capacity(), 4000);
    }

    #[test]
    fn payloads_go_back_from_other_threads() {
        let mut r = Recycler::new();
        let mut payloads: Vec<Payload> = (0..1000u32).map(|i| r.copy(&i.to_ne_bytes())).collect();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mine: Vec<Payload> = payloads.drain(..250).collect();
                std::thread::spawn(move || drop(mine))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(kept(&mut r), 1000);
        // A clone has a buffer of its own, which does not come back.
        let p = r.copy(b"x");
        drop(p.clone());
        assert_eq!(kept(&mut r), 999);
    }

    #[test]
    fn payloads_compare_and_convert_like_their_bytes() {
        let mut r = Recycler::new();
        let p = r.copy(&[1, 2, 3]);
        // The bytes, in the pooled buffer itself.
        assert_eq!(p.as_slice(), &[1u8, 2, 3][..]);
        assert_eq!(p.as_slice().as_ptr(), p.node.as_ref().unwrap().buf.as_ptr());
        // A clone equals a payload built apart from the same bytes, in a
        // buffer of its own; payloads of other bytes differ.
        let c = p.clone();
        assert_eq!(c, Payload::from(vec![1u8, 2, 3]));
        assert_eq!(c.as_slice(), &[1u8, 2, 3][..]);
        assert_ne!(c.as_slice().as_ptr(), p.as_slice().as_ptr());
        assert_ne!(p, Payload::from(vec![1u8, 2]));
        assert_ne!(p, Payload::from(vec![1u8, 2, 4]));
        assert_eq!(Payload::from(Vec::new()).as_slice(), &[] as &[u8]);
        assert_eq!(p, vec![1u8, 2, 3]);
        assert_eq!(p, [1u8, 2, 3]);
        assert_eq!(format!("{p:?}"), "[1, 2, 3]");
        assert_eq!(Vec::from(Payload::from(vec![4u8])), vec![4u8]);
        // A payload that outlives its stream still frees its buffer.
        let q = r.copy(&[9; 100]);
        drop(r);
        assert_eq!(q.len(), 100);
        drop(q);
    }
}
