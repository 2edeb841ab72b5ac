//! One of corosync's command-line tools and its Rust version from the
//! `corosync-tools` crate, run side by side on a node of a live cluster,
//! with assertions that they behave the same: the same exit status, and
//! byte for byte the same standard output and standard error, final
//! newlines included.
//!
//! Every run has a deadline: a tool that does not exit in time is killed
//! and the test fails naming the command.
//!
//! ```no_run
//! use corosync_tests::parity::ToolPair;
//! use corosync_tests::Cluster;
//!
//! let cluster = Cluster::single().expect("cluster");
//! let cpgtool = ToolPair::new("corosync-cpgtool", "cpgtool").expect("built");
//! cpgtool.assert_all_same_on(cluster.node(0), &[&[], &["-n"], &["-h"]]);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::{tool_binary, Cluster, HarnessError, Node};

/// How long one tool run may take. A tool answers within a second when it
/// works; corosync's tools retry "try again" answers once a second for up
/// to 30 s before they give up. The bound only tells an answer from a hang.
pub const TOOL_LIMIT: Duration = Duration::from_secs(60);

/// A program started with its standard output and error piped, read on
/// threads of their own (so it never blocks on a full pipe) and kept byte
/// for byte. Killed on drop if still running.
#[derive(Debug)]
pub struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    chunks: Receiver<Vec<u8>>,
    stdout_open: bool,
    stdout: Vec<u8>,
    stderr: Receiver<Vec<u8>>,
}

impl Running {
    /// Starts `cmd` with its standard output and error piped (its standard
    /// input as `cmd` says); `what` names it in failures.
    pub fn spawn(cmd: &mut Command, what: impl Into<String>) -> Running {
        let what = what.into();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (chunk_tx, chunks) = mpsc::channel();
        std::thread::spawn(move || loop {
            // One chunk per line, the newline kept; the last may have none.
            let mut chunk = Vec::new();
            match out.read_until(b'\n', &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if chunk_tx.send(chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let (err_tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut all = Vec::new();
            // A read error ends the text early; the comparison shows it.
            let _ = err.read_to_end(&mut all);
            let _ = err_tx.send(all);
        });
        Running {
            what,
            child,
            stdin,
            chunks,
            stdout_open: true,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Writes `bytes` to the program's standard input (piped by the
    /// command).
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let what = &self.what;
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{what} has no piped stdin"));
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("write to {what}: {e}"));
    }

    /// What the program has printed so far, as far as it has been read (by
    /// [`wait_for_line`](Self::wait_for_line)).
    pub fn printed(&self) -> &[u8] {
        &self.stdout
    }

    /// Reads the output line by line until a line for which `wanted` holds
    /// (and returns it); fails naming `awaited` if none comes within
    /// `limit` or the output ends first. Every line read stays part of the
    /// output [`finish`](Self::finish) returns.
    pub fn wait_for_line(
        &mut self,
        awaited: &str,
        limit: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.extend_from_slice(&line);
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no line {awaited} within {limit:?}; it printed:\n{}",
                    self.what,
                    String::from_utf8_lossy(&self.stdout)
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: its output ended before a line {awaited}; it printed:\n{}",
                    self.what,
                    String::from_utf8_lossy(&self.stdout)
                ),
            }
        }
    }

    /// Closes the program's standard input, waits for it to exit and
    /// returns all it printed; kills it and fails if it has not exited
    /// within `limit`.
    pub fn finish(mut self, limit: Duration) -> Output {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        let status = self.wait_until(deadline, limit);
        self.collect(status, deadline)
    }

    /// Kills the program (SIGKILL) and returns all it printed.
    pub fn kill(mut self) -> Output {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("kill {}: {e}", self.what));
        let deadline = Instant::now() + TOOL_LIMIT;
        let status = self.wait_until(deadline, TOOL_LIMIT);
        self.collect(status, deadline)
    }

    fn wait_until(&mut self, deadline: Instant, limit: Duration) -> ExitStatus {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    // Drop kills and reaps it.
                    panic!(
                        "{}: did not exit within {limit:?}; killed it. It printed:\n{}",
                        self.what,
                        String::from_utf8_lossy(&self.stdout)
                    );
                }
                Err(e) => panic!("wait for {}: {e}", self.what),
            }
        }
    }

    /// The rest of the output after the exit. The pipes close when the
    /// program exits, unless a process it started keeps them open: that
    /// fails at `deadline` too.
    fn collect(mut self, status: ExitStatus, deadline: Instant) -> Output {
        while self.stdout_open {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(line) => self.stdout.extend_from_slice(&line),
                Err(RecvTimeoutError::Disconnected) => self.stdout_open = false,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: its stdout stayed open after it exited", self.what)
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stderr = self
            .stderr
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{}: its stderr stayed open after it exited", self.what));
        Output {
            status,
            stdout: std::mem::take(&mut self.stdout),
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Best effort while a test fails: the child is ours and still
            // unreaped, so its pid cannot name another process.
            let _ = self.child.kill();
            let _ = crate::bounded::try_wait_child(&mut self.child, crate::bounded::NO_HANG);
        }
    }
}

/// Runs `cmd` to its end, with its standard output and error piped, and
/// returns what it did; kills it and fails naming the command if it has
/// not exited within `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    Running::spawn(cmd, what).finish(limit)
}

/// A C tool and our version of it, and how their outputs are compared.
#[derive(Debug, Clone)]
pub struct ToolPair {
    c_tool: &'static str,
    ours: String,
    ignored_prefix: Option<&'static str>,
    rerun_while_changing: bool,
}

impl ToolPair {
    /// corosync's `c_tool` (found in `PATH`) and the corosync-tools binary
    /// `rust_tool`, built first by [`tool_binary`].
    pub fn new(c_tool: &'static str, rust_tool: &str) -> Result<ToolPair, HarnessError> {
        let path = tool_binary(rust_tool)?;
        let ours = path
            .to_str()
            .ok_or_else(|| HarnessError::new(format!("{} is not UTF-8", path.display())))?
            .to_string();
        Ok(ToolPair {
            c_tool,
            ours,
            ignored_prefix: None,
            rerun_while_changing: false,
        })
    }

    /// Leaves the lines of standard output that start with `prefix` out of
    /// every comparison (corosync-quorumtool's `Date:` line differs by the
    /// second). Standard error is always compared whole.
    pub fn ignoring_lines_starting_with(mut self, prefix: &'static str) -> ToolPair {
        self.ignored_prefix = Some(prefix);
        self
    }

    /// For state that may move while the tools run (knet's path MTU
    /// discovery, say, moving a new link from 522 to 1446 bytes):
    /// [`assert_same_on`](Self::assert_same_on) runs the C tool before and
    /// after ours, and when the standard outputs of those two disagree runs
    /// all three again, up to ten times, then compares ours with the last C
    /// run.
    pub fn rerun_while_changing(mut self) -> ToolPair {
        self.rerun_while_changing = true;
        self
    }

    /// The C tool's name.
    pub fn c_tool(&self) -> &'static str {
        self.c_tool
    }

    /// The path of our tool.
    pub fn ours(&self) -> &str {
        &self.ours
    }

    /// A command that runs `program` (either tool) on `node` with `argv[0]`
    /// set to the C tool's name. Both tools print their `argv[0]` in some
    /// messages (glibc's getopt does), and with the same `argv[0]` those
    /// compare unchanged: no output is rewritten.
    pub fn command(&self, node: &Node, program: &str) -> Command {
        let mut cmd = node
            .command(program)
            .expect("a command in the node's namespace");
        cmd.arg0(self.c_tool);
        cmd
    }

    /// Runs `program` (either tool) with `args` on `node`, with an empty
    /// standard input, and returns what it did; fails if it runs longer
    /// than [`TOOL_LIMIT`].
    pub fn run(&self, node: &Node, program: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(node, program);
        cmd.args(args).stdin(Stdio::null());
        let what = format!("{program} {args:?} on node {}", node.nodeid());
        Running::spawn(&mut cmd, what).finish(TOOL_LIMIT)
    }

    /// Starts `program` (either tool) with `args` on `node`, with a piped
    /// standard input, for a tool that runs until told to stop.
    pub fn start(&self, node: &Node, program: &str, args: &[&str]) -> Running {
        let mut cmd = self.command(node, program);
        cmd.args(args).stdin(Stdio::piped());
        Running::spawn(
            &mut cmd,
            format!("{program} {args:?} on node {}", node.nodeid()),
        )
    }

    /// Runs both tools with `args` on `node` and asserts they behave the
    /// same.
    pub fn assert_same_on(&self, node: &Node, args: &[&str]) {
        let (want, got) = if self.rerun_while_changing {
            let mut attempts = 0;
            loop {
                let before = self.run(node, self.c_tool, args);
                let got = self.run(node, &self.ours, args);
                let after = self.run(node, self.c_tool, args);
                attempts += 1;
                if before.stdout == after.stdout || attempts == 10 {
                    break (after, got);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        } else {
            let want = self.run(node, self.c_tool, args);
            (want, self.run(node, &self.ours, args))
        };
        self.assert_same(&format!("{args:?} on node {}", node.nodeid()), &want, &got);
    }

    /// [`assert_same_on`](Self::assert_same_on) for each of `cases`.
    pub fn assert_all_same_on(&self, node: &Node, cases: &[&[&str]]) {
        for args in cases {
            self.assert_same_on(node, args);
        }
    }

    /// [`assert_all_same_on`](Self::assert_all_same_on) on each of
    /// `cluster`'s nodes `nodes` (indices), in that order.
    pub fn assert_all_same_on_nodes(&self, cluster: &Cluster, nodes: &[usize], cases: &[&[&str]]) {
        for &i in nodes {
            self.assert_all_same_on(cluster.node(i), cases);
        }
    }

    /// Asserts that our tool's run `got` ended as the C tool's run `want`
    /// did (the same exit status, or killed by the same signal) and printed
    /// byte for byte the same standard output (but the ignored lines) and
    /// standard error; `what` names the run in the failure.
    pub fn assert_same(&self, what: &str, want: &Output, got: &Output) {
        let (want_out, got_out) = (self.compared(&want.stdout), self.compared(&got.stdout));
        let same = want.status == got.status && want_out == got_out && want.stderr == got.stderr;
        assert!(
            same,
            "{what}: ours differs from {}\n\
             how it ended: {}, ours {}\n\
             stdout: {}\n\
             stderr: {}\n\
             --- {} stdout\n{}\n--- ours\n{}\n--- {} stderr\n{}\n--- ours\n{}",
            self.c_tool,
            want.status,
            got.status,
            difference(&want_out, &got_out),
            difference(&want.stderr, &got.stderr),
            self.c_tool,
            String::from_utf8_lossy(&want_out),
            String::from_utf8_lossy(&got_out),
            self.c_tool,
            String::from_utf8_lossy(&want.stderr),
            String::from_utf8_lossy(&got.stderr),
        );
    }

    /// Asserts that our tool printed `got` on standard output where the C
    /// tool printed `want` (but the ignored lines).
    pub fn assert_same_stdout(&self, what: &str, want: &[u8], got: &[u8]) {
        let (want, got) = (self.compared(want), self.compared(got));
        assert!(
            want == got,
            "output of {what}: {}\n--- {}\n{}\n--- ours\n{}",
            difference(&want, &got),
            self.c_tool,
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got)
        );
    }

    /// The part of a standard output that is compared: all but the ignored
    /// lines.
    fn compared(&self, output: &[u8]) -> Vec<u8> {
        match self.ignored_prefix {
            None => output.to_vec(),
            Some(prefix) => output
                .split_inclusive(|&b| b == b'\n')
                .filter(|line| !line.starts_with(prefix.as_bytes()))
                .flatten()
                .copied()
                .collect(),
        }
    }
}

/// Where two outputs part, for a failure message: "same", or the first
/// byte offset that differs with a little of each side around it (escaped,
/// so a missing newline shows).
fn difference(want: &[u8], got: &[u8]) -> String {
    if want == got {
        return "same".into();
    }
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let from = at.saturating_sub(20);
    let around = |bytes: &[u8]| {
        let end = bytes.len().min(at + 20);
        format!("{:?}", String::from_utf8_lossy(&bytes[from.min(end)..end]))
    };
    format!(
        "differs at byte {at} of {} (ours {}): {} vs ours {}",
        want.len(),
        got.len(),
        around(want),
        around(got)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn pair() -> ToolPair {
        ToolPair {
            c_tool: "c",
            ours: "ours".into(),
            ignored_prefix: Some("Date:"),
            rerun_while_changing: false,
        }
    }

    fn output(code: i32, stdout: &[u8], stderr: &[u8]) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
        }
    }

    #[test]
    fn ignored_lines_leave_the_rest_byte_for_byte() {
        let pair = pair();
        assert_eq!(
            pair.compared(b"a\nDate: now\nb\n\nDate: x"),
            b"a\nb\n\n".to_vec()
        );
        pair.assert_same_stdout("dates", b"x\nDate: 1\n", b"x\nDate: 2\n");
        pair.assert_same(
            "dates",
            &output(1, b"x\nDate: 1\n", b"e\n"),
            &output(1, b"x\nDate: 2\n", b"e\n"),
        );
        let strict = ToolPair {
            ignored_prefix: None,
            ..pair
        };
        assert_eq!(
            strict.compared(b"a\nDate: now\n"),
            b"a\nDate: now\n".to_vec()
        );
    }

    #[test]
    #[should_panic(expected = "output of differing")]
    fn a_missing_final_newline_fails() {
        pair().assert_same_stdout("differing", b"x\n", b"x");
    }

    #[test]
    #[should_panic(expected = "stderr: differs at byte 9 of 10 (ours 9)")]
    fn a_different_error_message_fails() {
        pair().assert_same(
            "errors",
            &output(1, b"", b"tool: bad\n"),
            &output(1, b"", b"tool: bad"),
        );
    }

    #[test]
    #[should_panic(expected = "stderr: differs at byte 6")]
    fn ignored_prefixes_do_not_apply_to_stderr() {
        pair().assert_same(
            "errors",
            &output(1, b"", b"Date: 1\n"),
            &output(1, b"", b"Date: 2\n"),
        );
    }

    #[test]
    #[should_panic(expected = "how it ended: exit status: 1, ours exit status: 0")]
    fn a_different_exit_status_fails() {
        pair().assert_same("status", &output(1, b"x\n", b""), &output(0, b"x\n", b""));
    }

    #[test]
    fn a_bounded_run_returns_all_output() {
        let out = run_bounded(
            Command::new("sh").args(["-c", "printf 'a\\nb'; printf e >&2; exit 3"]),
            TOOL_LIMIT,
        );
        assert_eq!(out.stdout, b"a\nb");
        assert_eq!(out.stderr, b"e");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    #[should_panic(expected = "did not exit within 200ms; killed it")]
    fn a_hung_run_fails_at_its_deadline() {
        run_bounded(Command::new("sleep").arg("600"), Duration::from_millis(200));
    }

    #[test]
    fn lines_are_awaited_and_kept() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two; read x; echo \"got $x\""])
            .stdin(Stdio::piped());
        let mut running = Running::spawn(&mut cmd, "sh");
        let line = running.wait_for_line("two", TOOL_LIMIT, |l| l.starts_with(b"two"));
        assert_eq!(line, b"two\n");
        running.write_stdin(b"q\n");
        let out = running.finish(TOOL_LIMIT);
        assert_eq!(out.stdout, b"one\ntwo\ngot q\n");
        assert!(out.status.success());
        let killed = Running::spawn(Command::new("sleep").arg("600"), "sleep").kill();
        assert_eq!(killed.status.signal(), Some(libc::SIGKILL));
    }
}
