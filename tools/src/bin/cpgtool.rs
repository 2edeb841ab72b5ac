//! `cpgtool`: a Rust version of `corosync-cpgtool`, built on the corosync
//! crate. Lists CPG groups and their members with the same options and the
//! same output as the C tool.
//!
//! ```text
//! cpgtool [-d delimiter] [-e] [-n] [-h]
//! ```

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use corosync::cfg::Cfg;
use corosync::cpg::{Cpg, GroupName, Iteration};
use corosync_tools::cs_error;
use corosync_tools::getopt::{basename, Getopt, Opt};
use corosync_tools::output::{write_addrs, write_escaped};

fn usage(prog: &[u8]) {
    let mut out = io::stdout().lock();
    // Nothing useful is left to do when stdout is gone.
    let _ = out
        .write_all(prog)
        .and_then(|()| out.write_all(b" [-d delimiter] [-e] [-n] [-h]\n\n"));
    drop(out);
    println!("A tool for displaying cpg groups and members.");
    println!("options:");
    println!("\t-d\tDelimiter between fields.");
    println!("\t-e\tDon't escape unprintable characters in group name.");
    println!("\t-n\tDisplay only all existing group names.");
    println!("\t-h\tDisplay this help.");
}

/// Writes a group name, escaped unless `-e` said not to.
fn write_group(out: &mut impl Write, escape: bool, group: &GroupName) -> io::Result<()> {
    if escape {
        write_escaped(out, group.as_bytes())
    } else {
        out.write_all(group.as_bytes())
    }
}

/// Writes a node's addresses; nothing if corosync cannot say them.
fn write_node_addrs(out: &mut impl Write, cfg: &Cfg, nodeid: corosync::NodeId) -> io::Result<()> {
    match cfg.node_addrs(nodeid) {
        Ok(addrs) => write_addrs(out, &addrs),
        Err(_) => Ok(()),
    }
}

/// Starts an iteration, saying so on stderr as the C tool does if it fails.
fn start<'a>(cpg: &'a Cpg, what: Iteration<'_>) -> Option<corosync::cpg::GroupIter<'a>> {
    match cpg.iter(what) {
        Ok(iter) => Some(iter),
        Err(err) => {
            eprintln!(
                "Cannot initialize cpg iterator error {}",
                cs_error::code(&err)
            );
            None
        }
    }
}

fn names_only(
    out: &mut impl Write,
    cpg: &Cpg,
    delimiter: Option<u8>,
    escape: bool,
) -> io::Result<bool> {
    let Some(iter) = start(cpg, Iteration::NameOnly) else {
        return Ok(false);
    };
    for entry in iter {
        let Ok(entry) = entry else { break };
        write_group(out, escape, &entry.group)?;
        out.write_all(&[delimiter.unwrap_or(b'\n')])?;
    }
    if delimiter.is_some() {
        out.write_all(b"\n")?;
    }
    Ok(true)
}

fn with_members(
    out: &mut impl Write,
    cpg: &Cpg,
    cfg: &Cfg,
    delimiter: Option<u8>,
    escape: bool,
) -> io::Result<bool> {
    let Some(iter) = start(cpg, Iteration::All) else {
        return Ok(false);
    };
    match delimiter {
        Some(d) => {
            let d = d as char;
            writeln!(out, "GRP_NAME{d}PID{d}NODEID")?;
        }
        None => writeln!(out, "Group Name\t{:>10}\t{:>10}", "PID", "Node ID")?,
    }
    let mut previous: Option<GroupName> = None;
    for entry in iter {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                out.flush()?;
                eprintln!("cpg iteration error {}", cs_error::code(&err));
                return Ok(false);
            }
        };
        match delimiter {
            None => {
                if previous != Some(entry.group) {
                    write_group(out, escape, &entry.group)?;
                    out.write_all(b"\n")?;
                    previous = Some(entry.group);
                }
                write!(out, "\t\t{:>10}\t{:>10} (", entry.pid, entry.nodeid)?;
                write_node_addrs(out, cfg, entry.nodeid)?;
                out.write_all(b")\n")?;
            }
            Some(d) => {
                write_group(out, escape, &entry.group)?;
                let d = d as char;
                writeln!(out, "{d}{}{d}{}", entry.pid, entry.nodeid)?;
            }
        }
    }
    Ok(true)
}

fn main() -> ExitCode {
    let options = Getopt::from_env("hd:ne", &[]);
    let argv0 = options.argv0();
    let mut delimiter = None;
    let mut escape = true;
    let mut names = false;
    for opt in options {
        match opt {
            Opt::Flag('d', Some(value)) => {
                if let Some(&first) = value.as_bytes().first() {
                    delimiter = Some(first);
                }
            }
            Opt::Flag('n', _) => names = true,
            Opt::Flag('e', _) => escape = false,
            Opt::Flag('h', _) => {
                usage(basename(&argv0));
                return ExitCode::SUCCESS;
            }
            _ => return ExitCode::FAILURE,
        }
    }

    let cpg = match Cpg::builder().legacy_initialize(true).connect() {
        Ok(cpg) => cpg,
        Err(err) => {
            eprintln!(
                "Could not initialize corosync cpg API error {}",
                cs_error::code(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    let cfg = match Cfg::new() {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!(
                "Could not initialize corosync configuration API error {}",
                cs_error::code(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = if names {
        names_only(&mut out, &cpg, delimiter, escape)
    } else {
        with_members(&mut out, &cpg, &cfg, delimiter, escape)
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(true), Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
