//! Iterating over CPG groups and their members (`cpg_iteration_*`).

use corosync_sys as sys;

use super::{Cpg, GroupName};
use crate::error::check;
use crate::{Error, NodeId, Result};

/// What [`Cpg::iter`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iteration<'a> {
    /// Every group's name once (`CPG_ITERATION_NAME_ONLY`); node id and pid
    /// are 0.
    NameOnly,
    /// The members of one group (`CPG_ITERATION_ONE_GROUP`).
    OneGroup(&'a GroupName),
    /// Every member of every group (`CPG_ITERATION_ALL`).
    All,
}

/// One entry of a group iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IterEntry {
    /// The group.
    pub group: GroupName,
    /// The member's node (0 with [`Iteration::NameOnly`]).
    pub nodeid: NodeId,
    /// The member's process id (0 with [`Iteration::NameOnly`]).
    pub pid: u32,
}

/// An iteration over groups; finalized on drop, also when dropped before
/// the end. It borrows its [`Cpg`], which finalizing would end it.
///
/// Yields `Err` and ends if the daemon fails mid-way; an entry whose group
/// name is longer than 128 bytes (which corosync never sends) is an `Err`
/// item and the iteration goes on.
#[derive(Debug)]
pub struct GroupIter<'a> {
    _cpg: &'a Cpg,
    raw: sys::cpg_iteration_handle_t,
    done: bool,
}

impl<'a> GroupIter<'a> {
    pub(super) fn new(cpg: &'a Cpg, what: Iteration<'_>) -> Result<GroupIter<'a>> {
        let (kind, group) = match what {
            Iteration::NameOnly => (sys::CPG_ITERATION_NAME_ONLY, None),
            Iteration::OneGroup(g) => (sys::CPG_ITERATION_ONE_GROUP, Some(g)),
            Iteration::All => (sys::CPG_ITERATION_ALL, None),
        };
        let group_ptr = group.map_or(std::ptr::null(), |g| g.as_raw() as *const sys::cpg_name);
        let mut raw = 0;
        let rc = {
            let _hdb = crate::handle::side_hdb_lock::<super::CpgLib>();
            // SAFETY: live handle; the name, when given, is valid; the
            // handle is written on success.
            unsafe { sys::cpg_iteration_initialize(cpg.raw(), kind, group_ptr, &mut raw) }
        };
        // On failure libcpg has either never registered the iteration or
        // keeps it until cpg_finalize; `raw` may be stale, so it is not
        // finalized here.
        check(rc)?;
        Ok(GroupIter {
            _cpg: cpg,
            raw,
            done: false,
        })
    }

    /// Finalizes the iteration, returning the library's answer.
    pub fn finalize(mut self) -> Result<()> {
        self.done = true;
        let raw = std::mem::replace(&mut self.raw, 0);
        let _hdb = crate::handle::side_hdb_lock::<super::CpgLib>();
        // SAFETY: live iteration handle, finalized once (Drop sees 0).
        check(unsafe { sys::cpg_iteration_finalize(raw) })
    }
}

impl Iterator for GroupIter<'_> {
    type Item = Result<IterEntry>;

    fn next(&mut self) -> Option<Result<IterEntry>> {
        if self.done {
            return None;
        }
        let mut desc = sys::cpg_iteration_description_t::default();
        // SAFETY: live iteration handle, valid out-pointer.
        let rc = unsafe { sys::cpg_iteration_next(self.raw, &mut desc) };
        match rc {
            sys::CS_OK => Some(GroupName::from_raw(desc.group).map(|group| IterEntry {
                group,
                nodeid: NodeId::new(desc.nodeid),
                pid: desc.pid,
            })),
            sys::CS_ERR_NO_SECTIONS => {
                self.done = true;
                None
            }
            err => {
                self.done = true;
                Some(Err(Error::from_code(err)))
            }
        }
    }
}

impl std::iter::FusedIterator for GroupIter<'_> {}

impl Drop for GroupIter<'_> {
    fn drop(&mut self) {
        if self.raw != 0 {
            let _hdb = crate::handle::side_hdb_lock::<super::CpgLib>();
            // SAFETY: live iteration handle, finalized once.
            unsafe { sys::cpg_iteration_finalize(self.raw) };
        }
    }
}
