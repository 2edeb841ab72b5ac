//! A small POSIX `getopt`, so the tools accept options exactly as
//! corosync's C tools do: clustered flags (`-en`), arguments attached or
//! separate (`-d,` or `-d ,`), `--` to end options, and the same
//! diagnostics on bad input.

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A known option, with its argument if it takes one.
    Flag(char, Option<String>),
    /// A long option with no short equivalent (`--force`).
    Long(&'static str),
    /// An unknown option or a missing argument; the message is already
    /// printed, as getopt does.
    Bad,
}

/// Parses `args` (without the program name) against `spec` ("hd:ne": a
/// letter followed by ':' takes an argument). Returns the options in order
/// and the operands. As GNU getopt, options may follow operands, and `--`
/// ends the options.
pub fn getopt(prog: &str, args: &[String], spec: &str) -> (Vec<Opt>, Vec<String>) {
    getopt_long(prog, args, spec, &[])
}

/// A long option: its name, whether it takes an argument, and the short
/// option it stands for (`None` for a long-only option).
pub type LongOpt = (&'static str, bool, Option<char>);

/// [`getopt`] with `--name` and `--name=value` long options, as glibc's
/// `getopt_long` (exact names only).
pub fn getopt_long(
    prog: &str,
    args: &[String],
    spec: &str,
    longs: &[LongOpt],
) -> (Vec<Opt>, Vec<String>) {
    let takes_arg = |c: char| {
        spec.find(c)
            .map(|i| spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut opts = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            // GNU getopt permutes: operands may come before options.
            operands.push(arg.clone());
            i += 1;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match longs.iter().find(|l| l.0 == name) {
                None => {
                    eprintln!("{prog}: unrecognized option '{arg}'");
                    opts.push(Opt::Bad);
                }
                Some(&(name, takes, short)) => {
                    let value = if takes && value.is_none() {
                        if i + 1 < args.len() {
                            i += 1;
                            Some(args[i].clone())
                        } else {
                            eprintln!("{prog}: option '--{name}' requires an argument");
                            opts.push(Opt::Bad);
                            i += 1;
                            continue;
                        }
                    } else {
                        value
                    };
                    if !takes && value.is_some() {
                        eprintln!("{prog}: option '--{name}' doesn't allow an argument");
                        opts.push(Opt::Bad);
                    } else {
                        opts.push(match short {
                            Some(c) => Opt::Flag(c, value),
                            None => Opt::Long(name),
                        });
                    }
                }
            }
            i += 1;
            continue;
        }
        let chars: Vec<char> = arg.chars().skip(1).collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match takes_arg(c) {
                None => {
                    eprintln!("{prog}: invalid option -- '{c}'");
                    opts.push(Opt::Bad);
                }
                Some(false) => opts.push(Opt::Flag(c, None)),
                Some(true) => {
                    let rest: String = chars[j + 1..].iter().collect();
                    if !rest.is_empty() {
                        opts.push(Opt::Flag(c, Some(rest)));
                    } else if i + 1 < args.len() {
                        i += 1;
                        opts.push(Opt::Flag(c, Some(args[i].clone())));
                    } else {
                        eprintln!("{prog}: option requires an argument -- '{c}'");
                        opts.push(Opt::Bad);
                    }
                    break;
                }
            }
            j += 1;
        }
        i += 1;
    }
    operands.extend_from_slice(&args[i.min(args.len())..]);
    (opts, operands)
}

/// The program name as the C tools print it: the last path component.
pub fn prog_name() -> String {
    let arg0 = std::env::args().next().unwrap_or_default();
    arg0.rsplit('/').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_cluster_and_arguments_attach_or_follow() {
        let (opts, operands) = getopt("t", &args(&["-en", "-d,", "x", "-d", ";"]), "hd:ne");
        assert_eq!(
            opts,
            [
                Opt::Flag('e', None),
                Opt::Flag('n', None),
                Opt::Flag('d', Some(",".into())),
                Opt::Flag('d', Some(";".into())),
            ]
        );
        assert_eq!(operands, ["x"]);
    }

    #[test]
    fn double_dash_ends_the_options_and_bad_input_is_marked() {
        let (opts, operands) = getopt("t", &args(&["-x", "--", "-n"]), "n");
        assert_eq!(opts, [Opt::Bad]);
        assert_eq!(operands, ["-n"]);
        let (opts, _) = getopt("t", &args(&["-d"]), "d:");
        assert_eq!(opts, [Opt::Bad]);
    }

    #[test]
    fn long_options_take_values_with_or_without_equals() {
        let longs: &[LongOpt] = &[("address", true, Some('a')), ("force", false, None)];
        let (opts, _) = getopt_long(
            "t",
            &args(&[
                "--address=2",
                "--address",
                "3",
                "--force",
                "--force=1",
                "--nosuch",
            ]),
            "a:",
            longs,
        );
        assert_eq!(
            opts,
            [
                Opt::Flag('a', Some("2".into())),
                Opt::Flag('a', Some("3".into())),
                Opt::Long("force"),
                Opt::Bad,
                Opt::Bad,
            ]
        );
    }
}
