//! `cfgtool`: a Rust version of `corosync-cfgtool`, built on the corosync
//! crate, with the same options, output and exit codes.
//!
//! ```text
//! cfgtool [[-i <interface ip>] [-b] -s] [-n] [-R] [-L] [-k nodeid] [-a nodeid] [-h] [-H [--force]]
//! ```

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use corosync::cfg::{Cfg, ShutdownMode};
use corosync::cmap::Cmap;
use corosync::NodeId;
use corosync_tools::cs_error::{code, strerror};
use corosync_tools::getopt::{self, Getopt, Opt};
use corosync_tools::nodelist;
use corosync_tools::number::strtonum;
use corosync_tools::output::write_addrs;
use corosync_tools::retry;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Noop,
    LinkStatus,
    NodeStatus,
    Reload,
    ReopenLogs,
    Shutdown,
    ShowAddr,
    KillNode,
}

fn usage() {
    print!("corosync-cfgtool [[-i <interface ip>] [-b] -s] [-R] [-L] [-k nodeid] [-a nodeid] [-h] [-H]\n\n");
    println!("A tool for displaying and configuring active parameters within corosync.");
    println!("options:");
    println!("\t-i\tFinds only information about the specified interface IP address or link id when used with -s..");
    println!("\t-s\tDisplays the status of the current links on this node.");
    println!("\t-n\tDisplays the status of the connected nodes and their links.");
    println!(
        "\t-b\tDisplays the brief status of the current links on this node when used with -s."
    );
    println!("\t-R\tTell all instances of corosync in this cluster to reload corosync.conf.");
    println!("\t-L\tTell corosync to reopen all logging files.");
    println!("\t-k\tKill a node identified by node id.");
    println!("\t-a\tDisplay the IP address(es) of a node");
    println!("\t-h\tPrint basic usage.");
    println!("\t-H\tShutdown corosync cleanly on this node.");
    println!("\t\t--force will shut down corosync regardless of daemon vetos");
}

/// Connects to libcfg, or says why not (the error's name if `with_name`,
/// else its number, as the C tool does per action) and exits with 1.
fn connect(with_name: bool) -> Cfg {
    match Cfg::new() {
        Ok(cfg) => cfg,
        Err(e) => {
            if with_name {
                eprintln!(
                    "Could not initialize corosync configuration API error {}",
                    strerror(&e)
                );
            } else {
                eprintln!(
                    "Could not initialize corosync configuration API error {}",
                    code(&e)
                );
            }
            std::process::exit(1);
        }
    }
}

#[cfg(corosync_has_corosync_cfg_node_status_get)]
fn nodestatus(action: Action, brief: bool, _interface: &[u8]) -> u8 {
    let cfg = connect(false);
    let Ok(cmap) = Cmap::new().map_err(|e| {
        eprintln!("Could not initialize corosync cmap API error {}", code(&e));
    }) else {
        std::process::exit(1);
    };
    let transport = cmap
        .get_string("totem.transport")
        .map(|s| String::from_utf8_lossy(&s).into_owned())
        .unwrap_or_else(|_| "knet".to_string());
    let knet = transport != "udpu" && transport != "udp";
    let local = match cfg.local_nodeid() {
        Ok(id) => id.get(),
        Err(e) => {
            eprintln!(
                "Could not get the local node id, the error is: {}",
                code(&e)
            );
            return 1;
        }
    };
    let mut nodes: Vec<u32> = match nodelist::nodes(&cmap) {
        Ok(nodes) => nodes.iter().map(|node| node.nodeid).collect(),
        Err(e) => {
            eprintln!("Could not get nodelist from cmap. error {}", code(&e));
            std::process::exit(1);
        }
    };
    if nodes.is_empty() {
        eprintln!("No nodes found in nodelist");
        std::process::exit(1);
    }
    nodes.sort_unstable();
    let local_index = nodes.iter().position(|&n| n == local).unwrap_or(0);
    let other_index = nodes.iter().rposition(|&n| n != local).unwrap_or(0);

    let mut link_transport: Vec<String> = vec![
        if knet {
            "udp".to_string()
        } else {
            String::new()
        };
        corosync::cfg::MAX_LINKS
    ];
    if let Ok(iter) = cmap.iter("totem.interface.") {
        for entry in iter.flatten() {
            let key = String::from_utf8_lossy(&entry.key).into_owned();
            let Some(rest) = key.strip_prefix("totem.interface.") else {
                continue;
            };
            let Some((num, tail)) = rest.split_once('.') else {
                continue;
            };
            if !tail.starts_with("knet_transport") {
                continue;
            }
            let Ok(link) = num.parse::<usize>() else {
                continue;
            };
            if let Ok(t) = cmap.get_string(format!("totem.interface.{link}.knet_transport")) {
                if let Some(slot) = link_transport.get_mut(link) {
                    *slot = String::from_utf8_lossy(&t).into_owned();
                }
            }
        }
    }
    drop(cmap);

    println!("Local node ID {local}, transport {transport}");
    if action == Action::NodeStatus {
        for &id in &nodes {
            let Ok(st) = cfg.node_status(NodeId::new(id)) else {
                continue;
            };
            if !st.reachable || st.nodeid.get() == local {
                continue;
            }
            print!("nodeid: {} reachable", st.nodeid);
            if st.remote {
                print!(" remote");
            }
            if st.external {
                print!(" external");
            }
            // The C tool prints this only when built with a libknet that
            // reports on-wire versions (HAVE_KNET_ONWIRE_VER); without one
            // corosync reports zeros, which is what Debian 12's build shows.
            let onwire_known = st.onwire_min != 0 || st.onwire_max != 0 || st.onwire_ver != 0;
            if knet && onwire_known {
                print!(
                    "   onwire (min/max/cur): {}, {}, {}",
                    st.onwire_min, st.onwire_max, st.onwire_ver
                );
            }
            println!();
            for l in &st.links {
                print!("   LINK: {} {}", l.link, link_transport[l.link]);
                print!(
                    " ({}{}{})",
                    l.src_addr,
                    if knet { "->" } else { "" },
                    l.dst_addr
                );
                if l.enabled {
                    print!(" enabled");
                }
                if l.connected {
                    print!(" connected");
                }
                if l.dynconnected {
                    print!(" dynconnected");
                }
                println!(" mtu: {}", l.mtu);
            }
            println!();
        }
    } else {
        let statuses: Vec<Option<corosync::cfg::NodeStatus>> = nodes
            .iter()
            .map(|&id| match cfg.node_status(NodeId::new(id)) {
                Ok(st) => Some(st),
                Err(e) => {
                    eprintln!(
                        "Could not get the node status for nodeid {id}, the error is: {}",
                        code(&e)
                    );
                    None
                }
            })
            .collect();
        let link_of = |node: usize, link: usize| {
            statuses[node]
                .as_ref()
                .and_then(|st| st.links.iter().find(|l| l.link == link))
        };
        for (link, transport) in link_transport.iter().enumerate() {
            let Some(other) = link_of(other_index, link) else {
                continue;
            };
            println!("LINK ID {link} {transport}");
            println!("\taddr\t= {}", other.src_addr);
            if brief {
                print!("\tstatus\t= ");
                for j in 0..nodes.len() {
                    let l = link_of(j, link);
                    let c = if j == local_index {
                        'n'
                    } else {
                        let v = u8::from(l.is_some_and(|l| l.enabled))
                            | (u8::from(l.is_some_and(|l| l.connected)) << 1);
                        (b'0' + v) as char
                    };
                    print!("{c}");
                }
                println!();
            } else {
                println!("\tstatus:");
                for (j, status) in statuses.iter().enumerate() {
                    let id = status.as_ref().map_or(0, |st| st.nodeid.get());
                    print!("\t\tnodeid: {id:>10}:\t");
                    if j == local_index {
                        print!("localhost");
                    } else if link_of(j, link).is_some_and(|l| l.connected) {
                        print!("connected");
                    } else {
                        print!("disconnected");
                    }
                    println!();
                }
            }
        }
    }
    0
}

/// Built against corosync 3.0, which has no per-node status
/// (`corosync_cfg_node_status_get` came in 3.1): `-s` prints what corosync
/// 3.0's tool printed, from `corosync_cfg_ring_status_get` (its messages on
/// standard output, as that tool had them), and `-n` says it needs 3.1.
#[cfg(not(corosync_has_corosync_cfg_node_status_get))]
fn nodestatus(action: Action, brief: bool, interface: &[u8]) -> u8 {
    use corosync_tools::ring_status::{write_links, Format, RingLink};

    if action == Action::NodeStatus {
        eprintln!("Node status needs corosync 3.1 or later (corosync_cfg_node_status_get)");
        return 1;
    }
    println!("Printing link status.");
    let cfg = match Cfg::new() {
        Ok(cfg) => cfg,
        Err(e) => {
            println!(
                "Could not initialize corosync configuration API error {}",
                code(&e)
            );
            std::process::exit(1);
        }
    };
    let cmap = match Cmap::new() {
        Ok(cmap) => cmap,
        Err(e) => {
            println!("Could not initialize corosync cmap API error {}", code(&e));
            std::process::exit(1);
        }
    };
    let knet = !matches!(
        cmap.get_string("totem.transport").as_deref(),
        Ok(b"udp" | b"udpu")
    );
    let mut nodeids: Vec<u32> = match nodelist::nodes(&cmap) {
        Ok(nodes) => nodes.iter().map(|node| node.nodeid).collect(),
        Err(e) => {
            println!("Could not get nodelist from cmap. error {}", code(&e));
            std::process::exit(1);
        }
    };
    nodeids.sort_unstable();
    match cfg.local_nodeid() {
        Ok(id) => println!("Local node ID {id}"),
        Err(e) => println!(
            "Could not get the local node id, the error is: {}",
            code(&e)
        ),
    }
    match cfg.ring_status() {
        Ok(rings) => {
            let links: Vec<RingLink<'_>> = rings
                .iter()
                .map(|ring| RingLink {
                    name: &ring.name,
                    status: &ring.status,
                })
                .collect();
            let format = Format {
                interface,
                brief,
                knet,
                nodeids: &nodeids,
            };
            let mut out = std::io::stdout().lock();
            write_links(&mut out, &links, &format).unwrap_or(1)
        }
        Err(e) => {
            println!("Could not get the link status, the error is: {}", code(&e));
            0
        }
    }
}

fn main() -> ExitCode {
    let longs: &[getopt::LongOpt] = &[
        ("if", true, Some('i')),
        ("status", false, Some('s')),
        ("nodes", false, Some('n')),
        ("brief", false, Some('b')),
        ("reload", false, Some('R')),
        ("reopen", false, Some('L')),
        ("kill", true, Some('k')),
        ("address", true, Some('a')),
        ("shutdown", false, Some('H')),
        ("force", false, None),
    ];
    let options = Getopt::from_env("i:snbrRLk:a:hH", longs);
    let mut action = Action::Noop;
    let mut brief = false;
    let mut force = false;
    let mut nodeid = 0;
    let mut interface = Vec::new();
    for opt in options {
        match opt {
            Opt::Long("force") => force = true,
            Opt::Flag('i', Some(name)) => {
                // Kept as the C tool keeps it: in a 128-byte buffer.
                interface = name.as_bytes().to_vec();
                interface.truncate(127);
            }
            Opt::Flag('h', _) | Opt::Flag('r', _) => {}
            Opt::Flag('s', _) => action = Action::LinkStatus,
            Opt::Flag('n', _) => action = Action::NodeStatus,
            Opt::Flag('b', _) => brief = true,
            Opt::Flag('R', _) => action = Action::Reload,
            Opt::Flag('L', _) => action = Action::ReopenLogs,
            Opt::Flag('H', _) => action = Action::Shutdown,
            Opt::Flag(c @ ('k' | 'a'), Some(v)) => {
                match strtonum(v.as_bytes(), 1, i64::from(u32::MAX))
                    .and_then(|n| u32::try_from(n).ok())
                {
                    Some(n) => {
                        nodeid = n;
                        action = if c == 'k' {
                            Action::KillNode
                        } else {
                            Action::ShowAddr
                        };
                    }
                    None => {
                        eprintln!("The nodeid was not valid, try a positive number");
                        return ExitCode::FAILURE;
                    }
                }
            }
            _ => return ExitCode::FAILURE,
        }
    }
    let rc: u8 = match action {
        Action::LinkStatus | Action::NodeStatus => nodestatus(action, brief, &interface),
        Action::Reload => {
            println!("Reloading corosync.conf...");
            let cfg = connect(true);
            match cfg.reload_config() {
                Ok(()) => {
                    println!("Done");
                    0
                }
                Err(e) => {
                    eprintln!("Could not reload configuration. Error {}", strerror(&e));
                    code(&e) as u8
                }
            }
        }
        Action::ReopenLogs => {
            let cfg = connect(true);
            match cfg.reopen_log_files() {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!(
                        "Could not reopen corosync logging files. Error {}",
                        strerror(&e)
                    );
                    code(&e) as u8
                }
            }
        }
        Action::KillNode => {
            println!("Killing node {nodeid}");
            let cfg = connect(false);
            if let Err(e) = cfg.kill_node(NodeId::new(nodeid), "Killed by corosync-cfgtool") {
                eprintln!("Could not kill node (error = {})", strerror(&e));
                return ExitCode::FAILURE;
            }
            0
        }
        Action::Shutdown => {
            let cfg = connect(false);
            println!("Shutting down corosync");
            let mode = if force {
                ShutdownMode::Regardless
            } else {
                ShutdownMode::Request
            };
            // As the C tool: up to 30 tries one second apart while corosync
            // answers CS_ERR_TRY_AGAIN.
            if let Err(e) = retry::once_a_second(30).run(|| cfg.try_shutdown(mode)) {
                eprintln!("Could not shutdown (error = {})", code(&e));
            }
            0
        }
        Action::ShowAddr => {
            let cfg = connect(false);
            match cfg.node_addrs(NodeId::new(nodeid)) {
                Ok(addrs) => {
                    let mut out = std::io::stdout().lock();
                    match write_addrs(&mut out, &addrs).and_then(|()| writeln!(out)) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    }
                }
                Err(_) => {
                    eprintln!("Could not get node address for nodeid {nodeid}");
                    1
                }
            }
        }
        Action::Noop => {
            usage();
            0
        }
    };
    ExitCode::from(rc)
}
