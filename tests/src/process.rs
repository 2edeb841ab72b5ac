//! Programs run on a node and spoken to line by line
//! ([`Process`], from the kit), and [`CpgMember`]: this crate's
//! `cpg-member` program in a CPG group.

use std::process::ExitStatus;
use std::time::Duration;

pub use corosync_testkit::process::Process;

use crate::events::WAIT;
use crate::{harness_binary, hex, Node};

/// A `cpg-member` process (`tests/src/bin/cpg-member.rs`) in a CPG group
/// on a node, started once it has said "ready"; killed on drop.
#[derive(Debug)]
pub struct CpgMember {
    process: Process,
}

impl CpgMember {
    /// How long [`CpgMember::expect_line`] waits: a line may follow a flood
    /// of tens of thousands of messages on a loaded machine.
    const LINE_WAIT: Duration = Duration::from_secs(120);

    /// Starts this crate's `cpg-member` on `node` in `group` (the name's
    /// bytes) and waits for its "ready" line.
    pub fn join(node: &Node, group: &[u8]) -> CpgMember {
        let program = harness_binary("cpg-member").unwrap_or_else(|e| panic!("{e}"));
        CpgMember::start(node, program.to_str().expect("a UTF-8 path"), group)
    }

    /// Starts `program` (a build of `cpg-member`, such as
    /// `env!("CARGO_BIN_EXE_cpg-member")`) on `node` in `group` (the name's
    /// bytes) and waits up to [`WAIT`] for its "ready" line.
    pub fn start(node: &Node, program: &str, group: &[u8]) -> CpgMember {
        let mut process = Process::start(node, program, [hex(group)]);
        let name = format!(
            "cpg-member (pid {}) on node {} in group {:?}",
            process.pid(),
            node.nodeid(),
            String::from_utf8_lossy(group)
        );
        process.rename(name);
        let line = process.expect_next("\"ready <nodeid> <pid>\" line", WAIT);
        assert!(
            line.starts_with("ready "),
            "{}: said {line:?} instead of \"ready <nodeid> <pid>\"",
            process.name()
        );
        CpgMember { process }
    }

    /// Sends one command line ("leave", "exit", `send <hex>`, …).
    pub fn command(&mut self, cmd: &str) {
        self.process.say(cmd);
    }

    /// Reads the next line (waiting up to two minutes) and checks it is
    /// `want`; the failure names the member, `want` and every line read.
    pub fn expect_line(&mut self, want: &str) {
        let line = self
            .process
            .expect_next(&format!("line {want:?}"), Self::LINE_WAIT);
        assert!(
            line == want,
            "{}: next line {line:?}, not {want:?}; it printed {:?}",
            self.process.name(),
            self.process.seen()
        );
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits up to [`Process::EXIT_WAIT`] for the process to exit (after
    /// "exit"); if it still runs then, it is killed and the test fails.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.process.wait_exit()
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
