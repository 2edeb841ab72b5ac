//! Zero-copy multicast buffers (`cpg_zcb_*`).

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use corosync_sys as sys;

use super::{Cpg, Guarantee};
use crate::error::check;
use crate::{Error, Result};

/// A buffer in memory shared with the corosync daemon, for multicasts the
/// library does not copy (`cpg_zcb_alloc`). Freed exactly once, on drop or
/// by [`ZcBuffer::free`]; it borrows its [`Cpg`] so it cannot outlive it.
///
/// The buffer starts zeroed.
///
/// # Aborts
///
/// libcpg wraps the creation of the shared mapping (a file in `/dev/shm`,
/// else `/var/run`) in `assert`: if that fails (no space, no permission,
/// file size limit), the process aborts inside `cpg_zcb_alloc`. These
/// bindings bound the size (at most [`Cpg::max_atomic_msgsize`]) but cannot
/// rule the rest out. Use [`Cpg::mcast`] where that matters.
#[derive(Debug)]
pub struct ZcBuffer<'a> {
    cpg: &'a Cpg,
    ptr: NonNull<u8>,
    len: usize,
}

impl<'a> ZcBuffer<'a> {
    pub(super) fn new(cpg: &'a Cpg, size: usize) -> Result<ZcBuffer<'a>> {
        // libcpg asserts (aborting the process) when it cannot map the
        // buffer, and refuses to send more than fits its IPC request, so
        // sizes are bounded here, before the call.
        let max = cpg.max_atomic_msgsize()?;
        if size > max {
            return Err(Error::MessageTooLarge { len: size, max });
        }
        let mut buf = std::ptr::null_mut();
        // SAFETY: live handle, valid out-pointer. (A failing mapping aborts
        // inside libcpg, which is not undefined behaviour; see the type's
        // docs.)
        check(unsafe { sys::cpg_zcb_alloc(cpg.raw(), size, &mut buf) })?;
        let ptr = NonNull::new(buf.cast::<u8>()).ok_or(Error::AllocationFailed)?;
        Ok(ZcBuffer {
            cpg,
            ptr,
            len: size,
        })
    }

    /// Multicasts the first `len` bytes of the buffer to the group its
    /// handle joined ([`Error::NotJoined`] if it has joined none, as with
    /// [`Cpg::mcast`]). The buffer stays allocated and can be reused.
    pub fn mcast(&self, guarantee: Guarantee, len: usize) -> Result<()> {
        if len > self.len {
            return Err(Error::MessageTooLarge { len, max: self.len });
        }
        self.cpg.check_in_group()?;
        // SAFETY: live handle; the pointer came from cpg_zcb_alloc of that
        // handle and `len` bytes of it are mapped.
        check(unsafe {
            sys::cpg_zcb_mcast_joined(
                self.cpg.raw(),
                guarantee.as_raw(),
                self.ptr.as_ptr().cast(),
                len,
            )
        })
    }

    /// Frees the buffer, returning the library's answer (dropping frees it
    /// too, ignoring that).
    pub fn free(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the pointer came from cpg_zcb_alloc of this handle and is
        // freed once: Drop does not run.
        check(unsafe { sys::cpg_zcb_free(this.cpg.raw(), this.ptr.as_ptr().cast()) })
    }
}

impl Deref for ZcBuffer<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped, initialized (zeroed by libcpg)
        // and owned by this buffer until it is freed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for ZcBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for ZcBuffer<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by cpg_zcb_alloc of this handle, freed once.
        unsafe { sys::cpg_zcb_free(self.cpg.raw(), self.ptr.as_ptr().cast()) };
    }
}
