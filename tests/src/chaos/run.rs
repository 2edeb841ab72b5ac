//! The fault checker's driver: starts a cluster and the members, injects
//! faults chosen by the seed (one node or member at a time, or two nodes
//! at once) with calm periods between them, restarts what died, ends
//! every member cleanly, tears the cluster down (also when a step fails:
//! [`Cluster`] does on drop) and checks the records. A [`Scenario`] runs
//! a fixed sequence instead, made to show one corosync break.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use super::check::{self, Break, Coverage, Violation};
use super::record::{self, Event, Incarnation};
use super::{Rng, Traffic};
use crate::{bounded, harness_binary, hex, lines_of, Cluster, HarnessError};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The planned length of the fault schedule in seconds (calm periods
    /// and faults; the waits for the cluster to re-form come on top).
    pub seconds: u64,
    /// The seed of every random choice (faults, sizes, pacing).
    pub seed: u64,
    /// Cluster size, 3 to 5 (with one node faulted at a time, the others
    /// stay quorate).
    pub nodes: usize,
    /// Where the record files go (created if missing; the files of an
    /// earlier run there are removed first).
    pub dir: PathBuf,
    /// How the members send.
    pub traffic: Traffic,
    /// A fixed sequence instead of the seed's faults.
    pub scenario: Option<Scenario>,
    /// Whether the daemons log at debug level (their logs are copied to
    /// `n<i>-corosync.log` in `dir` at the end either way).
    pub daemon_debug: bool,
}

/// A fixed sequence that shows one corosync break with plain-C members
/// only (RELIABILITY.md, "Breaks corosync makes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// [`Break::FragmentedAcrossJoin`]: a C member on node 1 sends only
    /// fragmented messages back to back, a C member on node 2 stays, and
    /// of two more C members (nodes 2 and 3) one leaves every 1.3 to
    /// 4.2 s (from the seed) and joins again as a new process; no faults.
    /// `--seconds` is the churn's planned length.
    FragmentsAcrossJoin,
}

impl Scenario {
    /// The scenario called `name` on the command line.
    pub fn from_name(name: &str) -> Option<Scenario> {
        match name {
            "fragments-across-join" => Some(Scenario::FragmentsAcrossJoin),
            _ => None,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FragmentsAcrossJoin => "fragments-across-join",
        }
    }

    /// The break it shows.
    pub fn shows(self) -> Break {
        match self {
            Scenario::FragmentsAcrossJoin => Break::FragmentedAcrossJoin,
        }
    }
}

/// What a run did and found.
#[derive(Debug)]
pub struct Outcome {
    /// One line per fault, in order.
    pub faults: Vec<String>,
    /// The records of every member incarnation.
    pub incarnations: Vec<Incarnation>,
    /// Records that could not be read.
    pub unreadable: Vec<String>,
    /// What the checks found.
    pub violations: Vec<Violation>,
    /// How much they compared.
    pub coverage: Coverage,
    /// Members that exited by themselves other than on a corosync error
    /// (see `driver.log` and their `.err` files), or did not join.
    pub unexpected_exits: usize,
}

/// How a run's violations end the `chaos` program: 1 when any violation is
/// not a documented corosync break (or a record is unreadable), else 0.
/// Documented corosync breaks are printed and counted
/// (`corosync_breaks=`) but do not fail the run; RELIABILITY.md says why.
pub fn exit_status(violations: &[Violation], unreadable: usize) -> i32 {
    i32::from(unreadable > 0 || violations.iter().any(|v| v.corosync.is_none()))
}

/// The summary's last two counts: documented corosync breaks, then every
/// other violation and unreadable record.
pub fn counts_text(violations: &[Violation], unreadable: usize) -> String {
    let breaks = violations.iter().filter(|v| v.corosync.is_some()).count();
    format!(
        "corosync_breaks={breaks} violations={}",
        violations.len() - breaks + unreadable
    )
}

impl Outcome {
    /// The one summary line, ending in `violations=<n>`.
    pub fn summary(&self, opts: &Options) -> String {
        let count = |f: &dyn Fn(&Event) -> bool| -> usize {
            self.incarnations
                .iter()
                .map(|i| i.events.iter().filter(|e| f(e)).count())
                .sum()
        };
        let sent = count(&|e| matches!(e, Event::Sent(_)));
        let delivered = count(&|e| matches!(e, Event::Deliver { .. }));
        let confs = count(&|e| matches!(e, Event::Conf(_)));
        let clean = self.incarnations.iter().filter(|i| i.clean_end).count();
        let kinds = |k: &str| self.faults.iter().filter(|f| f.starts_with(k)).count();
        let parts = |k: &str| {
            self.faults
                .iter()
                .map(|f| f.matches(k).count())
                .sum::<usize>()
        };
        format!(
            "chaos: seed={} nodes={} seconds={} {} faults={} (daemon-kill={} \
             isolate={} daemon-stop={} member-kill={} rejoin={} two-node={}) incarnations={} \
             clean-ends={} sent={sent} delivered={delivered} \
             confchgs={confs} compared: order-pairs={} transitions={} views={} \
             unexpected-member-exits={} records={} unreadable={} {}",
            opts.seed,
            opts.nodes,
            opts.seconds,
            match opts.scenario {
                Some(s) => format!("scenario={}", s.name()),
                None => format!(
                    "pace={} sizes={}",
                    opts.traffic.pace_text(),
                    opts.traffic.sizes_text()
                ),
            },
            self.faults.len(),
            parts("daemon-kill"),
            parts("isolate"),
            parts("daemon-stop"),
            kinds("member-kill"),
            kinds("rejoin"),
            kinds("two-node"),
            self.incarnations.len(),
            clean,
            self.coverage.order_pairs,
            self.coverage.transitions,
            self.coverage.views,
            self.unexpected_exits,
            opts.dir.display(),
            self.unreadable.len(),
            counts_text(&self.violations, self.unreadable.len())
        )
    }
}

/// The kinds of member processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rust,
    Tokio,
    Evs,
    C,
}

/// One member slot: a place on a node that a member process fills, one
/// incarnation after another.
#[derive(Debug)]
struct Slot {
    node: usize,
    kind: Kind,
    traffic: Traffic,
    index: usize,
    incarnations: usize,
    running: Option<MemberProcess>,
}

#[derive(Debug)]
struct MemberProcess {
    child: Child,
    stdin: ChildStdin,
    name: String,
}

impl Drop for MemberProcess {
    /// Kills a member still running, when a failed run unwinds.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // (Best effort: the run's error is the report.)
            let _ = self.child.kill();
            let _ = bounded::try_wait_child(&mut self.child, bounded::NO_HANG);
        }
    }
}

/// How long a member may take to say it has joined.
const READY_WAIT: Duration = Duration::from_secs(30);

/// How long members may take to end cleanly (each waits at most 60 s for
/// its own messages).
const END_WAIT: Duration = Duration::from_secs(120);

/// The first slots (node 1's blocking and tokio members) are steady:
/// never killed nor told to re-join, and their daemon is never killed
/// (it is stopped and isolated like the others), so that their memory
/// and descriptors can be followed over a whole run.
const STEADY: usize = 2;

/// The group every member joins.
const GROUP: &[u8] = b"chaos";

struct Driver {
    cluster: Cluster,
    slots: Vec<Slot>,
    rng: Rng,
    seed: u64,
    dir: PathBuf,
    rust_member: PathBuf,
    tokio_member: PathBuf,
    evs_member: PathBuf,
    c_member: PathBuf,
    log: Vec<String>,
    started: Instant,
    last_sample: Instant,
    /// Members that exited by themselves other than on a corosync error,
    /// or that did not join.
    unexpected_exits: usize,
}

impl Driver {
    fn program(&self, kind: Kind) -> &Path {
        match kind {
            Kind::Rust => &self.rust_member,
            Kind::Tokio => &self.tokio_member,
            Kind::Evs => &self.evs_member,
            Kind::C => &self.c_member,
        }
    }

    /// Starts slot `s`'s next incarnation; false if it did not join (its
    /// daemon is down or not ready: tried again later).
    fn spawn(&mut self, s: usize) -> Result<bool, HarnessError> {
        let node = self.slots[s].node;
        if !self.cluster.node(node).is_running() {
            return Ok(false);
        }
        let slot = &self.slots[s];
        let name = format!(
            "n{}-{}-{}.{}",
            node + 1,
            match slot.kind {
                Kind::Rust => "rust",
                Kind::Tokio => "tokio",
                Kind::Evs => "evs",
                Kind::C => "c",
            },
            slot.index,
            slot.incarnations
        );
        let file = self.dir.join(format!("{name}.rec"));
        // libqb's complaints about a stalled daemon, and any panic.
        let stderr = fs::File::create(self.dir.join(format!("{name}.err")))
            .map_err(|e| HarnessError::new(format!("create {name}.err: {e}")))?;
        // Its own stream, so that restarts (which depend on timing) leave
        // the sequence of faults a function of the seed alone.
        let seed = Rng::new(self.seed ^ ((s as u64) << 40) ^ (slot.incarnations as u64))
            .next_u64()
            .to_string();
        let program = self.program(slot.kind).to_path_buf();
        let mut cmd = self
            .cluster
            .node(node)
            .command(&program.to_string_lossy())?;
        cmd.arg(&name)
            .arg(hex(GROUP))
            .arg(&file)
            .arg(seed)
            .arg(slot.traffic.pace_text())
            .arg(slot.traffic.sizes_text())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd
            .spawn()
            .map_err(|e| HarnessError::new(format!("start {}: {e}", program.display())))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        self.slots[s].incarnations += 1;
        match lines.recv_timeout(READY_WAIT) {
            Ok(line) if line.starts_with("ready ") => {
                self.slots[s].running = Some(MemberProcess { child, stdin, name });
                Ok(true)
            }
            other => {
                self.log
                    .push(format!("member {name} did not join: {other:?}"));
                self.unexpected_exits += 1;
                // (Best effort: it is not counted as running either way.)
                let _ = child.kill();
                let _ = bounded::try_wait_child(&mut child, bounded::NO_HANG);
                Ok(false)
            }
        }
    }

    /// Collects exited members and starts the slots that have none on
    /// running nodes.
    fn respawn(&mut self) -> Result<(), HarnessError> {
        for s in 0..self.slots.len() {
            if let Some(p) = self.slots[s].running.as_mut() {
                if let Ok(Some(status)) = p.child.try_wait() {
                    // 3: stopped on an error from corosync (its daemon was
                    // killed); anything else is unexpected.
                    if status.code() != Some(3) {
                        self.unexpected_exits += 1;
                    }
                    self.log.push(format!(
                        "slot {s} (node {}) exited: {status}",
                        self.slots[s].node + 1
                    ));
                    self.slots[s].running = None;
                }
            }
            if self.slots[s].running.is_none() {
                self.spawn(s)?;
            }
        }
        Ok(())
    }

    /// Lets traffic flow for `ms` milliseconds, restarting members.
    fn calm(&mut self, ms: u64) -> Result<(), HarnessError> {
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until {
            self.respawn()?;
            self.sample();
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Every 10 s, appends the resident memory and open descriptors of
    /// each running Rust member to `resources.tsv` (seconds since the
    /// start, member, pid, VmRSS in kB, fds).
    fn sample(&mut self) {
        if self.last_sample.elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_sample = Instant::now();
        let t = self.started.elapsed().as_secs();
        let mut lines = String::new();
        for slot in &self.slots {
            let (Some(p), Kind::Rust | Kind::Tokio | Kind::Evs) = (&slot.running, slot.kind) else {
                continue;
            };
            let pid = p.child.id();
            let rss = fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                });
            let fds = fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count())
                .ok();
            if let (Some(rss), Some(fds)) = (rss, fds) {
                let _ = writeln!(lines, "{t}\t{}\t{pid}\t{rss}\t{fds}", p.name);
            }
        }
        use std::io::Write as _;
        // (Best effort: the samples are for reading, not checked.)
        let _ = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("resources.tsv"))
            .and_then(|mut f| f.write_all(lines.as_bytes()));
    }

    fn all_nodes(&self) -> Vec<usize> {
        (0..self.cluster.len()).collect()
    }

    /// Injects one fault chosen by the seed and waits until the cluster
    /// has re-formed; returns its description and how long it was
    /// planned to last (its part of the run's nominal time). The seed
    /// alone decides every choice and duration: what depends on timing
    /// (a member that already exited) changes what a fault finds, never
    /// the draws.
    fn fault(&mut self) -> Result<(String, u64), HarnessError> {
        let what = match self.rng.range(0, 11) {
            0..=5 => {
                let node = self.rng.range(0, self.cluster.len() as u64 - 1) as usize;
                let fault = self.node_fault(node);
                let pause = self.fault_pause(fault);
                let active = [self.start(node, fault)?];
                self.hold(pause, &active)?;
                self.end(&active[0])?;
                (format!("{} for {pause} ms", active[0].text()), pause)
            }
            6..=7 => {
                let s = self.rng.range(STEADY as u64, self.slots.len() as u64 - 1) as usize;
                let text = match self.slots[s].running.as_mut() {
                    Some(p) => {
                        // (A member that exited on its own meanwhile is
                        // collected below all the same.)
                        let _ = p.child.kill();
                        let _ = bounded::try_wait_child(&mut p.child, Duration::from_secs(10));
                        self.slots[s].running = None;
                        format!("member-kill slot {s} on node {}", self.slots[s].node + 1)
                    }
                    None => format!("member-kill slot {s}: not running, nothing done"),
                };
                (text, 0)
            }
            8..=9 => {
                let s = self.rng.range(STEADY as u64, self.slots.len() as u64 - 1) as usize;
                let text = match self.end_member(s, Duration::from_secs(70)) {
                    Some(status) => format!(
                        "rejoin slot {s} on node {}: left ({status}), joins again as a new process",
                        self.slots[s].node + 1
                    ),
                    None => format!("rejoin slot {s}: not running, nothing done"),
                };
                (text, 0)
            }
            _ => self.two_node_fault()?,
        };
        self.cluster.wait_for_membership(&self.all_nodes())?;
        self.respawn()?;
        Ok(what)
    }

    /// What happens to `node` in a node fault (node 1's daemon is never
    /// killed: its steady members).
    fn node_fault(&mut self, node: usize) -> NodeFault {
        match self.rng.range(0, 2) {
            0 if node != 0 => NodeFault::DaemonKill,
            0 | 1 => NodeFault::Isolate,
            _ => NodeFault::DaemonStop,
        }
    }

    /// How long a node fault lasts, in ms: 0.5 to 4 s (isolations 1.5 to
    /// 5 s, so that most are noticed).
    fn fault_pause(&mut self, fault: NodeFault) -> u64 {
        let pause = self.rng.range(500, 4000);
        match fault {
            NodeFault::Isolate => pause + 1000,
            _ => pause,
        }
    }

    /// Two node faults on two nodes that overlap: the second starts while
    /// the first lasts; each ends after its own pause.
    fn two_node_fault(&mut self) -> Result<(String, u64), HarnessError> {
        let n = self.cluster.len() as u64;
        let a = self.rng.range(0, n - 1) as usize;
        let b = ((a as u64 + self.rng.range(1, n - 1)) % n) as usize;
        let (fa, fb) = (self.node_fault(a), self.node_fault(b));
        let (pa, pb) = (self.fault_pause(fa), self.fault_pause(fb));
        let offset = self.rng.range(0, pa - 1);
        let first = self.start(a, fa)?;
        self.hold(offset, std::slice::from_ref(&first))?;
        let second = self.start(b, fb)?;
        let both = [first, second];
        let (end_a, end_b) = (pa, offset + pb);
        let (early, late, at_early, at_late) = if end_a <= end_b {
            (&both[0], &both[1], end_a, end_b)
        } else {
            (&both[1], &both[0], end_b, end_a)
        };
        self.hold(at_early - offset, &both)?;
        self.end(early)?;
        self.hold(at_late - at_early, std::slice::from_ref(late))?;
        self.end(late)?;
        Ok((
            format!(
                "two-node: {} for {pa} ms, and from {offset} ms on {} for {pb} ms",
                both[0].text(),
                both[1].text()
            ),
            at_late,
        ))
    }

    /// Starts `fault` on `node`.
    fn start(&mut self, node: usize, fault: NodeFault) -> Result<Active, HarnessError> {
        let mut stopped = None;
        match fault {
            NodeFault::DaemonKill => self.cluster.kill(node)?,
            NodeFault::Isolate => self.cluster.isolate(node)?,
            NodeFault::DaemonStop => {
                let pid = self.daemon_pid(node)?;
                signal(pid, libc::SIGSTOP)?;
                stopped = Some(pid);
            }
        }
        self.log.push(format!(
            "{:.1} s: start {} on node {}",
            self.started.elapsed().as_secs_f64(),
            fault.name(),
            node + 1
        ));
        Ok(Active {
            node,
            fault,
            stopped,
        })
    }

    /// Ends a fault `start` began.
    fn end(&mut self, active: &Active) -> Result<(), HarnessError> {
        match (active.fault, active.stopped) {
            (NodeFault::DaemonKill, _) => self.cluster.restart(active.node)?,
            (NodeFault::Isolate, _) => self.cluster.heal(active.node)?,
            (NodeFault::DaemonStop, Some(pid)) => signal(pid, libc::SIGCONT)?,
            (NodeFault::DaemonStop, None) => {}
        }
        self.log.push(format!(
            "{:.1} s: end {}",
            self.started.elapsed().as_secs_f64(),
            active.text()
        ));
        Ok(())
    }

    /// Lets `ms` pass while `active` faults last: with traffic and member
    /// restarts, unless a daemon is stopped (a member started on its node
    /// would wait for it to answer).
    fn hold(&mut self, ms: u64, active: &[Active]) -> Result<(), HarnessError> {
        if active.iter().any(|a| a.fault == NodeFault::DaemonStop) {
            std::thread::sleep(Duration::from_millis(ms));
            Ok(())
        } else {
            self.calm(ms)
        }
    }

    fn daemon_pid(&self, node: usize) -> Result<i32, HarnessError> {
        let pid =
            self.cluster.node(node).pid().ok_or_else(|| {
                HarnessError::new(format!("node {} has no daemon to stop", node + 1))
            })?;
        i32::try_from(pid).map_err(|_| HarnessError::new("pid out of range"))
    }

    /// Tells slot `s`'s member to end cleanly and waits for it.
    fn end_member(&mut self, s: usize, limit: Duration) -> Option<String> {
        let mut p = self.slots[s].running.take()?;
        use std::io::Write;
        // (A member whose stdin is gone has exited: collected below.)
        let _ = writeln!(p.stdin, "exit").and_then(|()| p.stdin.flush());
        match bounded::try_wait_child(&mut p.child, limit) {
            Ok(Some(status)) => Some(status.to_string()),
            _ => {
                let _ = p.child.kill();
                let _ = bounded::try_wait_child(&mut p.child, bounded::NO_HANG);
                Some(format!("still running after {limit:?}: killed"))
            }
        }
    }

    /// Ends every member: told `exit` all at once, then waited for.
    fn end_all(&mut self) {
        use std::io::Write;
        for slot in &mut self.slots {
            if let Some(p) = slot.running.as_mut() {
                let _ = writeln!(p.stdin, "exit").and_then(|()| p.stdin.flush());
            }
        }
        let deadline = Instant::now() + END_WAIT;
        for s in 0..self.slots.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(status) = self.end_member(s, left) {
                self.log.push(format!("slot {s} ended: {status}"));
            }
        }
    }
}

/// A fault that takes a node out for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeFault {
    /// SIGKILL of the daemon; restarted at the end.
    DaemonKill,
    /// The node's switch port down; up again at the end.
    Isolate,
    /// SIGSTOP of the daemon; SIGCONT at the end.
    DaemonStop,
}

impl NodeFault {
    fn name(self) -> &'static str {
        match self {
            NodeFault::DaemonKill => "daemon-kill",
            NodeFault::Isolate => "isolate",
            NodeFault::DaemonStop => "daemon-stop",
        }
    }
}

/// A node fault in progress.
#[derive(Debug)]
struct Active {
    node: usize,
    fault: NodeFault,
    /// The stopped daemon's pid.
    stopped: Option<i32>,
}

impl Active {
    fn text(&self) -> String {
        format!("{} node {}", self.fault.name(), self.node + 1)
    }
}

fn signal(pid: i32, sig: i32) -> Result<(), HarnessError> {
    // SAFETY: kill has no memory effects; the pid is a daemon this run started.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(HarnessError::new(format!(
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        )))
    }
}

/// How long the cluster may take to start, and to re-form after a fault.
pub const RE_FORM_WAIT: Duration = Duration::from_secs(180);

/// Runs the checker as `opts` say: every fault, then the checks. An error
/// when the harness itself fails (a cluster that does not re-form, a
/// member that cannot start); the cluster is torn down in every case.
pub fn run(opts: &Options) -> Result<Outcome, HarnessError> {
    if !(3..=5).contains(&opts.nodes) {
        return Err(HarnessError::new("--nodes must be 3, 4 or 5"));
    }
    crate::preflight()?;
    fs::create_dir_all(&opts.dir)
        .map_err(|e| HarnessError::new(format!("create {}: {e}", opts.dir.display())))?;
    // Only what an earlier run wrote there goes.
    for entry in fs::read_dir(&opts.dir)
        .map_err(|e| HarnessError::new(format!("read {}: {e}", opts.dir.display())))?
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let ours = path.extension().is_some_and(|x| x == "rec" || x == "err")
            || path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n == "driver.log" || n == "resources.tsv" || n.ends_with(DAEMON_LOG)
            });
        if ours {
            fs::remove_file(&path)
                .map_err(|e| HarnessError::new(format!("remove {}: {e}", path.display())))?;
        }
    }
    fs::create_dir_all(&opts.dir)
        .map_err(|e| HarnessError::new(format!("create {}: {e}", opts.dir.display())))?;
    let dir = fs::canonicalize(&opts.dir)
        .map_err(|e| HarnessError::new(format!("{}: {e}", opts.dir.display())))?;
    let mut builder = Cluster::builder(opts.nodes)
        // The run's own length, plus set-up, re-forming and clean ends.
        .time_limit(Duration::from_secs(opts.seconds + 900))
        // Five daemons sharing two cores can take well over a minute to
        // re-form after a fault (totem's token timing out in recovery,
        // again and again), or not re-form at all (RELIABILITY.md).
        .start_timeout(RE_FORM_WAIT);
    if opts.daemon_debug {
        builder = builder.logging_option("debug: on");
    }
    let cluster = builder.start()?;
    let mut slots = Vec::new();
    let slot = |node, kind, traffic, index| Slot {
        node,
        kind,
        traffic,
        index,
        incarnations: 0,
        running: None,
    };
    match opts.scenario {
        None => {
            for node in 0..opts.nodes {
                for (index, kind) in [Kind::Rust, Kind::Tokio, Kind::C, Kind::Evs]
                    .into_iter()
                    .enumerate()
                {
                    slots.push(slot(node, kind, opts.traffic, index));
                }
            }
        }
        Some(Scenario::FragmentsAcrossJoin) => {
            let quiet = Traffic::parse("50-150", "100,0,0").expect("a valid mix");
            let flood = Traffic::parse("0-5", "0,0,100").expect("a valid mix");
            slots.push(slot(0, Kind::C, flood, 0));
            slots.push(slot(1, Kind::C, quiet, 1));
            slots.push(slot(1, Kind::C, quiet, 2));
            slots.push(slot(2, Kind::C, quiet, 3));
        }
    }
    let mut driver = Driver {
        cluster,
        slots,
        rng: Rng::new(opts.seed),
        seed: opts.seed,
        dir: dir.clone(),
        rust_member: harness_binary("chaos-member")?,
        tokio_member: harness_binary("chaos-member-tokio")?,
        evs_member: harness_binary("chaos-member-evs")?,
        c_member: PathBuf::from(env!("C_CHAOS_MEMBER")),
        log: Vec::new(),
        started: Instant::now(),
        last_sample: Instant::now(),
        unexpected_exits: 0,
    };
    let mut faults = Vec::new();
    // The seed fixes the schedule: calm periods and faults follow until
    // their planned durations add up to `seconds`. The waits for the
    // cluster to re-form come on top; a run that takes more than three
    // times its planned length plus two minutes stops early (logged).
    let planned = opts.seconds * 1000;
    let wall_cap = Duration::from_secs(opts.seconds * 3 + 120);
    let result = (|| -> Result<(), HarnessError> {
        driver.respawn()?;
        let mut elapsed = 0;
        while elapsed < planned {
            if driver.started.elapsed() > wall_cap {
                driver.log.push(format!(
                    "stopped after {elapsed} of {planned} planned ms: over the wall-time cap of {wall_cap:?}"
                ));
                break;
            }
            let calm = driver.rng.range(1000, 3000);
            driver.calm(calm)?;
            elapsed += calm;
            if elapsed >= planned {
                break;
            }
            match opts.scenario {
                None => {
                    let (what, took) = driver.fault()?;
                    driver.log.push(format!(
                        "{:.1} s: done: {what}",
                        driver.started.elapsed().as_secs_f64()
                    ));
                    faults.push(what);
                    elapsed += took;
                }
                Some(Scenario::FragmentsAcrossJoin) => {
                    // A churning member leaves; the next calm period
                    // starts its next incarnation.
                    let s = driver.rng.range(2, 3) as usize;
                    let stay = driver.rng.range(300, 1200);
                    if let Some(status) = driver.end_member(s, Duration::from_secs(70)) {
                        driver.log.push(format!("slot {s} left: {status}"));
                    }
                    driver.respawn()?;
                    driver.calm(stay)?;
                    elapsed += stay;
                }
            }
        }
        driver.cluster.wait_for_membership(&driver.all_nodes())?;
        driver.respawn()?;
        driver.calm(1000)?;
        Ok(())
    })();
    driver.end_all();
    for node in driver.cluster.nodes() {
        let _ = fs::write(daemon_log(&dir, node.nodeid().into()), node.log());
    }
    let mut log = String::new();
    for line in &driver.log {
        let _ = writeln!(log, "{line}");
    }
    // (The log is for reading after the run; the summary has the counts.)
    let _ = fs::write(dir.join("driver.log"), log);
    if let Err(e) = result {
        return Err(HarnessError::new(format!(
            "{e}\n(records and driver.log in {})",
            dir.display()
        )));
    }
    let unexpected_exits = driver.unexpected_exits;
    drop(driver);
    let (incarnations, unreadable) = read_records(&dir)?;
    let (violations, coverage) = check::check_with(&incarnations, &read_formed(&dir));
    Ok(Outcome {
        faults,
        incarnations,
        unreadable,
        violations,
        coverage,
        unexpected_exits,
    })
}

/// Where a run in `dir` keeps the log of node `nodeid`'s daemon.
fn daemon_log(dir: &Path, nodeid: u32) -> PathBuf {
    dir.join(format!("n{nodeid}{DAEMON_LOG}"))
}

/// The ending of the daemon logs' names in a run's folder.
const DAEMON_LOG: &str = "-corosync.log";

/// The rings the daemons formed, from the logs `n<i>-corosync.log` in
/// `dir` (node `i` has node id `i`); none for a node without its log.
pub fn read_formed(dir: &Path) -> check::Formed {
    let mut formed = check::Formed::default();
    for nodeid in 1..=crate::MAX_NODES as u32 {
        if let Ok(text) = fs::read_to_string(daemon_log(dir, nodeid)) {
            formed.read_log(nodeid, &text);
        }
    }
    formed
}

/// Parses every `.rec` file in `dir`.
pub fn read_records(dir: &Path) -> Result<(Vec<Incarnation>, Vec<String>), HarnessError> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| HarnessError::new(format!("read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rec"))
        .collect();
    names.sort();
    let mut incs = Vec::new();
    let mut bad = Vec::new();
    for path in names {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = fs::read_to_string(&path)
            .map_err(|e| HarnessError::new(format!("read {}: {e}", path.display())))?;
        match record::parse(&name, &text) {
            Ok(inc) => incs.push(inc),
            // A member that failed before its first line wrote nothing.
            Err(_) if text.is_empty() => {}
            Err(e) => bad.push(e),
        }
    }
    Ok((incs, bad))
}
