//! The corosync-rs test harness: real corosync clusters on one machine.
//!
//! [`Cluster`] starts 1 to 5 corosync daemons, each in its own network
//! namespace with a private `/run` and state folder, and tears everything
//! down on drop. Client code runs "on node i" through [`Node::run`] (a
//! thread inside the node's network namespace: corosync's IPC sockets are
//! abstract unix sockets, so a client reaches the daemon of the namespace it
//! was created in) or [`Node::command`].
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
//! The harness needs root (namespaces, mounts) and an installed corosync;
//! without them it fails with a message saying what to do. It never skips.
//!
//! For the tests themselves: [`events`] waits for callbacks ([`pump`]),
//! [`bounded`] puts a deadline on calls, threads and commands, [`process`]
//! runs helper programs on a node and reads what they print ([`CpgMember`]
//! is one in a CPG group), and [`cpg_record`] records what a CPG handle's
//! callbacks see. Against a test that hangs all the same, every cluster has
//! a time limit, past which a [`watchdog`] kills its daemons. [`chaos`] is
//! the seeded fault checker that `scripts/chaos.sh` runs.
//!
//! Clients run as root unless a test says otherwise. For a non-root client,
//! list its uid or gid with [`ClusterBuilder::allow_uid`] or
//! [`ClusterBuilder::allow_gid`] (or not, to see it refused) and run it
//! with [`Node::command`] as a program that drops to those ids itself, as
//! `access-probe` does: `setuid` changes every thread of a process, so a
//! test's thread cannot do it alone.

use std::fmt;

pub mod asynctest;
pub mod bounded;
pub mod chaos;
mod cluster;
pub mod cpg_record;
pub mod events;
pub mod netns;
pub mod parity;
pub mod process;
mod slots;
pub mod watchdog;

pub use cluster::{on_node, shm_files_of, Cluster, ClusterBuilder, Node, MAX_NODES};
pub use events::{pending_events, pump, pump_for, wait_pending, wait_readable};
pub use process::CpgMember;

/// What went wrong in the harness, with the daemons' logs where they help.
#[derive(Debug, Clone)]
pub struct HarnessError(String);

impl HarnessError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        HarnessError(message.into())
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<corosync::Error> for HarnessError {
    fn from(err: corosync::Error) -> Self {
        HarnessError(format!("corosync: {err}"))
    }
}

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

/// The lines of `reader`, read on a thread of their own into a channel that
/// closes at EOF or at the first read error: for following a helper
/// process's stdout, or a helper's own stdin, while doing other work.
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

/// Whether process `pid` exists.
pub(crate) fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The corosync daemon binary: `$COROSYNC_BINARY` if set, else `corosync`
/// from `PATH` or the sbin folders.
pub fn corosync_binary() -> Result<std::path::PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os("COROSYNC_BINARY") {
        let path = std::path::PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError::new(format!(
                "the corosync daemon is not installed at COROSYNC_BINARY={}: run scripts/test.sh \
                 (it installs it), or `apt-get install corosync`",
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
    Err(HarnessError::new(
        "the corosync daemon is not installed: run scripts/test.sh (it installs it), \
         or `apt-get install corosync`",
    ))
}

/// Checks that the harness can work here: root, corosync and iproute2.
/// Also removes namespaces left behind by harness runs that were killed.
pub fn preflight() -> Result<(), HarnessError> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(HarnessError::new(
            "the corosync test harness must run as root (it creates network namespaces and \
             mounts): run the README's test command as root, e.g. `sudo scripts/test.sh`",
        ));
    }
    corosync_binary()?;
    match bounded::output(
        std::process::Command::new("ip").arg("-V"),
        bounded::COMMAND_WAIT,
    ) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(HarnessError::new(
                "`ip` is missing: install iproute2 (scripts/test.sh does)",
            ));
        }
        Err(e) => return Err(HarnessError::new(e.to_string())),
    }
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(netns::remove_stale);
    Ok(())
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
