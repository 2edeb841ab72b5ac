//! Programs run on a node and spoken to line by line: the harness's helper
//! programs (`cpg-member`, `evs-member`, `sam-worker`), the C peers and the
//! examples. Lines go to the program's stdin; its stdout is read on a thread
//! of its own, so the program never blocks on a full pipe, and the test
//! waits for the lines it expects. [`CpgMember`] is such a program in a CPG
//! group.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::events::WAIT;
use crate::{harness_binary, hex, Node};

/// A program running inside a node's network namespace with its stdin and
/// stdout piped (stderr is the test's). Killed on drop, if still running.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Process {
    /// Starts `program` with `args` on `node`.
    pub fn start<I, S>(node: &Node, program: &str, args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = node
            .command(program)
            .unwrap_or_else(|e| panic!("{program}: {e}"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = crate::lines_of(child.stdout.take().expect("piped stdout"));
        Process {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `line` and a newline to the program's stdin.
    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to the program's stdin");
        self.stdin.flush().expect("flush the program's stdin");
    }

    /// The next line of output, if one comes within `timeout` (`None` also
    /// when the output has ended).
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Reads lines until one contains `text`, and returns it; panics with
    /// every line read so far if none does within `timeout`.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next_line(left) {
                Some(line) if line.contains(text) => return line,
                Some(_) => {}
                None => break,
            }
        }
        panic!(
            "no line with {text:?} within {timeout:?}; saw {:?}",
            self.seen
        );
    }

    /// Every line read so far, in order.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits for the program to exit (after it was told to).
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for the program")
    }

    /// Kills the program (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the program");
        self.child.wait().expect("wait for the program");
    }

    /// Waits up to `timeout` for the program to exit by itself (panics if
    /// it does not), then reads its output to the end (until every process
    /// that holds its stdout is gone, or until `timeout` has passed since
    /// the call). Returns the exit status and every line it printed.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the program") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the program still runs after {timeout:?}; it printed {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected | RecvTimeoutError::Timeout) => break,
            }
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    /// bytes) and waits for its "ready" line.
    pub fn start(node: &Node, program: &str, group: &[u8]) -> CpgMember {
        let mut process = Process::start(node, program, [hex(group)]);
        let line = process.next_line(WAIT);
        assert!(
            line.as_deref().is_some_and(|l| l.starts_with("ready ")),
            "cpg-member said {line:?}"
        );
        CpgMember { process }
    }

    /// Sends one command line ("leave", "exit", `send <hex>`, …).
    pub fn command(&mut self, cmd: &str) {
        self.process.say(cmd);
    }

    /// Reads the next line and checks it is `want`.
    pub fn expect_line(&mut self, want: &str) {
        let line = self.process.next_line(Self::LINE_WAIT);
        assert_eq!(line.as_deref(), Some(want), "cpg-member's next line");
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits for the process to exit (after "exit").
    pub fn wait(&mut self) -> ExitStatus {
        self.process.wait()
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
