//! Access control: corosync lets root connect, and anyone else only when
//! their effective uid or gid is listed in a `uidgid` section of
//! corosync.conf or of a file in the `uidgid.d` folder next to it. Each
//! check runs the `access-probe` program on the node: it drops to the given
//! ids, connects to one service and, when that works, makes a real call
//! through the connection. SAM connects through libsam: `Sam::initialize`
//! with a quorum policy, `Sam::register` with a cmap policy.
//!
//! The ids listed here by number have no `/etc/passwd` or `/etc/group`
//! entry: corosync takes numbers as they are and checks the connecting
//! process's credentials.

use std::time::Duration;

use corosync::cfg::Cfg;
use corosync_tests::bounded;
use corosync_tests::{Cluster, Node};

/// Every check of the probe: the five services, and libsam's two
/// connections.
const CHECKS: [&str; 7] = [
    "cpg",
    "quorum",
    "votequorum",
    "cmap",
    "cfg",
    "sam-quorum",
    "sam-cmap",
];

// Ids with no passwd or group entry; the clusters list the first two.
const LISTED_UID: u32 = 4242;
const LISTED_GID: u32 = 4343;
const UNLISTED_UID: u32 = 5151;
const UNLISTED_GID: u32 = 5252;
/// `nobody` and `nogroup`.
const NOBODY: u32 = 65534;

/// How long a refused probe may take, start to exit. A refusal is the
/// daemon's answer to the connection request (the contract: refused at
/// once, not after retries or a hang); 5 s is far beyond that answer on a
/// loaded machine, and a probe that hangs fails here instead of waiting.
const REFUSAL_WAIT: Duration = Duration::from_secs(5);

/// How long an allowed probe may take: it also joins, sends and waits for
/// delivery, and SAM forks and starts health checking.
const ALLOWED_WAIT: Duration = Duration::from_secs(30);

/// A client's ids: effective uid and gid, and supplementary groups.
#[derive(Debug, Clone, Copy)]
struct User {
    uid: u32,
    gid: u32,
    groups: &'static [u32],
}

impl User {
    const fn new(uid: u32, gid: u32) -> User {
        User {
            uid,
            gid,
            groups: &[],
        }
    }
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} groups {:?}", self.uid, self.gid, self.groups)
    }
}

/// What the probe printed for `check` run as `user` on `node`, within
/// `limit`. A probe that could not drop its privileges fails the test.
fn probe(node: &Node, user: User, check: &str, limit: Duration) -> Vec<String> {
    let mut cmd = node
        .command(env!("CARGO_BIN_EXE_access-probe"))
        .expect("probe command");
    cmd.args([
        user.uid.to_string(),
        user.gid.to_string(),
        check.to_string(),
    ])
    .args(user.groups.iter().map(u32::to_string));
    let out = bounded::output(&mut cmd, limit)
        .unwrap_or_else(|e| panic!("access-probe as {user}, {check}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "access-probe as {user}, {check}: {}; stdout {stdout:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

/// The connect time the probe measured, from a connect line.
fn connect_time(line: &str) -> &str {
    line.rsplit(' ').next().unwrap_or_default()
}

/// What a real call through each check's connection shows, `cluster` being
/// a one-node cluster.
fn expected_call(cluster: &Cluster, check: &str) -> String {
    let saw = match check {
        "cpg" => "delivered its own message".to_string(),
        "quorum" => "quorate=true".to_string(),
        "votequorum" | "cfg" => "nodeid=1".to_string(),
        "cmap" => format!("totem.cluster_name={}", cluster.name()),
        "sam-quorum" => "instance 1 started".to_string(),
        "sam-cmap" => "state=running".to_string(),
        other => panic!("no expectation for {other}"),
    };
    format!("{check} call Ok {saw}")
}

/// Runs every check as `user` and asserts each connects and its call works.
fn assert_allowed(cluster: &Cluster, user: User) {
    for check in CHECKS {
        let lines = probe(cluster.node(0), user, check, ALLOWED_WAIT);
        assert_eq!(lines.len(), 2, "{user}, {check}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("{check} connect Ok ")),
            "{user}, {check}: {lines:?}\n{}",
            cluster.logs()
        );
        assert_eq!(lines[1], expected_call(cluster, check), "{user}");
        eprintln!("{user}, {check}: connected in {}", connect_time(&lines[0]));
    }
}

/// Runs every check as `user` and asserts each connect is refused with
/// `Error::Access`, within [`REFUSAL_WAIT`], and nothing more happens.
fn assert_refused(cluster: &Cluster, user: User) {
    for check in CHECKS {
        let lines = probe(cluster.node(0), user, check, REFUSAL_WAIT);
        assert_eq!(lines.len(), 1, "{user}, {check}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("{check} connect Err(Access) ")),
            "{user}, {check}: {lines:?}"
        );
        eprintln!("{user}, {check}: refused in {}", connect_time(&lines[0]));
    }
    let denied = format!("Denied connection attempt from {}:{}", user.uid, user.gid);
    assert!(
        cluster.node(0).log().contains(&denied),
        "the daemon logs the refusal\n{}",
        cluster.logs()
    );
}

/// A one-node cluster that lists [`LISTED_UID`] and [`LISTED_GID`].
fn cluster_with_uidgid() -> Cluster {
    Cluster::builder(1)
        .allow_uid(LISTED_UID)
        .allow_gid(LISTED_GID)
        .start()
        .expect("cluster")
}

#[test]
fn a_listed_uid_connects_to_every_service_and_its_calls_work() {
    let cluster = cluster_with_uidgid();
    assert_allowed(&cluster, User::new(LISTED_UID, UNLISTED_GID));
}

#[test]
fn a_listed_gid_lets_an_unlisted_uid_connect_to_every_service() {
    let cluster = cluster_with_uidgid();
    assert_allowed(&cluster, User::new(UNLISTED_UID, LISTED_GID));
}

#[test]
fn a_listed_gid_counts_only_as_the_effective_gid_not_as_a_supplementary_group() {
    let cluster = cluster_with_uidgid();
    let user = User {
        groups: &[LISTED_GID],
        ..User::new(UNLISTED_UID, UNLISTED_GID)
    };
    assert_refused(&cluster, user);
}

#[test]
fn an_unlisted_user_gets_access_from_every_service_fast() {
    let cluster = cluster_with_uidgid();
    assert_refused(&cluster, User::new(NOBODY, NOBODY));
    assert_refused(&cluster, User::new(UNLISTED_UID, UNLISTED_GID));
}

#[test]
fn without_a_uidgid_section_a_non_root_user_gets_access() {
    let cluster = Cluster::single().expect("cluster");
    assert_refused(&cluster, User::new(LISTED_UID, LISTED_GID));
}

#[test]
fn ids_added_in_uidgid_d_connect_after_a_configuration_reload() {
    let cluster = Cluster::single().expect("cluster");
    let by_uid = User::new(LISTED_UID, UNLISTED_GID);
    // `nogroup`, named in the file: corosync looks names up.
    let by_group_name = User::new(UNLISTED_UID, NOBODY);
    assert_refused(&cluster, by_uid);
    assert_refused(&cluster, by_group_name);
    // corosync reads `uidgid.d` from the folder of its corosync.conf.
    let node = cluster.node(0);
    let dir = node
        .config_path()
        .parent()
        .expect("the config's folder")
        .join("uidgid.d");
    std::fs::create_dir_all(&dir).expect("create uidgid.d");
    std::fs::write(
        dir.join("access-test"),
        format!("uidgid {{\n  uid: {LISTED_UID}\n}}\nuidgid {{\n  gid: nogroup\n}}\n"),
    )
    .expect("write uidgid.d/access-test");
    corosync_tests::on_node(node, || Cfg::new().and_then(|cfg| cfg.reload_config()))
        .expect("reload the configuration as root");
    assert_allowed(&cluster, by_uid);
    assert_allowed(&cluster, by_group_name);
}
