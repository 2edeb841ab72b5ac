//! `quorumtool`: a Rust version of `corosync-quorumtool`, built on the
//! corosync crate, with the same options, output and exit codes.
//!
//! ```text
//! quorumtool [-s] [-l] [-m] [-a] [-p] [-v votes [-n nodeid]] [-e expected]
//!            [-H] [-i] [-o a|n|i] [-f] [-h] [-V]
//! ```

use std::ffi::OsStr;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use corosync::cfg::Cfg;
use corosync::cmap::Cmap;
use corosync::quorum::{Quorum, QuorumType};
use corosync::votequorum::{Info, InfoFlags, Votequorum};
use corosync::{DispatchMode, Error, NodeId, TrackFlags};
use corosync_tools::cs_error::strerror;
use corosync_tools::getopt::{Getopt, Opt};
use corosync_tools::nodelist;
use corosync_tools::number::strtonum;

const EXIT_NOT_QUORATE: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    ShowNodes,
    ShowStatus,
    SetVotes,
    SetExpected,
    Monitor,
    UnregisterQdevice,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Addr,
    NodeId,
    Name,
}

struct Options {
    hex: bool,
    ip: bool,
    sort: Sort,
    all_addrs: bool,
    machine_parsable: bool,
}

/// What the quorum and votequorum callbacks report.
#[derive(Default)]
struct State {
    called: bool,
    quorate: bool,
    ring_seq: u64,
    view: Vec<u32>,
    vq_called: bool,
    ring_rep_node: u32,
}

struct Tool {
    cmap: Cmap,
    quorum: Quorum,
    cfg: Cfg,
    vq: Option<Votequorum>,
    our_nodeid: u32,
    state: Arc<Mutex<State>>,
    opts: Options,
}

fn show_usage(name: &OsStr) {
    println!("usage: ");
    let mut out = io::stdout().lock();
    // Nothing useful is left to do when stdout is gone.
    let _ = out
        .write_all(name.as_bytes())
        .and_then(|()| out.write_all(b" <options>\n"));
    drop(out);
    println!();
    println!("  options:");
    println!();
    println!("  -s             show quorum status");
    println!("  -m             constantly monitor quorum status");
    println!("  -l             list nodes");
    println!("  -a             show all names or addresses for each node");
    println!("  -p             when used with -s or -l, generates machine parsable output");
    println!("  -v <votes>     change the number of votes for a node (*)");
    println!("  -n <nodeid>    optional nodeid of node for -v");
    println!("  -e <expected>  change expected votes for the cluster (*)");
    println!("  -H             show nodeids in hexadecimal rather than decimal");
    println!("  -i             show node IP addresses instead of the resolved name");
    println!("  -o <a|n|i>     order by [a] IP address (default), [n] name, [i] nodeid");
    println!("  -f             forcefully unregister a quorum device *DANGEROUS* (*)");
    println!("  -h             show this help text");
    println!("  -V             show version and exit");
    println!();
    println!("  (*) Starred items only work if votequorum is the quorum provider for corosync");
    println!();
}

/// `print_string_padded`: right-aligned in 10 columns, then a space.
fn padded(s: &str) -> String {
    format!("{s:>10} ")
}

/// A host name or numeric address as getnameinfo gives it.
fn name_info(addr: IpAddr, numeric: bool) -> Option<String> {
    let (storage, len) = match addr {
        IpAddr::V4(a) => {
            // SAFETY: an all-zero sockaddr_in is valid.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            // SAFETY: an all-zero sockaddr_storage is valid; sockaddr_in fits.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: copying a sockaddr_in into the larger storage.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(ss).cast::<libc::sockaddr_in>(), sin) };
            (ss, std::mem::size_of::<libc::sockaddr_in>())
        }
        IpAddr::V6(a) => {
            // SAFETY: an all-zero sockaddr_in6 is valid.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
            // SAFETY: as above.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: copying a sockaddr_in6 into the larger storage.
            unsafe {
                std::ptr::write(
                    std::ptr::addr_of_mut!(ss).cast::<libc::sockaddr_in6>(),
                    sin6,
                )
            };
            (ss, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    let mut host = [0 as libc::c_char; 1025];
    let flags = if numeric { libc::NI_NUMERICHOST } else { 0 };
    // SAFETY: valid socket address of `len` bytes and output buffer.
    let rc = unsafe {
        libc::getnameinfo(
            std::ptr::addr_of!(storage).cast(),
            len as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            flags,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminated the host name.
    Some(
        unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

impl Tool {
    fn init(opts: Options) -> Option<Tool> {
        let Ok(cmap) = Cmap::new() else {
            eprintln!("Cannot initialize CMAP service");
            return None;
        };
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let quorum = Quorum::builder()
            .legacy_initialize(true)
            .on_quorum(move |_, n| {
                let mut st = s.lock().unwrap();
                st.called = true;
                st.quorate = n.quorate;
                st.ring_seq = n.ring_id.seq;
                st.view = n.members.iter().map(|m| m.get()).collect();
            })
            .connect();
        let Ok(quorum) = quorum else {
            eprintln!("Cannot initialize QUORUM service");
            return None;
        };
        let Ok(cfg) = Cfg::new() else {
            eprintln!("Cannot initialise CFG service");
            return None;
        };
        let mut tool = Tool {
            cmap,
            quorum,
            cfg,
            vq: None,
            our_nodeid: 0,
            state,
            opts,
        };
        if tool.using_votequorum() <= 0 {
            return Some(tool);
        }
        let s = tool.state.clone();
        let vq = Votequorum::builder()
            .on_nodelist(move |_, n| {
                let mut st = s.lock().unwrap();
                st.ring_rep_node = n.ring_id.nodeid.get();
                st.vq_called = true;
            })
            .connect();
        let Ok(vq) = vq else {
            eprintln!("Cannot initialise VOTEQUORUM service");
            return None;
        };
        tool.vq = Some(vq);
        match tool.cmap.get_u32("runtime.votequorum.this_node_id") {
            Ok(id) => tool.our_nodeid = id,
            Err(_) => {
                eprintln!("Unable to retrieve this_node_id");
                return None;
            }
        }
        Some(tool)
    }

    /// `get_quorum_type`: the provider, or None (not configured / error).
    fn quorum_type(&self) -> Option<String> {
        if self.quorum.quorum_type() == QuorumType::FREE {
            return None;
        }
        self.cmap
            .get_string("quorum.provider")
            .ok()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
    }

    /// `using_votequorum`: 1, 0, or -1 when the type is unknown.
    fn using_votequorum(&self) -> i32 {
        match self.quorum_type() {
            None => -1,
            Some(t) => i32::from(t == "corosync_votequorum"),
        }
    }

    fn node_name(&self, nodeid: u32) -> String {
        let mut buf = String::new();
        let mut start = 0;
        if !self.opts.ip {
            if let Some(name) = nodelist::name(&self.cmap, nodeid).filter(|n| !n.is_empty()) {
                start = 1;
                buf = String::from_utf8_lossy(&name).into_owned();
            }
        }
        let addrs = match self.cfg.node_addrs(NodeId::new(nodeid)) {
            Ok(addrs) => addrs,
            Err(e) => {
                eprintln!(
                    "Unable to get node address for nodeid {nodeid}: {}",
                    strerror(&e)
                );
                return String::new();
            }
        };
        let count = if self.opts.all_addrs { addrs.len() } else { 1 };
        for (i, addr) in addrs.iter().enumerate().take(count).skip(start) {
            let Some(addr) = addr else { continue };
            if i != 0 {
                buf.push_str(", ");
            }
            if let Some(name) = name_info(*addr, self.opts.ip) {
                buf.push_str(&name);
            }
        }
        buf
    }

    fn display_nodes_data(&self, out: &mut impl Write) -> io::Result<()> {
        let view = self.state.lock().unwrap().view.clone();
        let mut info: Vec<Option<Info>> = Vec::new();
        let mut display_qdevice = false;
        if let Some(vq) = &self.vq {
            for &id in &view {
                match vq.info(NodeId::new(id)) {
                    Ok(i) => {
                        display_qdevice |= i.flags.contains(InfoFlags::QDEVICE_REGISTERED);
                        info.push(Some(i));
                    }
                    Err(_) => {
                        writeln!(out, "Unable to get node {id} info")?;
                        info.push(None);
                    }
                }
            }
        }
        let mut entries: Vec<(u32, String)> =
            view.iter().map(|&id| (id, self.node_name(id))).collect();

        write!(out, "\nMembership information\n----------------------\n")?;
        write!(out, "{}", padded("Nodeid"))?;
        if self.vq.is_some() {
            write!(out, "{}", padded("Votes"))?;
            if display_qdevice || self.opts.machine_parsable {
                write!(out, "{}", padded("Qdevice"))?;
            }
        }
        writeln!(out, "Name")?;
        match self.opts.sort {
            Sort::Addr => {}
            Sort::NodeId => entries.sort_by_key(|e| e.0),
            Sort::Name => entries.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes())),
        }
        let mut our_flags = InfoFlags::empty();
        // As the C tool does, votes and qdevice state are read by position in
        // the corosync order, also after sorting.
        for (i, (id, name)) in entries.iter().enumerate() {
            if self.opts.hex {
                write!(out, "0x{id:08x} ")?;
            } else {
                write!(out, "{}", padded(&id.to_string()))?;
            }
            if self.vq.is_some() {
                let this = info.get(i).cloned().flatten();
                let votes = this.as_ref().map_or(0, |i| i.node_votes);
                write!(out, "{}", padded(&votes.to_string()))?;
                if display_qdevice || self.opts.machine_parsable {
                    let flags = this.as_ref().map_or(InfoFlags::empty(), |i| i.flags);
                    if flags.contains(InfoFlags::QDEVICE_REGISTERED) {
                        let s = format!(
                            "{},{},{}",
                            if flags.contains(InfoFlags::QDEVICE_ALIVE) {
                                "A"
                            } else {
                                "NA"
                            },
                            if flags.contains(InfoFlags::QDEVICE_CAST_VOTE) {
                                "V"
                            } else {
                                "NV"
                            },
                            if flags.contains(InfoFlags::QDEVICE_MASTER_WINS) {
                                "MW"
                            } else {
                                "NMW"
                            },
                        );
                        write!(out, "{}", padded(&s))?;
                    } else {
                        write!(out, "{}", padded("NR"))?;
                    }
                }
            }
            write!(out, "{name}")?;
            if *id == self.our_nodeid {
                write!(out, " (local)")?;
                if self.vq.is_some() {
                    our_flags = info
                        .get(i)
                        .cloned()
                        .flatten()
                        .map_or(InfoFlags::empty(), |i| i.flags);
                }
            }
            writeln!(out)?;
        }
        if display_qdevice {
            if self.opts.hex {
                write!(out, "0x{:08x} ", 0)?;
            } else {
                write!(out, "{}", padded("0"))?;
            }
            let first = info.first().cloned().flatten();
            let qdevice_votes = first.as_ref().map_or(0, |i| i.qdevice_votes);
            let qdevice_name = first.as_ref().map_or(String::new(), |i| {
                String::from_utf8_lossy(&i.qdevice_name).into_owned()
            });
            let casting = our_flags.contains(InfoFlags::QDEVICE_CAST_VOTE);
            write!(
                out,
                "{}",
                padded(&(if casting { qdevice_votes } else { 0 }).to_string())
            )?;
            write!(out, "           {qdevice_name}")?;
            if casting {
                writeln!(out)?;
            } else {
                writeln!(out, " (votes {qdevice_votes})")?;
            }
        }
        Ok(())
    }

    /// Prints the status; the error is that of votequorum_getinfo.
    fn display_quorum_data(
        &self,
        out: &mut impl Write,
        is_quorate: bool,
    ) -> io::Result<Result<(), Error>> {
        writeln!(out, "Quorum information\n------------------")?;
        // SAFETY: time(NULL) cannot fail; ctime_r gets a 26+ byte buffer.
        let date = unsafe {
            let t = libc::time(std::ptr::null_mut());
            let mut buf = [0 as libc::c_char; 64];
            libc::ctime_r(&t, buf.as_mut_ptr());
            std::ffi::CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        write!(out, "Date:             {date}")?;
        let provider = self
            .quorum_type()
            .unwrap_or_else(|| "Not configured".to_string());
        writeln!(out, "Quorum provider:  {provider}")?;
        let (view_len, seq, rep) = {
            let st = self.state.lock().unwrap();
            (st.view.len(), st.ring_seq, st.ring_rep_node)
        };
        writeln!(out, "Nodes:            {view_len}")?;
        if self.opts.hex {
            writeln!(out, "Node ID:          0x{:08x}", self.our_nodeid)?;
        } else {
            writeln!(out, "Node ID:          {}", self.our_nodeid)?;
        }
        if self.vq.is_some() {
            writeln!(out, "Ring ID:          {rep:x}.{seq:x}")?;
        } else {
            writeln!(out, "Ring ID:          {seq:x}")?;
        }
        writeln!(
            out,
            "Quorate:          {}",
            if is_quorate { "Yes" } else { "No" }
        )?;
        let Some(vq) = &self.vq else {
            return Ok(Ok(()));
        };
        let result = vq.info(NodeId::new(self.our_nodeid));
        match &result {
            Ok(info) => {
                write!(out, "\nVotequorum information\n----------------------\n")?;
                writeln!(out, "Expected votes:   {}", info.node_expected_votes)?;
                writeln!(out, "Highest expected: {}", info.highest_expected)?;
                writeln!(out, "Total votes:      {}", info.total_votes)?;
                let blocked = if info.flags.contains(InfoFlags::QUORATE) {
                    " "
                } else {
                    "Activity blocked"
                };
                writeln!(out, "Quorum:           {} {blocked}", info.quorum)?;
                write!(out, "Flags:            ")?;
                for (flag, name) in [
                    (InfoFlags::TWO_NODE, "2Node"),
                    (InfoFlags::QUORATE, "Quorate"),
                    (InfoFlags::WAIT_FOR_ALL, "WaitForAll"),
                    (InfoFlags::LAST_MAN_STANDING, "LastManStanding"),
                    (InfoFlags::AUTO_TIE_BREAKER, "AutoTieBreaker"),
                    (InfoFlags::ALLOW_DOWNSCALE, "AllowDownscale"),
                    (InfoFlags::QDEVICE_REGISTERED, "Qdevice"),
                ] {
                    if info.flags.contains(flag) {
                        write!(out, "{name} ")?;
                    }
                }
                writeln!(out)?;
            }
            Err(e) => {
                out.flush()?;
                eprintln!("Unable to get node info: {}", strerror(e));
            }
        }
        self.display_nodes_data(out)?;
        Ok(result.map(drop))
    }

    /// Waits for the quorum callback, then (with votequorum) for the node
    /// list, as the C tool does.
    fn fetch(&self, flags: TrackFlags) -> Result<(), String> {
        self.quorum
            .track_start(flags)
            .map_err(|e| format!("Unable to start quorum status tracking: {}", strerror(&e)))?;
        self.state.lock().unwrap().called = false;
        while !self.state.lock().unwrap().called {
            self.quorum
                .dispatch(DispatchMode::One)
                .map_err(|e| format!("Unable to dispatch quorum status: {}", strerror(&e)))?;
        }
        Ok(())
    }

    fn fetch_votequorum(&self, flags: TrackFlags) -> Result<(), String> {
        if self.using_votequorum() == 0 {
            return Ok(());
        }
        let vq = self
            .vq
            .as_ref()
            .ok_or("Unable to start votequorum status tracking: CS_ERR_BAD_HANDLE")?;
        vq.track_start(flags).map_err(|e| {
            format!(
                "Unable to start votequorum status tracking: {}",
                strerror(&e)
            )
        })?;
        self.state.lock().unwrap().vq_called = false;
        while !self.state.lock().unwrap().vq_called {
            vq.dispatch(DispatchMode::One)
                .map_err(|e| format!("Unable to dispatch votequorum status: {}", strerror(&e)))?;
        }
        Ok(())
    }

    fn show_status(&self) -> u8 {
        let is_quorate = match self.quorum.is_quorate() {
            Ok(q) => q,
            Err(e) => {
                eprintln!("Unable to get cluster quorate status: {}", strerror(&e));
                return 1;
            }
        };
        if let Err(msg) = self.fetch(TrackFlags::CURRENT) {
            eprintln!("{msg}");
            return 1;
        }
        let _ = self.quorum.track_stop();
        if let Err(msg) = self.fetch_votequorum(TrackFlags::CURRENT) {
            eprintln!("{msg}");
            return 1;
        }
        let stdout = io::stdout();
        let mut out = stdout.lock();
        match self.display_quorum_data(&mut out, is_quorate) {
            Ok(Ok(())) => {
                if is_quorate {
                    0
                } else {
                    EXIT_NOT_QUORATE
                }
            }
            _ => 1,
        }
    }

    fn show_nodes(&self) -> u8 {
        if let Err(msg) = self.fetch(TrackFlags::CURRENT) {
            eprintln!("{msg}");
            return 1;
        }
        let stdout = io::stdout();
        let mut out = stdout.lock();
        if self.display_nodes_data(&mut out).is_err() {
            return 1;
        }
        0
    }

    fn monitor(&self) -> u8 {
        if self.quorum.quorum_type() == QuorumType::FREE {
            println!("\nQuorum is not configured - cannot monitor");
            return self.show_status();
        }
        if let Err(e) = self.quorum.track_start(TrackFlags::CHANGES) {
            eprintln!("Unable to start quorum status tracking: {}", strerror(&e));
            return 1;
        }
        if self.using_votequorum() != 0 {
            if let Some(vq) = &self.vq {
                if let Err(e) = vq.track_start(TrackFlags::CHANGES) {
                    eprintln!(
                        "Unable to start votequorum status tracking: {}",
                        strerror(&e)
                    );
                    return 1;
                }
            }
        }
        loop {
            if let Err(e) = self.quorum.dispatch(DispatchMode::One) {
                eprintln!("Unable to dispatch quorum status: {}", strerror(&e));
                return 1;
            }
            if self.using_votequorum() != 0 {
                if let Some(vq) = &self.vq {
                    self.state.lock().unwrap().vq_called = false;
                    while !self.state.lock().unwrap().vq_called {
                        if let Err(e) = vq.dispatch(DispatchMode::One) {
                            eprintln!("Unable to dispatch votequorum status: {}", strerror(&e));
                            return 1;
                        }
                    }
                }
            }
            let quorate = self.state.lock().unwrap().quorate;
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let result = self.display_quorum_data(&mut out, quorate);
            let _ = writeln!(out);
            let _ = out.flush();
            if !matches!(result, Ok(Ok(()))) {
                if let Ok(Err(e)) = result {
                    eprintln!("Unable to display quorum data: {}", strerror(&e));
                }
                return 1;
            }
        }
    }

    fn set_votes(&self, nodeid: u32, votes: i64) -> u8 {
        let vq = self.vq.as_ref().expect("votequorum is in use");
        match vq.set_votes(NodeId::new(nodeid), votes as u32) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!(
                    "Unable to set votes {votes} for nodeid: {nodeid}: {}",
                    strerror(&e)
                );
                1
            }
        }
    }

    fn set_expected(&self, expected: i64) -> u8 {
        let vq = self.vq.as_ref().expect("votequorum is in use");
        match vq.set_expected(expected as u32) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Unable to set expected votes: {}", strerror(&e));
                1
            }
        }
    }

    fn unregister_qdevice(&self) -> u8 {
        let vq = self.vq.as_ref().expect("votequorum is in use");
        let info = match vq.info(NodeId::new(self.our_nodeid)) {
            Ok(info) => info,
            Err(e) => {
                eprintln!("Unable to get quorum device info: {}", strerror(&e));
                return 1;
            }
        };
        if !info.flags.contains(InfoFlags::QDEVICE_REGISTERED) {
            return 0;
        }
        let name = String::from_utf8_lossy(&info.qdevice_name).into_owned();
        match vq.qdevice_unregister(&name) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("Unable to unregister quorum device: {}", strerror(&e));
                1
            }
        }
    }
}

fn main() -> ExitCode {
    let opts = Getopt::from_env("VHaslpmfe:v:hin:o:", &[]);
    let argv0 = opts.argv0();
    let mut command = Command::ShowStatus;
    let mut options = Options {
        hex: false,
        ip: false,
        sort: Sort::Addr,
        all_addrs: false,
        machine_parsable: false,
    };
    let mut votes = 0i64;
    let mut nodeid: Option<u32> = None;
    for opt in opts {
        match opt {
            Opt::Flag('f', _) => command = Command::UnregisterQdevice,
            Opt::Flag('s', _) => command = Command::ShowStatus,
            Opt::Flag('a', _) => options.all_addrs = true,
            Opt::Flag('m', _) => command = Command::Monitor,
            Opt::Flag('i', _) => options.ip = true,
            Opt::Flag('H', _) => options.hex = true,
            Opt::Flag('l', _) => command = Command::ShowNodes,
            Opt::Flag('p', _) => options.machine_parsable = true,
            Opt::Flag('e', Some(v)) => match strtonum(v.as_bytes(), 1, i64::from(i32::MAX)) {
                Some(n) => {
                    votes = n;
                    command = Command::SetExpected;
                }
                None => {
                    eprintln!("New expected votes value was not valid, try a positive number");
                    return ExitCode::FAILURE;
                }
            },
            Opt::Flag('n', Some(v)) => match strtonum(v.as_bytes(), 1, i64::from(u32::MAX)) {
                Some(n) => nodeid = Some(n as u32),
                None => {
                    eprintln!("The nodeid was not valid, try a positive number");
                    return ExitCode::FAILURE;
                }
            },
            Opt::Flag('v', Some(v)) => match strtonum(v.as_bytes(), 0, i64::from(i32::MAX)) {
                Some(n) => {
                    votes = n;
                    command = Command::SetVotes;
                }
                None => {
                    eprintln!("New votes value was not valid, try a positive number or zero");
                    return ExitCode::FAILURE;
                }
            },
            Opt::Flag('o', Some(v)) => {
                options.sort = match v.as_bytes() {
                    b"a" => Sort::Addr,
                    b"i" => Sort::NodeId,
                    b"n" => Sort::Name,
                    _ => {
                        eprintln!("Invalid ordering option. valid orders are a(address), i(node ID) or n(name)");
                        return ExitCode::FAILURE;
                    }
                }
            }
            Opt::Flag('V', _) => {
                println!(
                    "corosync-quorumtool version: {}",
                    corosync::sys::LIBRARY_VERSION
                );
                return ExitCode::SUCCESS;
            }
            Opt::Flag('h', _) => {
                show_usage(&argv0);
                return ExitCode::SUCCESS;
            }
            _ => {
                show_usage(&argv0);
                return ExitCode::FAILURE;
            }
        }
    }

    let Some(tool) = Tool::init(options) else {
        return ExitCode::FAILURE;
    };
    let code = match command {
        Command::ShowNodes => tool.show_nodes(),
        Command::ShowStatus => tool.show_status(),
        Command::SetVotes => {
            if tool.using_votequorum() > 0 {
                tool.set_votes(nodeid.unwrap_or(tool.our_nodeid), votes)
            } else {
                eprintln!("You cannot change node votes, corosync is not using votequorum");
                1
            }
        }
        Command::SetExpected => {
            if tool.using_votequorum() > 0 {
                tool.set_expected(votes)
            } else {
                eprintln!("You cannot change expected votes, corosync is not using votequorum");
                1
            }
        }
        Command::Monitor => tool.monitor(),
        Command::UnregisterQdevice => {
            if tool.using_votequorum() > 0 {
                tool.unregister_qdevice()
            } else {
                eprintln!("You cannot unregister quorum device, corosync is not using votequorum");
                1
            }
        }
    };
    let _ = io::stdout().flush();
    ExitCode::from(code)
}
