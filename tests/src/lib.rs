//! The live integration tests of corosync-rs, and what they share.
//!
//! The clusters come from [`corosync_testkit`], re-exported here under the
//! paths the tests use ([`Cluster`], [`Node`], [`bounded`], [`netns`],
//! [`watchdog`], [`process::Process`], ...): each node is a corosync daemon
//! in its own network namespace; client code runs "on node i" through
//! [`Node::run`] or [`Node::command`]. The kit's docs say what it needs
//! (root, `ip`, corosync), how it bounds parallel clusters and what it
//! touches.
//!
//! (Not run as a doc test: it needs three nodes; `tests/harness.rs` runs
//! the same and more.)
//!
//! ```no_run
//! use corosync_tests::Cluster;
//!
//! let mut cluster = Cluster::new(3).expect("cluster");
//! cluster.kill(2).expect("kill");
//! cluster.wait_for_membership(&[0, 1]).expect("two nodes stay quorate");
//! ```
//!
//! What only this project's tests need lives here: [`events`] waits for
//! callbacks ([`pump`]), [`CpgMember`] runs this crate's `cpg-member` in a
//! CPG group, [`cpg_record`] records what a CPG handle's callbacks see,
//! [`asynctest`] drives the tokio adapters, [`parity`] compares the tools
//! with corosync's own, [`example_binary`] and [`tool_binary`] build the
//! programs the tests run, and [`chaos`] is the seeded fault checker that
//! `scripts/chaos.sh` runs. The C peers are built by this crate's build
//! script.
//!
//! Clients run as root unless a test says otherwise; for a non-root client
//! see [`ClusterBuilder::allow_uid`] and `access-probe`, which drops to
//! other ids in a process of its own.

pub mod asynctest;
pub mod chaos;
pub mod cpg_record;
pub mod events;
pub mod parity;
pub mod process;

pub use corosync_testkit::{bounded, netns, watchdog};
pub use corosync_testkit::{
    corosync_binary, default_mark, lines_of, on_node, preflight, remove_stale, shm_files_of,
    Cluster, ClusterBuilder, Node, MAX_NODES,
};
pub use events::{pending_events, pump, pump_for, wait_pending, wait_readable};
pub use process::CpgMember;

/// What went wrong in the harness: the kit's error.
pub use corosync_testkit::Error as HarnessError;

/// The node ids with these numbers.
pub fn node_ids(ids: &[u32]) -> Vec<corosync::NodeId> {
    ids.iter().copied().map(corosync::NodeId::new).collect()
}

/// Lower-case hexadecimal of `bytes`, as the test helper programs speak it.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The bytes of lower- or upper-case hexadecimal; `None` if it is not.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The folder of the running test's build profile (`target/<profile>`),
/// where cargo puts this crate's binaries.
fn profile_dir() -> Result<std::path::PathBuf, HarnessError> {
    let exe =
        std::env::current_exe().map_err(|e| HarnessError::new(format!("current_exe: {e}")))?;
    // target/<profile>/deps/<test>, or target/<profile>/<binary>
    let mut dir = exe
        .parent()
        .ok_or_else(|| HarnessError::new("cannot find the target folder"))?;
    if dir.file_name().is_some_and(|d| d == "deps") {
        dir = dir
            .parent()
            .ok_or_else(|| HarnessError::new("cannot find the target folder"))?;
    }
    Ok(dir.to_path_buf())
}

/// The path of one of this crate's binaries (`tests/src/bin/`), which
/// cargo builds before it runs the integration tests.
pub fn harness_binary(name: &str) -> Result<std::path::PathBuf, HarnessError> {
    let path = profile_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::new(format!(
            "{} is missing: run the tests with `cargo test -p corosync-tests`, which builds it",
            path.display()
        )))
    }
}

/// The path of an example of the `corosync` crate, built first (with the
/// test's own profile) so it is current.
pub fn example_binary(name: &str) -> Result<std::path::PathBuf, HarnessError> {
    let profile_dir = cargo_build(&["-p", "corosync", "--features", "tokio", "--example", name])?;
    Ok(profile_dir.join("examples").join(name))
}

/// The path of a binary of the `corosync-tools` crate (`cpgtool`,
/// `quorumtool`, `cmapctl`, `cfgtool`), built first (with the test's own
/// profile) so it is current.
pub fn tool_binary(name: &str) -> Result<std::path::PathBuf, HarnessError> {
    let profile_dir = cargo_build(&["-p", "corosync-tools", "--bin", name])?;
    Ok(profile_dir.join(name))
}

/// How long [`example_binary`] and [`tool_binary`] wait for their build:
/// generous, for a machine that builds other things at the same time.
const BUILD_WAIT: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// Runs `cargo build` with `what` into the target folder this test binary
/// was built in, with its profile; returns that profile's folder.
fn cargo_build(what: &[&str]) -> Result<std::path::PathBuf, HarnessError> {
    let profile_dir = profile_dir()?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| HarnessError::new("cannot find the target folder"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet"])
        .args(what)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| HarnessError::new(format!("run cargo: {e}")))?;
    let status = bounded::try_wait_child(&mut child, BUILD_WAIT)
        .map_err(|e| HarnessError::new(format!("wait for cargo: {e}")))?;
    match status {
        Some(status) if status.success() => Ok(profile_dir),
        Some(status) => Err(HarnessError::new(format!(
            "`{}` failed ({status})",
            bounded::describe(&cmd)
        ))),
        None => {
            // (Best effort: the error is the report.)
            let _ = child.kill();
            let _ = bounded::try_wait_child(&mut child, bounded::NO_HANG);
            Err(HarnessError::new(format!(
                "`{}` still ran after {BUILD_WAIT:?}; killed",
                bounded::describe(&cmd)
            )))
        }
    }
}

/// corosync's out-queue episodes in a node's log: once a client's event
/// ring is full, corosync holds further events for it in a per-connection
/// queue, and when that queue drains it logs "Q empty, queued:… sent:N".
/// One entry per such line: N, the events the episode sent through the
/// queue (0 if the line cannot be read).
pub fn out_queue_episodes(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("Q empty, queued:"))
        .map(|l| {
            l.rsplit_once("sent:")
                .and_then(|(_, n)| n.trim().trim_end_matches('.').parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// What a delivered CPG message of `len` bytes takes in a connection's
/// event ring, worked out independently of the bindings from libqb's and
/// libcpg's layouts: the payload rounded up to 4 bytes, libqb's 8-byte
/// chunk header and libcpg's 184-byte delivery header.
pub fn event_size(len: usize) -> usize {
    len.next_multiple_of(4) + 8 + 184
}

#[cfg(test)]
mod tests {
    #[test]
    fn out_queue_episodes_reads_corosyncs_log_lines() {
        let log = "Nov 22 02:44:49 [31455] vm corosync info    [MAIN  ] Q empty, queued:0 sent:49135.\n\
                   Nov 22 02:44:50 [31455] vm corosync notice  [TOTEM ] something else\n\
                   Nov 22 02:54:05 [31455] vm corosync info    [MAIN  ] Q empty, queued:0 sent:6.\n";
        assert_eq!(super::out_queue_episodes(log), [49135, 6]);
        assert!(super::out_queue_episodes("").is_empty());
    }
}
