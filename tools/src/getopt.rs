//! Option parsing as glibc's `getopt` and `getopt_long` do it, so the tools
//! accept options exactly as corosync's C tools do and print the same
//! diagnostics: clustered flags (`-en`), arguments attached or separate
//! (`-d,` or `-d ,`), operands among the options (moved after them), `--`
//! to end the options, `POSIXLY_CORRECT` to stop at the first operand, and
//! long options by their full name or any unambiguous beginning of it.
//!
//! Options are parsed one at a time, as the C tools' `while (getopt(...))`
//! loops do: a diagnostic is printed when its option is reached, so a tool
//! that stops at its first bad option (or at `-h`) prints nothing about the
//! options after it. Arguments are bytes: nothing is lost or rejected for
//! not being UTF-8.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A known option, with its argument if it takes one.
    Flag(char, Option<OsString>),
    /// A long option with no short equivalent (`--force`).
    Long(&'static str),
    /// An unknown option, an ambiguous or misused long option, or a missing
    /// argument (getopt's `'?'`); the diagnostic is already printed.
    Bad,
}

/// A long option: its name, whether it takes an argument, and the short
/// option it stands for (`None` for a long-only option).
pub type LongOpt = (&'static str, bool, Option<char>);

/// The options of a command line, one per [`next`](Iterator::next), then
/// its operands ([`operands`](Getopt::operands)).
#[derive(Debug)]
pub struct Getopt<'a> {
    prog: Vec<u8>,
    args: Vec<Vec<u8>>,
    spec: &'a [u8],
    longs: &'a [LongOpt],
    /// The next element of `args` to look at.
    next: usize,
    /// Within a cluster of short options: the element and the byte.
    cluster: Option<(usize, usize)>,
    operands: Vec<Vec<u8>>,
    /// `POSIXLY_CORRECT`: the first operand ends the options.
    require_order: bool,
    done: bool,
    /// Where diagnostics go: standard error, or this buffer in unit tests.
    captured: Option<Vec<u8>>,
}

impl<'a> Getopt<'a> {
    /// Parses `argv` (the program name first, as C's `argv`) against `spec`
    /// ("hd:ne": a letter followed by ':' takes an argument) and `longs`
    /// (none for plain `getopt`, with which `--name` is a cluster of short
    /// options, as in C). Diagnostics start with `argv[0]` as given.
    pub fn new(
        argv: impl IntoIterator<Item = OsString>,
        spec: &'a str,
        longs: &'a [LongOpt],
    ) -> Getopt<'a> {
        let mut argv = argv.into_iter().map(OsString::into_vec);
        Getopt {
            prog: argv.next().unwrap_or_default(),
            args: argv.collect(),
            spec: spec.as_bytes(),
            longs,
            next: 0,
            cluster: None,
            operands: Vec::new(),
            require_order: std::env::var_os("POSIXLY_CORRECT").is_some(),
            done: false,
            captured: None,
        }
    }

    /// [`new`](Self::new) for this process's own command line.
    pub fn from_env(spec: &'a str, longs: &'a [LongOpt]) -> Getopt<'a> {
        Getopt::new(std::env::args_os(), spec, longs)
    }

    /// `argv[0]`, the program name as it was called.
    pub fn argv0(&self) -> OsString {
        OsString::from_vec(self.prog.clone())
    }

    /// The operands, in order: those seen among the options, then all
    /// after `--` (or after the first operand under `POSIXLY_CORRECT`).
    /// Complete once the options have all been read.
    pub fn operands(self) -> Vec<OsString> {
        self.operands.into_iter().map(OsString::from_vec).collect()
    }

    fn diagnose(&mut self, parts: &[&[u8]]) {
        let mut line = self.prog.clone();
        line.extend_from_slice(b": ");
        for part in parts {
            line.extend_from_slice(part);
        }
        line.push(b'\n');
        match &mut self.captured {
            Some(buffer) => buffer.extend_from_slice(&line),
            // As C's stderr: unbuffered, and a failed write goes unnoticed.
            None => drop(std::io::stderr().write_all(&line)),
        }
    }

    /// The next short option of the cluster at `arg`, byte `at`.
    fn short(&mut self, arg: usize, at: usize) -> Opt {
        let element = &self.args[arg];
        let c = element[at];
        let last = at + 1 == element.len();
        self.cluster = (!last).then_some((arg, at + 1));
        let found = match c {
            b':' | b';' => None,
            _ => self.spec.iter().position(|&s| s == c),
        };
        let Some(found) = found else {
            self.diagnose(&[b"invalid option -- '", &[c], b"'"]);
            return Opt::Bad;
        };
        if self.spec.get(found + 1) != Some(&b':') {
            return Opt::Flag(char::from(c), None);
        }
        self.cluster = None;
        let value = if !last {
            element[at + 1..].to_vec()
        } else if self.next < self.args.len() {
            self.next += 1;
            self.args[self.next - 1].clone()
        } else {
            self.diagnose(&[b"option requires an argument -- '", &[c], b"'"]);
            return Opt::Bad;
        };
        Opt::Flag(char::from(c), Some(OsString::from_vec(value)))
    }

    /// `--body`: a long option, its name exact or abbreviated, with its
    /// value after `=` or in the next element.
    fn long(&mut self, body: Vec<u8>) -> Opt {
        let name_len = body.iter().position(|&b| b == b'=').unwrap_or(body.len());
        let name = &body[..name_len];
        let exact = self.longs.iter().position(|l| l.0.as_bytes() == name);
        let index = match exact {
            Some(index) => index,
            None => {
                let mut found: Option<usize> = None;
                let mut ambiguous: Vec<usize> = Vec::new();
                for (i, long) in self.longs.iter().enumerate() {
                    if !long.0.as_bytes().starts_with(name) {
                        continue;
                    }
                    match found {
                        None => found = Some(i),
                        Some(first) => {
                            let first = self.longs[first];
                            if (first.1, first.2) != (long.1, long.2) {
                                if ambiguous.is_empty() {
                                    ambiguous.extend(found);
                                }
                                ambiguous.push(i);
                            }
                        }
                    }
                }
                if !ambiguous.is_empty() {
                    let mut message = b"option '--".to_vec();
                    message.extend_from_slice(&body);
                    message.extend_from_slice(b"' is ambiguous; possibilities:");
                    for i in ambiguous {
                        message.extend_from_slice(b" '--");
                        message.extend_from_slice(self.longs[i].0.as_bytes());
                        message.push(b'\'');
                    }
                    self.diagnose(&[&message]);
                    return Opt::Bad;
                }
                match found {
                    Some(index) => index,
                    None => {
                        self.diagnose(&[b"unrecognized option '--", &body, b"'"]);
                        return Opt::Bad;
                    }
                }
            }
        };
        let (name, takes_value, short) = self.longs[index];
        let value = if name_len < body.len() {
            if !takes_value {
                self.diagnose(&[
                    b"option '--",
                    name.as_bytes(),
                    b"' doesn't allow an argument",
                ]);
                return Opt::Bad;
            }
            Some(body[name_len + 1..].to_vec())
        } else if takes_value {
            if self.next < self.args.len() {
                self.next += 1;
                Some(self.args[self.next - 1].clone())
            } else {
                self.diagnose(&[b"option '--", name.as_bytes(), b"' requires an argument"]);
                return Opt::Bad;
            }
        } else {
            None
        };
        match short {
            Some(c) => Opt::Flag(c, value.map(OsString::from_vec)),
            None => Opt::Long(name),
        }
    }

    /// Ends the options: the elements from `from` on are operands.
    fn finish(&mut self, from: usize) -> Option<Opt> {
        self.operands.extend_from_slice(&self.args[from..]);
        self.next = self.args.len();
        self.done = true;
        None
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if let Some((arg, at)) = self.cluster {
            return Some(self.short(arg, at));
        }
        while !self.done {
            let Some(element) = self.args.get(self.next) else {
                self.done = true;
                break;
            };
            if element == b"--" {
                return self.finish(self.next + 1);
            }
            if element.len() < 2 || element[0] != b'-' {
                if self.require_order {
                    return self.finish(self.next);
                }
                self.operands.push(element.clone());
                self.next += 1;
                continue;
            }
            self.next += 1;
            if !self.longs.is_empty() && element[1] == b'-' {
                let body = element[2..].to_vec();
                return Some(self.long(body));
            }
            return Some(self.short(self.next - 1, 1));
        }
        None
    }
}

/// The program name as corosync-cpgtool prints it in its usage: the last
/// component of `argv0` (C's `basename`).
pub fn basename(argv0: &OsString) -> &[u8] {
    let bytes = argv0.as_bytes();
    let trimmed = match bytes.iter().rposition(|&b| b != b'/') {
        Some(end) => &bytes[..=end],
        None if bytes.is_empty() => return b".",
        None => return b"/",
    };
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(slash) => &trimmed[slash + 1..],
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `args` after a program name "t" and returns the options, the
    /// operands and the diagnostics.
    fn parse(
        args: &[&str],
        spec: &str,
        longs: &[LongOpt],
        stop_at_bad: bool,
    ) -> (Vec<Opt>, Vec<OsString>, String) {
        let argv = std::iter::once("t")
            .chain(args.iter().copied())
            .map(OsString::from);
        let mut parser = Getopt::new(argv, spec, longs);
        parser.captured = Some(Vec::new());
        // GNU order, whatever the environment says.
        parser.require_order = false;
        let mut opts = Vec::new();
        for opt in parser.by_ref() {
            let bad = opt == Opt::Bad;
            opts.push(opt);
            if bad && stop_at_bad {
                break;
            }
        }
        let said = String::from_utf8(parser.captured.take().unwrap()).unwrap();
        (opts, parser.operands(), said)
    }

    fn flag(c: char, value: Option<&str>) -> Opt {
        Opt::Flag(c, value.map(OsString::from))
    }

    #[test]
    fn flags_cluster_and_arguments_attach_or_follow() {
        let (opts, operands, said) =
            parse(&["-en", "-d,", "x", "-d", ";", "-"], "hd:ne", &[], false);
        assert_eq!(
            opts,
            [
                flag('e', None),
                flag('n', None),
                flag('d', Some(",")),
                flag('d', Some(";")),
            ]
        );
        assert_eq!(operands, ["x", "-"]);
        assert_eq!(said, "");
    }

    #[test]
    fn double_dash_ends_the_options() {
        let (opts, operands, _) = parse(&["a", "-n", "--", "-n", "b"], "n", &[], false);
        assert_eq!(opts, [flag('n', None)]);
        assert_eq!(operands, ["a", "-n", "b"]);
    }

    #[test]
    fn bad_options_are_diagnosed_as_glibc_does_when_reached() {
        let (opts, _, said) = parse(&["-x", "-d"], "d:n", &[], false);
        assert_eq!(opts, [Opt::Bad, Opt::Bad]);
        assert_eq!(
            said,
            "t: invalid option -- 'x'\nt: option requires an argument -- 'd'\n"
        );
        // A tool that stops at the first bad option says nothing more.
        let (opts, _, said) = parse(&["-nxy", "-z"], "n", &[], true);
        assert_eq!(opts, [flag('n', None), Opt::Bad]);
        assert_eq!(said, "t: invalid option -- 'x'\n");
        // ':' and ';' are never options, whatever the spec holds.
        let (_, _, said) = parse(&["-:", "-;"], "d:", &[], false);
        assert_eq!(said, "t: invalid option -- ':'\nt: invalid option -- ';'\n");
        // Without long options, "--help" is the flags '-', 'h', ...
        let (opts, _, said) = parse(&["--help"], "h", &[], true);
        assert_eq!(opts, [Opt::Bad]);
        assert_eq!(said, "t: invalid option -- '-'\n");
    }

    #[test]
    fn posixly_correct_stops_at_the_first_operand() {
        let argv = ["t", "-n", "a", "-x", "b"].map(OsString::from);
        let mut parser = Getopt::new(argv, "n", &[]);
        parser.captured = Some(Vec::new());
        parser.require_order = true;
        assert_eq!(parser.by_ref().collect::<Vec<_>>(), [flag('n', None)]);
        assert_eq!(parser.captured.take().unwrap(), b"");
        assert_eq!(parser.operands(), ["a", "-x", "b"]);
    }

    #[test]
    fn an_option_argument_may_look_like_an_option() {
        let (opts, operands, said) = parse(&["-k", "-1", "-k-2"], "k:", &[], false);
        assert_eq!(opts, [flag('k', Some("-1")), flag('k', Some("-2"))]);
        assert!(operands.is_empty());
        assert_eq!(said, "");
    }

    const LONGS: &[LongOpt] = &[
        ("status", false, Some('s')),
        ("reload", false, Some('R')),
        ("reopen", false, Some('L')),
        ("address", true, Some('a')),
        ("shutdown", false, Some('H')),
        ("force", false, None),
    ];

    #[test]
    fn long_options_take_values_with_or_without_equals() {
        let (opts, _, said) = parse(
            &[
                "--address=2",
                "--address",
                "3",
                "--force",
                "--stat",
                "--rel",
            ],
            "a:",
            LONGS,
            false,
        );
        assert_eq!(
            opts,
            [
                flag('a', Some("2")),
                flag('a', Some("3")),
                Opt::Long("force"),
                flag('s', None),
                flag('R', None),
            ]
        );
        assert_eq!(said, "");
    }

    #[test]
    fn long_option_mistakes_are_diagnosed_as_glibc_does() {
        let cases: &[(&str, &str)] = &[
            ("--nosuch=3", "t: unrecognized option '--nosuch=3'\n"),
            (
                "--force=1",
                "t: option '--force' doesn't allow an argument\n",
            ),
            ("--addr", "t: option '--address' requires an argument\n"),
            (
                "--re",
                "t: option '--re' is ambiguous; possibilities: '--reload' '--reopen'\n",
            ),
            (
                "--s=1",
                "t: option '--s=1' is ambiguous; possibilities: '--status' '--shutdown'\n",
            ),
        ];
        for (arg, want) in cases {
            let (opts, _, said) = parse(&[arg], "a:", LONGS, false);
            assert_eq!(opts, [Opt::Bad], "{arg}");
            assert_eq!(said, *want, "{arg}");
        }
    }

    #[test]
    fn the_program_name_is_the_last_path_component() {
        let name = |s: &str| basename(&OsString::from(s)).to_vec();
        assert_eq!(name("/usr/sbin/corosync-cpgtool"), b"corosync-cpgtool");
        assert_eq!(name("cpgtool"), b"cpgtool");
        assert_eq!(name("dir/tool/"), b"tool");
        assert_eq!(name("/"), b"/");
        assert_eq!(name(""), b".");
    }
}
