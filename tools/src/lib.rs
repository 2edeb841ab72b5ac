//! What the Rust versions of corosync's command-line tools share.
//!
//! The binaries of this crate, `cpgtool`, `quorumtool`, `cmapctl` and
//! `cfgtool`, are written on the safe `corosync` crate and take the options
//! and print the output of `corosync-cpgtool`, `corosync-quorumtool`,
//! `corosync-cmapctl` and `corosync-cfgtool` (the live tests run each next
//! to the C tool against the same cluster and compare). This library holds
//! the parts more than one of them needs, each written to behave as the C
//! tools' own code does:
//!
//! - [`getopt`]: POSIX/GNU option parsing with the same diagnostics;
//! - [`cs_error`]: corosync's own text and number for an error;
//! - [`number`]: numbers read from text as `strtoll` and `sscanf` read them;
//! - [`nodelist`]: the configured nodes, read from cmap;
//! - [`output`]: bytes escaped and node addresses listed as the tools print them;
//! - [`retry`]: the tools' once-a-second retry while corosync says "try again";
//! - [`ring_status`]: the link list corosync 3.0's cfgtool printed.

pub mod cs_error;
pub mod getopt;
pub mod nodelist;
pub mod number;
pub mod output;
pub mod retry;
pub mod ring_status;
