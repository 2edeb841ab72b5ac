//! Real corosync clusters on one machine.
//!
//! Every node is a corosync daemon in its own network namespace, with a
//! private tmpfs on `/run` (corosync keeps its pid lock file there) and its
//! own `system.state_dir`, so any number of daemons run side by side. A
//! one-node cluster listens on 127.0.0.1 inside its namespace; the nodes of a
//! larger cluster reach each other through veth pairs joined by a bridge that
//! lives in one more namespace (the "switch"), never in the host's. Isolating
//! a node sets the switch-side end of its veth down, which knet survives; healing
//! sets it up again.
//!
//! Every wait has a deadline (daemon start, membership, exit, teardown) and
//! ends in an error that names what it waited for, with the tail of the
//! daemons' logs where they tell why. A cluster that outlives its time
//! limit has its daemons killed by the [watchdog](crate::watchdog).

use std::fmt::Write as _;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corosync::quorum::Quorum;
use corosync::{DispatchMode, NodeId, TrackFlags};

use crate::bounded::{self, NO_HANG};
use crate::netns::{self, Netns};
use crate::owner;
use crate::slots::Slot;
use crate::watchdog::{self, Daemon, Watch, WatchedNode};
use crate::Error;

/// The most nodes a cluster may have.
pub const MAX_NODES: usize = 5;

/// How long [`Cluster`] waits for daemons to start and clusters to form,
/// unless the builder says otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

static NEXT_CLUSTER: AtomicUsize = AtomicUsize::new(0);

/// How long a query of a node's state (its quorum view) may take: it
/// answers at once from a running daemon, so the bound only tells an answer
/// from a daemon that hangs.
const QUERY_WAIT: Duration = Duration::from_secs(15);

/// The subnet of multi-node clusters. Each cluster has its own switch
/// namespace, so clusters never see each other's addresses.
const SUBNET: &str = "10.213.7";

/// Appends `line` to the extra lines of a corosync.conf section, indented.
fn section_line(section: &mut String, line: &str) {
    section.push_str("  ");
    section.push_str(line);
    section.push('\n');
}

/// Options for a new [`Cluster`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until start() is called"]
pub struct ClusterBuilder {
    nodes: usize,
    token_ms: u32,
    quorum_extra: String,
    logging_extra: String,
    start_timeout: Duration,
    /// `None`: the default limit; `Some(None)`: no watchdog.
    time_limit: Option<Option<Duration>>,
    abort_grace: Duration,
    allowed_uids: Vec<u32>,
    allowed_gids: Vec<u32>,
    /// `None`: [`default_mark`](crate::default_mark).
    mark: Option<String>,
}

impl ClusterBuilder {
    /// The owner mark of this cluster's names (1 to 32 of `A-Z a-z 0-9 _
    /// -`; default [`default_mark`](crate::default_mark)): starting it
    /// removes the mark's leftovers of dead processes, and only those (see
    /// the crate docs, "What it touches").
    pub fn mark(mut self, mark: &str) -> Self {
        self.mark = Some(mark.to_string());
        self
    }

    /// The totem token timeout in milliseconds (default 1000: a killed node
    /// is gone from the others' membership within about 3 s).
    pub fn token_ms(mut self, ms: u32) -> Self {
        self.token_ms = ms;
        self
    }

    /// Extra lines for the `quorum { }` section (e.g. `"wait_for_all: 1"`).
    pub fn quorum_option(mut self, line: &str) -> Self {
        section_line(&mut self.quorum_extra, line);
        self
    }

    /// Extra lines for the `logging { }` section (e.g. `"debug: on"`).
    pub fn logging_option(mut self, line: &str) -> Self {
        section_line(&mut self.logging_extra, line);
        self
    }

    /// How long to wait for the daemons to start and the membership to form.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long the cluster may exist, from the moment it has formed,
    /// before the [watchdog](crate::watchdog) kills its daemons (default
    /// `COROSYNC_TEST_LIMIT` seconds, or [`watchdog::DEFAULT_LIMIT`]).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(Some(limit));
        self
    }

    /// No time limit: for programs that keep a cluster as long as their
    /// user wants.
    pub fn no_time_limit(mut self) -> Self {
        self.time_limit = Some(None);
        self
    }

    /// How long after killing the daemons of a cluster past its time limit
    /// the watchdog waits for the cluster to be dropped before it aborts
    /// the process (default [`watchdog::DEFAULT_GRACE`]).
    pub fn abort_grace(mut self, grace: Duration) -> Self {
        self.abort_grace = grace;
        self
    }

    /// Lets clients whose effective uid is `uid` connect to every node's
    /// daemon: a `uidgid { uid: <uid> }` section in each corosync.conf.
    /// corosync takes the number as it is (no `/etc/passwd` entry needed).
    /// Root always may connect; anyone else needs their effective uid or
    /// gid listed, or connecting fails with `corosync::Error::Access`. (A node reads
    /// `uidgid.d` from the folder of its own corosync.conf, not from
    /// `/etc/corosync`.)
    pub fn allow_uid(mut self, uid: u32) -> Self {
        self.allowed_uids.push(uid);
        self
    }

    /// Lets clients whose effective gid is `gid` connect, whatever their
    /// uid: a `uidgid { gid: <gid> }` section in each corosync.conf (only
    /// the effective gid counts, not supplementary groups).
    pub fn allow_gid(mut self, gid: u32) -> Self {
        self.allowed_gids.push(gid);
        self
    }

    /// Creates the namespaces and network, starts every node and waits until
    /// each one sees all of them in its membership and is quorate.
    pub fn start(self) -> Result<Cluster, Error> {
        Cluster::start_with(self)
    }
}

/// One corosync daemon of a [`Cluster`].
#[derive(Debug)]
pub struct Node {
    index: usize,
    nodeid: u32,
    netns: Netns,
    dir: PathBuf,
    conf: PathBuf,
    /// The switch-side interface of this node's veth (multi-node clusters).
    uplink: Option<String>,
    child: Option<Child>,
    /// The running daemon, as the watchdog reaches it.
    daemon: Arc<Daemon>,
    /// Pids of every daemon this node has run, for cleaning /dev/shm.
    pids: Vec<u32>,
}

/// A running corosync cluster of 1 to [`MAX_NODES`] nodes. Dropping it stops
/// every daemon and removes its namespaces, interfaces and files, also when
/// the test panics.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    mark: String,
    nodes: Vec<Node>,
    switch: Option<Netns>,
    dir: PathBuf,
    start_timeout: Duration,
    /// The watchdog's watch, from the moment the cluster has formed.
    _watch: Option<Watch>,
    _slot: Slot,
}

impl Cluster {
    /// A builder for a cluster of `nodes` nodes (1 to [`MAX_NODES`]).
    pub fn builder(nodes: usize) -> ClusterBuilder {
        ClusterBuilder {
            nodes,
            token_ms: 1000,
            quorum_extra: String::new(),
            logging_extra: String::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
            time_limit: None,
            abort_grace: watchdog::DEFAULT_GRACE,
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            mark: None,
        }
    }

    /// A one-node cluster on 127.0.0.1, started and quorate.
    pub fn single() -> Result<Cluster, Error> {
        Cluster::builder(1).start()
    }

    /// A cluster of `nodes` nodes, started, formed and quorate.
    pub fn new(nodes: usize) -> Result<Cluster, Error> {
        Cluster::builder(nodes).start()
    }

    fn start_with(opts: ClusterBuilder) -> Result<Cluster, Error> {
        if opts.nodes == 0 || opts.nodes > MAX_NODES {
            return Err(Error::new(format!(
                "a cluster has 1 to {MAX_NODES} nodes, not {}",
                opts.nodes
            )));
        }
        crate::preflight()?;
        let mark = opts.mark.clone().unwrap_or_else(crate::default_mark);
        owner::check_mark(&mark)?;
        owner::remove_stale_once(&mark);
        let time_limit = match opts.time_limit {
            Some(limit) => limit,
            None => Some(watchdog::default_limit()?),
        };
        let pid = std::process::id();
        let seq = NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed);
        let name = owner::cluster_name(&mark, pid, seq);
        let slot = Slot::acquire(&name)?;
        let dir = owner::kit_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .map_err(|e| Error::new(format!("create {}: {e}", dir.display())))?;

        let mut cluster = Cluster {
            name: name.clone(),
            mark,
            nodes: Vec::new(),
            switch: None,
            dir,
            start_timeout: opts.start_timeout,
            _watch: None,
            _slot: slot,
        };
        // From here on, Drop cleans up whatever was made if a step fails.
        let multi = opts.nodes > 1;
        if multi {
            let switch = Netns::create(&format!("{name}.sw"))?;
            switch.ip(&["link", "add", "br0", "type", "bridge"])?;
            switch.ip(&["link", "set", "br0", "up"])?;
            cluster.switch = Some(switch);
        }
        for index in 0..opts.nodes {
            let nodeid = index as u32 + 1;
            let netns = Netns::create(&format!("{name}.n{nodeid}"))?;
            let node_dir = cluster.dir.join(format!("node{nodeid}"));
            fs::create_dir_all(node_dir.join("state"))
                .map_err(|e| Error::new(format!("create {}: {e}", node_dir.display())))?;
            let uplink = if let Some(switch) = &cluster.switch {
                let uplink = format!("v{nodeid}");
                switch.ip(&[
                    "link",
                    "add",
                    &uplink,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    netns.name(),
                ])?;
                switch.ip(&["link", "set", &uplink, "master", "br0"])?;
                switch.ip(&["link", "set", &uplink, "up"])?;
                netns.ip(&[
                    "addr",
                    "add",
                    &format!("{SUBNET}.{nodeid}/24"),
                    "dev",
                    "eth0",
                ])?;
                netns.ip(&["link", "set", "eth0", "up"])?;
                Some(uplink)
            } else {
                None
            };
            let conf = node_dir.join("corosync.conf");
            cluster.nodes.push(Node {
                index,
                nodeid,
                netns,
                conf,
                dir: node_dir,
                uplink,
                child: None,
                daemon: Arc::default(),
                pids: Vec::new(),
            });
        }
        let conf_text = |node: &Node| config(&name, &opts, node, multi);
        for node in &cluster.nodes {
            fs::write(&node.conf, conf_text(node))
                .map_err(|e| Error::new(format!("write {}: {e}", node.conf.display())))?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.nodes[i].spawn()?;
        }
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.wait_for_membership(&all)?;
        if let Some(limit) = time_limit {
            let nodes = cluster
                .nodes
                .iter()
                .map(|node| WatchedNode {
                    nodeid: node.nodeid,
                    namespace: node.netns.name().to_string(),
                    dir: node.dir.clone(),
                    daemon: node.daemon.clone(),
                })
                .collect();
            cluster._watch = Some(Watch::start(limit, opts.abort_grace, nodes));
        }
        Ok(cluster)
    }

    /// The cluster's unique name, `ctk.<mark>.<pid>.c<n>`: also the prefix
    /// of its namespaces and the name of its folder.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The owner mark its names carry.
    pub fn mark(&self) -> &str {
        &self.mark
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `index` (0-based; its corosync node id is `index + 1`).
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// All nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The folder holding every node's configuration, state and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The names of every namespace this cluster made.
    pub fn namespaces(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.netns.name().to_string())
            .chain(self.switch.as_ref().map(|s| s.name().to_string()))
            .collect()
    }

    /// Stops node `index` with SIGTERM and waits for it to exit.
    pub fn stop(&mut self, index: usize) -> Result<(), Error> {
        self.nodes[index].terminate(libc::SIGTERM)
    }

    /// Kills node `index` with SIGKILL and waits for it to exit.
    pub fn kill(&mut self, index: usize) -> Result<(), Error> {
        self.nodes[index].terminate(libc::SIGKILL)
    }

    /// Starts node `index` again (after [`Cluster::stop`] or
    /// [`Cluster::kill`]) with the same configuration and state folder, and
    /// waits until its daemon answers. Use [`Cluster::wait_for_membership`]
    /// to wait for it to rejoin.
    pub fn restart(&mut self, index: usize) -> Result<(), Error> {
        if self.nodes[index].is_running() {
            self.stop(index)?;
        }
        self.nodes[index].spawn()
    }

    /// Waits up to `timeout` for node `index`'s daemon to exit by itself
    /// (shut down or killed through corosync), and returns its exit status.
    pub fn wait_for_exit(
        &mut self,
        index: usize,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, Error> {
        let node = &mut self.nodes[index];
        let deadline = Instant::now() + timeout;
        loop {
            let Some(child) = node.child.as_mut() else {
                return Err(Error::new(format!("node {} is not running", node.nodeid)));
            };
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "corosync on node {} still runs after {timeout:?}\n{}",
                    node.nodeid,
                    tail(&node.log(), 60)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Cuts node `index` off from the others (its switch port goes down).
    pub fn isolate(&self, index: usize) -> Result<(), Error> {
        self.set_uplink(index, "down")
    }

    /// Reconnects node `index` after [`Cluster::isolate`].
    pub fn heal(&self, index: usize) -> Result<(), Error> {
        self.set_uplink(index, "up")
    }

    fn set_uplink(&self, index: usize, state: &str) -> Result<(), Error> {
        let (Some(switch), Some(uplink)) = (&self.switch, &self.nodes[index].uplink) else {
            return Err(Error::new("a one-node cluster has no network to cut"));
        };
        switch.ip(&["link", "set", uplink, state])
    }

    /// Waits until every node in `indexes` runs, is quorate and has exactly
    /// the nodes of `indexes` as its membership.
    pub fn wait_for_membership(&self, indexes: &[usize]) -> Result<(), Error> {
        let mut want: Vec<NodeId> = indexes
            .iter()
            .map(|&i| NodeId::new(self.nodes[i].nodeid))
            .collect();
        want.sort();
        self.wait_until(
            &format!("nodes {want:?} to form a quorate membership"),
            self.start_timeout,
            || {
                for &i in indexes {
                    let (quorate, members) = self.nodes[i].quorum_view()?;
                    if !quorate || members != want {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )
    }

    /// Polls `check` every 100 ms until it returns `Ok(true)`; errors from
    /// `check` count as "not yet". After `timeout`, an error naming `what`
    /// with the last error and every node's log.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Result<bool, Error>,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match check() {
                Ok(true) => return Ok(()),
                Ok(false) => "condition false".to_string(),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "timed out after {timeout:?} waiting for {what} (last: {last})\n{}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every node's log, for error messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let _ = writeln!(
                out,
                "----- log of node {} ({}) -----",
                node.nodeid,
                node.netns.name()
            );
            out.push_str(&tail(&node.log(), 60));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.terminate(libc::SIGTERM);
            node.remove_shm_leftovers();
        }
        // Namespaces and the switch go with the nodes and the field drops;
        // delete them here so the folder goes last.
        for node in self.nodes.drain(..) {
            let _ = node.netns.delete();
        }
        if let Some(switch) = self.switch.take() {
            let _ = switch.delete();
        }
        if std::env::var_os("COROSYNC_HARNESS_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Node {
    /// The 0-based index in the cluster.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The corosync node id (index + 1).
    pub fn nodeid(&self) -> NodeId {
        NodeId::new(self.nodeid)
    }

    /// The node's network namespace.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// The corosync.conf of this node.
    pub fn config_path(&self) -> &Path {
        &self.conf
    }

    /// The node's `system.state_dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The pid of the running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Every pid this node's daemon has had (one per start).
    pub fn all_pids(&self) -> &[u32] {
        &self.pids
    }

    /// Whether the daemon runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Runs `f` on a thread inside this node's network namespace: corosync
    /// handles created there talk to this node's daemon.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        self.netns.run(f)
    }

    /// Runs `f` on a new thread inside this node's network namespace, as
    /// [`Node::run`] does, beside the caller: join it with
    /// [`bounded::join_within`]. Failing to enter the namespace is a panic
    /// of that thread.
    pub fn spawn_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        self.netns.spawn_thread(f)
    }

    /// Runs `f` inside this node's network namespace as [`Node::run`]
    /// does, waiting at most `limit`: `Ok(None)` if it has not returned by
    /// then (see [`Netns::run_within`]).
    pub fn run_within<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Error> {
        self.netns.run_within(limit, f)
    }

    /// A command that runs inside this node's network namespace (e.g.
    /// `corosync-quorumtool`).
    pub fn command(&self, program: &str) -> Result<Command, Error> {
        self.netns.command(program)
    }

    /// The daemon's log file and what it wrote to stdout/stderr.
    pub fn log(&self) -> String {
        log_of(&self.dir)
    }

    /// Whether the daemon is quorate and which node ids its membership has
    /// (sorted), read through the quorum service.
    pub fn quorum_view(&self) -> Result<(bool, Vec<NodeId>), Error> {
        if !self.is_running() {
            return Err(Error::new(format!("node {} is not running", self.nodeid)));
        }
        // Requests to a stopped (SIGSTOP) daemon block: bounded.
        let view =
            self.netns
                .run_within(QUERY_WAIT, || -> Result<(bool, Vec<NodeId>), Error> {
                    let members = std::sync::Arc::new(std::sync::Mutex::new(None));
                    let sink = members.clone();
                    let quorum = Quorum::builder()
                        .on_quorum(move |_, n| {
                            let mut list = n.members.to_vec();
                            list.sort();
                            *sink.lock().unwrap() = Some((n.quorate, list));
                        })
                        .connect()
                        .map_err(|e| Error::new(format!("quorum connect: {e}")))?;
                    quorum
                        .track_start(TrackFlags::CURRENT)
                        .map_err(|e| Error::new(format!("quorum trackstart: {e}")))?;
                    let deadline = Instant::now() + Duration::from_secs(5);
                    loop {
                        if let Some(view) = members.lock().unwrap().take() {
                            return Ok(view);
                        }
                        if Instant::now() >= deadline {
                            return Err(Error::new("no quorum notification within 5 s"));
                        }
                        crate::poll::wait_readable(&quorum, Duration::from_millis(200));
                        quorum
                            .dispatch(DispatchMode::All)
                            .map_err(|e| Error::new(format!("quorum dispatch: {e}")))?;
                    }
                })?;
        view.unwrap_or_else(|| Err(self.no_answer("the quorum view")))
    }

    /// Whether the daemon's partition is quorate.
    pub fn is_quorate(&self) -> Result<bool, Error> {
        self.netns
            .run_within(QUERY_WAIT, || Quorum::new().and_then(|q| q.is_quorate()))?
            .ok_or_else(|| self.no_answer("whether it is quorate"))?
            .map_err(|e| Error::new(format!("quorum on node {}: {e}", self.nodeid)))
    }

    /// The error for a query that got no answer within [`QUERY_WAIT`].
    fn no_answer(&self, what: &str) -> Error {
        Error::new(format!(
            "no answer from node {} within {QUERY_WAIT:?} (asked for {what}); the daemon hangs\n{}",
            self.nodeid,
            tail(&self.log(), 60)
        ))
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let stdio_path = self.dir.join("stdio.log");
        let stdio = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdio_path)
            .map_err(|e| Error::new(format!("open {}: {e}", stdio_path.display())))?;
        let stderr = stdio
            .try_clone()
            .map_err(|e| Error::new(format!("dup: {e}")))?;
        let netns = self.netns.open()?;
        let netns_fd = netns.as_raw_fd();
        let mut cmd = Command::new(crate::corosync_binary()?);
        cmd.arg("-f")
            .arg("-c")
            .arg(&self.conf)
            .current_dir(self.state_dir())
            .stdin(Stdio::null())
            .stdout(stdio)
            .stderr(stderr);
        // SAFETY: the closure runs in the forked child before exec and makes
        // only system calls (setns, unshare, mount) on data prepared before
        // the fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let _keep = &netns;
                netns::enter(netns_fd)?;
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Keep our mounts to ourselves, then a private /run.
                if libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/run".as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"mode=0755".as_ptr().cast(),
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("start corosync for node {}: {e}", self.nodeid)))?;
        self.pids.push(child.id());
        let watched = self.daemon.set(child.id());
        self.child = Some(child);
        watched?;
        self.wait_ready()
    }

    /// Waits until the daemon answers on its IPC sockets.
    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + DEFAULT_START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::new(format!(
                        "corosync on node {} exited during start-up ({status})\n{}",
                        self.nodeid,
                        tail(&self.log(), 60)
                    )));
                }
            }
            // (A connect that hangs counts as "not yet".)
            let left = deadline.saturating_duration_since(Instant::now());
            if self
                .netns
                .run_within(left.min(QUERY_WAIT), || Quorum::new().is_ok())?
                == Some(true)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = tail(&self.log(), 60);
                let _ = self.terminate(libc::SIGKILL);
                return Err(Error::new(format!(
                    "corosync on node {} did not answer within {DEFAULT_START_TIMEOUT:?}\n{log}",
                    self.nodeid
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits for the daemon to exit; after 10 s it is
    /// killed (SIGKILL), and if it is still there 10 s later, that is the
    /// error.
    fn terminate(&mut self, signal: i32) -> Result<(), Error> {
        const EXIT_WAIT: Duration = Duration::from_secs(10);
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(pid as i32, signal) };
        if let Ok(Some(_)) = bounded::try_wait_child(&mut child, EXIT_WAIT) {
            return Ok(());
        }
        // (An error of kill here means it has just exited.)
        let _ = child.kill();
        let killed = matches!(bounded::try_wait_child(&mut child, NO_HANG), Ok(Some(_)));
        if !killed {
            return Err(Error::new(format!(
                "corosync on node {} (pid {pid}) still runs {NO_HANG:?} after SIGKILL\n{}",
                self.nodeid,
                tail(&self.log(), 60)
            )));
        }
        if signal == libc::SIGKILL {
            Ok(())
        } else {
            Err(Error::new(format!(
                "corosync on node {} ignored signal {signal} for {EXIT_WAIT:?}; killed\n{}",
                self.nodeid,
                tail(&self.log(), 60)
            )))
        }
    }

    /// Removes what libqb leaves in /dev/shm for daemons that did not exit
    /// cleanly: the connection folders `qb-<pid>-<pid>-<n>-<random>` and
    /// files named after the daemon's pid.
    fn remove_shm_leftovers(&self) {
        for path in shm_files_of(&self.pids) {
            let _ = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
        }
    }
}

/// Runs `f` on a thread inside `node`'s network namespace ([`Node::run`])
/// and returns what it returns: corosync handles made there talk to that
/// node's daemon. A panic in `f` comes back to the caller; failing to enter
/// the namespace panics.
pub fn on_node<T: Send>(node: &Node, f: impl FnOnce() -> T + Send) -> T {
    node.run(f)
        .unwrap_or_else(|e| panic!("run on node {}: {e}", node.nodeid()))
}

/// The files and folders in /dev/shm that belong to daemons with these pids.
pub fn shm_files_of(pids: &[u32]) -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("qb-")
                && pids
                    .iter()
                    .any(|pid| name.split('-').any(|part| part == pid.to_string()))
        })
        .map(|e| e.path())
        .collect()
}

/// The log a node keeps in `dir`: its log file and what the daemon wrote
/// to stdout/stderr.
pub(crate) fn log_of(dir: &Path) -> String {
    let mut out = fs::read_to_string(dir.join("corosync.log")).unwrap_or_default();
    let stdio = fs::read_to_string(dir.join("stdio.log")).unwrap_or_default();
    if !stdio.trim().is_empty() {
        out.push_str("--- stdout/stderr ---\n");
        out.push_str(&stdio);
    }
    out
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    out.push('\n');
    out
}

/// The corosync.conf of `node`.
fn config(cluster: &str, opts: &ClusterBuilder, node: &Node, multi: bool) -> String {
    let mut nodelist = String::new();
    for id in 1..=opts.nodes {
        let addr = if multi {
            format!("{SUBNET}.{id}")
        } else {
            "127.0.0.1".to_string()
        };
        let _ = write!(
            nodelist,
            "  node {{\n    ring0_addr: {addr}\n    nodeid: {id}\n    name: node{id}\n  }}\n"
        );
    }
    let mut uidgid = String::new();
    for uid in &opts.allowed_uids {
        let _ = write!(uidgid, "uidgid {{\n  uid: {uid}\n}}\n");
    }
    for gid in &opts.allowed_gids {
        let _ = write!(uidgid, "uidgid {{\n  gid: {gid}\n}}\n");
    }
    format!(
        "# Written by corosync-testkit.
totem {{
  version: 2
  cluster_name: {cluster}
  transport: knet
  token: {token}
  crypto_cipher: none
  crypto_hash: none
}}
nodelist {{
{nodelist}}}
quorum {{
  provider: corosync_votequorum
{quorum_extra}}}
logging {{
  to_logfile: yes
  logfile: {log}
  to_stderr: no
  to_syslog: no
  timestamp: on
  blackbox: off
{logging_extra}}}
system {{
  state_dir: {state}
}}
{uidgid}",
        token = opts.token_ms,
        quorum_extra = opts.quorum_extra,
        logging_extra = opts.logging_extra,
        log = node.dir.join("corosync.log").display(),
        state = node.state_dir().display(),
    )
}
