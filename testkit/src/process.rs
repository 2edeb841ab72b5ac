//! Programs run on a node and spoken to line by line (a test's helper
//! programs, peers written in C, examples). Lines go to the program's
//! stdin; its stdout is read on a thread of its own, so the program never
//! blocks on a full pipe, and the test waits for the lines it expects.
//!
//! Every wait here has a deadline. When one passes, the program is killed
//! and the test fails with a message naming the program, what was awaited,
//! every line the program printed, and whether it had exited.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::bounded::{self, NO_HANG};
use crate::Node;

/// A program running inside a node's network namespace with its stdin and
/// stdout piped (stderr is the test's). Killed on drop, if still running.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
    /// The program, its arguments and its node, for messages.
    name: String,
}

impl Process {
    /// How long [`Process::wait_exit`] waits for a program told to exit.
    pub const EXIT_WAIT: Duration = Duration::from_secs(60);

    /// Starts `program` with `args` on `node`.
    pub fn start<I, S>(node: &Node, program: &str, args: I) -> Process
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = node
            .command(program)
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        cmd.args(args);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let name = format!(
            "`{}` (pid {}) on node {}",
            bounded::describe(&cmd),
            child.id(),
            node.nodeid()
        );
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = crate::lines_of(child.stdout.take().expect("piped stdout"));
        Process {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            name,
        }
    }

    /// The program, its arguments, its pid and its node, as messages
    /// name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names the program `name` in messages from now on (e.g. after what
    /// it does rather than its command line).
    pub fn rename(&mut self, name: impl Into<String>) {
        self.name = name.into();
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

    /// Reads lines until one contains `text`, and returns it. If none does
    /// within `timeout` (or the output ends first), kills the program and
    /// panics naming it, `text` and every line read so far.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next_line(left) {
                Some(line) if line.contains(text) => return line,
                Some(_) => {}
                None => break,
            }
        }
        self.fail(&format!("a line with {text:?} within {timeout:?}"))
    }

    /// The next line, if one comes within `timeout`; otherwise (or if the
    /// output has ended) kills the program and panics naming it, `what`
    /// (what the line should be) and every line read so far.
    pub fn expect_next(&mut self, what: &str, timeout: Duration) -> String {
        match self.next_line(timeout) {
            Some(line) => line,
            None => self.fail(&format!("{what} within {timeout:?}")),
        }
    }

    /// Kills the program if it still runs and panics: it did not give
    /// `awaited`.
    fn fail(&mut self, awaited: &str) -> ! {
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("it had exited ({status})"),
            _ => {
                // (Best effort: the panic below is the report.)
                let _ = self.child.kill();
                let _ = bounded::try_wait_child(&mut self.child, NO_HANG);
                "it still ran; killed".to_string()
            }
        };
        // What it printed after the wait ended, too (for up to a second).
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => break,
            }
        }
        panic!(
            "{}: no {awaited}; {state}; it printed {:?}",
            self.name, self.seen
        );
    }

    /// Every line read so far, in order.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits up to [`Process::EXIT_WAIT`] for the program to exit (after
    /// it was told to); if it still runs then, it is killed and the test
    /// fails naming it.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_for(Self::EXIT_WAIT)
    }

    /// [`Process::wait_exit`] with its own deadline.
    pub fn wait_for(&mut self, timeout: Duration) -> ExitStatus {
        match bounded::try_wait_child(&mut self.child, timeout) {
            Ok(Some(status)) => status,
            Ok(None) => self.fail(&format!("exit within {timeout:?}")),
            Err(e) => panic!("{}: wait: {e}", self.name),
        }
    }

    /// Kills the program (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the program");
        bounded::wait_child(
            &mut self.child,
            NO_HANG,
            &format!("{} after SIGKILL", self.name),
        );
    }

    /// Waits up to `timeout` for the program to exit by itself (panics if
    /// it does not), then reads its output to the end (until every process
    /// that holds its stdout is gone, or until `timeout` has passed since
    /// the call). Returns the exit status and every line it printed.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let status = self.wait_for(timeout);
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
        // Best effort, and never a panic here (this may run while a failed
        // test unwinds): a program that outlives the bound is left behind.
        let _ = self.child.kill();
        let _ = bounded::try_wait_child(&mut self.child, NO_HANG);
    }
}
