//! No test waits without a deadline in the ways that std makes easy.
//!
//! **The rule.** The code of `tests/tests/**/*.rs`, `tests/src/**/*.rs`,
//! `testkit/src/**/*.rs` and `testkit/tests/**/*.rs`
//! (comments, strings and character literals left out) calls none of the
//! [`RULES`]' blocking calls: `.output()`, `.status()`,
//! `.wait_with_output(` and `.wait()` (a child process, a `Barrier`),
//! `.join()` (a thread), `.recv()` (a channel), `read_line(`,
//! `.read_to_end(` and `.read_to_string(` (a pipe), `thread::scope` (its
//! threads are joined at its end). Each has a bounded form in
//! `corosync_testkit::bounded` or the kit, which fails naming what it
//! waited for. A call is found by its tokens, whitespace and line breaks
//! between them included; the failure names each file:line.
//!
//! **Exceptions.** `testkit/src/bounded.rs`, which implements the bounded
//! forms, and the few calls in [`EXCEPTIONS`], each with its reason. An
//! exception that matches nothing fails too.
//!
//! **Limits.** It reads tokens, not types: a bounded helper of the harness
//! may not be named like a blocking call (so `Process::wait_exit`, not
//! `wait`). Loops without a deadline and corosync calls that block are not
//! found here; the harness's watchdog stops a cluster that outlives its
//! time limit.

use std::path::{Path, PathBuf};

/// A blocking call: its tokens (as code), and what to use instead.
struct Rule {
    call: &'static str,
    instead: &'static str,
}

/// The blocking calls that have no deadline.
const RULES: &[Rule] = &[
    Rule {
        call: ".output()",
        instead: "bounded::output or parity::run_bounded (Command::output waits for ever)",
    },
    Rule {
        call: ".status()",
        instead: "bounded::output or bounded::wait_child (Command::status waits for ever)",
    },
    Rule {
        call: ".wait_with_output(",
        instead: "bounded::output (Child::wait_with_output waits for ever)",
    },
    Rule {
        call: ".wait()",
        instead: "bounded::wait_child, Process::wait_exit or bounded::Barrier::pass \
                  (Child::wait and Barrier::wait wait for ever)",
    },
    Rule {
        call: ".join()",
        instead: "bounded::join_within (JoinHandle::join waits for ever)",
    },
    Rule {
        call: ".recv()",
        instead: "recv_timeout, or asynctest::next for a stream (recv waits for ever)",
    },
    Rule {
        call: "read_line(",
        instead: "lines_of and recv_timeout, or process::Process (read_line waits for ever)",
    },
    Rule {
        call: ".read_to_end(",
        instead: "bounded::output, or a reader thread waited for with a deadline",
    },
    Rule {
        call: ".read_to_string(",
        instead: "bounded::output, or a reader thread waited for with a deadline \
                  (std::fs::read_to_string of a file is fine)",
    },
    Rule {
        call: "thread::scope",
        instead: "Node::spawn_thread or std::thread::spawn, and bounded::join_within \
                  (a scope joins its threads for ever)",
    },
];

/// Files that may wait without a deadline, and why.
const EXEMPT_FILES: &[(&str, &str)] = &[(
    "testkit/src/bounded.rs",
    "the bounded waits themselves; its unit tests make threads and programs that hang",
)];

/// (file, call, text of the line, why): a call the rule lets through.
const EXCEPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "testkit/src/netns.rs",
        "thread::scope",
        "std::thread::scope(|scope| {",
        "Netns::run (Node::run, on_node): the closure may borrow from the caller, so it runs \
         on a scoped thread; what it blocks on is corosync, whose daemons the watchdog kills \
         when the cluster outlives its time limit",
    ),
    (
        "testkit/src/netns.rs",
        ".join()",
        "match handle.join() {",
        "the join of that scoped thread (see the scope above)",
    ),
    (
        "tests/src/asynctest.rs",
        ".recv()",
        "while pings.recv().await.is_some() {",
        "the task that answers pings: it ends when the pinging thread, whose waits have \
         deadlines, drops its sender, and is aborted after it",
    ),
    (
        "tests/src/parity.rs",
        ".read_to_end(",
        "let _ = err.read_to_end(&mut all);",
        "reads a tool's stderr on a thread of its own, which Running::collect waits for \
         with a deadline",
    ),
];

/// A token of Rust code and the line it is on.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

/// What a string or character literal is, as a token.
const LITERAL: &str = "<literal>";

fn literal(line: usize) -> Token {
    Token {
        text: LITERAL.to_string(),
        line,
    }
}

/// The tokens of `source`: identifiers (and numbers) whole, every other
/// character that is not white space alone, and [`LITERAL`] for each
/// string, byte string, raw string or character literal; comments left
/// out. Lifetimes keep their name.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips to just past `end` (a closing quote not escaped by `\`),
    // counting lines.
    let skip_quoted = |i: &mut usize, line: &mut usize, end: char| {
        while *i < chars.len() && chars[*i] != end {
            if chars[*i] == '\\' {
                *i += 1;
            }
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            out.push(literal(line));
            i += 1;
            skip_quoted(&mut i, &mut line, '"');
        } else if c == '\'' {
            // A character literal ('a', '\n', '\''), or a lifetime.
            if next == Some('\\') {
                out.push(literal(line));
                i += 1;
                skip_quoted(&mut i, &mut line, '\'');
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push(literal(line));
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = chars.get(i).copied();
            let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && chars.get(i + hashes) == Some(&'"') {
                // A raw string: to a quote followed by as many hashes.
                out.push(literal(line));
                i += hashes + 1;
                while i < chars.len() {
                    let closing = chars
                        .get(i + 1..i + 1 + hashes)
                        .is_some_and(|h| h.iter().all(|&c| c == '#'));
                    if chars[i] == '"' && closing {
                        i += 1 + hashes;
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            } else if matches!(word.as_str(), "b" | "c") && after == Some('"') {
                out.push(literal(line));
                i += 1;
                skip_quoted(&mut i, &mut line, '"');
            } else if word == "b" && after == Some('\'') {
                out.push(literal(line));
                i += 1;
                skip_quoted(&mut i, &mut line, '\'');
            } else {
                out.push(Token { text: word, line });
            }
        } else {
            out.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// A call of a rule found in a file.
#[derive(Debug, PartialEq)]
struct Finding {
    line: usize,
    call: &'static str,
}

/// Where `source` makes the calls of `RULES`, in order.
fn findings(source: &str) -> Vec<Finding> {
    let code = tokens(source);
    let mut out = Vec::new();
    for rule in RULES {
        let pattern: Vec<String> = tokens(rule.call).into_iter().map(|t| t.text).collect();
        for (at, window) in code.windows(pattern.len()).enumerate() {
            if window.iter().zip(&pattern).all(|(t, p)| t.text == *p) {
                // The line of the name, not of a dot that ends a line.
                let name = window
                    .iter()
                    .find(|t| t.text.starts_with(|c: char| c.is_alphabetic()))
                    .unwrap_or(&window[0]);
                out.push((
                    at,
                    Finding {
                        line: name.line,
                        call: rule.call,
                    },
                ));
            }
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, found)| found).collect()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn no_test_waits_without_a_deadline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let files: Vec<PathBuf> = ["tests/tests", "tests/src", "testkit/src", "testkit/tests"]
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
        .collect();
    // (A walk that lost its way would find few.)
    assert!(files.len() > 40, "only {} files found", files.len());
    let mut unbounded = Vec::new();
    let mut used = vec![false; EXCEPTIONS.len()];
    for path in &files {
        let name = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if EXEMPT_FILES.iter().any(|(file, _)| *file == name) {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for found in findings(&source) {
            let text = lines[found.line - 1].trim();
            let excepted = EXCEPTIONS.iter().position(|(file, call, line, _)| {
                *file == name && *call == found.call && text.contains(line)
            });
            match excepted {
                Some(k) => used[k] = true,
                None => {
                    let rule = RULES.iter().find(|r| r.call == found.call).unwrap();
                    unbounded.push(format!(
                        "{name}:{}: `{}` in `{text}`: use {}",
                        found.line, found.call, rule.instead
                    ));
                }
            }
        }
    }
    for ((file, call, line, _), used) in EXCEPTIONS.iter().zip(&used) {
        assert!(
            used,
            "the exception for `{call}` in {file} (`{line}`) matches nothing: remove it"
        );
    }
    for (file, _) in EXEMPT_FILES {
        assert!(root.join(file).is_file(), "the exempt file {file} is gone");
    }
    assert!(
        unbounded.is_empty(),
        "waits without a deadline ({}):\n  {}",
        unbounded.len(),
        unbounded.join("\n  ")
    );
}

// The scanner, on small pieces of code.

#[test]
fn calls_are_found_across_lines_and_not_in_comments_or_literals() {
    let source = r####"
        fn f() {
            let t = std::thread::spawn(|| 1);
            t
                .join()
                .unwrap();
            // out.output() in a comment
            /* a /* nested */ child.wait() */
            let s = "rx.recv() in a string \" still";
            let r = r#"cmd.status() in a raw string "# ;
            let b = b"x.join()";
            let q = '"'; let e = '\''; let l: &'static str = "";
            rx.recv_timeout(d); names.join(", "); ep.wait(d);
            std::fs::read_to_string(p);
            child.wait()
        }
        fn g<'a>(x: &'a str) { std::io::stdin().read_line(&mut s); }
        fn h() { std::thread::scope(|s| {}); cmd.output() }
    "####;
    assert_eq!(
        findings(source),
        [
            Finding {
                line: 5,
                call: ".join()"
            },
            Finding {
                line: 15,
                call: ".wait()"
            },
            Finding {
                line: 17,
                call: "read_line("
            },
            Finding {
                line: 18,
                call: "thread::scope"
            },
            Finding {
                line: 18,
                call: ".output()"
            },
        ]
    );
}

#[test]
fn tokens_keep_lines_and_skip_literals() {
    let got: Vec<(String, usize)> = tokens("a.b(\"x\ny\")\n// c\nd 'e' 'f")
        .into_iter()
        .map(|t| (t.text, t.line))
        .collect();
    let want: Vec<(String, usize)> = [
        ("a", 1),
        (".", 1),
        ("b", 1),
        ("(", 1),
        (LITERAL, 1),
        (")", 2),
        ("d", 4),
        (LITERAL, 4),
        ("f", 4),
    ]
    .iter()
    .map(|(t, l)| (t.to_string(), *l))
    .collect();
    assert_eq!(got, want);
}
