//! Access control: corosync lets root connect, and anyone else only when
//! their uid or effective gid is listed in a `uidgid` section (or
//! `uidgid.d`). Each check runs the `access-probe` program on the node: it
//! drops to the given uid and gid, connects to one service and, when that
//! works, makes a real call through the connection. SAM connects through
//! libsam: `Sam::initialize` with a quorum policy, `Sam::register` with a
//! cmap policy.
//!
//! The uids and gids used here have no `/etc/passwd` or `/etc/group`
//! entry: corosync takes numeric ids as they are and checks the peer's
//! credentials, not names.

use std::time::Duration;

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

/// A uid and a gid with no passwd or group entry.
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

/// What the probe printed for `check` run as `uid`:`gid` on `node`, within
/// `limit`. A probe that could not drop its privileges fails the test.
fn probe(node: &Node, uid: u32, gid: u32, check: &str, limit: Duration) -> Vec<String> {
    let mut cmd = node
        .command(env!("CARGO_BIN_EXE_access-probe"))
        .expect("probe command");
    cmd.args([uid.to_string(), gid.to_string(), check.to_string()]);
    let out = bounded::output(&mut cmd, limit)
        .unwrap_or_else(|e| panic!("access-probe {uid} {gid} {check}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "access-probe {uid} {gid} {check}: {}; stdout {stdout:?}, stderr {:?}",
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

/// Runs every check as `uid`:`gid` and asserts each connects and its call
/// works.
fn assert_allowed(cluster: &Cluster, uid: u32, gid: u32) {
    for check in CHECKS {
        let lines = probe(cluster.node(0), uid, gid, check, ALLOWED_WAIT);
        assert_eq!(lines.len(), 2, "{uid}:{gid} {check}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("{check} connect Ok ")),
            "{uid}:{gid} {check}: {lines:?}\n{}",
            cluster.logs()
        );
        assert_eq!(lines[1], expected_call(cluster, check), "{uid}:{gid}");
        eprintln!(
            "{uid}:{gid} {check}: connected in {}",
            connect_time(&lines[0])
        );
    }
}

/// Runs every check as `uid`:`gid` and asserts each connect is refused
/// with `Error::Access`, within [`REFUSAL_WAIT`], and nothing more happens.
fn assert_refused(cluster: &Cluster, uid: u32, gid: u32) {
    for check in CHECKS {
        let lines = probe(cluster.node(0), uid, gid, check, REFUSAL_WAIT);
        assert_eq!(lines.len(), 1, "{uid}:{gid} {check}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("{check} connect Err(Access) ")),
            "{uid}:{gid} {check}: {lines:?}"
        );
        eprintln!(
            "{uid}:{gid} {check}: refused in {}",
            connect_time(&lines[0])
        );
    }
    assert!(
        cluster
            .node(0)
            .log()
            .contains(&format!("Denied connection attempt from {uid}:{gid}")),
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
    assert_allowed(&cluster, LISTED_UID, UNLISTED_GID);
}

#[test]
fn a_listed_gid_lets_an_unlisted_uid_connect_to_every_service() {
    let cluster = cluster_with_uidgid();
    assert_allowed(&cluster, UNLISTED_UID, LISTED_GID);
}

#[test]
fn an_unlisted_user_gets_access_from_every_service_fast() {
    let cluster = cluster_with_uidgid();
    assert_refused(&cluster, NOBODY, NOBODY);
    assert_refused(&cluster, UNLISTED_UID, UNLISTED_GID);
}

#[test]
fn without_a_uidgid_section_a_non_root_user_gets_access() {
    let cluster = Cluster::single().expect("cluster");
    assert_refused(&cluster, LISTED_UID, LISTED_GID);
}
