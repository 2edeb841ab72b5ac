//! One of corosync's command-line tools and its Rust version from the
//! `corosync-tools` crate, run side by side on a node of a live cluster,
//! with assertions that they behave the same: the same exit status and
//! byte for byte the same standard output.
//!
//! ```no_run
//! use corosync_tests::parity::ToolPair;
//! use corosync_tests::Cluster;
//!
//! let cluster = Cluster::single().expect("cluster");
//! let cpgtool = ToolPair::new("corosync-cpgtool", "cpgtool").expect("built");
//! cpgtool.assert_all_same_on(cluster.node(0), &[&[], &["-n"], &["-h"]]);
//! ```

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::{tool_binary, Cluster, HarnessError, Node};

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

    /// Leaves the lines that start with `prefix` out of every output
    /// comparison (corosync-quorumtool's `Date:` line differs by the second).
    pub fn ignoring_lines_starting_with(mut self, prefix: &'static str) -> ToolPair {
        self.ignored_prefix = Some(prefix);
        self
    }

    /// For state that may move while the tools run (knet's path MTU
    /// discovery, say, moving a new link from 522 to 1446 bytes):
    /// [`assert_same_on`](Self::assert_same_on) runs the C tool before and
    /// after ours, and when those two disagree runs all three again, up to
    /// ten times, then compares ours with the last C run.
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
    /// set to the C tool's name, since both print it in their usage text.
    pub fn command(&self, node: &Node, program: &str) -> Command {
        let mut cmd = node
            .command(program)
            .expect("a command in the node's namespace");
        cmd.arg0(self.c_tool);
        cmd
    }

    /// Runs `program` (either tool) with `args` on `node`, with an empty
    /// standard input, and returns what it did.
    pub fn run(&self, node: &Node, program: &str, args: &[&str]) -> Output {
        self.command(node, program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
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
    /// did (the same exit status, or both killed by a signal) and printed
    /// the same standard output; `what` names the run in the failure.
    pub fn assert_same(&self, what: &str, want: &Output, got: &Output) {
        assert_eq!(
            got.status.code(),
            want.status.code(),
            "exit status of {what}: {} stderr {:?}, ours {:?}",
            self.c_tool,
            String::from_utf8_lossy(&want.stderr),
            String::from_utf8_lossy(&got.stderr)
        );
        self.assert_same_stdout(what, &want.stdout, &got.stdout);
    }

    /// Asserts that our tool printed `got` where the C tool printed `want`.
    pub fn assert_same_stdout(&self, what: &str, want: &[u8], got: &[u8]) {
        let (want, got) = (self.compared(want), self.compared(got));
        assert!(
            want == got,
            "output of {what}:\n--- {}\n{}\n--- ours\n{}",
            self.c_tool,
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got)
        );
    }

    /// The part of an output that is compared: all but the ignored lines.
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

#[cfg(test)]
mod tests {
    use super::ToolPair;

    #[test]
    fn ignored_lines_leave_the_rest_byte_for_byte() {
        let pair = ToolPair {
            c_tool: "c",
            ours: "ours".into(),
            ignored_prefix: Some("Date:"),
            rerun_while_changing: false,
        };
        assert_eq!(
            pair.compared(b"a\nDate: now\nb\n\nDate: x"),
            b"a\nb\n\n".to_vec()
        );
        pair.assert_same_stdout("dates", b"x\nDate: 1\n", b"x\nDate: 2\n");
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
    fn a_different_output_fails() {
        let pair = ToolPair {
            c_tool: "c",
            ours: "ours".into(),
            ignored_prefix: Some("Date:"),
            rerun_while_changing: false,
        };
        pair.assert_same_stdout("differing", b"x\n", b"x");
    }
}
