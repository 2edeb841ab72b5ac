//! Without root, starting a cluster fails with a message that says why and
//! what to do (never a skip); so does a missing corosync. A program with
//! its own `main` (`harness = false`): it runs a copy of itself as the
//! user `nobody` (uid and gid 65534) to see what a non-root user gets.

use std::os::unix::process::CommandExt;
use std::process::Command;

use corosync_testkit::bounded::{output, COMMAND_WAIT};
use corosync_testkit::Cluster;

/// The argument that makes this program the non-root child.
const CHILD: &str = "--start-a-cluster-as-this-user";

/// The non-root child: says who it runs as, then starts a cluster and
/// reports what that gave (exit 1: the start failed, as it must).
fn child() -> ! {
    // SAFETY: geteuid cannot fail.
    eprintln!("euid {}", unsafe { libc::geteuid() });
    match Cluster::single() {
        Ok(cluster) => {
            eprintln!("started {}", cluster.name());
            std::process::exit(0)
        }
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1)
        }
    }
}

fn a_non_root_user_gets_a_clear_failure() {
    // `nobody` must be able to run the copy: the temporary folder.
    let exe = std::env::current_exe().expect("current_exe");
    let copy = std::env::temp_dir().join(format!("testkit-without-root-{}", std::process::id()));
    std::fs::copy(&exe, &copy).expect("copy this program");
    let out = output(
        Command::new(&copy).arg(CHILD).uid(65534).gid(65534),
        COMMAND_WAIT,
    );
    std::fs::remove_file(&copy).expect("remove the copy");
    let out = out.expect("run the copy as nobody");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("euid 65534\n"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("corosync-testkit must run as root")
            && stderr.contains("network namespaces")
            && stderr.contains("sudo -E cargo test"),
        "{stderr}"
    );
}

fn a_missing_corosync_is_named_with_what_to_do() {
    // (This program has one thread: changing the environment is safe.)
    std::env::set_var("COROSYNC_BINARY", "/nonexistent/corosync");
    let started = Cluster::single();
    std::env::remove_var("COROSYNC_BINARY");
    let err = started
        .expect_err("no cluster without corosync")
        .to_string();
    assert!(
        err.contains("not installed at COROSYNC_BINARY=/nonexistent/corosync")
            && err.contains("apt-get install corosync"),
        "{err}"
    );
}

fn main() {
    if std::env::args().any(|arg| arg == CHILD) {
        child();
    }
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test runs a non-root copy of itself, which needs root: run it as root"
    );
    for (name, test) in [
        (
            "a_non_root_user_gets_a_clear_failure",
            a_non_root_user_gets_a_clear_failure as fn(),
        ),
        (
            "a_missing_corosync_is_named_with_what_to_do",
            a_missing_corosync_is_named_with_what_to_do,
        ),
    ] {
        test();
        println!("test {name} ... ok");
    }
}
