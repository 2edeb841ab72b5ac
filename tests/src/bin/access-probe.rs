//! Connects to one corosync service as another user, for the access tests
//! (`tests/access.rs`): started as root inside a node's namespace, it drops
//! to the uid, gid and supplementary groups it is given, connects, and
//! when that works makes a real call through the connection. Dropping
//! privileges is done in a process of its own because `setuid` applies to
//! every thread of a process.
//!
//! Usage: `access-probe <uid> <gid> <check> [<supplementary gid>...]`,
//! where check is `cpg`, `quorum`, `votequorum`, `cmap`, `cfg`,
//! `sam-quorum` (`Sam::initialize` with a quorum policy: libsam's quorum
//! connection) or `sam-cmap` (`Sam::register` with a cmap policy: libsam's
//! cmap connection). Prints
//!
//! ```text
//! <check> connect <Ok|Err(Variant)> <microseconds>us
//! <check> call <Ok <what it saw>|Err(Variant)>
//! ```
//!
//! the second line only after a connect that worked. Exits with 2 on a
//! usage or privilege error (on stderr).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corosync::cfg::Cfg;
use corosync::cmap::Cmap;
use corosync::cpg::{Cpg, GroupName, Guarantee};
use corosync::quorum::Quorum;
use corosync::sam::{RecoveryPolicy, Sam};
use corosync::votequorum::Votequorum;
use corosync::{Error, NodeId};

/// How long the CPG check waits for its own message to come back.
const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// libsam's health-check interval for the SAM checks.
const SAM_INTERVAL: Duration = Duration::from_millis(500);

fn fail(message: &str) -> ! {
    eprintln!("access-probe: {message}");
    std::process::exit(2);
}

/// Makes this process run as `uid`:`gid` with the supplementary `groups`.
fn become_user(uid: u32, gid: u32, groups: &[libc::gid_t]) {
    // SAFETY: `groups` is readable for its length; plain system calls
    // otherwise. The process has one thread, so the ids change for all of
    // it at once.
    let rc = unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(gid) != 0 {
            -1
        } else {
            libc::setuid(uid)
        }
    };
    if rc != 0 {
        fail(&format!(
            "cannot become {uid}:{gid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: these calls cannot fail.
    let now = unsafe { (libc::geteuid(), libc::getegid()) };
    if now != (uid, gid) {
        fail(&format!("runs as {now:?} after dropping to {uid}:{gid}"));
    }
    let mut have = vec![0; groups.len() + 1];
    // SAFETY: `have` has room for the count passed.
    let n = unsafe { libc::getgroups(have.len() as libc::c_int, have.as_mut_ptr()) };
    have.truncate(usize::try_from(n).unwrap_or(0));
    if have != groups {
        fail(&format!("has the groups {have:?}, not {groups:?}"));
    }
}

/// The variant's name of `err` (its `Debug` output up to the message).
fn variant(err: &Error) -> String {
    let debug = format!("{err:?}");
    debug.split(':').next().unwrap_or_default().to_string()
}

/// Prints the connect line for `result`, timed from `start`, and returns
/// the connection if there is one.
fn connected<T>(check: &str, start: Instant, result: corosync::Result<T>) -> Option<T> {
    let micros = start.elapsed().as_micros();
    match result {
        Ok(conn) => {
            println!("{check} connect Ok {micros}us");
            Some(conn)
        }
        Err(err) => {
            println!("{check} connect Err({}) {micros}us", variant(&err));
            None
        }
    }
}

/// Prints the call line for `result`.
fn called(check: &str, result: corosync::Result<String>) {
    match result {
        Ok(saw) => println!("{check} call Ok {saw}"),
        Err(err) => println!("{check} call Err({})", variant(&err)),
    }
}

/// Joins a group, sends a message and waits for it to come back.
fn cpg_round_trip(cpg: &Cpg, seen: &Mutex<Vec<(u32, Vec<u8>)>>) -> corosync::Result<String> {
    let payload = format!("from pid {}", std::process::id()).into_bytes();
    cpg.join(&GroupName::new(format!(
        "access-probe-{}",
        std::process::id()
    ))?)?;
    cpg.mcast(Guarantee::Agreed, &payload)?;
    let deadline = Instant::now() + DELIVERY_WAIT;
    while Instant::now() < deadline {
        cpg.dispatch_timeout(Duration::from_millis(200))?;
        let own = seen
            .lock()
            .unwrap()
            .iter()
            .any(|(pid, data)| *pid == std::process::id() && *data == payload);
        if own {
            return Ok("delivered its own message".to_string());
        }
    }
    Ok(format!(
        "no delivery of its own message within {DELIVERY_WAIT:?}"
    ))
}

/// The SAM checks: `Sam::initialize` connects for a quorum policy,
/// `Sam::register` for a cmap policy. The supervised child starts health
/// checking and reports what it saw; the supervisor exits with its status.
fn sam(check: &str) {
    let quorum = check == "sam-quorum";
    let policy = if quorum {
        RecoveryPolicy::QUIT.with_quorum()
    } else {
        RecoveryPolicy::QUIT.with_cmap()
    };
    let start = Instant::now();
    let initialized = Sam::initialize(SAM_INTERVAL, policy);
    let mut sam = if quorum {
        match connected(check, start, initialized) {
            Some(sam) => sam,
            None => return,
        }
    } else {
        initialized.unwrap_or_else(|e| fail(&format!("sam initialize: {e}")))
    };
    let instance = match sam.register() {
        Ok(instance) => instance,
        Err(err) if !quorum => {
            connected::<()>(check, start, Err(err));
            return;
        }
        Err(err) => fail(&format!("sam register: {err}")),
    };
    // Only the supervised child gets here.
    if !quorum {
        connected(check, start, Ok(()));
    }
    let supervisor = std::os::unix::process::parent_id();
    let result = (|| {
        // With a quorum policy, start waits for quorum through libsam's
        // quorum connection; with a cmap policy, it records "running" in
        // cmap through libsam's cmap connection.
        sam.start()?;
        sam.send_health_check()?;
        let saw = if quorum {
            format!("instance {instance} started")
        } else {
            let state = Cmap::new()?.get_string(format!("resources.process.{supervisor}.state"))?;
            format!("state={}", String::from_utf8_lossy(&state))
        };
        sam.stop()?;
        Ok(saw)
    })();
    called(check, result);
    sam.finalize()
        .unwrap_or_else(|e| fail(&format!("sam finalize: {e}")));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [uid, gid, check, groups @ ..] = &args[..] else {
        fail("usage: access-probe <uid> <gid> <check> [<supplementary gid>...]");
    };
    let id = |s: &str| {
        s.parse::<u32>()
            .unwrap_or_else(|_| fail(&format!("not an id: {s}")))
    };
    let groups: Vec<libc::gid_t> = groups.iter().map(|g| id(g)).collect();
    let (uid, gid) = (id(uid), id(gid));
    become_user(uid, gid, &groups);

    let check = check.as_str();
    let start = Instant::now();
    match check {
        "cpg" => {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = seen.clone();
            let cpg = Cpg::builder()
                .on_deliver(move |_, msg| sink.lock().unwrap().push((msg.pid, msg.data.to_vec())))
                .connect();
            if let Some(cpg) = connected(check, start, cpg) {
                called(check, cpg_round_trip(&cpg, &seen));
            }
        }
        "quorum" => {
            if let Some(quorum) = connected(check, start, Quorum::new()) {
                called(check, quorum.is_quorate().map(|q| format!("quorate={q}")));
            }
        }
        "votequorum" => {
            if let Some(vq) = connected(check, start, Votequorum::new()) {
                called(
                    check,
                    vq.local_info()
                        .map(|info| format!("nodeid={}", info.nodeid)),
                );
            }
        }
        "cmap" => {
            if let Some(cmap) = connected(check, start, Cmap::new()) {
                called(
                    check,
                    cmap.get_string("totem.cluster_name").map(|name| {
                        format!("totem.cluster_name={}", String::from_utf8_lossy(&name))
                    }),
                );
            }
        }
        "cfg" => {
            if let Some(cfg) = connected(check, start, Cfg::new()) {
                called(
                    check,
                    cfg.local_nodeid().map(|id: NodeId| format!("nodeid={id}")),
                );
            }
        }
        "sam-quorum" | "sam-cmap" => sam(check),
        other => fail(&format!("unknown check {other}")),
    }
}
