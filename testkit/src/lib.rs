//! Real corosync clusters on one machine, for integration tests.
//!
//! [`Cluster`] starts 1 to [`MAX_NODES`] corosync daemons, each in its own
//! network namespace with a private `/run` and state folder, waits until
//! they form a quorate membership, and tears everything down on drop, also
//! when the test panics. A test can [stop](Cluster::stop),
//! [kill](Cluster::kill), [restart](Cluster::restart),
//! [isolate](Cluster::isolate) and [heal](Cluster::heal) nodes, wait for a
//! [membership](Cluster::wait_for_membership) (a timeout's error shows the
//! daemons' logs), read a node's [log](Node::log), and run client code "on
//! node i": a closure with [`Node::run`] (a thread inside the node's network
//! namespace: corosync's IPC sockets are abstract unix sockets, so a client
//! reaches the daemon of the namespace it was created in) or a program with
//! [`Node::command`] and [`process::Process`].
//!
//! # Example
//!
//! A test file of your crate, say `tests/cluster.rs`, with this crate and
//! `corosync` as dev-dependencies (run as root: `sudo -E cargo test`):
//!
//! ```
#![doc = include_str!("../tests/guide.rs")]
//! # fn main() {}
//! ```
//!
//! # What it needs, and why
//!
//! - **Root.** Each node is a network namespace made with `ip netns add`,
//!   each daemon gets a mount namespace with a tmpfs on `/run` (corosync
//!   keeps a pid lock file there, so two daemons cannot share one), and
//!   client threads enter namespaces with `setns`: all of these need
//!   `CAP_SYS_ADMIN`.
//! - **iproute2** (`ip`) and **corosync** (the daemon, found on `PATH` or in
//!   the sbin folders, or at `COROSYNC_BINARY`), Linux 5.3 or later.
//! - **libquorum** at build time (Debian's `libquorum-dev`): the kit reads
//!   each node's membership and quorum through the quorum service of the
//!   `corosync` crate, in process, rather than by running and parsing
//!   `corosync-quorumtool` at every poll. A user of this kit builds against
//!   corosync's client libraries anyway.
//!
//! No C compiler, no build script.
//!
//! # Without root
//!
//! Starting a cluster fails with an [`Error`] that says the kit must run as
//! root and how; the same for a missing corosync or `ip`. A test that
//! `expect`s its cluster then fails with that message: the kit never skips
//! a test.
//!
//! # Bounding parallel clusters
//!
//! Tests run in parallel (threads of a test binary, several test binaries,
//! other projects on the same machine). A cluster holds one of
//! `COROSYNC_HARNESS_SLOTS` slots (default 3) for its whole life: an
//! exclusive lock on a file in the temporary folder, shared by every user
//! of the kit on the machine, released even when the process dies. A
//! cluster waits for a free slot up to 20 minutes; past one minute it says
//! on stderr which processes hold the slots. On a small machine, fewer
//! slots keep daemons from starving each other into token timeouts.
//!
//! # What it touches
//!
//! Only what it made. Every name carries an owner mark and the creating
//! process's id: namespaces are `ctk.<mark>.<pid>.c<n>.n<node>` (and
//! `.sw` for the switch of a multi-node cluster), a cluster's folder is
//! `$TMPDIR/corosync-testkit/ctk.<mark>.<pid>.c<n>`, and the bridge and
//! veth interfaces live inside those namespaces, never in the host's. The
//! first cluster of a mark in a process removes that mark's leftovers
//! whose creating process is gone (a run that was killed before it could
//! clean up), and nothing else: other marks, and names not made by the
//! kit, are never touched ([`remove_stale`]).
//!
//! The mark is [`ClusterBuilder::mark`], else `COROSYNC_TESTKIT_MARK`, else
//! the name of the package whose tests cargo runs (`CARGO_PKG_NAME`), else
//! `testkit` ([`default_mark`]): two projects on one CI host leave each
//! other's clusters alone, and two test binaries of one project never
//! collide (the pid differs).
//!
//! # When a test hangs
//!
//! Every wait of the kit has a deadline and ends in an error naming what
//! it waited for. Against a test that hangs where no wait of its own has a
//! deadline, every cluster has a time limit (10 minutes, or
//! `COROSYNC_TEST_LIMIT` seconds, or [`ClusterBuilder::time_limit`]), past
//! which a [`watchdog`] kills its daemons, naming the test.
//! `COROSYNC_HARNESS_KEEP` set keeps each cluster's folder (configuration,
//! logs) after the cluster is dropped.
//!
//! # Clients that are not root
//!
//! Clients run as root unless a test says otherwise. For a non-root client,
//! list its uid or gid with [`ClusterBuilder::allow_uid`] or
//! [`ClusterBuilder::allow_gid`] (or not, to see it refused) and run it
//! with [`Node::command`] as a program that drops to those ids itself:
//! `setuid` changes every thread of a process, so a test's thread cannot
//! do it alone.

// The guide's example is a whole test file, `#[test]` and all, as a user
// writes it: the doc test compiles it, and `tests/guide.rs` (the same text)
// runs it against real daemons.
#![allow(clippy::test_attr_in_doctest)]

use std::fmt;

pub mod bounded;
mod cluster;
pub mod netns;
mod owner;
pub mod poll;
pub mod process;
mod slots;
pub mod watchdog;

pub use cluster::{on_node, shm_files_of, Cluster, ClusterBuilder, Node, MAX_NODES};
pub use owner::{default_mark, remove_stale, Removed, MARK_VAR};

/// What went wrong in the kit: a message saying what, with the daemons'
/// logs where they tell why.
#[derive(Debug, Clone)]
pub struct Error(String);

impl Error {
    /// An error with this message (for the checks given to
    /// [`Cluster::wait_until`], and helpers built on the kit).
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<corosync::Error> for Error {
    fn from(err: corosync::Error) -> Self {
        Error(format!("corosync: {err}"))
    }
}

/// The lines of `reader`, read on a thread of their own into a channel that
/// closes at EOF or at the first read error: for following a program's
/// stdout while doing other work.
pub fn lines_of<R: std::io::Read + Send + 'static>(reader: R) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Whether process `pid` exists.
pub(crate) fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The corosync daemon binary: `$COROSYNC_BINARY` if set, else `corosync`
/// from `PATH` or the sbin folders.
pub fn corosync_binary() -> Result<std::path::PathBuf, Error> {
    if let Some(path) = std::env::var_os("COROSYNC_BINARY") {
        let path = std::path::PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::new(format!(
                "the corosync daemon is not installed at COROSYNC_BINARY={}: install it \
                 (Debian, Ubuntu: `apt-get install corosync`) or set COROSYNC_BINARY to it",
                path.display()
            )))
        };
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/local/sbin".into()]);
    for dir in candidates {
        let path = dir.join("corosync");
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(Error::new(
        "the corosync daemon is not installed: install it (Debian, Ubuntu: \
         `apt-get install corosync`) or set COROSYNC_BINARY to it",
    ))
}

/// Checks that the kit can work here: root, corosync and iproute2. Every
/// cluster start does this first; the error says what is missing and what
/// to do.
pub fn preflight() -> Result<(), Error> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::new(
            "corosync-testkit must run as root (it creates network namespaces and mounts a \
             private /run for each daemon): run the tests as root, e.g. `sudo -E cargo test`",
        ));
    }
    corosync_binary()?;
    match bounded::output(
        std::process::Command::new("ip").arg("-V"),
        bounded::COMMAND_WAIT,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
            "`ip` is missing: install iproute2 (Debian, Ubuntu: `apt-get install iproute2`)",
        )),
        Err(e) => Err(Error::new(e.to_string())),
    }
}
