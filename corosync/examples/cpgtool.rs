//! `cpgtool`: a Rust version of `corosync-cpgtool`, built on the corosync
//! crate. Lists CPG groups and their members with the same options and the
//! same output as the C tool.
//!
//! ```text
//! cpgtool [-d delimiter] [-e] [-n] [-h]
//! ```

use std::io::{self, Write};
use std::process::ExitCode;

use corosync::cfg::Cfg;
use corosync::cpg::{Cpg, GroupName, Iteration};

#[path = "common/getopt.rs"]
mod getopt;
use getopt::{getopt, prog_name, Opt};

fn usage(prog: &str) {
    print!("{prog} [-d delimiter] [-e] [-n] [-h]\n\n");
    println!("A tool for displaying cpg groups and members.");
    println!("options:");
    println!("\t-d\tDelimiter between fields.");
    println!("\t-e\tDon't escape unprintable characters in group name.");
    println!("\t-n\tDisplay only all existing group names.");
    println!("\t-h\tDisplay this help.");
}

/// Writes a group name as the C tool does: printable ASCII as is, `\` as
/// `\\`, anything else as `\xNN`, where bytes above 0x7f print as the C
/// tool's sign-extended `char` does (`\xFFFFFF80`).
fn write_group(out: &mut impl Write, escape: bool, group: &GroupName) -> io::Result<()> {
    for &b in group.as_bytes() {
        if !escape || ((b' '..0x7f).contains(&b) && b != b'\\') {
            out.write_all(&[b])?;
        } else if b == b'\\' {
            out.write_all(b"\\\\")?;
        } else {
            write!(out, "\\x{:02X}", b as i8 as i32 as u32)?;
        }
    }
    Ok(())
}

fn write_addrs(out: &mut impl Write, cfg: &Cfg, nodeid: corosync::NodeId) -> io::Result<()> {
    if let Ok(addrs) = cfg.node_addrs(nodeid) {
        for (i, addr) in addrs.iter().enumerate() {
            let Some(addr) = addr else { continue };
            if i != 0 {
                out.write_all(b" ")?;
            }
            write!(out, "{addr}")?;
        }
    }
    Ok(())
}

/// Starts an iteration, saying so on stderr as the C tool does if it fails.
fn start<'a>(cpg: &'a Cpg, what: Iteration<'_>) -> Option<corosync::cpg::GroupIter<'a>> {
    match cpg.iter(what) {
        Ok(iter) => Some(iter),
        Err(err) => {
            eprintln!(
                "Cannot initialize cpg iterator error {}",
                err.code().unwrap_or(0)
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
                eprintln!("cpg iteration error {}", err.code().unwrap_or(0));
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
                write_addrs(out, cfg, entry.nodeid)?;
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
    let prog = prog_name();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, _) = getopt(&prog, &args, "hd:ne");
    let mut delimiter = None;
    let mut escape = true;
    let mut names = false;
    for opt in opts {
        match opt {
            Opt::Flag('d', Some(value)) => {
                if let Some(&first) = value.as_bytes().first() {
                    delimiter = Some(first);
                }
            }
            Opt::Flag('n', _) => names = true,
            Opt::Flag('e', _) => escape = false,
            Opt::Flag('h', _) => {
                usage(&prog);
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
                err.code().unwrap_or(0)
            );
            return ExitCode::FAILURE;
        }
    };
    let cfg = match Cfg::new() {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!(
                "Could not initialize corosync configuration API error {}",
                err.code().unwrap_or(0)
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
